"""Today's rules on hand-made logs where the right answer is plain to see."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from host.baselines import (
    DAILY_WINDOW,
    FIXED_24H,
    FIXED_36H,
    BaselineAlarm,
    DailyWindow,
    FixedSilence,
    describe,
    make_baseline,
)
from host.events import ACK, Event
from host.replay import replay

SEOUL = timezone(timedelta(hours=9))
H = 3600.0


def t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def local(ts: float, tz=SEOUL) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="minutes")


def alarms(rule, events, until) -> list[BaselineAlarm]:
    return [a for a in replay(rule, events, t(until)).actions if isinstance(a, BaselineAlarm)]


def ev(when: str, household: str = "kim", kind: str = "on") -> Event:
    return Event(household, t(when), kind)


# -- fixed silence


def test_fixed_24h_no_alarm_while_events_keep_coming():
    events = [ev(f"2024-05-0{d}T{h}+09:00") for d in range(1, 8) for h in ("07:59", "20:00")]
    assert alarms(FixedSilence(24), events, "2024-05-08T19:59+09:00") == []


def test_fixed_24h_alarms_once_at_last_plus_24h():
    events = [ev("2024-05-01T08:00+09:00"), ev("2024-05-01T20:30+09:00", kind="off")]
    got = alarms(FixedSilence(24, FIXED_24H), events, "2024-05-05T00:00+09:00")
    assert got == [
        BaselineAlarm("kim", t("2024-05-02T20:30+09:00"), FIXED_24H, t("2024-05-01T20:30+09:00"))
    ]


def test_fixed_24h_one_alarm_per_silent_stretch():
    events = [
        ev("2024-05-01T08:00+09:00"),
        ev("2024-05-04T08:00+09:00"),  # after a 3-day silence: one alarm, not three
        ev("2024-05-04T09:00+09:00"),
    ]
    got = alarms(FixedSilence(24), events, "2024-05-06T00:00+09:00")
    assert [local(a.time) for a in got] == ["2024-05-02T08:00+09:00", "2024-05-05T09:00+09:00"]


def test_fixed_24h_boundary_exactly_24h_alarms_just_under_does_not():
    under = [ev("2024-05-01T08:00+09:00"), Event("kim", t("2024-05-02T08:00+09:00") - 1, "off")]
    assert alarms(FixedSilence(24), under, "2024-05-02T09:00+09:00") == []
    exact = [ev("2024-05-01T08:00+09:00"), ev("2024-05-02T08:00+09:00", kind="off")]
    got = alarms(FixedSilence(24), exact, "2024-05-02T09:00+09:00")
    assert [local(a.time) for a in got] == ["2024-05-02T08:00+09:00"]


def test_fixed_36h_waits_longer():
    events = [ev("2024-05-01T08:00+09:00"), ev("2024-05-02T19:00+09:00")]  # 35 h apart
    assert alarms(FixedSilence(36, FIXED_36H), events, "2024-05-02T20:00+09:00") == []
    got = alarms(make_baseline(FIXED_36H, lambda h: SEOUL), events, "2024-05-05T00:00+09:00")
    assert [(local(a.time), a.rule) for a in got] == [("2024-05-04T07:00+09:00", FIXED_36H)]


def test_fixed_silence_is_per_household():
    events = [ev("2024-05-01T08:00+09:00", "kim"), ev("2024-05-01T12:00+09:00", "lee"),
              ev("2024-05-02T07:00+09:00", "kim")]
    got = alarms(FixedSilence(24), events, "2024-05-02T13:00+09:00")
    assert [(a.household, local(a.time)) for a in got] == [("lee", "2024-05-02T12:00+09:00")]


def test_fixed_silence_without_ticks_still_alarms_on_the_next_event():
    """Pure: a late caller that never ticked still gets the overdue alarm, stamped on time."""
    rule = FixedSilence(24)
    assert rule.handle(ev("2024-05-01T08:00+09:00"), t("2024-05-01T08:00+09:00")).wake_at == t(
        "2024-05-02T08:00+09:00"
    )
    decision = rule.handle(ev("2024-05-03T10:00+09:00"), t("2024-05-03T10:00+09:00"))
    assert [local(a.time) for a in decision.actions] == ["2024-05-02T08:00+09:00"]
    assert decision.wake_at == t("2024-05-04T10:00+09:00")


def test_people_events_are_not_signs_of_life_for_a_baseline():
    rule = FixedSilence(24)
    rule.handle(ev("2024-05-01T08:00+09:00"), t("2024-05-01T08:00+09:00"))
    later = t("2024-05-01T20:00+09:00")
    decision = rule.handle(Event("kim", later, ACK), later)
    assert decision.wake_at == t("2024-05-02T08:00+09:00")


def test_no_alarm_for_a_household_never_seen():
    assert FixedSilence(24).tick("ghost", t("2024-05-01T08:00+09:00")).actions == []


# -- daily window


def test_daily_window_quiet_day_alarms_at_the_next_0900_local():
    # Last sign of life on the 1st at 10:00: the check on the 2nd sees it; the window
    # 2nd 09:00 - 3rd 08:59 is empty, so the check at 09:00 on the 3rd alarms.
    events = [ev("2024-05-01T10:00+09:00")]
    got = alarms(DailyWindow(lambda h: SEOUL), events, "2024-05-03T12:00+09:00")
    assert [local(a.time) for a in got] == ["2024-05-03T09:00+09:00"]
    assert got[0].window_start == t("2024-05-02T09:00+09:00")
    assert got[0].since == t("2024-05-01T10:00+09:00")


def test_daily_window_day_boundary_0859_and_0900():
    rule = DailyWindow(lambda h: SEOUL)
    events = [ev("2024-05-01T12:00+09:00"), ev("2024-05-02T08:59+09:00")]
    # 08:59 on the 2nd is inside the window that the 09:00 check on the 2nd looks at; the
    # window 2nd 09:00 - 3rd 08:59 is then empty.
    got = alarms(rule, events, "2024-05-03T09:30+09:00")
    assert [local(a.time) for a in got] == ["2024-05-03T09:00+09:00"]
    events = [ev("2024-05-01T12:00+09:00"), ev("2024-05-02T09:00+09:00")]
    # 09:00:00 sharp belongs to the new window, which it keeps from being empty.
    assert alarms(DailyWindow(lambda h: SEOUL), events, "2024-05-03T09:30+09:00") == []


def test_daily_window_uses_the_households_local_time():
    # The same instants: 23:00 UTC on the 1st, then silence until 01:00 UTC on the 3rd.
    events = [ev("2024-05-01T23:00+00:00"), ev("2024-05-03T01:00+00:00")]
    seoul = alarms(DailyWindow(lambda h: SEOUL), events, "2024-05-03T02:00+00:00")
    # Seoul: 08:00 on the 2nd, then 10:00 on the 3rd: window 2nd 09:00 - 3rd 08:59 is empty.
    assert [local(a.time) for a in seoul] == ["2024-05-03T09:00+09:00"]
    london = timezone(timedelta(hours=1))
    # +01:00: 00:00 on the 2nd, then 02:00 on the 3rd; window 2nd 09:00 - 3rd 08:59 holds the
    # 02:00 event, and the clock stops before the 3rd's 09:00 check.
    assert alarms(DailyWindow(lambda h: london), events, "2024-05-03T02:00+00:00") == []


def test_daily_window_alarms_every_empty_day():
    events = [ev("2024-05-01T10:00+09:00"), ev("2024-05-05T10:00+09:00")]
    got = alarms(DailyWindow(lambda h: SEOUL), events, "2024-05-06T00:00+09:00")
    assert [local(a.time) for a in got] == [
        "2024-05-03T09:00+09:00",
        "2024-05-04T09:00+09:00",
        "2024-05-05T09:00+09:00",
    ]


def test_daily_window_watches_from_the_first_event_only():
    # First event at 08:00: the 09:00 check that day sees it; nothing before counts as empty.
    events = [ev("2024-05-01T08:00+09:00"), ev("2024-05-01T20:00+09:00")]
    assert alarms(DailyWindow(lambda h: SEOUL), events, "2024-05-02T09:30+09:00") == []


def test_daily_window_stays_at_0900_across_a_dst_change():
    amsterdam = ZoneInfo("Europe/Amsterdam")  # clocks go forward 2024-03-31 02:00 -> 03:00
    events = [Event("ams", datetime(2024, 3, 29, 12, tzinfo=amsterdam).timestamp(), "on")]
    got = alarms(DailyWindow(lambda h: amsterdam), events, "2024-04-02T00:00+00:00")
    assert [datetime.fromtimestamp(a.time, amsterdam).strftime("%d %H:%M %Z") for a in got] == [
        "31 09:00 CEST",
        "01 09:00 CEST",
    ]
    assert got[0].time - datetime(2024, 3, 30, 9, tzinfo=amsterdam).timestamp() == 23 * H


# -- words


def test_describe_fixed_in_local_time_both_languages():
    since = t("2024-05-01T20:30+09:00")
    alarm = BaselineAlarm("kim", since + 24 * H, FIXED_24H, since)
    assert describe(alarm, SEOUL) == (
        "no switch or activity for 24 h since 2024-05-01 20:30 (fixed-24h)"
    )
    assert describe(alarm, SEOUL, "ko") == (
        "2024-05-01 20:30 이후 24시간 동안 스위치·활동 없음 (fixed-24h)"
    )
    odd = alarm._replace(time=since + 36 * H + 90)
    assert "36 h 1 m since" in describe(odd, SEOUL)


def test_describe_daily_window():
    alarm = BaselineAlarm("kim", t("2024-05-03T09:00+09:00"), DAILY_WINDOW,
                          t("2024-05-01T10:00+09:00"), t("2024-05-02T09:00+09:00"))
    text = describe(alarm, SEOUL)
    assert text == ("no switch or activity from 2024-05-02 09:00 to 2024-05-03 08:59 "
                    "(last 2024-05-01 10:00; checked daily at 09:00)")
    assert "2024-05-02 09:00부터 2024-05-03 08:59까지" in describe(alarm, SEOUL, "ko")


def test_unknown_baseline_name():
    with pytest.raises(ValueError, match="unknown baseline rule"):
        make_baseline("fixed-48h", lambda h: SEOUL)
