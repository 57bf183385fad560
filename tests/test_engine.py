"""The alarm engine, driven directly: each test a situation a caseworker would recognise."""

from __future__ import annotations

import math
import re

import pytest

from host import decisions as d
from host import events as ev
from host.config import EngineConfig
from host.engine import Engine
from host.events import Event
from host.explain import describe
from tests.drive import drive, of
from tests.households import SEOUL, at, regular_days, use

H = "hh-1"


def local_hour(t: float) -> float:
    from datetime import datetime

    x = datetime.fromtimestamp(t, SEOUL)
    return x.hour + x.minute / 60


def test_collapse_at_ten_is_knocked_and_alarmed_within_hours():
    history = regular_days(H, 28)
    # Day 28: up at 07:00, a visit at 10:00, then nothing: collapsed.
    history += use(H, at(28, 7)) + use(H, at(28, 10))
    last = at(28, 10) + 4 * 60
    actions = drive(Engine(), history, until=last + 30 * 3600)
    knocks, alarms = of(actions, d.Knock), of(actions, d.Alarm)
    assert len(knocks) == 1 and len(alarms) == 1
    assert 2 * 3600 <= knocks[0].time - last <= 6 * 3600, "a few hours, not a day"
    assert alarms[0].time == pytest.approx(knocks[0].time + 15 * 60)
    reason = alarms[0].reason
    assert reason.code == d.INACTIVITY and reason.since == last
    assert reason.one_in_days >= 200 and reason.days_known >= 20
    text = describe(reason, SEOUL, "en")
    assert text.startswith("no activity for ") and "since 10:04" in text
    assert "fewer than 1 in" in text


def test_regular_household_is_left_alone():
    actions = drive(Engine(), regular_days(H, 28), until=at(28, 7))
    assert of(actions, d.Knock) == [] and of(actions, d.Alarm) == []


def test_knock_answered_by_a_toggle_resolves_the_case():
    history = regular_days(H, 21) + use(H, at(21, 7)) + use(H, at(21, 10))
    (knock,) = of(drive(Engine(), history, until=at(21, 20)), d.Knock)
    engine = Engine()
    first = drive(engine, history, until=knock.time + 60)
    answer = Event(H, knock.time + 5 * 60, ev.ON)
    decision = engine.handle(answer, answer.time)
    (resolved,) = of(decision.actions, d.CaseResolved)
    assert resolved.case_id == knock.case_id and resolved.outcome == ev.RESIDENT_ANSWERED
    assert engine.state(H).status == d.FINE
    assert of(first, d.Alarm) == []


def test_no_knock_in_quiet_hours_unless_urgent():
    cfg = EngineConfig()
    for last_hour in (12, 15, 17, 18, 19, 20, 21):
        history = regular_days(H, 14) + use(H, at(14, last_hour))
        actions = drive(Engine(cfg), history, until=at(16, 0))
        (knock,) = of(actions, d.Knock)
        hour = local_hour(knock.time)
        quiet = hour >= cfg.quiet_start_h or hour < cfg.quiet_end_h
        assert knock.urgent or not quiet, f"knock at {hour:.2f} after a {last_hour}:00 visit"


def test_ceiling_holds_for_a_household_with_no_history():
    # One use, then silence: the prior alone must still reach a person within 24 h.
    actions = drive(Engine(), use(H, at(0, 20)), until=at(3, 0))
    alarms = of(actions, d.Alarm)
    assert alarms and alarms[0].time - (at(0, 20) + 240) <= 24 * 3600


def test_light_left_on_knocks_urgently_even_at_night():
    history = regular_days(H, 21)
    history.append(Event(H, at(21, 2), ev.ON))  # a night visit, and the light stays on
    actions = drive(Engine(), history, until=at(21, 9))
    (knock,) = of(actions, d.Knock)
    assert knock.reason.code == d.STUCK_ON and knock.urgent
    assert 3600 <= knock.time - at(21, 2) <= 2 * 3600
    assert local_hour(knock.time) < 7, "does not wait for the morning"


