"""`anbu simulate`: simulate households, drive every rule, write the report; or gate CI on it.

The shell around the pure parts: the scenario is loaded (simulator.scenario), the households
are simulated in shards (simulator.shards) with one progress bar, the records are turned into
figures (simulator.report), plots (simulator.plots) and a page (simulator.html), and with
`--check` the figures are held to the scenario's limits (simulator.check).

Files in the report folder: report.json (every figure; the same for the same scenario and seed,
whatever --workers), run.json (what differs between runs: timings, workers, records files),
index.html with its PNG plots, and records/ (the raw records, one file per shard).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from simulator import check as gate
from simulator import records as rec
from simulator import report as figures
from simulator import shards

DEFAULT_OUT = Path("report")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", type=Path, metavar="FILE.toml",
                        help="scenario file (default: the built-in default scenario)")
    parser.add_argument("--households", type=_positive, metavar="N",
                        help="households to simulate (default: the scenario's)")
    parser.add_argument("--days", type=_positive, metavar="D",
                        help="days to simulate (default: the scenario's)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (default: the "
                        "scenario's); the same seed gives the same report.json")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help=f"report folder (default: {DEFAULT_OUT}/; with --check, a "
                        "temporary folder that is removed afterwards)")
    parser.add_argument("--workers", type=_positive, metavar="N",
                        help="processes to shard households over (default: one per CPU)")
    parser.add_argument("--check", type=Path, metavar="SCENARIO.toml",
                        help="run this scenario and exit 1, naming the figure, if any figure "
                        "is worse than the limits in its [check] table")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (it is off anyway when stderr is not a terminal)")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main(args: argparse.Namespace) -> int:
    if args.check and args.scenario:
        return _error("give --check SCENARIO.toml or --scenario FILE.toml, not both")
    from simulator import scenario as scenarios

    source = args.check or args.scenario
    try:
        scenario = scenarios.with_overrides(scenarios.load(source), households=args.households,
                                            days=args.days, seed=args.seed)
        limits = _limits(scenario, source) if args.check else []
    except (OSError, ValueError) as exc:
        return _error(str(exc))
    workers = min(args.workers or _cpus(), scenario.households)
    temporary = args.check is not None and args.out is None
    out = Path(tempfile.mkdtemp(prefix="anbu-check-")) if temporary else (args.out or DEFAULT_OUT)
    try:
        try:
            report, run = simulate(scenario, source, out, workers, quiet=args.quiet)
        except KeyboardInterrupt:
            print("anbu simulate: interrupted; the report was not written", file=sys.stderr)
            return 130
        print(summary(report, run))
        if not temporary:
            print(f"Report: {out / 'index.html'} (figures in {out / 'report.json'})")
        if args.check:
            return _verdict(report, limits, source)
        return 0
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)


def _error(message: str) -> int:
    print(f"anbu simulate: {message}", file=sys.stderr)
    return 2


def _limits(scenario: Any, source: Path) -> list[gate.Limit]:
    """The scenario's [check] limits, each figure's name checked before anything runs."""
    table = getattr(scenario, "limits", None) or {}
    if not table:
        raise ValueError(f"{source}: no [check] table: nothing to check")
    limits = gate.limits(table, f"{source} [check]")
    rules, variants, covers = rule_set(scenario)
    empty = figures.build(lambda: [], rules=rules, variants=variants, covers=covers,
                          tz=ZoneInfo(scenario.timezone))
    for limit in limits:
        try:
            gate.measured(empty, limit.figure)
        except KeyError as exc:
            raise ValueError(f"{source} [check]: {exc.args[0]}") from None
    return limits


def rule_set(scenario: Any) -> tuple[tuple[str, ...], tuple[str, ...], figures.Covers]:
    """The rules every household runs, the engine's variants (the trade-off curve), and which
    households each rule ran on (the variants run on a subset: Scenario.rules_for)."""
    index = {scenario.household_id(i): i for i in range(scenario.households)}
    variants = tuple(v.name for v in scenario.curve)

    def covers(rule: str, household: str) -> bool:
        return rule in scenario.rules_for(index[household])

    return tuple(scenario.rules), variants, covers


def about(scenario: Any, source: Path | None) -> dict:
    """What was simulated, for the top of report.json: the scenario in full, and its dates."""
    start: date = scenario.start
    return {
        "scenario": {"name": scenario.source, **scenario.table},
        "seed": scenario.seed,
        "simulated": {"start": start.isoformat(),
                      "end": (start + timedelta(days=scenario.days - 1)).isoformat(),
                      "days": scenario.days, "households": scenario.households,
                      "tz": scenario.timezone},
        "records_dir": shards.RECORDS_DIR,
    }


def simulate(scenario: Any, source: Path | None, out: Path, workers: int, quiet: bool = False,
             progress: shards.Progress | None = None,
             run_shard: shards.RunShard | None = None) -> tuple[dict, dict]:
    """Run, report, write every file; returns (report, run facts).

    `progress` also hears of each batch of household-days done; `run_shard` replaces the world
    (simulator.run.run_shard) for tests of this shell.
    """
    from simulator import html, plots

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    total = scenario.households * scenario.days
    with _bar(total, quiet) as bar:

        def step(n: int) -> None:
            bar.update(n)
            if progress is not None:
                progress(n)

        paths = shards.run(scenario, out, workers, progress=step, run_shard=run_shard)
    simulated = time.perf_counter()
    rules, variants, covers = rule_set(scenario)
    tz = ZoneInfo(scenario.timezone)
    report = figures.build(lambda: _read(paths), rules=rules, variants=variants,
                           covers=covers, tz=tz, about=about(scenario, source))
    (out / "report.json").write_text(as_json(report), encoding="utf-8")
    html.write(report, plots.write_all(report, out), out)
    done = time.perf_counter()
    run = {
        "out": str(out.resolve()),
        "workers": workers,
        "records": [str(p.relative_to(out)) for p in paths],
        "seconds": {"simulate": round(simulated - started, 2),
                    "report": round(done - simulated, 2), "total": round(done - started, 2)},
        "household_days_per_s": round(total / max(simulated - started, 1e-9)),
        "argv": sys.argv[1:],
    }
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return report, run


def _read(paths: list[Path]):
    for path in paths:
        yield from rec.read(path)


def as_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"


def _bar(total: int, quiet: bool):
    """tqdm: rate, ETA and terminal width handled; silent when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, unit=" household-days", unit_scale=True, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), mininterval=0.5, smoothing=0.1,
                desc="simulating")


