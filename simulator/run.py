"""Simulate a shard of a scenario's households and replay every rule against each of them.

One household at a time: build its world, write its ground truth, then replay each rule
against it (the engine and its curve variants get every event; the baselines what
World.for_baselines keeps) with the people of simulator/responders.py, and write what each
rule did. Nothing of a household is kept once it is written, so memory stays flat however
many households a shard holds. A rule's replay of a household ends when someone finds the
emergency: its own responder at the door, or a meter reader's visit (World.visit_found).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from host.baselines import make_baseline
from host.engine import Engine
from host.replay import Rule
from simulator import records as rec
from simulator.drive import Driver
from simulator.responders import Responders
from simulator.scenario import ENGINE, Scenario
from simulator.world import World


def run_shard(scenario: Scenario, shard: int, shards: int, out: Path,
              progress: Callable[[int], None] | None = None) -> None:
    """Households with index % shards == shard, their records written to `out`."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of 0 .. {shards - 1}")
    with Path(out).open("w", encoding="utf-8") as f:
        for index in range(shard, scenario.households, shards):
            simulate_household(scenario, index, f)
            if progress is not None:
                progress(scenario.days)


def simulate_household(scenario: Scenario, index: int, out: IO[str]) -> dict[str, int]:
    """One household: its world, then every rule it is replayed with. Returns counts
    (events handled per rule, ticks) for benchmarks and tests."""
    with _collector_paused():
        return _simulate_household(scenario, index, out)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one household.

    A household makes millions of short-lived tuples (events, decisions) and almost no
    reference cycles (a few SimPy objects: the world itself is freed by reference counting),
    so the collector's passes, triggered by those allocations, find nothing and cost ~4% of
    the run. It is on again after the household, and takes the few cycles then. Nothing
    simulated depends on when it runs.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _simulate_household(scenario: Scenario, index: int, out: IO[str]) -> dict[str, int]:
    world = World(scenario, index)
    write = rec.write
    write(out, world.record())
    if world.emergency is not None:
        write(out, world.emergency)
    for period in world.periods:
        write(out, period)
    counts = {"episodes": world.episodes}
    baseline_events = None
    for rule in scenario.rules_for(index):
        engine = rule == ENGINE or rule.startswith(ENGINE + "@")
        if engine:
            events = world.events
        else:
            if baseline_events is None:
                baseline_events = world.for_baselines()
            events = baseline_events
        driver, people = replay(scenario, world, rule, events)
        for record in people.finish():
            write(out, record)
        if world.emergency is not None:
            write(out, found(world, rule, people))
        counts[rule] = driver.fed
        counts[rule + ":ticks"] = driver.ticks
    return counts


def replay(scenario: Scenario, world: World, rule: str, events) -> tuple[Driver, Responders]:
    """Drive one rule through the world, with the people around the resident."""
    tz = ZoneInfo(scenario.timezone)
    engine = rule == ENGINE or rule.startswith(ENGINE + "@")
    made: Rule = (Engine(scenario.engine_config(rule), tz_of=lambda _: tz) if engine
                  else make_baseline(rule, lambda _: tz))
    people_rng = scenario.stream(world.index, "people")
    people = Responders(rule, world, scenario.people, people_rng, engine)
    driver = Driver(made, world.household, people, world.host_down)
    until = world.end if world.visit_found is None else min(world.visit_found, world.end)
    driver.run(events, until)
    return driver, people


def found(world: World, rule: str, people: Responders) -> rec.Found:
    """How the emergency ended for this rule: its responder, a visit, or nobody."""
    if people.found is not None:
        return people.found
    if world.visit_found is not None and world.visit_found < world.end:
        return rec.Found(rule, world.household, world.visit_found, "visit")
    return rec.Found(rule, world.household, None, "never")