def test_sos_pattern_alarms_at_once_and_slow_toggles_do_not():
    history = regular_days(H, 7) + use(H, at(7, 7)) + use(H, at(7, 9.5))
    t0 = at(7, 11)
    sos = [Event(H, t0 + i * 2, ev.ON if i % 2 == 0 else ev.OFF) for i in range(5)]
    actions = drive(Engine(), history + sos, until=t0 + 60)
    (alarm,) = of(actions, d.Alarm)
    assert alarm.reason.code == d.SOS and alarm.time == t0 + 8
    assert of(actions, d.Knock) == []
    slow = [Event(H, t0 + i * 20, ev.ON if i % 2 == 0 else ev.OFF) for i in range(6)]
    assert of(drive(Engine(), history + slow, until=t0 + 600), d.Alarm) == []


def test_announced_hospital_stay_raises_nothing_and_watching_resumes_after_return():
    history = regular_days(H, 14)
    leave = at(14, 9)
    back = at(21, 15)
    history += use(H, at(14, 7)) + use(H, leave)
    history.append(Event(H, leave + 600, ev.AWAY, detail=back))
    engine = Engine()
    actions = drive(engine, history, until=back - 60)
    assert of(actions, d.Knock) == [] and of(actions, d.Alarm) == []
    assert engine.state(H).status == d.AWAY
    # Not back as expected, and silent: watched again, counting from the expected return.
    later = drive(engine, [], until=back + 30 * 3600)
    (knock,) = of(later, d.Knock)
    assert knock.reason.since == back
    assert knock.time - back <= 24 * 3600


def test_dead_wifi_opens_a_device_case_not_an_inactivity_alarm():
    history = regular_days(H, 14)
    t_on = at(0, 6)
    dev = "bulb-1"
    devices = [Event(H, t_on, ev.ONLINE, dev, (ev.SWITCHED, 300))]
    devices += [Event(H, t, ev.HEARTBEAT, dev) for t in range(int(t_on), int(at(14, 12)), 300)]
    history += use(H, at(14, 7)) + use(H, at(14, 10))
    devices.append(Event(H, at(14, 12), ev.OFFLINE, dev))  # Wi-Fi gone at noon
    engine = Engine()
    actions = drive(engine, history + devices, until=at(14, 12) + 20 * 3600)
    (opened,) = of(actions, d.CaseOpened)
    assert opened.kind == d.DEVICE and opened.reason.code == d.DEVICE_OFFLINE
    (note,) = of(actions, d.Notify)
    assert note.audience == "maintenance"
    assert of(actions, d.Knock) == [] and of(actions, d.Alarm) == []
    assert engine.state(H).status == d.DEVICE_FAULT
    # Still nothing heard at the ceiling: a person is alarmed about the household.
    more = drive(engine, [], until=at(14, 10) + 25 * 3600)
    (alarm,) = of(more, d.Alarm)
    assert alarm.reason.code == d.UNWATCHED
    assert alarm.time - (at(14, 10) + 240) <= 24 * 3600
    # The bulb comes back: the device case closes by itself.
    back = Event(H, at(15, 14), ev.ONLINE, dev, (ev.SWITCHED, 300))
    (resolved,) = of(engine.handle(back, back.time).actions, d.CaseResolved)
    assert resolved.outcome == ev.DEVICE_RECOVERED


def test_missed_heartbeats_mark_the_device_offline():
    dev = "bulb-1"
    t0 = at(0, 9)
    inputs = [Event(H, t0, ev.ONLINE, dev, (ev.SWITCHED, 300))] + use(H, t0 + 60)
    inputs += [Event(H, t0 + 300 * i, ev.HEARTBEAT, dev) for i in range(1, 5)]
    actions = drive(Engine(), inputs, until=t0 + 3 * 3600)
    (opened,) = of(actions, d.CaseOpened)
    assert opened.time == t0 + 1200 + 900
    assert "missed 3 heartbeats" in opened.reason.detail


