"""What happens to a resident over the months: emergencies, illness, decline, absences, guests.

The plan is drawn once per household from its own random stream, so it is the same whatever
the rules do and however households are sharded. Absences, illness and guests are things the
resident lives through and plans around (resident.py reads them day by day); an emergency is
sudden: the life process interrupts the resident at that moment (resident.py's Collapse).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import NamedTuple

import simpy

DAY = 86400.0
YEAR_DAYS = 365.25
TIMES_OF_DAY = ("morning", "day", "evening", "night")
# Local clock hours each time of day covers: falls mostly happen getting up, at night on the
# way to the toilet, less during the day.
_HOURS = {"morning": (6.0, 10.0), "day": (10.0, 18.0), "evening": (18.0, 23.0),
          "night": (23.0, 30.0)}
EMERGENCY_KINDS = ("fall", "stroke", "death")


@dataclass(frozen=True, slots=True)
class LifeRates:
    emergencies_per_year: float
    emergency_kinds: dict[str, float]
    emergency_times: dict[str, float]
    in_bathroom: dict[str, float]
    illness_per_year: float
    illness_days: float
    declines_per_year: float
    decline_weeks: float
    hospital_per_year: float
    hospital_days: float
    family_visits_per_year: float
    family_visit_days: float
    announced: float
    guests_per_year: float
    guest_days: float

    def __post_init__(self) -> None:
        _keys("emergency_kinds", self.emergency_kinds, EMERGENCY_KINDS)
        _keys("emergency_times", self.emergency_times, TIMES_OF_DAY)
        _keys("in_bathroom", self.in_bathroom, TIMES_OF_DAY, exact=True)
        for name, value in self.in_bathroom.items():
            if not 0 <= value <= 1:
                raise ValueError(f"in_bathroom.{name} is a chance, 0 to 1")
        if not 0 <= self.announced <= 1:
            raise ValueError("announced is a chance, 0 to 1")
        for name in ("illness_days", "decline_weeks", "hospital_days", "family_visit_days",
                     "guest_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("emergencies_per_year", "illness_per_year", "declines_per_year",
                     "hospital_per_year", "family_visits_per_year", "guests_per_year"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


def _keys(name: str, table: dict[str, float], allowed: tuple[str, ...],
          exact: bool = False) -> None:
    extra = set(table) - set(allowed)
    if extra:
        raise ValueError(f"{name}: unknown {', '.join(sorted(extra))} "
                         f"(known: {', '.join(allowed)})")
    if exact and set(table) != set(allowed):
        raise ValueError(f"{name}: needs each of {', '.join(allowed)}")
    if not exact and sum(table.values()) <= 0:
        raise ValueError(f"{name}: the shares add up to nothing")


class Absence(NamedTuple):
    """The resident is not at home: in hospital or staying with family."""

    start: float
    end: float
    kind: str  # hospital, family
    announced: bool  # someone told the service: away mode is set
    expected: float | None  # the return the service was told (None: "until back")


class Emergency(NamedTuple):
    time: float  # when it is due; the resident process may move it to after an outing
    kind: str  # fall, stroke, death
    when: str  # morning, day, evening, night
    in_bathroom: bool


@dataclass
class LifePlan:
    """One household's life over the simulated window, drawn in advance."""

    emergency: Emergency | None = None
    absences: list[Absence] = field(default_factory=list)
    illnesses: list[tuple[float, float]] = field(default_factory=list)
    decline: tuple[float, float] | None = None  # (start, seconds until fully declined)
    guests: list[tuple[float, float]] = field(default_factory=list)

    def away(self, t: float) -> Absence | None:
        """The absence in progress at t, if any."""
        i = bisect_right(self.absences, (t, math.inf)) - 1
        if i >= 0 and self.absences[i].start <= t < self.absences[i].end:
            return self.absences[i]
        return None

    def ill(self, t: float) -> bool:
        return _within(t, self.illnesses)

    def guest(self, t: float) -> bool:
        return _within(t, self.guests)

    def declined(self, t: float) -> float:
        """How far the decline has gone at t, 0 (none) to 1 (settled at its lower level)."""
        if self.decline is None or t < self.decline[0]:
            return 0.0
        return min((t - self.decline[0]) / self.decline[1], 1.0)


