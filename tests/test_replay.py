"""The replay driver: it plays the clock and the people around a pure rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.decisions import (
    WELFARE,
    Alarm,
    CaseChanged,
    CaseOpened,
    CaseResolved,
    Decision,
    Knock,
    Notify,
)
from host.events import ACK, FALSE_ALARM, RESIDENT_ANSWERED, RESOLVE, Event
from host.replay import QuietLog, Replayer, replay

SEOUL = timezone(timedelta(hours=9))
H = 3600.0


def t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Metronome:
    """A rule that wants a tick every `period` seconds after each event, and logs every call."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.calls: list[tuple[str, str, float]] = []
        self.next: dict[str, float] = {}

    def handle(self, event: Event, now: float) -> Decision:
        self.calls.append(("handle", event.household, now))
        self.next[event.household] = now + self.period
        return Decision([], self.next[event.household])

    def tick(self, household: str, now: float) -> Decision:
        self.calls.append(("tick", household, now))
        assert now >= self.next[household], "ticked before it asked"
        self.next[household] = now + self.period
        return Decision([("beat", household, now)], self.next[household])


def test_timers_fire_in_time_order_between_events_and_up_to_until():
    rule = Metronome(10)
    events = [Event("a", 0, "on"), Event("b", 5, "on"), Event("a", 22, "off")]
    replay(rule, events, until=40)
    assert rule.calls == [
        ("handle", "a", 0),
        ("handle", "b", 5),
        ("tick", "a", 10),
        ("tick", "b", 15),
        ("tick", "a", 20),
        ("handle", "a", 22),  # a's wake at 30 replaces the one at 30 from the tick: no double
        ("tick", "b", 25),
        ("tick", "a", 32),
        ("tick", "b", 35),
    ]  # b's 45 and a's 42 lie beyond until; a timer due exactly at until does not fire


def test_a_timer_due_at_an_events_time_fires_before_the_event():
    rule = Metronome(10)
    replay(rule, [Event("a", 0, "on"), Event("a", 10, "off")], until=11)
    assert rule.calls[:3] == [("handle", "a", 0), ("tick", "a", 10), ("handle", "a", 10)]


def test_events_after_until_are_not_fed():
    rule = Metronome(100)
    replay(rule, [Event("a", 0, "on"), Event("a", 50, "off")], until=50)
    assert rule.calls == [("handle", "a", 0)]


def test_events_out_of_order_are_refused():
    replayer = Replayer(Metronome(10))
    replayer.feed(Event("a", 5, "on"))
    with pytest.raises(ValueError, match="time order"):
        replayer.feed(Event("a", 4, "off"))


class Spinner:
    def handle(self, event, now):
        return Decision([], now)

    def tick(self, household, now):
        return Decision([], now)  # asks for the same instant again: a bug, must not hang


def test_a_rule_that_asks_for_the_same_instant_forever_is_stopped():
    with pytest.raises(RuntimeError, match="keeps asking"):
        replay(Spinner(), [Event("a", 0, "on")], until=10)


# -- with the real engine and the quiet log's people


def _engine():
    from host.config import EngineConfig
    from host.engine import Engine

    return Engine(EngineConfig(), tz_of=lambda household: SEOUL)


def _day(date: str) -> list[Event]:
    """An ordinary day: switch use every hour or so from 07:00 to 22:00, Seoul time."""
    out = []
    for hour in range(7, 23):
        start = t(f"{date}T{hour:02d}:05+09:00")
        out += [Event("kim", start, "on"), Event("kim", start + 240, "off")]
    return out


def test_quiet_log_people_ack_each_alarm_and_resolve_it_at_the_next_sign_of_life():
    events = _day("2024-05-01") + [Event("kim", t("2024-05-03T10:00+09:00"), "on")]
    result = replay(_engine(), events, t("2024-05-03T12:00+09:00"), QuietLog())
    alarms = [a for a in result.actions if isinstance(a, Alarm)]
    assert len(alarms) == 1
    case = alarms[0].case_id
    opened = [a for a in result.actions if isinstance(a, CaseOpened)]
    assert [(o.case_id, o.kind) for o in opened] == [(case, WELFARE)]
    # Acknowledged at once, so nobody is notified twice during the long silence.
    acked = [a for a in result.actions if isinstance(a, CaseChanged) and a.case_id == case
             and a.state == "acknowledged"]
    assert [a.time for a in acked] == [alarms[0].time]
    assert [n.repeat for n in result.actions if isinstance(n, Notify)] == [0]
    # Resolved as a false alarm just when the resident showed up again.
    resolved = [a for a in result.actions if isinstance(a, CaseResolved)]
    assert [(r.case_id, r.outcome, r.time) for r in resolved] == [
        (case, FALSE_ALARM, t("2024-05-03T10:00+09:00"))
    ]


