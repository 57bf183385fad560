"""Households of the default scenario: reproducible, independent of sharding, and what the
baseline rules are given changes none of their alarms."""

from __future__ import annotations

import dataclasses
import random
from itertools import pairwise
from pathlib import Path

from host.events import OFF, ON
from simulator import records as rec
from simulator import scenario as scenarios
from simulator.life import Emergency, LifePlan, plan
from simulator.run import replay, run_shard
from simulator.world import World
from tests.simulator.worlds import local, of, quiet

DAY = 86400.0


def small(households: int = 6, days: int = 30, seed: int = 7) -> scenarios.Scenario:
    return scenarios.with_overrides(scenarios.load(None), households=households, days=days,
                                    seed=seed)


def test_same_seed_same_records_whatever_the_sharding(tmp_path: Path):
    s = small()
    one, again = tmp_path / "one.jsonl", tmp_path / "again.jsonl"
    done: list[int] = []
    run_shard(s, 0, 1, one, done.append)
    run_shard(s, 0, 1, again)
    assert one.read_bytes() == again.read_bytes()
    assert done == [s.days] * s.households  # progress: household-days, once per household
    halves = [tmp_path / f"shard{k}.jsonl" for k in range(3)]
    for k, path in enumerate(halves):
        run_shard(s, k, 3, path)
    merged = sorted(line for p in halves for line in p.read_text().splitlines())
    assert merged == sorted(one.read_text().splitlines())
    other = tmp_path / "other.jsonl"
    run_shard(small(seed=8), 0, 1, other)
    assert other.read_bytes() != one.read_bytes()


def test_records_of_a_run_are_consistent(tmp_path: Path):
    s = small(households=15, days=60, seed=3)
    s = dataclasses.replace(s, life=dataclasses.replace(s.life, emergencies_per_year=3.0))
    path = tmp_path / "r.jsonl"
    run_shard(s, 0, 1, path)
    records = list(rec.read(path))
    households = {r.household: r for r in of(records, rec.Household)}
    assert len(households) == 15
    assert {r.persona for r in households.values()} <= {p.name for p in s.personas}
    for p in of(records, rec.Period):
        h = households[p.household]
        assert h.start <= p.start <= p.end <= h.end
    emergencies = of(records, rec.Emergency)
    assert len(emergencies) >= 3  # about 7 expected at this rate
    for e in emergencies:
        rules = s.rules_for(int(e.household.split("-")[1]))
        founds = [f for f in of(records, rec.Found) if f.household == e.household]
        assert sorted(f.rule for f in founds) == sorted(rules)  # one per rule
        for f in founds:
            assert f.by in ("dispatch", "visit", "never")
            assert (f.time is None) == (f.by == "never")
            if f.time is not None:
                assert f.time >= e.time
    for d in of(records, rec.Dispatch):
        assert d.door > d.time
    variants = {r.rule for r in records if hasattr(r, "rule") and "@" in r.rule}
    assert variants and all(v in s.rules_for(0) for v in variants)


def test_the_baselines_alarm_the_same_on_the_thinned_stream():
    """World.for_baselines keeps a fraction of the events and changes no baseline alarm, also
    around outages whose queued events arrive late (checked on every household here)."""
    s = small(households=20, days=120, seed=2)
    kept = total = 0
    for index in range(s.households):
        world = World(s, index)
        full = [(at, e) for at, e in world.events if e.kind in (ON, OFF)]
        if world.mode == "mains":
            continue  # their on/off are status messages; the thinning is the same function
        thinned = world.for_baselines()
        kept, total = kept + len(thinned), total + len(full)
        for rule in ("fixed-24h", "daily-window", "fixed-36h"):
            _, a = replay(s, world, rule, full)
            _, b = replay(s, world, rule, thinned)
            assert a.finish() == b.finish(), (index, rule)
    assert kept < total / 2


def test_life_plan_keeps_absences_apart_and_emergencies_at_home():
    s = scenarios.load(None)
    start, end = s.start_utc(), s.end_utc()
    for seed in range(200):
        life = plan(s.life, random.Random(seed), start, end, start)
        for a, b in pairwise(life.absences):
            assert b.start > a.end + 2 * DAY
        for a in life.absences:
            assert a.start < a.end and (a.expected is None or a.expected > a.start)
        if life.emergency is not None:
            assert life.away(life.emergency.time) is None
            assert start <= life.emergency.time < end


def test_a_fall_in_the_bathroom_leaves_the_light_on():
    s = quiet(days=20)
    t = local(s, 12, 7.5)
    world = World(s, 0, plan=LifePlan(emergency=Emergency(t, "fall", "morning", True)))
    assert world.emergency == rec.Emergency(world.household, t, "fall", True)
    presses = world.bulb.presses
    assert presses[-1] == (t, True)  # on, and never off again
    assert world.state_at(t + 60) == "collapsed" and world.state_at(t - 60) != "collapsed"
    assert not [e for at, e in world.events if e.time > t + 1 and e.kind in (ON, OFF)]