def _within(t: float, spans: list[tuple[float, float]]) -> bool:
    """Whether t falls in one of the spans: any(...) without a generator (asked daily)."""
    for a, b in spans:  # noqa: SIM110 - a generator costs more than the loop
        if a <= t < b:
            return True
    return False


def plan(rates: LifeRates, rng: random.Random, start: float, end: float,
         local_midnight: float) -> LifePlan:
    """Draw a household's life for [start, end). `local_midnight` is the first day's midnight.

    Events of each kind come as a Poisson process at their yearly rate. Absences are at least
    two days apart (one that would come sooner is dropped); an emergency is never planned
    during an absence (the resident is not at home).
    """
    life = LifePlan()
    days = (end - start) / DAY
    years = days / YEAR_DAYS

    def times(per_year: float) -> list[float]:
        out, t = [], 0.0
        if per_year <= 0:
            return out
        while True:
            t += rng.expovariate(per_year / YEAR_DAYS)
            if t >= days:
                return out
            out.append(t)

    def at_local(day_offset: float, hour: float) -> float:
        return local_midnight + math.floor(day_offset) * DAY + hour * 3600

    absences: list[Absence] = []
    for kind, per_year, median in (("hospital", rates.hospital_per_year, rates.hospital_days),
                                   ("family", rates.family_visits_per_year,
                                    rates.family_visit_days)):
        for day in times(per_year):
            begin = at_local(day, rng.uniform(9.5, 16.0))
            length = max(round(median * rng.lognormvariate(0, 0.5)), 1)
            finish = at_local(day + length, rng.uniform(10.0, 17.0))
            announced = rng.random() < rates.announced
            expected = None
            if announced and rng.random() < 0.8:
                # What the family or hospital said: a rough date, sometimes too early.
                expected = finish + rng.gauss(0, 0.15 * length) * DAY
                expected = max(expected, begin + 3600)
            absences.append(Absence(begin, min(finish, end), kind, announced, expected))
    absences.sort()
    for a in absences:
        if a.start < end and (not life.absences or a.start > life.absences[-1].end + 2 * DAY):
            life.absences.append(a)
    for day in times(rates.illness_per_year):
        length = rates.illness_days * rng.lognormvariate(0, 0.5) * DAY
        life.illnesses.append((at_local(day, 4.0), at_local(day, 4.0) + length))
    if rates.declines_per_year > 0 and rng.random() < 1 - math.exp(
            -rates.declines_per_year * years):
        weeks = rates.decline_weeks * rng.lognormvariate(0, 0.3)
        life.decline = (start + rng.random() * (end - start), weeks * 7 * DAY)
    for day in times(rates.guests_per_year):
        length = max(rates.guest_days * rng.lognormvariate(0, 0.5), 0.2)
        begin = at_local(day, rng.uniform(14.0, 19.0))
        life.guests.append((begin, begin + length * DAY))
    first = times(rates.emergencies_per_year)
    if first:
        when = choose(rng, rates.emergency_times)
        lo, hi = _HOURS[when]
        t = at_local(first[0], rng.uniform(lo, hi))
        away = life.away(t)
        if away is not None:
            t = away.end + DAY  # at home again by then; the same hour a day after the return
        if t < end:
            kind = choose(rng, rates.emergency_kinds)
            in_bathroom = kind != "death" and rng.random() < rates.in_bathroom[when]
            life.emergency = Emergency(t, kind, when, in_bathroom)
    return life


def choose(rng: random.Random, shares: dict[str, float]) -> str:
    """One name, drawn with the given shares (they need not add up to 1)."""
    x = rng.random() * sum(shares.values())
    for name, share in shares.items():
        x -= share
        if x < 0:
            return name
    return name


class Collapse(NamedTuple):
    """The cause carried by the interrupt: the resident can no longer act."""

    emergency: Emergency


def run(env: simpy.Environment, life: LifePlan, resident: simpy.Process) -> Generator:
    """The sudden part of life: at the emergency's time, interrupt whatever the resident does."""
    if life.emergency is None:
        return
    yield env.timeout(max(life.emergency.time - env.now, 0))
    if resident.is_alive:
        resident.interrupt(Collapse(life.emergency))
