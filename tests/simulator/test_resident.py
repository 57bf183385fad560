"""Residents differ the way people do, and the room the bulb is in changes what it sees."""

from __future__ import annotations

import dataclasses
import random
import statistics
from datetime import date, timedelta

import simpy

from simulator import daylight
from simulator import scenario as scenarios
from simulator.life import LifePlan
from simulator.network import Bulb
from simulator.resident import Resident
from simulator.world import _midnights

S = scenarios.load(None)
H = 3600.0


def persona(name: str = "typical", **habits):
    return dataclasses.replace(next(p for p in S.personas if p.name == name), **habits)


def live(p, room: str = "bathroom", days: int = 60, start: date = S.start,
         life: LifePlan | None = None, seed: int = 1) -> tuple[Resident, list[float]]:
    """Run one resident; returns it and the local midnights (UTC seconds) of its days."""
    midnights = _midnights(start, days, S.timezone)
    env = simpy.Environment(initial_time=midnights[0])

    def sun(day: date) -> tuple[float, float]:
        return daylight.sun_hours(day, S.latitude, S.longitude, 9.0)

    resident = Resident(env, p, room, Bulb("bulb-0001", "switched"), life or LifePlan(),
                        start, midnights, sun, random.Random(seed))
    env.process(resident.live())
    env.run(until=midnights[-1])
    return resident, midnights


def ons(resident: Resident) -> list[float]:
    return [t for t, on in resident.switch.presses if on]


def first_after(times: list[float], midnights: list[float], hour: float) -> list[float]:
    """Local hour of the first switch-on after `hour` each day."""
    out = []
    for m in midnights[:-1]:
        later = [t for t in times if m + hour * H <= t < m + 24 * H]
        if later:
            out.append((later[0] - m) / H)
    return out


def test_presses_alternate_and_never_go_back_in_time():
    for room in ("bathroom", "living_room", "bedroom"):
        resident, _ = live(persona(), room)
        presses = resident.switch.presses
        assert [t for t, _ in presses] == sorted(t for t, _ in presses)
        assert all(a[1] != b[1] for a, b in zip(presses, presses[1:], strict=False))
        assert presses and presses[0][1] is True


def test_chronotype_moves_the_first_visit_of_the_day():
    early = statistics.median(first_after(ons(live(persona("early-riser"))[0]),
                                          live(persona("early-riser"))[1], 4))
    owl = statistics.median(first_after(ons(live(persona("night-owl"))[0]),
                                        live(persona("night-owl"))[1], 4))
    assert 5 <= early <= 6.5 and 9 <= owl <= 11


def test_nocturia_means_visits_at_night():
    def night_visits(p) -> float:
        resident, midnights = live(p)
        return sum(1 for t in ons(resident) for m in midnights[:-1]
                   if m + 1 * H <= t < m + 5 * H) / (len(midnights) - 1)
    assert night_visits(persona(night_visits=2.0)) > 3 * night_visits(persona(night_visits=0.2))


def test_weekends_start_later():
    p = persona(weekend_shift=2.0)
    resident, midnights = live(p, days=84)
    first = first_after(ons(resident), midnights, 4)
    days = [S.start + timedelta(days=k) for k in range(len(first))]
    weekend = [h for h, d in zip(first, days, strict=True) if d.weekday() >= 5]
    weekday = [h for h, d in zip(first, days, strict=True) if d.weekday() < 5]
    assert statistics.median(weekend) - statistics.median(weekday) > 1.2


def test_a_living_room_light_is_used_after_dark_so_less_on_summer_mornings():
    def dark_mornings(start: date) -> float:
        resident, midnights = live(persona(), "living_room", days=30, start=start)
        return sum(1 for m in midnights[:-1] if any(m + 5 * H <= t < m + 10 * H
                                                    for t in ons(resident))) / 30
    winter, summer = dark_mornings(date(2026, 12, 1)), dark_mornings(date(2026, 6, 1))
    assert winter > 0.7 and summer < 0.35


def test_illness_keeps_the_resident_in_and_up_later():
    p = persona(outing=0.9, outing_weekend=0.9)
    well, midnights = live(p, days=28)
    start = midnights[0]
    ill, _ = live(p, days=28, life=LifePlan(illnesses=[(start, start + 28 * 86400)]))
    out = [sum(1 for _, _, s in r.presence if s == "out") for r in (well, ill)]
    assert out[0] > 15 and out[1] == 0
    wake = [statistics.median(first_after(ons(r), midnights, 4)) for r in (well, ill)]
    assert wake[1] - wake[0] > 0.5


def test_decline_thins_the_days_out():
    """Declined (from day 30, fully by day 58): fewer visits, hardly any outings."""
    start = _midnights(S.start, 1, S.timezone)[0]
    resident, midnights = live(persona(outing=0.6), days=120,
                               life=LifePlan(decline=(start + 30 * 86400, 28 * 86400)))
    per_day = [sum(1 for t in ons(resident) if m <= t < m + 24 * H) for m in midnights[:-1]]
    assert statistics.mean(per_day[-30:]) < 0.9 * statistics.mean(per_day[:30])
    first, last = (start, start + 30 * 86400), (start + 90 * 86400, start + 120 * 86400)
    outings = [sum(1 for a, _, s in resident.presence if s == "out" and lo <= a < hi)
               for lo, hi in (first, last)]
    assert outings[1] < outings[0] / 2