def _cell(value: float | None, emergencies: int) -> str:
    if not emergencies:
        return "-"
    return "missed" if value is None else f"{value:.1f} h"


def summary(report: dict, run: dict) -> str:
    """A few lines for the terminal: what ran, and each rule's headline figures."""
    c, s = report["counts"], report["simulated"]
    lines = [
        f"anbu simulate: {c['households']} households x {s['days']} days, seed {report['seed']}, "
        f"{c['emergencies']} emergencies; {run['workers']} worker(s), "
        f"{run['seconds']['total']:.1f} s",
        f"{'rule':<14}{'alarm median':>13}{'p95':>9}{'door median':>13}{'missed':>8}"
        f"{'false alarms':>14}{'false disp.':>13}{'knocks':>8}  (per household-month)",
    ]
    for rule in [r for r in figures.MAIN_RULES if r in report["rules"]]:
        f = report["rules"][rule]
        d, door, n = f["detection_delay_h"], f["door_delay_h"], f["emergencies"]
        lines.append(
            f"{rule:<14}{_cell(d['median'], n):>13}{_cell(d['p95'], n):>9}"
            f"{_cell(door['median'], n):>13}{f['missed']:>8}"
            f"{f['false_alarms_per_household_month'] or 0:>14.3f}"
            f"{f['false_dispatches_per_household_month'] or 0:>13.3f}"
            f"{f['knocks_per_household_month'] or 0:>8.2f}"
        )
    return "\n".join(lines)


def _verdict(report: dict, limits: list[gate.Limit], source: Path) -> int:
    verdicts = gate.judge(report, limits)
    for v in verdicts:
        print(v.line())
    failed = [v for v in verdicts if not v.ok]
    if failed:
        print(f"anbu simulate --check {source}: FAILED {len(failed)} of {len(verdicts)} limits: "
              + "; ".join(v.line()[5:] for v in failed), file=sys.stderr)
        return 1
    print(f"anbu simulate --check {source}: all {len(verdicts)} limits met")
    return 0
