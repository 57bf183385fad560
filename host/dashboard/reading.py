"""Turning the engine's state and the stored history into what the dashboard shows.

Split by where it may run: `row_of` and `engine_part` read the engine's state, so the live host
calls them on its own thread; `history_part` reads only the store, so the web thread calls it
on its own database connection and never holds up ingest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import tzinfo
from typing import NamedTuple

from host import decisions as d
from host import events as ev
from host.dashboard.board import DeviceHealth, HouseholdRow, RoutineHour
from host.engine import Engine
from host.household import NEVER, HouseholdState
from host.localtime import LocalClock
from host.store import Device, Household, Store

HISTORY_DAYS = 28  # the heatmap's and the usual day's span
SWITCH_KINDS = frozenset({ev.ON, ev.OFF, ev.ACTIVITY})


def _when(t: float) -> float | None:
    return t if -NEVER < t < NEVER else None


def row_of(household: Household, devices: Sequence[Device], st: HouseholdState | None,
           status_at: float | None = None) -> HouseholdRow:
    """One household's line. `st` None: registered but never heard of by the engine."""
    if st is None:
        health = tuple(DeviceHealth(dev.id, dev.power_mode, False, None, None, 0.0)
                       for dev in devices)
        return HouseholdRow(household.id, household.name, household.status,
                            status_at if status_at is not None else household.status_at,
                            None, health, None, None, None, None, household.tz)
    known = st.devices or {}
    health = []
    for dev in devices:
        seen = known.get(dev.id)
        if seen is None:
            health.append(DeviceHealth(dev.id, dev.power_mode, False, None, None, 0.0))
        else:
            health.append(DeviceHealth(dev.id, seen.mode or dev.power_mode, seen.online,
                                       _when(seen.last_seen), _when(seen.changed_at),
                                       seen.heartbeat_s))
    for dev_id in sorted(set(known) - {dev.id for dev in devices}):  # heard of, not registered
        seen = known[dev_id]
        health.append(DeviceHealth(dev_id, seen.mode, seen.online, _when(seen.last_seen),
                                   _when(seen.changed_at), seen.heartbeat_s))
    welfare, device_case = st.welfare, st.device_case
    away = st.away_until
    case = welfare or device_case
    reason = case.reason if case is not None else None
    return HouseholdRow(
        household.id, household.name, st.status,
        status_at if status_at is not None else household.status_at,
        _when(st.last), tuple(health),
        welfare.id if welfare else None, welfare.state if welfare else None,
        device_case.id if device_case else None,
        None if away is None else (math.inf if away >= NEVER else away), household.tz,
        reason.code if reason is not None else None,
        _when(reason.since) if reason is not None else None)


class EnginePart(NamedTuple):
    knock_after_h: tuple[float, ...]  # per routine bucket (48); empty when never heard of
    wake_usual_min: tuple[float | None, float | None]  # weekday, weekend; minutes after 00:00
    days_known: int


def engine_part(engine: Engine, household: str) -> EnginePart:
    """What only the engine knows: its thresholds per hour and the learned wake-up time."""
    gaps = engine.knock_after(household)
    st = engine.state(household)
    if gaps is None or st is None:
        return EnginePart((), (None, None), 0)
    cfg = engine.config
    wake: list[float | None] = []
    for weekend in (False, True):
        w = st.routine.wake(weekend, cfg.morning_min_days)
        wake.append(None if w is None else cfg.morning_start_h * 60 + w[0])
    days = st.routine.days_known(False) + st.routine.days_known(True)
    return EnginePart(tuple(g / 3600 for g in gaps), (wake[0], wake[1]), days)


class HistoryPart(NamedTuple):
    heatmap: tuple[tuple[int, ...], ...]  # HISTORY_DAYS rows (oldest first) x 24 local hours
    days: tuple[int, ...]  # the local day number of each heatmap row
    usual_weekday: tuple[float, ...]  # 24: mean switch events per hour, past weekdays
    usual_weekend: tuple[float, ...]
    today: tuple[int, ...]  # 24: today's switch events per hour so far
    wake_today_min: float | None  # today's first switch use after morning_start_h, minutes


def history_part(store: Store, household: str, tz: tzinfo, now: float,
                 morning_start_h: int = 4) -> HistoryPart:
    """Counts of switch use by local day and hour over the last HISTORY_DAYS days (today last)."""
    clock = LocalClock(tz)
    today = clock.day(now)
    first = today - HISTORY_DAYS + 1
    start = (first * 86400) - clock.offset(now) - 86400  # a day early: offsets may move
    grid = [[0] * 24 for _ in range(HISTORY_DAYS)]
    wake_today: float | None = None
    for event in store.events(household, start, now + 1):
        if event.kind not in SWITCH_KINDS:
            continue
        local = clock.local(event.time)
        day = int(local // 86400)
        if day < first or day > today:
            continue
        minute = local % 86400 / 60
        grid[day - first][int(minute // 60)] += 1
        if day == today and minute >= morning_start_h * 60 and wake_today is None:
            wake_today = minute
    usual: dict[bool, list[float]] = {}
    # The usual day counts from the first day anything was heard: a household installed a
    # week ago has a week of days, not three weeks of empty ones.
    known = next((i for i, r in enumerate(grid) if any(r)), HISTORY_DAYS)
    for weekend in (False, True):
        rows = [grid[i] for i in range(known, HISTORY_DAYS - 1)
                if ((first + i + 3) % 7 >= 5) == weekend]
        usual[weekend] = [sum(r[h] for r in rows) / len(rows) if rows else 0.0
                          for h in range(24)]
    return HistoryPart(tuple(tuple(r) for r in grid), tuple(range(first, today + 1)),
                       tuple(usual[False]), tuple(usual[True]), tuple(grid[-1]), wake_today)


def routine_hours(part: EnginePart, history: HistoryPart, weekend: bool,
                  today_is_weekend: bool) -> tuple[RoutineHour, ...]:
    """The 24 hours of one day type: the engine's threshold, the usual and today's counts."""
    usual = history.usual_weekend if weekend else history.usual_weekday
    offset = 24 if weekend else 0
    today = history.today if weekend == today_is_weekend else (0,) * 24
    return tuple(RoutineHour(h, part.knock_after_h[offset + h] if part.knock_after_h else 0.0,
                             usual[h], today[h]) for h in range(24))


def table_of(households: Iterable[Household], devices: Iterable[Device]
             ) -> tuple[dict[str, Household], dict[str, list[Device]]]:
    """The store's households and their devices, keyed by household id."""
    homes = {h.id: h for h in households}
    by_home: dict[str, list[Device]] = {h: [] for h in homes}
    for dev in devices:
        by_home.setdefault(dev.household_id, []).append(dev)
    return homes, by_home


def refused(decision: d.Decision) -> str | None:
    """The engine's refusal of a people input, in its own words, or None when it took it."""
    for action in decision.actions:
        if type(action) is d.Rejected:
            return action.why
    return None


Clock = Callable[[], float]