def test_without_people_the_engine_renotifies():
    events = _day("2024-05-01")
    result = replay(_engine(), events, t("2024-05-02T20:00+09:00"))
    repeats = [n.repeat for n in result.actions if isinstance(n, Notify)]
    assert repeats[:3] == [0, 1, 2]


def test_a_knock_counts_as_answered_only_when_the_residents_next_event_is_in_the_window():
    day = _day("2024-05-01")
    silent = replay(_engine(), day, t("2024-05-02T20:00+09:00"), QuietLog())
    assert silent.knocks, "the engine should knock during a long daytime silence"
    knock = silent.knocks[0].knock
    assert isinstance(knock, Knock) and not silent.knocks[0].answered

    answer = Event("kim", knock.time + (knock.until - knock.time) / 2, "on")
    answered = replay(_engine(), [*day, answer], t("2024-05-02T20:00+09:00"), QuietLog())
    assert [k.answered for k in answered.knocks[:1]] == [True]
    resolved = [a for a in answered.actions if isinstance(a, CaseResolved)]
    assert resolved[0].outcome == RESIDENT_ANSWERED and resolved[0].case_id == knock.case_id

    late = Event("kim", knock.until + 60, "on")
    missed = replay(_engine(), [*day, late], t("2024-05-02T20:00+09:00"), QuietLog())
    assert [k.answered for k in missed.knocks[:1]] == [False]


def test_people_replies_are_recorded_in_the_rules_own_answers():
    """The quiet log's replies are Events the engine accepts: nothing is rejected."""
    events = _day("2024-05-01") + _day("2024-05-03")
    result = replay(_engine(), events, t("2024-05-04T12:00+09:00"), QuietLog())
    kinds = {type(a).__name__ for a in result.actions}
    assert "Rejected" not in kinds
    assert result.events == len(events)
    assert result.first_event["kim"] == events[0].time
    assert result.last_event["kim"] == events[-1].time


def test_quiet_log_leaves_device_cases_and_knock_stage_cases_alone():
    people = QuietLog()
    people.respond(CaseOpened("kim", 0, "c1", "device", None))
    assert people.respond(Alarm("kim", 1, "c1", None)) == [Event("kim", 1, ACK, detail="c1")]
    assert people.before_resident(Event("kim", 5, "on")) == []  # device case: not resolved
    people.respond(CaseOpened("kim", 6, "c2", WELFARE, None))
    assert people.before_resident(Event("kim", 7, "on")) == []  # knock stage: engine's call
    people.respond(Alarm("kim", 8, "c2", None))
    assert people.before_resident(Event("kim", 9, "on")) == [
        Event("kim", 9, RESOLVE, detail=("c2", FALSE_ALARM))
    ]
    assert people.before_resident(Event("kim", 10, "on")) == []


@given(
    events=st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(0, 1000, allow_nan=False)), max_size=30
    ),
    period=st.floats(1, 200, allow_nan=False),
    until=st.floats(0, 1500, allow_nan=False),
)
def test_clock_never_goes_back_and_no_tick_is_missed(events, period, until):
    stream = sorted((Event(h, at, "on") for h, at in events), key=lambda e: e.time)
    rule = Metronome(period)
    replay(rule, stream, until)
    times = [now for _, _, now in rule.calls]
    assert times == sorted(times)
    assert all(now < until for now in times)
    # Every household was woken each time it asked, up to until: its next wish lies beyond.
    assert all(wish >= until for wish in rule.next.values()), rule.next
    assert [c for c in rule.calls if c[0] == "handle"] == [
        ("handle", e.household, e.time) for e in stream if e.time < until
    ]
