"""Small simulated worlds for tests: one household where nothing happens unless a test says so."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from simulator import scenario as scenarios
from simulator.life import LifeRates
from simulator.network import NetworkRates
from simulator.scenario import Scenario

SEOUL = ZoneInfo("Asia/Seoul")
H = 3600.0


def quiet(days: int = 45, seed: int = 1, room: str = "bathroom", persona: str = "typical",
          **habits: float) -> Scenario:
    """The default scenario cut down to one household, one persona (with `habits` changed),
    one bulb room, no life events and no faults."""
    s = scenarios.with_overrides(scenarios.load(None), households=1, days=days, seed=seed)
    life = dataclasses.replace(s.life, **{f.name: 0.0 for f in dataclasses.fields(LifeRates)
                                          if f.name.endswith("per_year")})
    net = dataclasses.replace(s.network, mains=0.0, **{
        f.name: 0.0 for f in dataclasses.fields(NetworkRates) if f.name.endswith("per_year")})
    chosen = next(p for p in s.personas if p.name == persona)
    chosen = dataclasses.replace(chosen, **habits)
    return dataclasses.replace(s, life=life, network=net, personas=(chosen,),
                               bulbs={room: 1.0}, curve=())


def regular(days: int = 45, seed: int = 1) -> Scenario:
    """A household with a regular routine: up and to bed at the same time every day, a
    bathroom visit every two hours or so (evenly spaced), no outings, no naps."""
    return quiet(days, seed, wake_spread=0.25, bed_spread=0.25, weekend_shift=0.0,
                 day_visits=7.0, regularity=9.0, outing=0.0, outing_weekend=0.0, nap=0.0)


def local(s: Scenario, day: int, hour: float) -> float:
    """UTC seconds of local `hour` on day `day` of the scenario."""
    midnight = datetime.combine(s.start + timedelta(days=day), time(0), SEOUL)
    return midnight.timestamp() + hour * H


def of(records: list, kind: type, **fields) -> list:
    """The records of one type whose fields equal `fields`."""
    return [r for r in records if type(r) is kind
            and all(getattr(r, k) == v for k, v in fields.items())]

