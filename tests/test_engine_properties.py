"""Properties of the engine that must hold for any household, checked with hypothesis."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host import decisions as d
from host import events as ev
from host.config import EngineConfig
from host.engine import Engine
from host.events import Event
from host.explain import LANGS, describe
from tests.drive import drive, of
from tests.households import SEOUL, at

H = "hh-p"
CEILING = EngineConfig().ceiling_h * 3600
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def histories(draw, max_days: int = 16) -> list[Event]:
    """Days of switch uses at random hours, each an on and an off a few minutes later."""
    days = draw(st.integers(1, max_days))
    out: list[Event] = []
    for day in range(days):
        hours = draw(st.lists(st.floats(0, 23.9), max_size=10))
        for hour in sorted(hours):
            t = at(day, hour)
            out.append(Event(H, t, ev.ON))
            out.append(Event(H, t + draw(st.integers(1, 20)) * 60, ev.OFF))
    out.sort(key=lambda e: e.time)
    return out


def inactivity_raises(actions: list, after: float) -> list[float]:
    """Times the engine knocked or alarmed about a silence, from `after` on."""
    return [a.time for a in actions
            if isinstance(a, d.Knock | d.Alarm) and a.time >= after
            and a.reason.code in (d.INACTIVITY, d.NO_MORNING, d.KNOCK_UNDELIVERED, d.UNWATCHED)]


@PROPERTY
@given(histories(), st.floats(0.01, 0.99), st.integers(1, 20))
def test_an_ordinary_use_never_brings_an_inactivity_alarm_forward(history, where, minutes):
    if not history:
        return
    last = history[-1].time
    end = last + 40 * 3600
    old = drive(Engine(), history, until=end)
    first_old = min(inactivity_raises(old, last), default=end)
    # Insert one ordinary use (on, off a few minutes later) into the final silence, before
    # the engine first raised it, well clear of any SOS pattern.
    u = last + 60 + where * (first_old - last - 60 - minutes * 60)
    if u <= last + 60:
        return
    extra = [Event(H, u, ev.ON), Event(H, u + minutes * 60, ev.OFF)]
    new = drive(Engine(), history + extra, until=end)
    first_new = min(inactivity_raises(new, last), default=math.inf)
    assert first_new >= first_old


def snapshot(engine: Engine) -> tuple:
    s = engine.state(H)
    r = s.routine
    case = s.welfare
    return (s.last, s.alive_at, s.light_on, s.light_t, s.status, s.due_raw, s.due_urgent,
            tuple(r.sums), tuple(r.hist), tuple(r.days), r.longest_on, r.on_periods,
            case and (case.id, case.state, case.repeats, case.activity_seen))


@PROPERTY
@given(histories(max_days=10), st.floats(0, 30))
def test_replaying_the_same_events_changes_nothing(history, hours_after):
    if not history:
        return
    end = history[-1].time + hours_after * 3600
    once = Engine()
    drive(once, history, until=end)
    twice = Engine()
    drive(twice, history, until=end)
    replayed = []
    for event in history:
        replayed += twice.handle(event, end).actions
    assert [a for a in replayed if not isinstance(a, d.StatusChanged)] == []
    assert snapshot(twice) == snapshot(once)


@st.composite
def worlds(draw) -> tuple[list[Event], float]:
    """A history, maybe SOS bursts, maybe a bulb whose heartbeats stop, maybe away spells."""
    history = draw(histories(max_days=8))
    if not history:
        history = [Event(H, at(0, 9), ev.ON)]
    start, last = history[0].time, history[-1].time
    extra: list[Event] = []
    if draw(st.booleans()):
        t = at(draw(st.integers(0, 7)), draw(st.floats(0, 23)))
        extra += [Event(H, t + i * 2, ev.ON if i % 2 == 0 else ev.OFF) for i in range(5)]
    if draw(st.booleans()):
        hb = 3 * 3600
        extra.append(Event(H, start - 60, ev.ONLINE, "bulb", (ev.SWITCHED, hb)))
        stop = start + draw(st.floats(0, 1)) * (last + 30 * 3600 - start)
        t = start
        while t < stop:
            extra.append(Event(H, t, ev.HEARTBEAT, "bulb"))
            t += hb
        if draw(st.booleans()):
            extra.append(Event(H, stop, ev.OFFLINE, "bulb"))
    if draw(st.booleans()):
        leave = start + draw(st.floats(0, 1)) * (last - start)
        extra.append(Event(H, leave, ev.AWAY, detail=leave + draw(st.floats(1, 72)) * 3600))
    return history + extra, last + draw(st.floats(0, 60)) * 3600


@PROPERTY
@given(worlds())
def test_outside_away_mode_a_person_is_told_within_the_ceiling(world):
    inputs, end = world
    actions = drive(Engine(), inputs, until=end)
    away = [(e.time, e.detail) for e in inputs if e.kind == ev.AWAY]
    lives = sorted({e.time for e in inputs if e.kind in ev.RESIDENT_KINDS})
    told = sorted(a.time for a in of(actions, d.Notify) if a.audience == "caseworker")
    for a, b in zip(lives, lives[1:] + [end], strict=True):
        if b - a <= CEILING:
            continue
        if any(leave < a + CEILING and back > a for leave, back in away):
            continue  # away mode pauses the ceiling
        assert any(a < t <= a + CEILING + 1 for t in told), f"silence from {a} to {b}"


@PROPERTY
@given(worlds())
def test_every_alarm_explains_itself(world):
    inputs, end = world
    actions = drive(Engine(), inputs, until=end)
    for action in actions:
        if isinstance(action, d.Knock | d.Alarm | d.Notify | d.CaseOpened):
            reason = action.reason
            assert reason.code in d.REASON_CODES
            assert reason.since <= action.time and reason.gap >= 0
            for lang in LANGS:
                assert len(describe(reason, SEOUL, lang)) > 10