def _device_cases(actions: list) -> list:
    return [a for a in of(actions, d.CaseOpened) if a.kind == d.DEVICE]


def test_heartbeats_the_host_could_not_hear_are_not_missed():
    # The host was away (its broker down): it heard nothing after t0 + 600, and listens again
    # at t0 + 2000, past the old deadline (t0 + 600 + 3 * 300).
    dev, t0 = "bulb-1", at(0, 9)
    engine = Engine()
    for event in [Event(H, t0, ev.ONLINE, dev, (ev.SWITCHED, 300)),
                  Event(H, t0 + 300, ev.HEARTBEAT, dev), Event(H, t0 + 600, ev.HEARTBEAT, dev)]:
        engine.handle(event, event.time)
    back = t0 + 2000
    decision = engine.handle(Event(H, back, ev.LISTENING), back)
    assert not decision.actions and decision.wake_at is not None
    assert not _device_cases(engine.tick(H, back + 899).actions)
    assert engine.state(H).devices[dev].last_seen == t0 + 600  # still when it was last heard
    # Never heard again: missed three heartbeats counted from when the host listened again.
    (opened,) = _device_cases(engine.tick(H, back + 900).actions)
    assert opened.time == back + 900 and "missed 3 heartbeats" in opened.reason.detail
    assert opened.reason.since == t0 + 600


def test_a_heartbeat_after_listening_again_moves_the_deadline_as_usual():
    dev, t0 = "bulb-1", at(0, 9)
    engine = Engine()
    engine.handle(Event(H, t0, ev.ONLINE, dev, (ev.SWITCHED, 300)), t0)
    engine.handle(Event(H, t0 + 2000, ev.LISTENING), t0 + 2000)
    engine.handle(Event(H, t0 + 2100, ev.HEARTBEAT, dev), t0 + 2100)
    assert engine.state(H).device_due == t0 + 2100 + 900
    # An older or repeated LISTENING (a replay) moves nothing back or forward.
    assert not engine.handle(Event(H, t0 + 2000, ev.LISTENING), t0 + 2200).actions
    assert not engine.handle(Event(H, t0 + 1000, ev.LISTENING), t0 + 2200).actions
    assert engine.state(H).device_due == t0 + 3000
    assert not _device_cases(engine.tick(H, t0 + 2999).actions)
    assert len(_device_cases(engine.tick(H, t0 + 3000).actions)) == 1


def test_listening_leaves_offline_bulbs_and_unknown_households_alone():
    dev, t0 = "bulb-1", at(0, 9)
    engine = Engine()
    assert engine.handle(Event("nobody", t0, ev.LISTENING), t0) == d.Decision([], None)
    assert engine.state("nobody") is None  # nothing was made up for it
    engine.handle(Event(H, t0, ev.ONLINE, dev, (ev.SWITCHED, 300)), t0)
    engine.handle(Event(H, t0 + 100, ev.OFFLINE, dev), t0 + 100)
    engine.handle(Event(H, t0 + 2000, ev.LISTENING), t0 + 2000)
    bulb = engine.state(H).devices[dev]
    assert not bulb.online and bulb.listening_from == -math.inf
    assert engine.state(H).device_due == math.inf
    (rejected,) = engine.handle(Event(H, t0 + 2000, ev.LISTENING, dev), t0 + 2000).actions
    assert type(rejected) is d.Rejected and "no device" in rejected.why


def test_a_mains_bulb_going_offline_is_the_switch_not_a_fault():
    dev = "bulb-m"
    history = regular_days(H, 14)
    inputs = []
    for day in range(14, 17):
        for hour in (7, 9, 11, 13, 15, 17, 19, 21):
            inputs.append(Event(H, at(day, hour), ev.ONLINE, dev, (ev.MAINS, 300)))
            inputs += [Event(H, at(day, hour) + 300, ev.HEARTBEAT, dev)]
            inputs.append(Event(H, at(day, hour) + 600, ev.OFFLINE, dev))
    engine = Engine()
    actions = drive(engine, history + inputs, until=at(17, 0))
    assert of(actions, d.CaseOpened) == []
    assert engine.state(H).last == at(16, 21) + 600
    assert not engine.state(H).light_on


