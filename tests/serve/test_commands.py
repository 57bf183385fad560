"""Knocks on the wire: which bulbs, which ids, and what silence and answers lead to."""

from __future__ import annotations

from host import decisions as d
from host import events as ev
from host import protocol as p
from host.serve.commands import KNOCK, KNOCK_STOP, Knocks
from host.store import Command

T = 1_764_000_000.0
REASON = d.Reason(d.INACTIVITY, T - 9 * 3600, 9 * 3600, 300.0, 30)


def knock(case_id: str = "h1#1", at: float = T) -> d.Knock:
    return d.Knock("h1", at, case_id, at + 900, False, REASON)


def ack(cmd: Command, ok: int = 1) -> p.AckMsg:
    return p.AckMsg(v=1, d=cmd.device, id=cmd.id, ok=ok, err=None if ok else "dur")


def test_a_knock_goes_to_every_bulb_named_with_its_length_and_one_id_each():
    knocks = Knocks(lambda h: ["bulb-0001", "bulb-0002"], 60.0)
    out = knocks.on_action(knock(), T + 0.4)
    assert [o.command.device for o in out] == ["bulb-0001", "bulb-0002"]
    for o in out:
        msg = p.decode(o.topic, o.payload)
        assert (msg.c, msg.dur, msg.id) == (KNOCK, 900, o.command.id)
        assert o.command.deadline == T + 60.4 and o.command.case_id == "h1#1"
    assert out[0].command.id != out[1].command.id
    again = Knocks(lambda h: ["bulb-0001", "bulb-0002"], 60.0).on_action(knock(), T + 0.4)
    assert [o.command.id for o in again] == [o.command.id for o in out]  # same after a crash


def test_one_ack_is_enough_and_nothing_fails_later():
    knocks = Knocks(lambda h: ["bulb-0001", "bulb-0002"], 60.0)
    out = knocks.on_action(knock(), T)
    assert knocks.on_ack("bulb-0002", ack(out[1].command)) is not None
    assert knocks.due(T + 3600) == ([], [], [])
    assert knocks.next_deadline() is None


def test_no_ack_in_time_is_knock_failed_and_a_stop_queued_behind_the_knock():
    knocks = Knocks(lambda h: ["bulb-0001"], 60.0)
    out = knocks.on_action(knock(), T)
    assert knocks.next_deadline() == T + 60
    assert knocks.due(T + 59) == ([], [], [])
    failed, stops, timed_out = knocks.due(T + 60)
    assert failed == [ev.Event("h1", T + 60, ev.KNOCK_FAILED, None, "h1#1")]
    assert [p.decode(s.topic, s.payload).c for s in stops] == [KNOCK_STOP]
    assert timed_out == [("bulb-0001", out[0].command.id)]
    assert knocks.due(T + 120) == ([], [], [])  # once


def test_every_bulb_refusing_fails_at_once():
    knocks = Knocks(lambda h: ["bulb-0001", "bulb-0002"], 60.0)
    out = knocks.on_action(knock(), T)
    for o in out:
        knocks.on_ack(o.command.device, ack(o.command, ok=0))
    failed, stops, _ = knocks.due(T + 1)
    assert len(failed) == 1 and stops == []  # a bulb that refused is not running the knock


def test_a_case_that_leaves_the_knock_early_stops_the_other_bulbs():
    knocks = Knocks(lambda h: ["bulb-0001", "bulb-0002"], 60.0)
    knocks.on_action(knock(), T)
    answered = d.CaseResolved("h1", T + 30, "h1#1", ev.RESIDENT_ANSWERED)
    stops = knocks.on_action(answered, T + 30)
    assert sorted(s.command.device for s in stops) == ["bulb-0001", "bulb-0002"]
    assert all(s.command.command == KNOCK_STOP for s in stops)
    assert knocks.runs == {} and knocks.on_action(answered, T + 31) == []


def test_a_knock_that_ran_its_length_needs_no_stop():
    knocks = Knocks(lambda h: ["bulb-0001"], 60.0)
    out = knocks.on_action(knock(), T)
    knocks.on_ack("bulb-0001", ack(out[0].command))
    alarm = d.Alarm("h1", T + 900, "h1#1", REASON)
    assert knocks.on_action(alarm, T + 900) == []


def test_a_restart_resumes_the_knocks_still_running():
    knocks = Knocks(lambda h: ["bulb-0001"], 60.0)
    sent = [o.command for o in knocks.on_action(knock(), T)]
    later = Knocks(lambda h: ["bulb-0001"], 60.0)
    later.resume(sent + [Command("bulb-0001", "s-1", KNOCK_STOP, "h0#1", T)],
                 lambda case: ("h1", T + 900) if case == "h1#1" else None)
    assert list(later.runs) == ["h1#1"]
    failed, _, _ = later.due(T + 61)
    assert [e.detail for e in failed] == ["h1#1"]
    acked = Knocks(lambda h: ["bulb-0001"], 60.0)
    acked.resume([sent[0]._replace(acked_at=T + 1, ok=True)], lambda case: ("h1", T + 900))
    assert acked.due(T + 61) == ([], [], [])
