"""The quality gate: a report's figures against the limits a scenario file states.

A scenario's `[check]` table names figures of `report.json` by their path under `rules` and
gives each an upper limit; a table with `at_least` gives a lower one instead:

    [check.anbu]
    detection_delay_h = { median = 4.0, p95 = 12.0 }
    false_alarms_per_household_month = 0.5
    missed = 0
    [check."fixed-24h"]
    knocks_answered = { at_least = 0 }

A figure that is `null` is worse than any limit: a delay percentile is null when it falls on an
emergency the rule never alarmed on (missed), a rate when no household-month was simulated. A
delay limit on a scenario without emergencies fails too: a gate that measured nothing must not
pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

_BOUNDS = ("at_most", "at_least")


class Limit(NamedTuple):
    figure: str  # path under report["rules"], dotted: "anbu.detection_delay_h.p95"
    bound: str  # at_most or at_least
    value: float


class Verdict(NamedTuple):
    limit: Limit
    measured: float | None
    ok: bool
    note: str = ""

    def line(self) -> str:
        sign = "<=" if self.limit.bound == "at_most" else ">="
        shown = "null" if self.measured is None else f"{self.measured:g}"
        word = "ok  " if self.ok else "FAIL"
        note = f" ({self.note})" if self.note else ""
        return f"{word} {self.limit.figure} = {shown}, limit {sign} {self.limit.value:g}{note}"


def limits(table: Mapping, where: str = "[check]", prefix: str = "") -> list[Limit]:
    """Flatten a [check] table (nested tables or dotted keys) into limits; bad entries name
    the key and where it is."""
    out: list[Limit] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            bounds = [b for b in _BOUNDS if b in value]
            if bounds:
                if len(value) != len(bounds):
                    extra = ", ".join(sorted(set(value) - set(_BOUNDS)))
                    raise ValueError(f"{where}: {path}: {extra} beside {' and '.join(bounds)}")
                out += [Limit(path, b, _number(value[b], f"{where}: {path}.{b}"))
                        for b in bounds]
            else:
                out += limits(value, where, f"{path}.")
        else:
            out.append(Limit(path, "at_most", _number(value, f"{where}: {path}")))
    return out


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{where}: limit must be a number, not {value!r}")
    return float(value)


def measured(report: Mapping, figure: str) -> tuple[Mapping, float | None]:
    """The rule's figures, and the figure at a dotted path under report['rules'] (a wrong path
    names what exists there)."""
    walked: list[str] = []
    parts = figure.split(".")
    rule = parts[0]
    # Rule names may contain dots (anbu@tail_knock=0.01): take the longest rule name that fits.
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in report["rules"]:
            rule, parts = ".".join(parts[:n]), parts[n:]
            break
    else:
        known = ", ".join(report["rules"])
        raise KeyError(f"{figure}: no rule {rule!r} in the report (rules: {known})")
    node = figures = report["rules"][rule]
    walked.append(rule)
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            known = ", ".join(node) if isinstance(node, Mapping) else "a number"
            raise KeyError(f"{figure}: no {part!r} under {'.'.join(walked)} (there: {known})")
        node = node[part]
        walked.append(part)
    if node is not None and (isinstance(node, bool) or not isinstance(node, int | float)):
        raise KeyError(f"{figure}: not a single figure; name one of its parts")
    return figures, node


def judge(report: Mapping, checks: list[Limit]) -> list[Verdict]:
    verdicts = []
    for limit in checks:
        rule, value = measured(report, limit.figure)
        if "delay" in limit.figure and not rule.get("emergencies", 1):
            verdicts.append(Verdict(limit, value, False, "no emergencies to measure it on"))
        elif value is None:
            why = "a missed emergency" if "delay" in limit.figure else "nothing to measure"
            verdicts.append(Verdict(limit, None, False, why))
        elif limit.bound == "at_most":
            verdicts.append(Verdict(limit, value, value <= limit.value))
        else:
            verdicts.append(Verdict(limit, value, value >= limit.value))
    return verdicts
