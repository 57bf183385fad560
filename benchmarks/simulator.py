"""Simulator speed: households x days with the engine in the loop, on one core.

Goal (issue 3): 1,000 households for 365 days in at most 60 s on one core of this machine,
with the engine in the loop: the default scenario's world, the engine and the three baselines
replayed on every household (the main run). The default scenario also replays the engine's
trade-off variants on a sample of households and on every one with an emergency; that run is
measured too (`with_curve`), as `anbu simulate --workers 1` would take it.

Measured in one process, in this order:
- scaling: a series of (households x days) runs, seconds per household-day for each (the
  faster of two runs), to show the cost grows linearly with households x days (the figure
  should stay flat);
- the main run: every household through `simulator.run.simulate_household`, records written
  to a file as `run_shard` writes them; wall time, household-days/s, events fed to rules/s;
- the same with the curve variants;
- bare SimPy: the same number of `env.timeout` yields as the main run's world made (each
  household's resident episodes plus its life process's one), in one fresh Environment per
  household as the world uses, each process yielding its household's count of timeouts spread
  over its window. The ratio main / bare says how much the world and the rules cost over
  SimPy's own floor of scheduling the same yields, and is stable on a slower machine;
- peak memory (max RSS) after the scaling series and after the main run: records stream to
  disk and nothing of a household is kept, so the main run should not raise it much.

Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

# This file has the name of the package it measures: run as a script, its own folder comes
# first on the path and would shadow the package, so it goes.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import simpy  # noqa: E402

from simulator import scenario as scenarios  # noqa: E402
from simulator.run import simulate_household  # noqa: E402

SEED = 1


def run_households(households: int, days: int, out: Path, curve: bool = False) -> dict:
    """Every household of the default scenario, one process; what run_shard does, counted.

    Without `curve`, the engine's trade-off variants are left out: the engine and the three
    baselines are in the loop (the goal's run); with it, the default scenario as it is.
    """
    scenario = scenarios.with_overrides(scenarios.load(None), households=households, days=days,
                                        seed=SEED)
    if not curve:
        scenario = dataclasses.replace(scenario, curve=())
    episodes: list[int] = []
    fed = 0
    start = time.perf_counter()
    with out.open("w", encoding="utf-8") as f:
        for index in range(households):
            counts = simulate_household(scenario, index, f)
            episodes.append(counts["episodes"] + 1)  # + the life process's one timeout
            fed += sum(v for k, v in counts.items() if k != "episodes" and ":" not in k)
    seconds = time.perf_counter() - start
    return {"households": households, "days": days, "seconds": round(seconds, 2),
            "us_per_household_day": round(seconds / (households * days) * 1e6, 1),
            "household_days_per_s": round(households * days / seconds),
            "events_fed": fed, "events_fed_per_s": round(fed / seconds),
            "simpy_yields": sum(episodes), "_episodes": episodes,
            "records_bytes": out.stat().st_size}


def bare_simpy(episodes: list[int], days: int) -> float:
    """The same yields with nothing else: one Environment and one process per household."""
    window = days * 86400.0

    def process(env: simpy.Environment, n: int):
        step = window / max(n, 1)
        for _ in range(n):
            yield env.timeout(step)

    start = time.perf_counter()
    for n in episodes:
        env = simpy.Environment(initial_time=1_767_538_800.0)
        env.process(process(env, n))
        env.run(until=1_767_538_800.0 + window + 1)
    return time.perf_counter() - start


def max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="50 households x 180 days, a short scaling series")
    args = parser.parse_args()
    households, days = (50, 180) if args.quick else (1000, 365)
    series = ([(20, 90), (40, 90), (20, 180)] if args.quick else
              [(50, 90), (100, 90), (200, 90), (400, 90), (50, 180), (50, 360)])
    with tempfile.TemporaryDirectory(prefix="anbu-bench-") as tmp:
        out = Path(tmp) / "records.jsonl"
        run_households(5, 30, out)  # warm-up: imports, caches, zone data; not counted
        scaling = []
        for h, d in series:
            # The faster of two runs: on a shared machine, the slower one measures the others.
            r = min((run_households(h, d, out) for _ in range(2)), key=lambda r: r["seconds"])
            scaling.append({k: r[k] for k in ("households", "days", "seconds",
                                              "us_per_household_day")})
            print(f"scaling {h:>5} households x {d:>3} days: {r['seconds']:7.2f} s, "
                  f"{r['us_per_household_day']:7.1f} us per household-day", flush=True)
        rss_before = max_rss_mb()
        main_run = run_households(households, days, out)
        rss_after = max_rss_mb()
        with_curve = run_households(households, days, out, curve=True)
        with_curve.pop("_episodes")
        print(f"with the curve variants: {with_curve['seconds']} s", flush=True)
    episodes = main_run.pop("_episodes")
    bare = bare_simpy(episodes, days)
    per_hd = [s["us_per_household_day"] for s in scaling]
    figures = {
        "benchmark": "simulator",
        "quick": args.quick,
        **{k: v for k, v in main_run.items()},
        "goal_seconds_for_1000x365": 60,
        "bare_simpy_seconds": round(bare, 3),
        "ratio_to_bare_simpy": round(main_run["seconds"] / bare, 1),
        "with_curve": {k: with_curve[k] for k in ("seconds", "household_days_per_s",
                                                  "events_fed", "events_fed_per_s")},
        "scaling": scaling,
        "scaling_spread": round(max(per_hd) / min(per_hd), 2),  # 1.0 = perfectly linear
        "max_rss_mb_before_main": rss_before,
        "max_rss_mb_after_main": rss_after,
    }
    print(f"main {households} households x {days} days: {main_run['seconds']} s "
          f"({main_run['household_days_per_s']} household-days/s, "
          f"{main_run['events_fed_per_s']} events fed/s); bare SimPy {bare:.2f} s "
          f"for the same {main_run['simpy_yields']} yields: ratio {figures['ratio_to_bare_simpy']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
