"""One household's simulated world: who lives there, what they did, and what the host heard.

The resident and their life run as SimPy processes (the life process interrupts the resident
when an emergency strikes); the bulb's faults are a plan and the firmware's answer to them a
pure function (simulator/network.py). What comes out is the same for every rule replayed
against it: the host's inputs in arrival order, the ground truth (emergency, periods), and
what the people around the resident need to answer the rules (where the resident was, whether
the bulb could be reached). Each household draws from its own random streams, derived from
(seed, household index, purpose), so a household is the same whichever shard runs it, and
what one purpose draws (say, the network) never shifts another's (the resident's day).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import simpy

from host.events import AWAY, MAINS, OFF, OFFLINE, ON, ONLINE, SWITCHED, Event
from simulator import daylight, life, network
from simulator import records as rec
from simulator.resident import Resident
from simulator.scenario import Scenario

DAY = 86400.0
# Baseline rules see only the resident's events, and only those that can matter to a rule
# that alarms on silences of a day or more (see for_baselines).
BASELINE_GAP_S = 12 * 3600.0
LATE_S = 60.0  # arriving this much after its own time: a queued event
_SWITCH = frozenset((ON, OFF))


class World:
    """One household, fully simulated over the scenario's window."""

    def __init__(self, scenario: Scenario, index: int, *, plan: life.LifePlan | None = None,
                 faults: list[network.Outage] | None = None) -> None:
        """`plan` and `faults`, when given, replace what the household would have drawn (for
        tests that need one particular emergency, absence or outage)."""
        s = scenario
        self.index = index
        self.household = s.household_id(index)
        self.device = f"bulb-{index:06d}"
        self.start, self.end = s.start_utc(), s.end_utc()
        self.tz = ZoneInfo(s.timezone)

        def stream(purpose: str) -> random.Random:
            return s.stream(index, purpose)

        who = stream("who")
        self.persona = life.choose(who, {p.name: p.weight for p in s.personas})
        persona = next(p for p in s.personas if p.name == self.persona)
        self.room = life.choose(who, s.bulbs)
        self.mode = MAINS if who.random() < s.network.mains else SWITCHED
        self.neighbourhood = who.randrange(s.neighbourhoods)

        midnights = _midnights(s.start, s.days, s.timezone)
        offset = datetime.fromtimestamp(self.start, self.tz).utcoffset()
        self._offset = offset.total_seconds() if offset else 0.0
        self.life = life.plan(s.life, stream("life"), self.start, self.end, self.start)
        if plan is not None:
            self.life = plan

        env = simpy.Environment(initial_time=self.start)
        self.bulb = network.Bulb(self.device, self.mode)

        offset_h = self._offset / 3600

        def sun(day: date) -> tuple[float, float]:
            # Not self._offset: a closure over self would put the world in a reference
            # cycle (world, resident, sun), kept until the cyclic collector's next full pass.
            return daylight.sun_hours(day, s.latitude, s.longitude, offset_h)

        self.resident = Resident(env, persona, self.room, self.bulb, self.life, s.start,
                                 midnights, sun, stream("resident"))
        process = env.process(self.resident.live())
        env.process(life.run(env, self.life, process))
        env.run(until=self.end)

        net = stream("network")
        drawn = network.household_faults(s.network, net, self.start, self.end)
        drawn += network.broker_outages(s.network, s.seed, self.start, self.end)
        drawn += network.power_cuts(s.network, s.seed, self.neighbourhood, self.start,
                                    self.end)
        faults = sorted(drawn if faults is None else faults)
        heard = network.hear(self.bulb, self.household, faults, self.start, self.end,
                             s.network, net)
        self.link = heard.link
        # When the host could not hear anyone (a broker outage): it judges nothing then.
        self.host_down = [(f.start, f.end) for f in faults if f.cause == network.BROKER]
        self.events = heard.events
        announced = [self._away_event(a, net) for a in self.life.absences
                     if a.announced and a.start < self._collapsed_or_end()]
        if announced:
            self.events = sorted(self.events + announced, key=_arrival)

        self.emergency: rec.Emergency | None = None
        self.emergency_kind: str | None = None
        collapsed = self.resident.collapsed_at
        if collapsed is not None and self.life.emergency is not None:
            self.emergency_kind = self.life.emergency.kind
            self.emergency = rec.Emergency(self.household, collapsed, self.emergency_kind,
                                           self.resident.light_on_at_collapse)
        self.visit_found = self._visit_found(s, stream("visits"))
        self.periods = self._periods(heard.periods)
        self.episodes = self.resident.episodes

    # -- for the rules ----------------------------------------------------------------------

    def record(self) -> rec.Household:
        return rec.Household(self.household, self.persona, self.room, self.start, self.end)

    def for_baselines(self) -> list[tuple[float, Event]]:
        """The resident's events as the baseline rules need them: fewer, same decisions.

        Today's rules alarm on a silence of 24 h or more (fixed-24h, fixed-36h) or on a
        24-hour window from 09:00 without an event (daily-window), and take no other input.
        An on-time event is left out only when the events kept around it arrive less than
        12 h apart; queued (late) events and the event after them are always kept. Then at
        any moment the last time a rule has seen differs between the full stream and this one
        only while the last kept event is under 12 h old, when neither rule can alarm, and
        the events that bound every silence of 12 h or more are all kept: the alarms are the
        same (tests/simulator/test_world.py compares them). A bathroom bulb's ~14 events a
        day become ~3.
        """
        if self.mode != MAINS:  # a switched bulb: its switch events, picked out in one pass
            return thin([item for item in self.events if item[1].kind in _SWITCH], BASELINE_GAP_S)
        resident = []
        for at, e in self.events:
            kind = e.kind
            if kind in _SWITCH:
                resident.append((at, e))
            elif kind in (ONLINE, OFFLINE):
                resident.append((at, e._replace(kind=ON if kind == ONLINE else OFF,
                                                detail=None)))
        return thin(resident, BASELINE_GAP_S)

    # -- ground truth for the people around -------------------------------------------------

    def state_at(self, t: float) -> str:
        """"collapsed", "away", "out", "asleep" or "home" (awake at home)."""
        state = self.resident.state_at(t)
        if state != "collapsed" and self.life.away(t) is not None:
            return "away"
        return state

    def lamp_at(self, t: float) -> bool:
        presses = self.bulb.presses
        i = bisect_right(presses, (t, True)) - 1
        return i >= 0 and presses[i][1]

    def next_press(self, t: float) -> float:
        """When the resident next uses the switch after t (infinity if never)."""
        presses = self.bulb.presses
        i = bisect_right(presses, (t, True))
        return presses[i][0] if i < len(presses) else float("inf")

    def absence(self, t: float) -> life.Absence | None:
        return self.life.away(t)

    def office_hours(self, t: float) -> bool:
        local = t + self._offset
        weekday = (int(local // DAY) + 3) % 7 < 5  # day 0 of the epoch was a Thursday
        return weekday and 9 <= local % DAY / 3600 < 18

    # -- building ---------------------------------------------------------------------------

    def _collapsed_or_end(self) -> float:
        c = self.resident.collapsed_at
        return c if c is not None else self.end

    def _away_event(self, absence: life.Absence, rng: random.Random) -> tuple[float, Event]:
        """Someone tells the service: away mode, set soon after the resident left."""
        t = absence.start + rng.uniform(1, 30) * 60
        expected = absence.expected
        if expected is not None:
            expected = max(expected, t + 3600)
        return t, Event(self.household, t, AWAY, detail=expected)

    def _visit_found(self, s: Scenario, rng: random.Random) -> float | None:
        """The first meter reader's visit after the collapse that notices something wrong."""
        per_month = s.people.meter_visits_per_month
        if self.emergency is None or per_month <= 0:
            return None
        every = 30.44 * DAY / per_month
        t = self.start + rng.uniform(0, every)
        while t < self.end:
            visit = t - t % DAY - self._offset + rng.uniform(10, 17) * 3600
            if visit > self.emergency.time and rng.random() < s.people.meter_discovers:
                return visit
            t += every + rng.uniform(-2, 2) * DAY
        return None

    def _periods(self, network_periods: list[tuple[float, float, str]]) -> list[rec.Period]:
        hh, end = self.household, self.end
        stop = self._collapsed_or_end()
        out = []
        for a in self.life.absences:
            if a.start < stop:
                kind = "away_announced" if a.announced else "away_unannounced"
                out.append(rec.Period(hh, a.start, min(a.end, stop), kind))
        for kind, spans in (("illness", self.life.illnesses), ("guest", self.life.guests)):
            out += [rec.Period(hh, a, min(b, stop), kind) for a, b in spans if a < stop]
        if self.life.decline is not None and self.life.decline[0] < stop:
            out.append(rec.Period(hh, self.life.decline[0], stop, "decline"))
        out += [rec.Period(hh, a, min(b, end), kind) for a, b, kind in network_periods]
        out.sort(key=lambda p: p.start)
        return out


def thin(events: list[tuple[float, Event]], gap: float) -> list[tuple[float, Event]]:
    """Drop on-time events whose kept neighbours arrive less than `gap` apart (for_baselines)."""
    n = len(events)
    if n <= 2:
        return list(events)
    kept = [events[0]]
    last_kept = events[0][0]
    prev_late = events[0][0] - events[0][1].time > LATE_S
    for i in range(1, n - 1):
        at, e = events[i]
        late = at - e.time > LATE_S
        if late or prev_late or events[i + 1][0] - last_kept >= gap:
            kept.append(events[i])
            last_kept = at
        prev_late = late
    kept.append(events[-1])
    return kept


def _arrival(item: tuple[float, Event]) -> float:
    return item[0]


@lru_cache(maxsize=16)
def _midnights(start: date, days: int, timezone: str) -> list[float]:
    """UTC seconds of each local midnight from `start`, one past the last day."""
    tz = ZoneInfo(timezone)
    return [datetime.combine(start + timedelta(days=k), time(0), tz).timestamp()
            for k in range(days + 1)]

