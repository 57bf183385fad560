"""The simulator's one-household driver keeps host.replay.Replayer's clock exactly."""

from __future__ import annotations

import pytest

from host.config import EngineConfig
from host.decisions import CaseResolved, Knock
from host.engine import Engine
from host.events import OFF, ON, RESIDENT_ANSWERED, Event
from host.replay import Replayer
from simulator.drive import Driver
from tests.households import SEOUL, at, regular_days

H = 3600.0


def engine() -> Engine:
    return Engine(EngineConfig(), tz_of=lambda _: SEOUL)


def with_silences(household: str = "hh") -> list[Event]:
    """Three weeks of routine, then a day of silence, a night with the light left on, and
    a week more: knocks, alarms, renotifications, stuck-on and quiet hours all happen."""
    events = regular_days(household, 21, seed=4)
    events += regular_days(household, 3, seed=5, first_day=23)
    events += [Event(household, at(26, 21.0), ON)]
    events += regular_days(household, 7, seed=6, first_day=27)
    return sorted(events, key=lambda e: e.time)


def test_same_decisions_as_the_replayer_on_the_same_stream():
    events = with_silences()
    until = events[-1].time + 30 * H
    replayer = Replayer(engine())
    for e in events:
        replayer.feed(e)
    replayer.run_to(until)

    driver = Driver(engine(), "hh")
    driver.actions = []
    driver.run(((e.time, e) for e in events), until)
    assert driver.actions == replayer.result.actions
    kinds = {type(a).__name__ for a in driver.actions}
    assert {"Knock", "Alarm", "Notify", "CaseOpened"} <= kinds  # the stream did exercise them
    assert driver.fed == len(events) and driver.ticks > 0


def test_a_late_event_is_handled_when_it_arrives_with_its_own_time():
    """A toggle stamped inside the knock window that reaches the host after the window still
    answers the knock: the engine sees it at its arrival, stamped with its own time."""
    events = regular_days("hh", 21, seed=4)
    silence = events[-1].time
    probe = Driver(engine(), "hh")
    probe.actions = []
    probe.run(((e.time, e) for e in events), silence + 30 * H)
    knock = next(a for a in probe.actions if isinstance(a, Knock))

    answer = Event("hh", knock.time + 60, OFF)
    late = [(e.time, e) for e in events] + [(knock.until + 600, answer)]
    driver = Driver(engine(), "hh")
    driver.actions = []
    driver.run(late, silence + 30 * H)
    resolved = [a for a in driver.actions if isinstance(a, CaseResolved)]
    assert [r.outcome for r in resolved][:1] == [RESIDENT_ANSWERED]
    assert resolved[0].time == knock.until + 600


def test_people_steps_run_at_their_time_and_can_stop_the_run():
    class Once:
        found = None

        def __init__(self) -> None:
            self.seen: list[float] = []

        def respond(self, action):
            if isinstance(action, Knock):
                return [(action.time + 300, self.step)]
            return []

        def step(self, now: float):
            self.seen.append(now)
            self.found = "someone"
            return []

    events = regular_days("hh", 21, seed=4)
    people = Once()
    driver = Driver(engine(), "hh", people)
    driver.actions = []
    driver.run(((e.time, e) for e in events), events[-1].time + 30 * H)
    knock = next(a for a in driver.actions if isinstance(a, Knock))
    assert people.seen == [knock.time + 300]
    assert driver.now == knock.time + 300  # nothing after the stop


def test_arrivals_out_of_order_are_refused():
    driver = Driver(engine(), "hh")
    with pytest.raises(ValueError, match="in order"):
        driver.run([(at(0, 8), Event("hh", at(0, 8), ON)),
                    (at(0, 7), Event("hh", at(0, 7), OFF))], at(1, 0))
