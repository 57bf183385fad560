"""The people around a resident, for one rule's replay: they answer knocks, take alarms, call,
send someone, and open the door on what happened.

Their answers come from the world's ground truth, never from the rule: a resident answers a
knock when able, at home and awake (or woken) and noticing the bulb; a caseworker takes an
alarm after a while (longer at night and at weekends), phones, and sends a responder when
nobody answers; the responder finds whatever is true at the door. The host's part is played
here too: a knock the bulb cannot acknowledge within 60 s is `knock_failed`.

Every step is a timer on the driver's clock (simulator/drive.py), so a step looks at the case
as it is then: a case the resident's late answer already closed is not dispatched. For the
baselines the same people act on their alarms; those rules take no input from people, so only
what the people did is recorded. What is recorded (simulator.records):

- Alarm: each engine `Alarm` action (the first notification of a case, and a case raised again
  by a new silence after the resident was seen active: that is a new call to a caseworker);
  each device case's first maintenance notice (case "device"); each baseline alarm.
- Knock: each knock, answered if the case was closed by the resident's toggle (also one that
  reached the host late).
- Dispatch: when a responder was sent and when they reached the door.
- Found: set when a responder at the door finds the resident incapacitated; the run then
  stops for this rule (simulator/run.py adds the visit or "never" otherwise).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from host import decisions as d
from host.baselines import BaselineAlarm
from host.events import (
    ACK,
    AWAY,
    DECEASED,
    DISPATCH,
    FALSE_ALARM,
    HOSPITAL,
    KNOCK_FAILED,
    MAINS,
    NEEDED_HELP,
    OFF,
    OFFLINE,
    ON,
    RESIDENT_ANSWERED,
    RESIDENT_FINE,
    RESOLVE,
    Event,
)
from simulator import records as rec

MINUTE = 60.0
KNOCK_ACK_S = 60.0


@dataclass(frozen=True, slots=True)
class PeopleRates:
    knock_notice: dict[str, float]
    knock_wakes: float
    ack_minutes: float
    ack_minutes_off_hours: float
    phone_answer: float
    dispatch_minutes: float
    travel_minutes: float
    meter_visits_per_month: float
    meter_discovers: float

    def __post_init__(self) -> None:
        rooms = {"bathroom", "living_room", "bedroom"}
        if set(self.knock_notice) != rooms:
            raise ValueError(f"knock_notice needs each of {', '.join(sorted(rooms))}")
        for name, value in (*self.knock_notice.items(), ("knock_wakes", self.knock_wakes),
                            ("phone_answer", self.phone_answer),
                            ("meter_discovers", self.meter_discovers)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} is a chance, 0 to 1")
        for name in ("ack_minutes", "ack_minutes_off_hours", "dispatch_minutes",
                     "travel_minutes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.meter_visits_per_month < 0:
            raise ValueError("meter_visits_per_month must not be negative")


Step = Callable[[float], list]  # a person's next move, run at its time: returns more replies


class Responders:
    """People for one household and one rule. `respond` is called with each action."""

    def __init__(self, rule: str, world, rates: PeopleRates, rng: random.Random,
                 engine: bool) -> None:
        self.rule = rule
        self.world = world
        self.rates = rates
        self.rng = rng
        self.engine = engine  # the rule takes people's inputs (ack, dispatch, resolve)
        self.records: list = []
        self.found: rec.Found | None = None
        self._open: set[str] = set()  # welfare cases the engine still has open
        self._handled: set[str] = set()  # cases a caseworker is working on
        self._knocks: dict[str, rec.Knock] = {}
        self._device: set[str] = set()
        self._baseline_cases = 0

    # -- the rule did something -------------------------------------------------------------

    def respond(self, action: object) -> list[tuple[float, object]]:
        kind = type(action)
        if kind is d.StatusChanged or kind is d.Rejected or kind is d.CaseChanged:
            return []
        if kind is d.CaseOpened:
            if action.kind == d.WELFARE:
                self._open.add(action.case_id)
            else:
                self._device.add(action.case_id)
            return []
        if kind is d.Knock:
            return self._knock(action)
        if kind is d.Alarm:
            self.records.append(rec.Alarm(self.rule, action.household, action.time, "welfare",
                                          action.reason.code))
            return self._take(action.time, action.case_id)
        if kind is d.Notify:
            if action.case_id in self._device and action.repeat == 0:
                self.records.append(rec.Alarm(self.rule, action.household, action.time,
                                              "device", action.reason.code))
            return []
        if kind is d.CaseResolved:
            self._open.discard(action.case_id)
            self._device.discard(action.case_id)
            knock = self._knocks.get(action.case_id)
            if knock is not None and action.outcome == RESIDENT_ANSWERED:
                self._knocks[action.case_id] = knock._replace(answered=True)
            return []
        if kind is BaselineAlarm:
            self.records.append(rec.Alarm(self.rule, action.household, action.time, "welfare",
                                          action.rule))
            self._baseline_cases += 1
            return self._take(action.time, f"{self.rule}#{self._baseline_cases}")
        return []

    def finish(self) -> list:
        """Everything recorded, knocks last (their answers are known only at the end)."""
        return self.records + list(self._knocks.values())

    # -- the resident and the bulb ----------------------------------------------------------

    def _knock(self, knock: d.Knock) -> list[tuple[float, object]]:
        world, t = self.world, knock.time
        self._knocks[knock.case_id] = rec.Knock(self.rule, knock.household, t, False)
        if not world.link.reachable(t):
            failed = t + KNOCK_ACK_S
            return [(failed, Event(knock.household, failed, KNOCK_FAILED,
                                   detail=knock.case_id))]
        state = world.state_at(t)
        chance = (self.rates.knock_notice[world.room] if state == "home"
                  else self.rates.knock_wakes if state == "asleep" else 0.0)
        if self.rng.random() >= chance:
            return []
        answer = t + self.rng.uniform(0.3, 14.0) * MINUTE
        if answer > knock.until or world.state_at(answer) == "collapsed":
            return []
        device = world.device
        if world.mode == MAINS:  # switching the light off cuts its power: the will follows
            return [(answer + 90, Event(knock.household, answer, OFFLINE, device))]
        lit = world.lamp_at(answer)
        back = min(answer + self.rng.uniform(5, 30), world.next_press(answer) - 1)
        if back <= answer:
            return []  # they are about to use the switch anyway: that answers it
        return [(answer, Event(knock.household, answer, OFF if lit else ON, device)),
                (back, Event(knock.household, back, ON if lit else OFF, device))]

    # -- the caseworker and the responder ---------------------------------------------------

    def _take(self, t: float, case: str) -> list[tuple[float, object]]:
        if case in self._handled:
            return []  # raised again while someone is already on it
        self._handled.add(case)
        rates, rng = self.rates, self.rng
        median = rates.ack_minutes if self.world.office_hours(t) else rates.ack_minutes_off_hours
        ack = t + median * rng.lognormvariate(0, 0.6) * MINUTE
        call = ack + rng.uniform(1, 5) * MINUTE
        out: list[tuple[float, object]] = []
        if self.engine:
            out.append((ack, Event(self.world.household, ack, ACK, detail=case)))
        out.append((call, lambda now: self._call(now, case)))
        return out

    def _closed(self, case: str) -> bool:
        return self.engine and case not in self._open

    def _call(self, now: float, case: str) -> list[tuple[float, object]]:
        if self._closed(case):
            return []
        world, rng = self.world, self.rng
        state = world.state_at(now)
        chance = {"home": 1.0, "asleep": 0.7, "out": 0.8, "away": 0.8}.get(state, 0.0)
        if rng.random() < chance * self.rates.phone_answer:
            return self._close(now, case, state, "answered the phone")
        dispatch = now + self.rates.dispatch_minutes * rng.lognormvariate(0, 0.4) * MINUTE
        return [(dispatch, lambda at: self._dispatch(at, case))]

    def _dispatch(self, now: float, case: str) -> list[tuple[float, object]]:
        if self._closed(case):
            return []
        door = now + self.rates.travel_minutes * self.rng.lognormvariate(0, 0.4) * MINUTE
        self.records.append(rec.Dispatch(self.rule, self.world.household, now, door))
        out: list[tuple[float, object]] = []
        if self.engine:
            out.append((now, Event(self.world.household, now, DISPATCH, detail=case)))
        out.append((door, lambda at: self._door(at, case)))
        return out

    def _door(self, now: float, case: str) -> list[tuple[float, object]]:
        world = self.world
        state = world.state_at(now)
        if state == "collapsed":
            self.found = rec.Found(self.rule, world.household, now, "dispatch")
            outcome = DECEASED if world.emergency_kind == "death" else NEEDED_HELP
            return self._resolve(now, case, outcome, "found at the door")
        if self._closed(case):
            return []
        return self._close(now, case, state, "seen at the door")

    def _close(self, now: float, case: str, state: str, note: str) -> list[tuple[float, object]]:
        """The resident is fine: close the case, and set away mode if they are away."""
        absence = self.world.absence(now) if state == "away" else None
        if absence is not None and absence.kind == "hospital":
            return self._resolve(now, case, HOSPITAL, note + ": in hospital")
        out = self._resolve(now, case, FALSE_ALARM if state != "away" else RESIDENT_FINE, note)
        if absence is not None and self.engine:
            back = max(absence.end, now + 3600)
            out.append((now, Event(self.world.household, now, AWAY, detail=back)))
        return out

    def _resolve(self, now: float, case: str, outcome: str, note: str) -> list:
        self._handled.discard(case)
        if not self.engine:
            return []
        return [(now, Event(self.world.household, now, RESOLVE,
                            detail=(case, outcome, "caseworker", note)))]
