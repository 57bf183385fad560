"""Engine throughput (events/s through the pure core, one process) and memory per household.

Goals (issue: alarm engine): at least 200,000 events/s and at most 4 KB of state per household.
The event stream is a synthetic routine (up about 07:00, a switch use every 1.5 h or so until
about 23:00, each an on and an off) for many households, interleaved in time order as a host
would see it. Throughput is measured twice: cold (the first eight weeks from nothing, while
thresholds are worked out daily for four weeks, then weekly) and steady (weeks nine to twelve:
households with history, which is what a running deployment sees; four weeks, so the
thresholds' two-weekly refresh is counted at its true rate). Each is also given as a
ratio to a bare loop that only looks up the household and stores the time, measured in the same
run, so a slower machine shows in both. Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc

from host.engine import Engine
from host.events import OFF, ON, Event


def routine_stream(households: int, days: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    t0 = 1_772_377_200.0  # 2026-03-02 00:00 Seoul
    out: list[Event] = []
    for h in range(households):
        name = f"hh-{h:06d}"
        for day in range(days):
            t = t0 + day * 86400 + rng.gauss(7 * 3600, 1200)
            end = t0 + day * 86400 + 23 * 3600
            while t < end:
                out.append(Event(name, t, ON))
                out.append(Event(name, t + rng.uniform(60, 600), OFF))
                t += rng.expovariate(1 / 5400) + 600
    out.sort(key=lambda e: e.time)
    return out


def bare_loop(events: list[Event]) -> float:
    """What any consumer must at least do: find the household, note the time."""
    last: dict[str, float] = {}
    start = time.perf_counter()
    for e in events:
        prev = last.get(e.household)
        if prev is None or e.time > prev:
            last[e.household] = e.time
    return time.perf_counter() - start


def engine_pass(engine: Engine, events: list[Event]) -> float:
    handle = engine.handle
    start = time.perf_counter()
    for e in events:
        handle(e, e.time)
    return time.perf_counter() - start


def throughput(households: int, days: int, warm_days: int, repeats: int) -> dict:
    events = routine_stream(households, days, seed=1)
    split = next(i for i, e in enumerate(events) if e.time >= events[0].time + warm_days * 86400)
    cold, steady = events[:split], events[split:]
    runs = []
    for _ in range(repeats):
        gc.collect()
        engine = Engine()
        t_cold = engine_pass(engine, cold)
        t_steady = engine_pass(engine, steady)
        runs.append({
            "cold_eps": len(cold) / t_cold,
            "steady_eps": len(steady) / t_steady,
            "bare_eps": len(steady) / bare_loop(steady),
        })
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {
        "events_cold": len(cold),
        "events_steady": len(steady),
        "cold_events_per_s": round(med["cold_eps"]),
        "steady_events_per_s": round(med["steady_eps"]),
        "bare_loop_events_per_s": round(med["bare_eps"]),
        "steady_ratio_to_bare_loop": round(med["steady_eps"] / med["bare_eps"], 3),
        "repeats": repeats,
    }


def memory(households: int, days: int) -> dict:
    events = routine_stream(households, days, seed=2)
    gc.collect()
    tracemalloc.start()
    engine = Engine()
    before = tracemalloc.get_traced_memory()[0]
    for e in events:
        engine.handle(e, e.time)
    del events  # the stream is the caller's, not the engine's state
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"households_for_memory": households, "bytes_per_household": round(used / households)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI and laptops")
    args = parser.parse_args()
    if args.quick:
        figures = throughput(households=200, days=84, warm_days=56, repeats=3)
        figures.update(memory(households=500, days=7))
    else:
        figures = throughput(households=1000, days=84, warm_days=56, repeats=5)
        figures.update(memory(households=5000, days=14))
    figures["goal_events_per_s"] = 200_000
    figures["goal_bytes_per_household"] = 4096
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
