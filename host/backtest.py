"""`anbu backtest`: replay recorded logs through the engine and today's rules, side by side.

Each log is replayed on its own (two views of one home must not be merged), every rule gets a
fresh instance, and the clock runs on past the last event to `until`, so a silence at the end
of a log is judged as well. Reading and replaying live here; the words and the JSON in
host.backtest_report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from host import backtest_report
from host.baselines import BASELINES, BaselineAlarm, make_baseline
from host.baselines import describe as describe_baseline
from host.decisions import Alarm, Rejected
from host.eventlog import EventLog, LogBroken, LogProblem, read_log, reason_counts
from host.events import EARLIEST
from host.explain import LANGS
from host.replay import QuietLog, Rule, replay

ENGINE = "anbu"
RULES = (ENGINE, *BASELINES)
DAYS_PER_MONTH = 30.44


@dataclass
class HouseholdRun:
    """One household of one log: what was observed of it."""

    key: str  # unique across the run: "<log stem>/<household>"
    log: str
    household: str
    tz: tzinfo
    first: float
    last: float
    events: int
    until: float

    @property
    def days(self) -> float:
        return (self.last - self.first) / 86400

    @property
    def months(self) -> float:
        return self.days / DAYS_PER_MONTH


@dataclass
class AlarmRecord:
    time: float
    reason: str
    after_last_event: bool  # raised after the log ended: the recording stopped, maybe not life


@dataclass
class RuleRun:
    """One rule on one household."""

    alarms: list[AlarmRecord] = field(default_factory=list)
    knocks: int = 0
    knocks_answered: int = 0
    rejected: list[str] = field(default_factory=list)


@dataclass
class LogRun:
    path: str
    until: float | None  # where the clock stopped; None if the log had no events and no --until
    problems: list[LogProblem]
    households: list[str]  # keys
    mixed_offsets: dict[str, list]

    def counts(self) -> Counter:
        return reason_counts(self.problems)


@dataclass
class Report:
    rules: list[str]
    lang: str
    logs: list[LogRun] = field(default_factory=list)
    households: dict[str, HouseholdRun] = field(default_factory=dict)
    results: dict[str, dict[str, RuleRun]] = field(default_factory=dict)
    broken: list[LogBroken] = field(default_factory=list)

    def problem_counts(self) -> Counter:
        total: Counter = Counter()
        for log in self.logs:
            total.update(log.counts())
        return total


def ceiling_h() -> float:
    from host.config import EngineConfig

    return EngineConfig().ceiling_h


def make_rule(name: str, tz_of: Callable[[str], tzinfo]) -> Rule:
    if name == ENGINE:
        from host.config import EngineConfig
        from host.engine import Engine

        return Engine(EngineConfig(), tz_of=tz_of)
    return make_baseline(name, tz_of)


def run(
    paths: list[str],
    now: float,
    rules: tuple[str, ...] | list[str] = RULES,
    until: float | None = None,
    lang: str = "en",
    on_problem: Callable[[LogProblem | LogBroken], None] | None = None,
) -> Report:
    """Backtest every readable log; a broken file is recorded and the others still run.

    on_problem is called with each problem as it is found, so a shell can print it.
    """
    report = Report(list(rules), lang, results={r: {} for r in rules})
    # The same file named twice (or two ways, ok.csv and ./ok.csv) is one log.
    unique: dict[str, str] = {}
    for path in paths:
        unique.setdefault(os.path.realpath(path), path)
    paths = list(unique.values())
    stems = Counter(Path(p).stem for p in paths)
    for path in paths:
        try:
            log = read_log(path, now)
        except LogBroken as exc:
            report.broken.append(exc)
            if on_problem:
                on_problem(exc)
            continue
        if on_problem:
            for problem in log.problems:
                on_problem(problem)
        label = Path(path).stem if stems[Path(path).stem] == 1 else path
        _run_log(report, log, label, until)
    return report


def _run_log(report: Report, log: EventLog, label: str, until: float | None) -> None:
    if not log.events:
        report.logs.append(LogRun(log.path, until, log.problems, [], log.mixed_offsets))
        return
    end = until if until is not None else log.events[-1].time + ceiling_h() * 3600
    events = [e for e in log.events if e.time < end]
    tzs = log.offsets
    keys = {h: f"{label}/{h}" for h in tzs}
    seen: dict[str, list[float]] = {}
    for e in events:
        span = seen.setdefault(e.household, [e.time, e.time, 0])
        span[1] = e.time
        span[2] += 1
    for household, (first, last, count) in seen.items():
        report.households[keys[household]] = HouseholdRun(
            keys[household], log.path, household, tzs[household], first, last, count, end
        )
    report.logs.append(LogRun(log.path, end, log.problems, [keys[h] for h in sorted(seen)],
                              log.mixed_offsets))
    for name in report.rules:
        rule = make_rule(name, tzs.__getitem__)
        outcome = replay(rule, events, end, QuietLog())
        tallies = {keys[h]: RuleRun() for h in seen}
        for action in outcome.actions:
            tally = tallies.get(keys.get(action.household, ""))
            if tally is None:
                continue
            if isinstance(action, Alarm | BaselineAlarm):
                last = report.households[keys[action.household]].last
                tally.alarms.append(AlarmRecord(action.time, _reason(action, tzs, report.lang),
                                                action.time > last))
            elif isinstance(action, Rejected):
                tally.rejected.append(f"{action.kind}: {action.why}")
        for record in outcome.knocks:
            tally = tallies[keys[record.knock.household]]
            tally.knocks += 1
            tally.knocks_answered += record.answered
        report.results[name].update(tallies)


def _reason(action: Alarm | BaselineAlarm, tzs: dict[str, tzinfo], lang: str) -> str:
    tz = tzs[action.household]
    if isinstance(action, BaselineAlarm):
        return describe_baseline(action, tz, lang)
    from host.explain import describe

    return describe(action.reason, tz, lang)


# -- the shell: arguments in, report out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG.csv",
                        help="event logs with the header time,household,event")
    parser.add_argument("--until", metavar="ISO", type=_iso_time,
                        help="run every log's clock up to this time (ISO 8601 with UTC offset); "
                        "default: each log's last event plus the engine's ceiling")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of the text report")
    parser.add_argument("--rules", type=_rule_list, default=list(RULES),
                        help=f"comma-separated rules to run (default: {','.join(RULES)})")
    parser.add_argument("--lang", choices=sorted(LANGS), default="en",
                        help="language of the alarm reasons (default: en)")


def main(args: argparse.Namespace) -> int:
    """Exit 0 when every file was read (bad rows are counted, not fatal), 1 when one was not."""
    def show(problem: LogProblem | LogBroken) -> None:
        prefix = "error" if isinstance(problem, LogBroken) else "skipped"
        print(f"anbu backtest: {prefix}: {problem}", file=sys.stderr)

    report = run(args.logs, time.time(), args.rules, args.until, args.lang, on_problem=show)
    if args.json:
        print(backtest_report.as_json(report))
    else:
        print(backtest_report.as_text(report))
    return 1 if report.broken else 0


_LATEST = 32_503_680_000.0  # 3000-01-01T00:00:00Z: later is a typo, not a plan


def _iso_time(text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if when.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset (write it like 2024-05-01T09:00+09:00)"
        )
    try:
        seconds = when.astimezone(UTC).timestamp()
    except (OverflowError, ValueError, OSError):
        seconds = -1.0
    if not EARLIEST <= seconds <= _LATEST:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 2000 and 2999")
    return seconds


def _rule_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RULES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown rule {', '.join(unknown) or '(none given)'}; choose from {','.join(RULES)}"
        )
    return list(dict.fromkeys(names))