def _alarmed(engine: Engine) -> tuple[list, str]:
    history = regular_days(H, 14) + use(H, at(14, 7)) + use(H, at(14, 9))
    actions = drive(engine, history, until=at(14, 23))
    (alarm,) = of(actions, d.Alarm)
    return actions, alarm.case_id


def test_renotifies_until_acknowledged_then_dispatch_and_resolve():
    engine = Engine()
    actions, case_id = _alarmed(engine)
    notes = of(actions, d.Notify)
    assert [n.repeat for n in notes] == list(range(len(notes))) and len(notes) >= 3
    gaps = {round(b.time - a.time) for a, b in zip(notes, notes[1:], strict=False)}
    assert gaps == {30 * 60}
    now = at(14, 23)
    ack = engine.handle(Event(H, now, ev.ACK, detail=(case_id, "kim")), now)
    assert of(ack.actions, d.CaseChanged)[0].state == d.CASE_ACKNOWLEDGED
    assert of(drive(engine, [], until=now + 5 * 3600), d.Notify) == []
    go = engine.handle(Event(H, now + 60, ev.DISPATCH, detail=case_id), now + 60)
    assert of(go.actions, d.CaseChanged)[0].state == d.CASE_DISPATCHED
    done = engine.handle(
        Event(H, now + 3600, ev.RESOLVE, detail=(case_id, ev.RESIDENT_FINE, "kim", "asleep")),
        now + 3600,
    )
    (resolved,) = of(done.actions, d.CaseResolved)
    assert (resolved.outcome, resolved.actor, resolved.note) == (ev.RESIDENT_FINE, "kim", "asleep")
    assert engine.state(H).welfare is None and engine.state(H).status == d.FINE
    again = engine.handle(Event(H, now + 3700, ev.ACK, detail=case_id), now + 3700)
    assert of(again.actions, d.Rejected), "a closed case cannot be acknowledged"


def test_activity_after_an_alarm_stops_renotifying_and_is_reported():
    engine = Engine()
    _, case_id = _alarmed(engine)
    t = at(14, 23) + 60
    decision = engine.handle(Event(H, t, ev.ON), t)
    (changed,) = of(decision.actions, d.CaseChanged)
    assert "activity seen" in changed.note
    later = drive(engine, [Event(H, t + 240, ev.OFF)], until=t + 2 * 3600)
    assert of(later, d.Notify) == []
    assert engine.state(H).welfare.id == case_id, "a person closes it, not the engine"


def test_an_undelivered_knock_alarms_at_once():
    history = regular_days(H, 14) + use(H, at(14, 7)) + use(H, at(14, 9))
    (knock,) = of(drive(Engine(), history, until=at(14, 16)), d.Knock)
    engine = Engine()
    drive(engine, history, until=knock.time + 30)
    failed = engine.handle(Event(H, knock.time + 60, ev.KNOCK_FAILED), knock.time + 60)
    (alarm,) = of(failed.actions, d.Alarm)
    assert alarm.reason.code == d.KNOCK_UNDELIVERED
    assert "knock could not be delivered" in describe(alarm.reason, SEOUL, "en")


