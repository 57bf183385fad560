"""Words and JSON for a backtest Report: both built from the same figures, so they agree."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from host.localtime import local_time

if TYPE_CHECKING:
    from host.backtest import Report, RuleRun


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _rate(alarms: int, months: float) -> float | None:
    return _round(alarms / months) if months > 0 else None


def _iso(t: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")


def _offset(tz: tzinfo) -> str:
    delta = tz.utcoffset(None) or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def overall(report: Report, rule: str) -> dict:
    runs = report.results[rule]
    months = sum(report.households[k].months for k in runs)
    alarms = sum(len(r.alarms) for r in runs.values())
    return {
        "alarm_count": alarms,
        "alarms_after_last_event": sum(a.after_last_event for r in runs.values() for a in r.alarms),
        "household_months": _round(months),
        "alarms_per_household_month": _rate(alarms, months),
        "knocks": sum(r.knocks for r in runs.values()),
        "knocks_answered": sum(r.knocks_answered for r in runs.values()),
        "rejected_inputs": sum(len(r.rejected) for r in runs.values()),
    }


def _household(report: Report, key: str, run: RuleRun) -> dict:
    hh = report.households[key]
    return {
        "log": hh.log,
        "household": hh.household,
        "alarms": [
            {"time": _iso(a.time, hh.tz), "reason": a.reason,
             "after_last_event": a.after_last_event}
            for a in run.alarms
        ],
        "alarm_count": len(run.alarms),
        "household_months": _round(hh.months),
        "alarms_per_household_month": _rate(len(run.alarms), hh.months),
        "knocks": run.knocks,
        "knocks_answered": run.knocks_answered,
        "rejected_inputs": run.rejected,
    }


def as_dict(report: Report) -> dict:
    counts = report.problem_counts()
    return {
        "rules": {
            rule: {
                "households": {k: _household(report, k, r) for k, r in runs.items()},
                "overall": overall(report, rule),
            }
            for rule, runs in report.results.items()
        },
        "households": {
            k: {
                "log": hh.log,
                "household": hh.household,
                "utc_offset": _offset(hh.tz)[3:],
                "first_event": _iso(hh.first, hh.tz),
                "last_event": _iso(hh.last, hh.tz),
                "until": _iso(hh.until, hh.tz),
                "events": hh.events,
                "days": _round(hh.days),
                "household_months": _round(hh.months),
            }
            for k, hh in report.households.items()
        },
        "input_errors": {
            "total": sum(counts.values()),
            "by_reason": dict(sorted(counts.items())),
            "by_log": {log.path: dict(sorted(log.counts().items())) for log in report.logs},
            "unreadable_files": [{"path": b.path, "error": b.message} for b in report.broken],
        },
    }


def as_json(report: Report) -> str:
    return json.dumps(as_dict(report), ensure_ascii=False, indent=2)


def _cell(alarms: int, rate: float | None) -> str:
    return f"{alarms} ({'-' if rate is None else f'{rate:.2f}'})"


def as_text(report: Report) -> str:
    out: list[str] = []
    hh_count = len(report.households)
    out.append(f"anbu backtest: {len(report.logs)} log(s), {hh_count} household(s); "
               f"rules: {', '.join(report.rules)}")
    out.append("Times are each household's local time, at the UTC offset its log states. "
               "'*' marks an alarm after the household's last event (the log ended).")
    for log in report.logs:
        out.append("")
        if not log.households:
            out.append(f"== {log.path}: no events to replay")
        else:
            out.append(f"== {log.path}: replayed up to {_iso(log.until, _first_tz(report, log))}")
        for key in log.households:
            out.extend(_household_text(report, key))
        counts = log.counts()
        if counts:
            summary = ", ".join(f"{r} {n}" for r, n in sorted(counts.items()))
            out.append(f"  input problems: {sum(counts.values())} rows skipped ({summary})")
        for household, offsets in log.mixed_offsets.items():
            shown = ", ".join(_offset(timezone(o)) for o in offsets)
            out.append(f"  note: {household} has rows at several UTC offsets ({shown}); "
                       "the first is used")
    out.append("")
    out.extend(_table(report))
    out.append("")
    out.extend(_problems_text(report))
    return "\n".join(out)


def _first_tz(report: Report, log) -> tzinfo:
    return report.households[log.households[0]].tz


def _household_text(report: Report, key: str) -> list[str]:
    hh = report.households[key]
    out = [
        f"  {key} ({_offset(hh.tz)}): {hh.events} events, {local_time(hh.first, hh.tz)} to "
        f"{local_time(hh.last, hh.tz)}, {hh.days:.1f} days = {hh.months:.2f} household-months"
    ]
    for rule in report.rules:
        run = report.results[rule][key]
        rate = _rate(len(run.alarms), hh.months)
        line = f"    {rule}: {len(run.alarms)} alarm(s), "
        line += f"{'-' if rate is None else f'{rate:.2f}'} per household-month"
        if run.knocks:
            line += f", knocks {run.knocks} ({run.knocks_answered} answered)"
        out.append(line)
        for alarm in run.alarms:
            mark = "*" if alarm.after_last_event else " "
            out.append(f"     {mark}{local_time(alarm.time, hh.tz)}  {alarm.reason}")
        for why in run.rejected:
            out.append(f"      engine refused an input: {why}")
    return out


def _table(report: Report) -> list[str]:
    """The side-by-side table: alarms (alarms per household-month) for each rule."""
    rules = report.rules
    keys = list(report.households)
    width = max([len("household"), len("overall"), *(len(k) for k in keys)])
    cols = [max(len(r), 14) for r in rules]
    head = f"{'household':<{width}}  {'hh-months':>9}  " + "  ".join(
        f"{r:>{c}}" for r, c in zip(rules, cols, strict=True)
    )
    out = ["Side by side: alarms (alarms per household-month); every alarm on a log where "
           "nothing happened is a false alarm", head, "-" * len(head)]
    for key in keys:
        hh = report.households[key]
        cells = []
        for rule, col in zip(rules, cols, strict=True):
            n = len(report.results[rule][key].alarms)
            cells.append(f"{_cell(n, _rate(n, hh.months)):>{col}}")
        out.append(f"{key:<{width}}  {hh.months:>9.2f}  " + "  ".join(cells))
    out.append("-" * len(head))
    totals = [overall(report, r) for r in rules]
    months = sum(report.households[k].months for k in keys)
    cells = [f"{_cell(t['alarm_count'], t['alarms_per_household_month']):>{c}}"
             for t, c in zip(totals, cols, strict=True)]
    out.append(f"{'overall':<{width}}  {months:>9.2f}  " + "  ".join(cells))
    after = [f"{t['alarms_after_last_event']:>{c}}" for t, c in zip(totals, cols, strict=True)]
    out.append(f"{'  of which after a log ended':<{width + 13}}" + "  ".join(after))
    for rule, total in zip(rules, totals, strict=True):
        if total["knocks"] or rule == "anbu":
            out.append(f"knocks ({rule}): {total['knocks']}, answered {total['knocks_answered']}")
    return out


def _problems_text(report: Report) -> list[str]:
    counts = report.problem_counts()
    total = sum(counts.values())
    out = [f"Input problems: {total} rows skipped"
           + (f" ({', '.join(f'{r} {n}' for r, n in sorted(counts.items()))})" if total else "")]
    out.append(f"Unreadable files: {len(report.broken)}")
    for broken in report.broken:
        out.append(f"  {broken}")
    return out
