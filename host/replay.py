"""Drive a rule (the engine or a baseline) through time: events in order, timers in between.

The engine never reads a clock, so something must play the clock: before each event, every
household whose wake-up time has come is ticked, in time order; after the last event the clock
runs on to `until`. Something must also play the people who answer alarms. The backtest uses
QuietLog's people (nothing happened in a recorded log); the simulator can bring its own.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from host.decisions import WELFARE, Alarm, CaseOpened, CaseResolved, Decision, Knock
from host.events import ACK, FALSE_ALARM, RESIDENT_KINDS, RESOLVE, Event

# A household ticked this many times at one instant is a rule stuck in a loop: stop with an error
# rather than hang.
_MAX_TICKS_AT_ONE_INSTANT = 1000


class Rule(Protocol):
    """What the driver needs: the engine's calls. Baselines implement the same two."""

    def handle(self, event: Event, now: float) -> Decision: ...

    def tick(self, household: str, now: float) -> Decision: ...


class People(Protocol):
    """Who answers: events they make in reply to actions, or just before a resident event."""

    def respond(self, action: object) -> list[Event]: ...

    def before_resident(self, event: Event) -> list[Event]: ...


class QuietLog:
    """People for a recorded log where nobody had an emergency.

    They acknowledge each alarm at once (so re-notifications do not pile up as noise), and
    resolve each alarmed welfare case as a false alarm just before the resident's next own
    event: that event is the first sign they were fine. A case still at the knock stage is left
    to the engine, which sees the resident's event answer the knock.
    """

    def __init__(self) -> None:
        self._alarmed: dict[str, dict[str, None]] = {}  # household -> open alarmed welfare cases
        self._welfare: set[str] = set()

    def respond(self, action: object) -> list[Event]:
        if isinstance(action, CaseOpened) and action.kind == WELFARE:
            self._welfare.add(action.case_id)
        elif isinstance(action, Alarm):
            if action.case_id in self._welfare:
                self._alarmed.setdefault(action.household, {})[action.case_id] = None
            return [Event(action.household, action.time, ACK, detail=action.case_id)]
        elif isinstance(action, CaseResolved):
            self._welfare.discard(action.case_id)
            self._alarmed.get(action.household, {}).pop(action.case_id, None)
        return []

    def before_resident(self, event: Event) -> list[Event]:
        cases = self._alarmed.pop(event.household, None)
        if not cases:
            return []
        for case_id in cases:
            self._welfare.discard(case_id)
        return [
            Event(event.household, event.time, RESOLVE, detail=(case_id, FALSE_ALARM))
            for case_id in cases
        ]


@dataclass
class KnockRecord:
    """A knock and whether the resident's own next event came before the knock window closed."""

    knock: Knock
    answered: bool = False


@dataclass
class Replay:
    """What happened: every action in order, and each knock with its answer."""

    actions: list = field(default_factory=list)
    knocks: list[KnockRecord] = field(default_factory=list)
    first_event: dict[str, float] = field(default_factory=dict)
    last_event: dict[str, float] = field(default_factory=dict)
    events: int = 0


class Replayer:
    """Feeds a rule events in time order and ticks it when it asked to be woken.

    Use feed() for each event (times must not go backwards) and run_to() to let the clock run.
    People's replies are fed after the decision that caused them is fully recorded, in time order.
    """

    def __init__(self, rule: Rule, people: People | None = None) -> None:
        self.rule = rule
        self.people = people
        self.now = float("-inf")
        self.result = Replay()
        self._wake: dict[str, float] = {}  # the live wake-up time of each household
        self._timers: list[tuple[float, str]] = []  # heap; entries not in _wake are stale
        self._replies: list[tuple[float, int, Event]] = []  # heap of people's events to feed
        self._reply_seq = 0
        self._open_knocks: dict[str, list[KnockRecord]] = {}
        self._spins: dict[str, int] = {}  # ticks per household at the current instant

    def feed(self, event: Event) -> None:
        if event.time < self.now:
            raise ValueError(f"events must come in time order: {event} after {self.now}")
        self.run_to(event.time, inclusive=True)
        if event.kind in RESIDENT_KINDS:
            self._resident(event)
            if self.people is not None:
                for reply in self.people.before_resident(event):
                    self._apply(reply)
        self._apply(event)
        self.run_to(self.now, inclusive=True)  # replies made at this instant

    def expect(self, household: str, wake_at: float | None) -> None:
        """Take over a rule that was driven before: wake this household when it asked to be."""
        self._set_wake(household, wake_at)

    def run_to(self, until: float, inclusive: bool = False) -> None:
        """Fire every timer and reply due before `until` (or at it, if inclusive), in order."""
        while True:
            due = self._next_due()
            if due is None or due > until or (due == until and not inclusive):
                return
            if self._replies and self._replies[0][0] == due:
                self._apply(heapq.heappop(self._replies)[2])
                continue
            _, household = heapq.heappop(self._timers)
            del self._wake[household]
            self._advance(due)
            spins = self._spins[household] = self._spins.get(household, 0) + 1
            if spins > _MAX_TICKS_AT_ONE_INSTANT:
                raise RuntimeError(
                    f"rule keeps asking to wake household {household!r} at {due}; stopping"
                )
            self._record(self.rule.tick(household, due), household)

    def _advance(self, to: float) -> None:
        if to > self.now:
            self.now = to
            self._spins.clear()

    def _next_due(self) -> float | None:
        while self._timers and self._wake.get(self._timers[0][1]) != self._timers[0][0]:
            heapq.heappop(self._timers)  # stale: the household's wake time changed since
        due = [q[0][0] for q in (self._timers, self._replies) if q]
        return min(due) if due else None

    def _apply(self, event: Event) -> None:
        self._advance(event.time)
        self._record(self.rule.handle(event, self.now), event.household)

    def _resident(self, event: Event) -> None:
        result = self.result
        result.events += 1
        result.first_event.setdefault(event.household, event.time)
        result.last_event[event.household] = event.time
        for record in self._open_knocks.pop(event.household, ()):
            record.answered = event.time <= record.knock.until

    def _record(self, decision: Decision, household: str) -> None:
        self._set_wake(household, decision.wake_at)
        for action in decision.actions:
            self.result.actions.append(action)
            if isinstance(action, Knock):
                record = KnockRecord(action)
                self.result.knocks.append(record)
                self._open_knocks.setdefault(action.household, []).append(record)
            if self.people is not None:
                for reply in self.people.respond(action):
                    if reply.time < self.now:
                        reply = reply._replace(time=self.now)
                    self._reply_seq += 1
                    heapq.heappush(self._replies, (reply.time, self._reply_seq, reply))

    def _set_wake(self, household: str, wake_at: float | None) -> None:
        if wake_at is None:
            self._wake.pop(household, None)
            return
        wake_at = max(wake_at, self.now)
        if self._wake.get(household) != wake_at:
            self._wake[household] = wake_at
            heapq.heappush(self._timers, (wake_at, household))


def replay(
    rule: Rule, events: Iterable[Event], until: float, people: People | None = None
) -> Replay:
    """Run a whole time-ordered stream through `rule`, then let the clock run up to `until`.

    Events at or after `until` are not fed. Timers due exactly at `until` do not fire: the
    replay covers [first event, until).
    """
    replayer = Replayer(rule, people)
    for event in events:
        if event.time >= until:
            break
        replayer.feed(event)
    replayer.run_to(until)
    return replayer.result