@pytest.mark.parametrize(
    "bad",
    [
        Event(H, at(20, 0), ev.ON),  # far in the future
        Event(H, math.nan, ev.ON),
        Event(H, at(14, 12), "explode"),
        Event(H, at(14, 12), ev.AWAY, detail=at(14, 11)),  # return before leaving
        Event(H, at(14, 12), ev.AWAY_END),  # not away
        Event(H, at(14, 12), ev.ACK, detail="hh-1#99"),
        Event(H, at(14, 12), ev.RESOLVE, detail=("hh-1#1", "abducted")),
        Event(H, at(14, 12), ev.KNOCK_FAILED),
        Event(H, at(14, 12), ev.ONLINE, "b", ("solar", 300)),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(bad):
    history = regular_days(H, 14) + use(H, at(14, 7)) + use(H, at(14, 9))
    clean = drive(Engine(), history, until=at(15, 6))
    engine = Engine()
    drive(engine, history, until=at(14, 12))
    decision = engine.handle(bad, at(14, 12))
    (rejected,) = of(decision.actions, d.Rejected)
    assert rejected.why
    rest = drive(engine, [], until=at(15, 6))
    assert [type(a) for a in of(rest, d.Alarm)] == [type(a) for a in of(clean, d.Alarm)]
    assert [a.time for a in of(rest, d.Knock)] == [a.time for a in of(clean, d.Knock)]


def test_explanations_in_korean_by_default():
    engine = Engine()
    actions, _ = _alarmed(engine)
    text = describe(of(actions, d.Alarm)[0].reason, SEOUL)
    assert "09:04 이후" in text and "활동이 없습니다" in text and "일에 한 번 미만" in text


def test_config_refuses_contradictions():
    with pytest.raises(ValueError):
        EngineConfig(tail_knock=0.5, tail_watch=0.1)
    with pytest.raises(ValueError):
        EngineConfig(min_gap_h=30)


def test_a_death_in_sleep_is_knocked_in_the_morning_and_says_why():
    history = regular_days(H, 21)  # up about 07:00 every day; the last event is the 22:30 visit
    last = max(e.time for e in history)
    actions = drive(Engine(), history, until=last + 20 * 3600)
    (knock,) = of(actions, d.Knock)
    assert knock.reason.code == d.NO_MORNING
    assert 7.5 <= local_hour(knock.time) <= 9, "soon after the usual wake-up, not the afternoon"
    en = describe(knock.reason, SEOUL, "en")
    assert re.match(r"no sign of life this morning; usually up by 0[67]:\d\d "
                    r"\(1\d mornings known\); last activity at \d\d-\d\d 22:\d\d, \d+ h \d+ m ago$",
                    en), en
    assert "오늘 아침 아직 활동이 없습니다" in describe(knock.reason, SEOUL)


def test_no_missed_morning_call_where_mornings_without_light_are_common():
    # A living-room bulb: on dark mornings it is used by 07:00; on one day in four (bright
    # mornings) it is first used in the evening. Its missing morning means nothing.
    history = []
    for day in range(28):
        for e in regular_days(H, 1, seed=day, first_day=day):
            hour = local_hour(e.time)
            if day % 4 == 3 and 4 <= hour < 17 and e.time > at(day, 4):
                continue
            history.append(e)
    actions = drive(Engine(), history + use(H, at(28, 18)), until=at(28, 18) + 1)
    assert [a for a in of(actions, d.Alarm) if a.reason.code == d.NO_MORNING] == []
    # The same household with a morning every day is called on when one is missing.
    every_day = regular_days(H, 28)
    actions = drive(Engine(), every_day, until=max(e.time for e in every_day) + 14 * 3600)
    assert [a for a in of(actions, d.Alarm) if a.reason.code == d.NO_MORNING]


def test_a_mains_household_with_the_light_off_is_alarmed_not_knocked_in_vain():
    dev = "bulb-m"
    inputs = []
    for day in range(14):
        for hour in (7, 9.5, 12, 14.5, 17, 19.5, 22):
            inputs.append(Event(H, at(day, hour), ev.ONLINE, dev, (ev.MAINS, 300)))
            inputs.append(Event(H, at(day, hour) + 300, ev.OFFLINE, dev))
    inputs.append(Event(H, at(14, 7), ev.ONLINE, dev, (ev.MAINS, 300)))
    inputs.append(Event(H, at(14, 7) + 300, ev.OFFLINE, dev))  # light off at 07:05, then nothing
    actions = drive(Engine(), inputs, until=at(15, 12))
    assert of(actions, d.Knock) == []
    alarm = of(actions, d.Alarm)[0]
    assert "no bulb is powered to knock with" in alarm.reason.detail
    assert alarm.time - (at(14, 7) + 300) <= 16 * 3600
