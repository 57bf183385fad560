"""Who lives in a simulated household: the habits that decide when the light is used.

A persona is a set of numbers a welfare officer could argue with ("up about 07:00, out most
afternoons, one or two night visits"), read from the scenario file. The default persona (the
`[persona]` table) is calibrated against the real bathroom logs in shared/datasets (see
tests/simulator/test_persona_calibration.py); the named personas differ from it the way real
residents differ: chronotype, nocturia, naps, outings, regularity, weekday and weekend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    weight: float  # share of households with this persona (weights are normalised)
    # Chronotype and regularity: local clock hours on weekdays, day-to-day spread in hours.
    wake: float
    wake_spread: float
    bed: float  # may pass 24 (01:30 is 25.5)
    bed_spread: float
    weekend_shift: float  # hours later on Saturday and Sunday, wake and bed alike
    # Bathroom visits: while up (besides the first after waking and the last before bed),
    # at night (nocturia), how long an ordinary visit takes, and the daily long one.
    day_visits: float
    regularity: float  # how evenly day visits are spaced: 1 as random as chance, 4 clockwork
    night_visits: float
    visit_minutes: float
    shower: float  # chance per day of a shower or bath
    shower_minutes: float
    # Outings and naps: chance per day, typical length, usual hour of leaving.
    outing: float
    outing_weekend: float
    outing_hours: float
    outing_start: float
    nap: float
    nap_hours: float
    # Light in other rooms: chance the living-room light is used when it is dark while up,
    # chance a night visit switches the bedroom light on, chance the living-room light is
    # left on all night (dozing in front of the television).
    evening_light: float
    night_light: float
    light_left_on: float

    def __post_init__(self) -> None:
        for name in ("weight", "day_visits", "night_visits", "wake_spread", "bed_spread"):
            if getattr(self, name) < 0:
                raise ValueError(f"persona {self.name}: {name} must not be negative")
        for name in ("visit_minutes", "shower_minutes", "outing_hours", "nap_hours",
                     "regularity"):
            if not getattr(self, name) > 0:
                raise ValueError(f"persona {self.name}: {name} must be positive")
        for name in ("shower", "outing", "outing_weekend", "nap", "evening_light",
                     "night_light", "light_left_on"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"persona {self.name}: {name} is a chance, 0 to 1")
        if not 0 <= self.wake < 24 or not self.wake + 4 <= self.bed <= self.wake + 22:
            raise ValueError(f"persona {self.name}: need 0 <= wake < 24 and bed 4 to 22 h "
                             "after wake")
