"""Hand-made households for engine tests: a regular routine a caseworker would recognise."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from host.events import OFF, ON, Event

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 3, 2, tzinfo=SEOUL)  # a Monday


def at(day: int, hour: float) -> float:
    """UTC seconds of local (Seoul) `hour` on day `day` after START."""
    return (START + timedelta(days=day, hours=hour)).timestamp()


def use(household: str, t: float, minutes: float = 4) -> list[Event]:
    """One ordinary switch use: on, then off a few minutes later."""
    return [Event(household, t, ON), Event(household, t + minutes * 60, OFF)]


def regular_days(household: str, days: int, seed: int = 0, first_day: int = 0,
                 local: Callable[[int, float], float] = at) -> list[Event]:
    """Up about 07:00, a bathroom visit every two hours or so, bed about 22:30, one night visit.

    The last event of day `first_day + days - 1` is that day's 22:30 visit; the night visit
    belongs to the next day. `local(day, hour)` gives UTC seconds (Seoul by default).
    """
    rng = random.Random(seed)
    out: list[Event] = []
    for day in range(first_day, first_day + days):
        if day > first_day:
            out += use(household, local(day, 3 + rng.uniform(-0.5, 0.5)))
        h = 7 + rng.uniform(-0.3, 0.3)
        while h < 22:
            out += use(household, local(day, h))
            h += rng.uniform(1.0, 2.5)
        out += use(household, local(day, 22.5 + rng.uniform(-0.3, 0.3)))
    return out
