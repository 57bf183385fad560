"""Drive one rule through one household's world: host.replay.Replayer's clock, for one household.

host.replay.Replayer plays the clock for any number of households, with a timer heap and a
reply heap, and treats an event's own time as the time it arrives. The simulator replays one
household at a time (memory stays bounded) and needs two things more: events that arrive late
(a queued switch press delivered on reconnect is handled at its delivery time, stamped with
its own), and people whose next move is a step run at its time, looking at the case as it is
then. With one household the wake-up time is one number, and the driver does a third of the
Replayer's bookkeeping per event, which matters at a few million events per run.
The order is the Replayer's: everything due up to and including an event's arrival (people's
replies first at equal times, then the rule's timer) happens before the event; after the last
event the clock runs on to `until`, exclusive. tests/simulator/test_drive.py holds the two to
the same decisions on the same stream.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence

from host.engine import Engine
from host.events import LISTENING, Event
from host.replay import Rule

# A rule asking to be woken this many times at one instant is stuck: stop with an error.
_MAX_TICKS_AT_ONE_INSTANT = 1000
# After the host reconnects, timers wait for the broker's backlog: the inbox quiet for this
# long (host.serve's ingest.settle_ms default; the simulated backlog arrives at once).
SETTLE_S = 1.0


class Driver:
    """One household, one rule. `people.respond(action)` returns [(at, Event or step)]; a step
    is called with the time and returns more of the same. Stops once `people.found` is set."""

    def __init__(self, rule: Rule, household: str, people=None,
                 paused: Sequence[tuple[float, float]] = ()) -> None:
        self.rule = rule
        self.household = household
        self.people = people
        self.now = -math.inf
        self.wake: float | None = None
        self.fed = 0  # events handled (the world's and people's), ticks apart
        self.ticks = 0
        self.actions: list | None = None  # set to a list to keep every action (tests)
        self._queue: list[tuple[float, int, object]] = []  # people's replies and steps
        self._seq = 0
        self._spins = 0
        # The host's own outages (its link to the broker down): the live host runs no timer
        # while disconnected and waits for the backlog after (host.serve), so a wake-up
        # falling in one comes at its end, plus the settle time.
        self._paused = sorted(paused)
        # Outages before this index ended by the clock's time (see _resumed); a wake before
        # the start of the one at it is not in any.
        self._paused_next = 0
        self._paused_from = self._paused[0][0] if self._paused else math.inf
        # As it reconnects after each outage, the host tells the engine it listens from then
        # on (events.LISTENING: the bulbs' heartbeats were lost, not missed); only the engine
        # has bulbs' deadlines to move. Latest first, popped as they come.
        self._listen = (sorted((end for _, end in paused), reverse=True)
                        if isinstance(rule, Engine) else [])

    @property
    def stopped(self) -> bool:
        return self.people is not None and self.people.found is not None

    def run(self, events: Iterable[tuple[float, Event]], until: float) -> None:
        """Feed (arrival time, event) pairs in arrival order, then run the clock to `until`."""
        handle = self.rule.handle
        queue, listen = self._queue, self._listen
        fed = self.fed
        for at, event in events:
            if at >= until:
                break
            wake = self.wake
            if ((wake is not None and wake <= at) or (queue and queue[0][0] <= at)
                    or (listen and listen[-1] <= at)):
                self.fed = fed
                self._run_to(at, inclusive=True)
                fed = self.fed
                if self.stopped:
                    return
            if at > self.now:
                self.now = at
                self._spins = 0
            elif at < self.now:
                self.fed = fed
                raise ValueError(f"arrivals must come in order: {at} after {self.now}")
            fed += 1
            # self._decided(handle(event, at)), spelled out for the common case (no actions,
            # no outage ahead): this runs for every event of the run.
            actions, wake = handle(event, at)
            if wake is not None:
                if wake < at:
                    wake = at
                if wake >= self._paused_from:
                    wake = self._resumed(wake)
            self.wake = wake
            if actions:
                self._acted(actions)
        self.fed = fed
        self._run_to(until, inclusive=False)

    def _run_to(self, until: float, inclusive: bool) -> None:
        queue, tick, household, listen = self._queue, self.rule.tick, self.household, self._listen
        people = self.people
        while people is None or people.found is None:  # not self.stopped, without the property
            reply = queue[0][0] if queue else math.inf
            wake = self.wake if self.wake is not None else math.inf
            due = reply if reply <= wake else wake
            if listen and listen[-1] <= due:
                due = listen[-1]
            if due > until or (due == until and not inclusive) or due == math.inf:
                return
            if due > self.now:
                self.now = due
                self._spins = 0
            if listen and listen[-1] == due:
                listen.pop()
                self._listening(self.now)
                continue
            if reply <= wake:
                item = heapq.heappop(queue)[2]
                if isinstance(item, Event):
                    self.fed += 1
                    self._decided(self.rule.handle(item, self.now))
                else:
                    self._queue_replies(item(self.now))
                continue
            self._spins += 1
            if self._spins > _MAX_TICKS_AT_ONE_INSTANT:
                raise RuntimeError(f"rule keeps asking to wake {household!r} at {due}; stopping")
            self.wake = None
            self.ticks += 1
            self._decided(tick(household, due))

    def _decided(self, decision) -> None:
        actions, wake = decision
        if wake is not None:
            if wake < self.now:
                wake = self.now
            if wake >= self._paused_from:
                wake = self._resumed(wake)
        self.wake = wake
        if actions:
            self._acted(actions)

    def _acted(self, actions: list) -> None:
        """Keep the actions (tests) and queue what the people around do about them."""
        if self.actions is not None:
            self.actions.extend(actions)
        people = self.people
        if people is not None:
            for action in actions:
                self._queue_replies(people.respond(action))

    def _listening(self, at: float) -> None:
        """The host reconnects after its outage: as anbu serve does, the engine hears that the
        host listens from now on if the household has a bulb online (host.serve.service); what
        is due waits for the settle time, as the host's timers do."""
        st = self.rule.state(self.household)  # type: ignore[attr-defined] - an Engine
        if st is not None and st.device_due < math.inf:
            actions, wake = self.rule.handle(Event(self.household, at, LISTENING), at)
            if wake is not None and wake < at + SETTLE_S:
                wake = at + SETTLE_S
            self._decided((actions, wake))

    def _resumed(self, wake: float) -> float:
        """`wake`, or the end of the host outage it falls in plus the settle time.

        A wake is never before the clock, and the clock never goes back, so an outage at the
        front of the list (sorted by start) that ended by now can move no wake again: it is
        skipped for good rather than looked at on every decision.
        """
        paused, i, now = self._paused, self._paused_next, self.now
        while i < len(paused) and paused[i][1] <= now:
            i += 1
        self._paused_next = i
        self._paused_from = paused[i][0] if i < len(paused) else math.inf
        for j in range(i, len(paused)):
            start, end = paused[j]
            if start > wake:
                break
            if wake < end:
                wake = end + SETTLE_S
        return wake

    def _queue_replies(self, replies: list[tuple[float, Event | Callable]]) -> None:
        for at, item in replies:
            self._seq += 1
            heapq.heappush(self._queue, (max(at, self.now), self._seq, item))
