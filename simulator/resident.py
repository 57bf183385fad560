"""The resident: a day of getting up, bathroom visits, outings, naps and bed, as switch presses.

One SimPy process per resident. Each day (from waking to the next waking) is planned at its
start from the persona and from what life holds that day (illness, decline, a guest, an
absence); the presses it makes on the household's one wall switch go to the bulb at once,
stamped with their future times, and the process then yields once per episode (at home,
out, asleep), not per press: a bathroom visit's on and off cost no SimPy event of their own.
An emergency interrupts the process (life.Collapse): presses planned after that moment are
taken back, and a resident who fell in the bathroom leaves its light on.

What the resident did is also kept as ground truth for the people around them: when they
were asleep, out or away, and when they could no longer act (`presence`, `collapsed_at`).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Generator
from datetime import date, timedelta
from typing import Protocol

import simpy

from simulator.life import Collapse, LifePlan
from simulator.persona import Persona

HOUR = 3600.0
MINUTE = 60.0
ASLEEP, OUT, AWAY = "asleep", "out", "away"


class Switch(Protocol):
    """Where the presses go: the bulb (simulator.network.Bulb)."""

    def press(self, t: float, on: bool) -> None: ...

    def retract_after(self, t: float) -> bool:
        """Take back presses after t; return whether the lamp is on at t."""
        ...


class Resident:
    def __init__(self, env: simpy.Environment, persona: Persona, room: str, switch: Switch,
                 life: LifePlan, first_day: date, midnights: list[float],
                 sun: Callable[[date], tuple[float, float]], rng: random.Random) -> None:
        self.env = env
        self.persona = persona
        self.room = room
        self.switch = switch
        self.life = life
        self.first_day = first_day
        self.midnights = midnights  # UTC seconds of each local midnight, one past the last day
        self.sun = sun
        self.rng = rng
        self.presence: list[tuple[float, float, str]] = []  # (start, end, asleep/out/away)
        self.collapsed_at: float | None = None
        self.light_on_at_collapse = False
        self.lamp = False  # the switch's position, as far as the presses go
        self.episodes = 0  # SimPy yields made: the benchmark compares with bare timeouts
        self._next_wake = self._wake_hour(0)

    # -- the process ------------------------------------------------------------------------

    def live(self) -> Generator:
        end = self.midnights[-1]
        day = 0
        segments: list[tuple[float, float, str]] = []
        try:
            env, days = self.env, len(self.midnights) - 1
            while day < days:
                segments = self._plan_day(day)
                for _, finish, _ in segments:
                    if finish > env.now:
                        self.episodes += 1
                        yield env.timeout(min(finish, end) - env.now)
                    if env.now >= end:
                        return
                day += 1
        except simpy.Interrupt as stop:
            cause = stop.cause
            if not isinstance(cause, Collapse):
                raise
            yield from self._collapse(cause, segments)

    def _collapse(self, cause: Collapse, segments: list[tuple[float, float, str]]) -> Generator:
        now = self.env.now
        emergency = cause.emergency
        state = next((s for a, b, s in segments if a <= now < b and s in (OUT, AWAY)), None)
        if state is not None:
            # Out (or away): it happens after coming home. Presses up to then stand.
            back = next(b for a, b, s in segments if a <= now < b and s == state)
            now = back + self.rng.uniform(5, 60) * MINUTE
            yield self.env.timeout(now - self.env.now)
        self.collapsed_at = now
        lamp = self.switch.retract_after(now)
        if emergency.in_bathroom and self.room == "bathroom" and not lamp:
            self.switch.press(now, True)  # on the way in: the light stays on
            lamp = True
        self.light_on_at_collapse = lamp
        # Presence after the collapse no longer matters; drop what was planned past it.
        self.presence = [(a, min(b, now), s) for a, b, s in self.presence if a < now]

    # -- planning a day ---------------------------------------------------------------------

    def _wake_hour(self, day: int) -> float:
        p = self.persona
        weekend = (self.first_day + timedelta(days=day)).weekday() >= 5
        t = self.midnights[min(day, len(self.midnights) - 1)] + p.wake * HOUR
        h = p.wake + (p.weekend_shift if weekend else 0) + self.rng.gauss(0, p.wake_spread)
        if self.life.ill(t):
            h += 1.0
        h += 1.5 * self.life.declined(t)
        return min(max(h, p.wake - 3, 3.0), p.wake + 6)

    def _plan_day(self, day: int) -> list[tuple[float, float, str]]:
        """Presses and presence from this day's waking to the next; returns the episodes."""
        p, rng, life = self.persona, self.rng, self.life
        today = self.first_day + timedelta(days=day)
        weekend = today.weekday() >= 5
        midnight = self.midnights[day]
        wake_h = self._next_wake
        self._next_wake = next_wake_h = self._wake_hour(day + 1)
        wake = midnight + wake_h * HOUR
        next_wake = self.midnights[day + 1] + next_wake_h * HOUR
        ill = life.ill(wake)
        declined = life.declined(wake)
        guest = life.guest(wake + 8 * HOUR)
        bed_h = p.bed + (p.weekend_shift if weekend else 0) + rng.gauss(0, p.bed_spread)
        bed_h -= (1.0 if ill else 0.0) + 1.0 * declined
        bed = midnight + bed_h * HOUR
        bed = min(max(bed, wake + 4 * HOUR), next_wake - 3 * HOUR)

        # Out and napping.
        outing_chance = p.outing_weekend if weekend else p.outing
        outing_chance *= (0.0 if ill else 1.0) * (1 - 0.9 * declined)
        out = None
        if rng.random() < outing_chance:
            leave = midnight + (p.outing_start + rng.gauss(0, 1.2)) * HOUR
            leave = min(max(leave, wake + 0.5 * HOUR), bed - 1.5 * HOUR)
            length = min(p.outing_hours * rng.lognormvariate(0, 0.5) * HOUR,
                         bed - 0.5 * HOUR - leave)
            if length >= 0.5 * HOUR:
                out = (leave, leave + length)
        nap = None
        if rng.random() < (0.8 if ill else max(p.nap, 0.8 * declined)):
            start = midnight + (13.5 + rng.gauss(0, 0.5)) * HOUR
            length = p.nap_hours * rng.lognormvariate(0, 0.3) * HOUR
            if wake + HOUR < start and start + length < bed - HOUR and (
                    out is None or start + length < out[0] or start > out[1]):
                nap = (start, start + length)

        episodes: list[tuple[float, float, str]] = []
        cursor = wake
        for a, b, state in sorted(x for x in ((*out, OUT) if out else None,
                                               (*nap, ASLEEP) if nap else None) if x):
            episodes.append((cursor, a, ""))
            episodes.append((a, b, state))
            cursor = b
        episodes.append((cursor, bed, ""))
        episodes.append((bed, next_wake, ASLEEP))

        visits = self._visits(wake, bed, next_wake, episodes, ill, declined, guest)
        presses = self._presses(today, midnight, wake, bed, next_wake, visits, out)

        if presses and presses[-1][0] >= next_wake:  # the day ends when the next one starts
            presses = [(min(t, next_wake - 1), on) for t, on in presses]
        away = self._absence_overlapping(wake, next_wake)
        if away is not None:
            presses, episodes = self._apart(presses, episodes, away)
        press, lamp = self.switch.press, self.lamp
        for t, on in presses:
            if on != lamp:
                press(t, on)
                lamp = on
        self.lamp = lamp
        self.presence.extend((a, b, s) for a, b, s in episodes if s)
        return episodes

    def _visits(self, wake: float, bed: float, next_wake: float,
                episodes: list[tuple[float, float, str]], ill: bool, declined: float,
                guest: bool) -> list[tuple[float, float]]:
        """Bathroom visits (start, length) from waking to the next waking."""
        p, rng = self.persona, self.rng
        rand, uniform = rng.random, rng.uniform
        starts: list[float] = []
        if rand() < 0.85:
            starts.append(wake + uniform(1, 20) * MINUTE)
        if rand() < 0.85:
            starts.append(bed - uniform(2, 25) * MINUTE)
        rate = p.day_visits * (1.1 if ill else 1.0) * (1 - 0.5 * declined)
        if guest:
            rate += 4.0  # the guest's own visits
        if rate > 0:
            # A renewal process while at home and up: gamma intervals of shape `regularity`
            # (1: as random as chance, a Poisson process; higher: more like clockwork).
            shape = p.regularity
            scale = 16 * HOUR / rate / shape
            gamma = rng.gammavariate
            for a, b, s in episodes:
                if s or b <= a:
                    continue
                t = a + rand() * gamma(shape, scale)
                while t < b:
                    starts.append(t)
                    t += gamma(shape, scale)
        for _, b, s in episodes:
            if s == OUT and rand() < 0.6:
                starts.append(b + uniform(2, 20) * MINUTE)  # home again
        nights = p.night_visits + (1.0 if ill else 0.0) + 0.8 * declined
        night_start, night_end = bed + 0.5 * HOUR, next_wake - 0.3 * HOUR
        if night_end > night_start:
            for _ in range(_poisson(rng, nights)):
                starts.append(uniform(night_start, night_end))
        starts.sort()
        minutes = p.visit_minutes * (1 + declined)
        gauss, exp = rng.gauss, math.exp
        visits = []
        last_end = -math.inf
        for s in starts:
            if s < last_end + 30:
                continue
            length = minutes * exp(0.9 * gauss(0.0, 1.0))
            # min(max(length, 0.2), 30), as max and min do it, without the calls
            length = (30 if length > 30 else 0.2 if length < 0.2 else length) * MINUTE
            visits.append((s, length))
            last_end = s + length
        if rand() < p.shower:
            at = (wake + uniform(0.2, 1.5) * HOUR) if rand() < 0.5 else (
                bed - uniform(0.5, 1.5) * HOUR)
            length = p.shower_minutes * exp(0.3 * gauss(0.0, 1.0)) * MINUTE
            visits = [v for v in visits if v[0] + v[1] < at - 30 or v[0] > at + length + 30]
            visits.append((at, length))
            visits.sort()
        return visits

    def _presses(self, today: date, midnight: float, wake: float, bed: float,
                 next_wake: float, visits: list[tuple[float, float]],
                 out: tuple[float, float] | None) -> list[tuple[float, bool]]:
        """What the one wall switch of this household's bulb sees, in time order."""
        room = self.room
        if room == "bathroom":
            presses = []
            for s, length in visits:
                presses.append((s, True))
                presses.append((s + length, False))
            return presses
        p, rng = self.persona, self.rng
        sunrise_h, sunset_h = self.sun(today)
        sunrise = midnight + (sunrise_h + 0.3) * HOUR  # a room is dark a while after sunrise
        sunset = midnight + (sunset_h - 0.3) * HOUR
        presses: list[tuple[float, bool]] = []
        if room == "bedroom":
            # Getting up, dressing, fetching things, bed, and a night visit now and then.
            if rng.random() < (0.9 if wake < sunrise else 0.4):
                presses += [(wake, True), (wake + rng.uniform(3, 15) * MINUTE, False)]
            home = [(a, b) for a, b in ((wake + HOUR, bed - HOUR),) if b > a]
            if out is not None:
                home = [(wake + HOUR, out[0]), (out[1], bed - HOUR)]
                if rng.random() < 0.5:
                    on = out[1] + rng.uniform(2, 15) * MINUTE
                    presses += [(on, True), (on + rng.uniform(3, 10) * MINUTE, False)]
            for a, b in home:
                if b - a > 0.5 * HOUR and rng.random() < 0.6 * (b - a) / (12 * HOUR):
                    on = rng.uniform(a, b - 0.5 * HOUR)
                    presses += [(on, True), (on + rng.uniform(2, 15) * MINUTE, False)]
            if rng.random() < 0.95:
                presses += [(bed - rng.uniform(10, 40) * MINUTE, True), (bed, False)]
            for s, length in visits:
                if s > bed and rng.random() < p.night_light:
                    presses += [(s - 10, True), (s + length + 10, False)]
            presses.sort()
            return presses
        # Living room: the light is used when it is dark and the resident is up at home.
        if rng.random() >= p.evening_light:
            return presses
        home = [(wake, bed)] if out is None else [(wake, out[0]), (out[1], bed)]
        for a, b in home:
            if a < sunrise and rng.random() < 0.9:  # dark morning
                on = a + rng.uniform(2, 10) * MINUTE
                off = min(sunrise + rng.uniform(0, 0.5) * HOUR, b)
                if off > on:
                    presses += [(on, True), (off, False)]
            if b > sunset:  # dark evening
                on = max(a, sunset - rng.uniform(0, 0.5) * HOUR)
                off = b - rng.uniform(0, 10) * MINUTE
                if b == bed and rng.random() < p.light_left_on:
                    off = next_wake + rng.uniform(5, 30) * MINUTE  # dozed off in front of the TV
                if off > on:
                    presses += [(on, True), (off, False)]
        if rng.random() < 0.25:  # a grey day, reading, the television
            a, b = max(wake, sunrise), min(bed, sunset)
            if b - a > HOUR:
                on = rng.uniform(a, b - HOUR)
                presses += [(on, True), (min(on + rng.uniform(0.5, 2) * HOUR, b), False)]
        presses.sort()
        return presses

    # -- absences ---------------------------------------------------------------------------

    def _absence_overlapping(self, a: float, b: float):
        absences = self.life.absences
        i = bisect_right(absences, (b, math.inf)) - 1
        while i >= 0 and absences[i].end > a:
            if absences[i].start < b:
                return absences[i]
            i -= 1
        return None

    def _apart(self, presses: list[tuple[float, bool]],
               episodes: list[tuple[float, float, str]], away) -> tuple[list, list]:
        """The day cut around an absence: nothing while away, the light off on leaving, a
        bathroom visit on coming home."""
        leave, back = away.start, away.end
        kept = [(t, on) for t, on in presses if not leave <= t < back]
        lamp_at_leave = self.lamp
        for t, on in presses:
            if t < leave:
                lamp_at_leave = on
        if lamp_at_leave:
            kept.append((leave, False))
        if self.room == "bathroom" and episodes[0][0] <= back < episodes[-1][1]:
            visit = back + self.rng.uniform(5, 30) * MINUTE
            kept += [(visit, True), (visit + self.rng.uniform(1, 4) * MINUTE, False)]
        kept.sort()
        cut = []
        for a, b, s in episodes:
            if b <= leave or a >= back:
                cut.append((a, b, s))
            else:
                if a < leave:
                    cut.append((a, leave, s))
                cut.append((max(a, leave), min(b, back), AWAY))
                if b > back:
                    cut.append((back, b, s))
        merged: list[tuple[float, float, str]] = []
        for seg in cut:
            if merged and merged[-1][2] == AWAY and seg[2] == AWAY:
                merged[-1] = (merged[-1][0], seg[1], AWAY)
            else:
                merged.append(seg)
        return kept, merged

    # -- ground truth for the people around -------------------------------------------------

    def state_at(self, t: float) -> str:
        """"collapsed", "away", "out", "asleep" or "home" (awake at home)."""
        if self.collapsed_at is not None and t >= self.collapsed_at:
            return "collapsed"
        presence = self.presence
        i = bisect_right(presence, (t, math.inf, "")) - 1
        if i >= 0 and t < presence[i][1]:  # segments never overlap
            return presence[i][2]
        return "home"


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw for small means (Knuth's method: a few uniforms)."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    n, prod = 0, rng.random()
    while prod > limit:
        n += 1
        prod *= rng.random()
    return n
