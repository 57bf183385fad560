"""The default persona against the real bathroom logs in ../shared/datasets.

Tolerance: every figure of the simulated resident (the scenario's default persona, a
bathroom bulb, 120 days, nothing else happening) must lie within the range the three real
residents span, widened by 25 % at each end (low x 0.75, high x 1.25). The logs are two to
four weeks of three people, so the range is what real people showed, not a target to fit to
the decimal; a persona outside it has drifted from anything seen.
"""

from __future__ import annotations

import csv
import random
import statistics
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
import simpy

from simulator import scenario as scenarios
from simulator.life import LifePlan
from simulator.network import Bulb
from simulator.resident import Resident
from simulator.world import _midnights

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
LOGS = sorted(DATASETS.glob("*-bathroom.csv"))
WIDEN = 0.25
DAYS = 120


def figures(visits: list[tuple[float, float]], days: dict[str, int]) -> dict[str, float]:
    """Daily counts and gaps (hours from one visit's end to the next one's start)."""
    gaps = sorted((b[0] - a[1]) / 3600 for a, b in pairwise(visits))
    lengths = sorted(b - a for a, b in visits)
    counts = list(days.values())
    n = len(counts)

    def q(xs: list[float], p: float) -> float:
        return xs[int(p * (len(xs) - 1))]

    return {
        "visits_per_day": statistics.mean(counts),
        "visits_per_day_sd": statistics.pstdev(counts),
        "gap_median_h": q(gaps, 0.5),
        "gap_p75_h": q(gaps, 0.75),
        "gap_p90_h": q(gaps, 0.9),
        "gap_p95_h": q(gaps, 0.95),
        "gaps_1h_per_day": sum(g >= 1 for g in gaps) / n,
        "gaps_3h_per_day": sum(g >= 3 for g in gaps) / n,
        "gaps_6h_per_day": sum(g >= 6 for g in gaps) / n,
        "visit_median_s": q(lengths, 0.5),
        "visit_p90_s": q(lengths, 0.9),
    }


def whole_days(visits: list[tuple[float, float]], day_of) -> dict[str, int]:
    """Visits per calendar day, the first and last (partial) days left out."""
    days: dict[str, int] = {}
    for start, _ in visits:
        days[day_of(start)] = days.get(day_of(start), 0) + 1
    keys = sorted(days)[1:-1]
    return {k: days[k] for k in keys}


def real(path: Path) -> dict[str, float]:
    with path.open(encoding="utf-8") as f:
        rows = [(datetime.fromisoformat(r["time"]), r["event"]) for r in csv.DictReader(f)]
    tz = rows[0][0].tzinfo
    ons = [t.timestamp() for t, e in rows if e == "on"]
    offs = [t.timestamp() for t, e in rows if e == "off"]
    visits = list(zip(ons, offs, strict=True))
    return figures(visits, whole_days(visits, lambda t: datetime.fromtimestamp(t, tz).date()))


def simulated(seed: int) -> dict[str, float]:
    s = scenarios.load(None)
    persona = next(p for p in s.personas if p.name == "typical")
    assert persona == type(persona)(**{**s.table["persona"], "name": "typical",
                                       "weight": persona.weight})  # the default persona
    env = simpy.Environment(initial_time=s.start_utc())
    bulb = Bulb("bulb-0001", "switched")
    midnights = _midnights(s.start, DAYS, s.timezone)
    resident = Resident(env, persona, "bathroom", bulb, LifePlan(), s.start, midnights,
                        lambda day: (7.0, 18.0), random.Random(seed))
    env.process(resident.live())
    env.run(until=midnights[-1])
    presses = bulb.presses
    pairs = list(zip(presses[::2], presses[1::2], strict=True))
    assert all(a[1] and not b[1] for a, b in pairs)
    visits = [(a[0], b[0]) for a, b in pairs]
    return figures(visits, whole_days(visits, lambda t: int((t - s.start_utc()) // 86400)))


@pytest.mark.skipif(len(LOGS) != 3, reason=f"needs the three bathroom logs in {DATASETS}")
def test_default_persona_matches_the_real_bathroom_logs():
    logs = [real(p) for p in LOGS]
    for seed in (1, 2):
        sim = simulated(seed)
        for name, value in sim.items():
            lo = min(log[name] for log in logs) * (1 - WIDEN)
            hi = max(log[name] for log in logs) * (1 + WIDEN)
            assert lo <= value <= hi, f"{name}: simulated {value:.2f}, real logs {lo:.2f}..{hi:.2f}"
