"""The people around a resident answer from the world's truth, step by step."""

from __future__ import annotations

import random
from dataclasses import replace

from host import decisions as d
from host.baselines import BaselineAlarm
from host.decisions import Reason
from host.events import ACK, DISPATCH, KNOCK_FAILED, OFF, ON, RESOLVE, Event
from simulator import records as rec
from simulator import scenario as scenarios
from simulator.responders import Responders

T = 1_770_000_000.0  # a Monday, 02:40 UTC: 11:40 in Seoul (office hours)
RATES = scenarios.load(None).people
SURE = replace(RATES, knock_notice={"bathroom": 1.0, "living_room": 1.0, "bedroom": 1.0},
               phone_answer=1.0)
REASON = Reason(d.INACTIVITY, T - 8 * 3600, 8 * 3600)


class FakeWorld:
    household, device, room, mode = "hh", "bulb-1", "bathroom", "switched"
    emergency_kind = "fall"

    def __init__(self, state: str = "home", reachable: bool = True,
                 collapsed_at: float | None = None) -> None:
        self.state, self.collapsed_at = state, collapsed_at
        self.link = type("Link", (), {"reachable": lambda _, t: reachable})()

    def state_at(self, t: float) -> str:
        if self.collapsed_at is not None and t >= self.collapsed_at:
            return "collapsed"
        return self.state

    def lamp_at(self, t: float) -> bool:
        return False

    def next_press(self, t: float) -> float:
        return float("inf")

    def absence(self, t: float):
        return None

    def office_hours(self, t: float) -> bool:
        return True


def people(world: FakeWorld, rates=SURE, engine: bool = True) -> Responders:
    return Responders("anbu" if engine else "fixed-24h", world, rates, random.Random(1), engine)


def knock(case: str = "hh#1") -> d.Knock:
    return d.Knock("hh", T, case, T + 900, False, REASON)


def run_steps(p: Responders, replies: list) -> list[Event]:
    """Run people's steps in time order as the driver would; return the events they sent."""
    events, queue = [], sorted(replies, key=lambda r: r[0])
    while queue:
        at, item = queue.pop(0)
        if isinstance(item, Event):
            events.append(item)
        else:
            queue = sorted(queue + item(at), key=lambda r: r[0])
    return events


def test_a_resident_at_home_and_awake_toggles_within_the_knock():
    p = people(FakeWorld("home"))
    p.respond(d.CaseOpened("hh", T, "hh#1", d.WELFARE, REASON))
    replies = p.respond(knock())
    assert [e.kind for _, e in replies] == [ON, OFF]
    assert all(T < e.time <= T + 900 for _, e in replies)
    p.respond(d.CaseResolved("hh", T + 300, "hh#1", "resident_answered"))
    assert p.finish() == [rec.Knock("anbu", "hh", T, True)]


def test_out_or_collapsed_nobody_answers_and_an_unreachable_bulb_fails_the_knock():
    assert people(FakeWorld("out")).respond(knock()) == []
    assert people(FakeWorld("home", collapsed_at=T - 60)).respond(knock()) == []
    [(at, failed)] = people(FakeWorld("home", reachable=False)).respond(knock())
    assert failed.kind == KNOCK_FAILED and at == T + 60 and failed.detail == "hh#1"


def test_nobody_answers_the_phone_so_a_responder_goes_and_finds_them():
    world = FakeWorld("home", collapsed_at=T - 3600)
    p = people(world)
    p.respond(d.CaseOpened("hh", T, "hh#1", d.WELFARE, REASON))
    sent = run_steps(p, p.respond(d.Alarm("hh", T, "hh#1", REASON)))
    assert [e.kind for e in sent] == [ACK, DISPATCH, RESOLVE]
    assert sent[-1].detail[1] == "needed_help"
    [alarm, dispatch] = p.finish()
    assert alarm == rec.Alarm("anbu", "hh", T, "welfare", "inactivity")
    assert p.found == rec.Found("anbu", "hh", dispatch.door, "dispatch")
    assert dispatch.door > dispatch.time > T


def test_a_resident_who_answers_the_phone_closes_the_case_without_a_dispatch():
    p = people(FakeWorld("home"))
    p.respond(d.CaseOpened("hh", T, "hh#1", d.WELFARE, REASON))
    sent = run_steps(p, p.respond(d.Alarm("hh", T, "hh#1", REASON)))
    assert [e.kind for e in sent] == [ACK, RESOLVE] and sent[-1].detail[1] == "false_alarm"
    assert of_type(p.finish(), rec.Dispatch) == []


def test_a_case_the_resident_closed_meanwhile_is_not_dispatched():
    p = people(FakeWorld("out"), rates=replace(SURE, phone_answer=0.0))
    p.respond(d.CaseOpened("hh", T, "hh#1", d.WELFARE, REASON))
    replies = p.respond(d.Alarm("hh", T, "hh#1", REASON))
    p.respond(d.CaseResolved("hh", T + 60, "hh#1", "resident_answered"))
    assert [e.kind for e in run_steps(p, replies)] == [ACK]
    assert of_type(p.finish(), rec.Dispatch) == []


def test_baseline_alarms_are_followed_up_without_inputs_to_the_rule():
    world = FakeWorld("home", collapsed_at=T - 3600)
    p = people(world, engine=False)
    sent = run_steps(p, p.respond(BaselineAlarm("hh", T, "fixed-24h", T - 86400)))
    assert sent == []  # the rule takes no input from people
    assert p.found is not None and p.found.by == "dispatch"
    assert of_type(p.finish(), rec.Alarm) == [rec.Alarm("fixed-24h", "hh", T, "welfare",
                                                        "fixed-24h")]


def test_device_cases_are_recorded_once_as_device_alarms():
    p = people(FakeWorld())
    why = Reason(d.DEVICE_OFFLINE, T, 0.0)
    p.respond(d.CaseOpened("hh", T, "hh#2", d.DEVICE, why))
    assert p.respond(d.Notify("hh", T, "hh#2", "maintenance", False, 0, why)) == []
    assert p.finish() == [rec.Alarm("anbu", "hh", T, "device", "device_offline")]


def of_type(records: list, kind: type) -> list:
    return [r for r in records if type(r) is kind]
