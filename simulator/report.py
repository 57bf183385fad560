"""Figures from simulation records: pure functions, records in, one JSON-able dict out.

Definitions (docs/simulator.md says the same in more words):
- An emergency is *in progress* for a rule from its onset until that rule's `Found` time (to
  the end of the household's window if nobody found the resident).
- A *false alarm* is a welfare `Alarm` raised when no emergency of that household was in
  progress; device-case alarms are counted apart (`device_alarms`) and are never false alarms.
- A *false dispatch* is a responder at the door with no emergency in progress that they were
  sent for; one dispatched while an emergency was in progress who arrived after someone else
  (a meter reader) had already found the resident is a *late dispatch*, counted apart.
- *Detection delay*: onset to the rule's first welfare alarm in progress; *door delay*: onset
  to a dispatched responder finding the resident. An emergency a rule never alarmed on (or
  whose resident was found only by a visit, or never) counts as infinitely late: it sorts last,
  and a percentile that falls on it is `null`. Percentiles are nearest-rank.
- *Household-months*: each household's window from its start to its end or, for a rule, to
  when that rule's people found its (last) emergency; 30.44 days a month.

The records are read in two passes (ground truth and outcomes first, then what each rule did),
so memory grows with households and emergencies, never with events. Every sum is `math.fsum`
and every list is sorted before use, so the figures do not depend on the order of the records,
i.e. not on how many shards wrote them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from simulator.records import Alarm, Dispatch, Emergency, Found, Household, Knock, Period, Record

ENGINE = "anbu"
BASELINES = ("fixed-24h", "daily-window", "fixed-36h")
MAIN_RULES = (ENGINE, *BASELINES)
WELFARE = "welfare"
DEVICE = "device"
DAYS_PER_MONTH = 30.44
PERCENTILES = (("median", 50), ("p90", 90), ("p95", 95))

Records = Callable[[], Iterable[Record]]  # a fresh pass over every record, each time it is called
Covers = Callable[[str, str], bool]  # (rule, household) -> did the rule run on this household?


def covers_all(rule: str, household: str) -> bool:
    return True


@dataclass
class Ground:
    """Pass one: who lived where, what happened to them, and who found them, per rule."""

    households: dict[str, Household] = field(default_factory=dict)
    emergencies: dict[str, list[Emergency]] = field(default_factory=dict)
    found: dict[tuple[str, str], list[Found]] = field(default_factory=dict)  # (rule, household)
    periods: Counter = field(default_factory=Counter)  # kind -> count
    period_days: dict[str, list[float]] = field(default_factory=dict)  # kind -> lengths


@dataclass
class Outcome:
    """One emergency as one rule met it."""

    onset: float
    alarm: float | None = None  # first welfare alarm while in progress
    found: float | None = None
    by: str = "never"


@dataclass
class Tally:
    """One rule on one household."""

    months: float
    outcomes: list[Outcome]
    false_alarms: int = 0
    alarms_in_emergency: int = 0
    device_alarms: int = 0
    false_reasons: Counter = field(default_factory=Counter)
    knocks: int = 0
    knocks_answered: int = 0
    dispatches: int = 0
    false_dispatches: int = 0
    late_dispatches: int = 0


def read_ground(records: Iterable[Record]) -> Ground:
    ground = Ground()
    for r in records:
        if isinstance(r, Household):
            if r.household in ground.households:
                raise ValueError(f"records: household {r.household!r} recorded twice")
            ground.households[r.household] = r
        elif isinstance(r, Emergency):
            ground.emergencies.setdefault(r.household, []).append(r)
        elif isinstance(r, Found):
            ground.found.setdefault((r.rule, r.household), []).append(r)
        elif isinstance(r, Period):
            ground.periods[r.kind] += 1
            ground.period_days.setdefault(r.kind, []).append((r.end - r.start) / 86400)
    for household, emergencies in ground.emergencies.items():
        if household not in ground.households:
            raise ValueError(f"records: emergency in household {household!r}, "
                             "which has no Household record")
        emergencies.sort(key=lambda e: e.time)
    return ground


def _outcomes(ground: Ground, rule: str, household: str) -> list[Outcome]:
    """Each emergency of the household matched with the rule's Found records, in time order."""
    emergencies = ground.emergencies.get(household, [])
    found = sorted(ground.found.get((rule, household), []),
                   key=lambda f: (f.time is None, f.time or 0.0))
    if len(found) != len(emergencies):
        raise ValueError(
            f"records: household {household!r} has {len(emergencies)} emergencies but rule "
            f"{rule!r} has {len(found)} Found records for it (one per emergency expected)"
        )
    return [Outcome(e.time, None, f.time, f.by) for e, f in zip(emergencies, found, strict=True)]


def _months(household: Household, outcomes: list[Outcome]) -> float:
    end = household.end
    if outcomes and outcomes[-1].found is not None:
        end = min(end, outcomes[-1].found)
    return max(end - household.start, 0.0) / 86400 / DAYS_PER_MONTH


def _in_progress(outcomes: list[Outcome], t: float) -> Outcome | None:
    for o in outcomes:
        if o.onset <= t and (o.found is None or t <= o.found):
            return o
    return None


def tally(records: Iterable[Record], ground: Ground, rules: Sequence[str],
          covers: Covers = covers_all) -> dict[tuple[str, str], Tally]:
    """Pass two: what each rule did to each household it ran on, classified by ground truth."""
    tallies: dict[tuple[str, str], Tally] = {}
    for rule in rules:
        for household, hh in ground.households.items():
            # A Found says the rule ran there too (variants may run on every household with
            # an emergency besides their sample, to measure delays on more of them).
            if covers(rule, household) or (rule, household) in ground.found:
                outcomes = _outcomes(ground, rule, household)
                tallies[rule, household] = Tally(_months(hh, outcomes), outcomes)
    for (rule, household) in ground.found:
        if (rule, household) not in tallies:
            raise ValueError(f"records: Found for rule {rule!r} in household {household!r}, "
                             "an unknown rule or household")
    for r in records:
        if not isinstance(r, Alarm | Knock | Dispatch):
            continue
        t = tallies.get((r.rule, r.household))
        if t is None:
            raise ValueError(f"records: {type(r).__name__} of rule {r.rule!r} in household "
                             f"{r.household!r}, which that rule did not run on (or is unknown)")
        if isinstance(r, Alarm):
            _alarm(t, r)
        elif isinstance(r, Knock):
            t.knocks += 1
            t.knocks_answered += bool(r.answered)
        else:
            _dispatch(t, r)
    return tallies


def _alarm(t: Tally, alarm: Alarm) -> None:
    if alarm.case == DEVICE:
        t.device_alarms += 1
        return
    if alarm.case != WELFARE:
        raise ValueError(f"records: alarm of rule {alarm.rule!r} in {alarm.household!r} has "
                         f"case {alarm.case!r}; expected {WELFARE!r} or {DEVICE!r}")
    outcome = _in_progress(t.outcomes, alarm.time)
    if outcome is None:
        t.false_alarms += 1
        t.false_reasons[alarm.reason] += 1
        return
    t.alarms_in_emergency += 1
    if outcome.alarm is None or alarm.time < outcome.alarm:
        outcome.alarm = alarm.time


def _dispatch(t: Tally, dispatch: Dispatch) -> None:
    t.dispatches += 1
    if _in_progress(t.outcomes, dispatch.door) is not None:
        return
    if _in_progress(t.outcomes, dispatch.time) is not None:
        t.late_dispatches += 1
    else:
        t.false_dispatches += 1


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    return sorted_values[max(math.ceil(p / 100 * len(sorted_values)) - 1, 0)]


def _hours(x: float) -> float | None:
    return None if math.isinf(x) else round(x / 3600, 3)


def delays(seconds: Iterable[float]) -> dict:
    """median, p90, p95, max in hours; math.inf (missed) sorts last and shows as None."""
    values = sorted(seconds)
    figures: dict = {name: None for name, _ in PERCENTILES}
    figures["max"] = None
    if values:
        for name, p in PERCENTILES:
            figures[name] = _hours(percentile(values, p))
        figures["max"] = _hours(values[-1])
    return figures


def _rate(count: int, months: float) -> float | None:
    return round(count / months, 4) if months > 0 else None


def figures(tallies: Iterable[Tally]) -> dict:
    """Every figure of one rule over a set of households."""
    ts = list(tallies)
    months = math.fsum(t.months for t in ts)
    outcomes = [o for t in ts for o in t.outcomes]
    inf = math.inf
    detection = [o.alarm - o.onset if o.alarm is not None else inf for o in outcomes]
    door = [o.found - o.onset if o.by == "dispatch" and o.found is not None else inf
            for o in outcomes]

    def total(name: str) -> int:
        return sum(getattr(t, name) for t in ts)

    reasons: Counter = Counter()
    for t in ts:
        reasons.update(t.false_reasons)
    return {
        "households": len(ts),
        "household_months": round(months, 3),
        "emergencies": len(outcomes),
        "detection_delay_h": {**delays(detection),
                              "alarmed": sum(o.alarm is not None for o in outcomes)},
        "door_delay_h": {**delays(door), "reached": sum(o.by == "dispatch" for o in outcomes)},
        "missed": sum(o.by != "dispatch" for o in outcomes),
        "missed_found_by_visit": sum(o.by == "visit" for o in outcomes),
        "missed_never_found": sum(o.by not in ("dispatch", "visit") for o in outcomes),
        "alarms_in_emergency": total("alarms_in_emergency"),
        "false_alarms": total("false_alarms"),
        "false_alarms_per_household_month": _rate(total("false_alarms"), months),
        "false_alarm_reasons": dict(sorted(reasons.items())),
        "device_alarms": total("device_alarms"),
        "device_alarms_per_household_month": _rate(total("device_alarms"), months),
        "dispatches": total("dispatches"),
        "false_dispatches": total("false_dispatches"),
        "false_dispatches_per_household_month": _rate(total("false_dispatches"), months),
        "late_dispatches": total("late_dispatches"),
        "knocks": total("knocks"),
        "knocks_per_household_month": _rate(total("knocks"), months),
        "knocks_answered": total("knocks_answered"),
    }


def _group(tallies: dict[tuple[str, str], Tally], rule: str,
           households: Iterable[str]) -> dict:
    return figures(tallies[rule, h] for h in sorted(households) if (rule, h) in tallies)


def tradeoff(tallies: dict[tuple[str, str], Tally], ground: Ground, rules: Sequence[str],
             variants: Sequence[str]) -> dict:
    """False alarms against median detection delay, on the households every variant ran on.

    The engine's variants make the curve; the engine as configured and each baseline are
    single points on the same households, so the points compare like with like.
    """
    shared = [h for h in sorted(ground.households)
              if all((r, h) in tallies for r in (*variants, *rules))]
    points = []
    for rule in (*rules, *variants):
        f = _group(tallies, rule, shared)
        points.append({
            "rule": rule,
            "kind": "variant" if rule in variants else ("engine" if rule == ENGINE
                                                        else "baseline"),
            "false_alarms_per_household_month": f["false_alarms_per_household_month"],
            "detection_delay_median_h": f["detection_delay_h"]["median"],
            "missed": f["missed"],
            "emergencies": f["emergencies"],
        })
    return {"households": len(shared), "points": points}


def _iso(t: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(t, tz).isoformat(timespec="minutes")


def _emergencies(tallies: dict[tuple[str, str], Tally], ground: Ground, rules: Sequence[str],
                 tz: tzinfo) -> list[dict]:
    """Each emergency, in local time, and how every rule met it."""
    out = []
    for household in sorted(ground.emergencies):
        hh = ground.households[household]
        for i, e in enumerate(ground.emergencies[household]):
            met = {}
            for rule in rules:
                t = tallies.get((rule, household))
                if t is None:
                    continue
                o = t.outcomes[i]
                met[rule] = {
                    "alarm_h": None if o.alarm is None else _hours(o.alarm - o.onset),
                    "found_h": None if o.found is None else _hours(o.found - o.onset),
                    "found_by": o.by,
                }
            out.append({"household": household, "persona": hh.persona, "bulb": hh.bulb,
                        "onset": _iso(e.time, tz), "kind": e.kind, "light_on": e.light_on,
                        "rules": met})
    return out


def _counts(ground: Ground) -> dict:
    households = ground.households.values()
    days = math.fsum(max(h.end - h.start, 0.0) for h in households) / 86400
    kinds = Counter(e.kind for es in ground.emergencies.values() for e in es)
    return {
        "households": len(ground.households),
        "household_days": round(days, 3),
        "household_months": round(days / DAYS_PER_MONTH, 3),
        "emergencies": sum(kinds.values()),
        "emergencies_by_kind": dict(sorted(kinds.items())),
        "emergencies_light_on": sum(e.light_on for es in ground.emergencies.values()
                                    for e in es),
        "periods": {k: {"count": n, "days": round(math.fsum(ground.period_days[k]), 3)}
                    for k, n in sorted(ground.periods.items())},
    }


def build(records: Records, *, rules: Sequence[str] = MAIN_RULES,
          variants: Sequence[str] = (), covers: Covers = covers_all,
          tz: tzinfo, about: dict | None = None) -> dict:
    """The whole report: `about` (scenario, seed) first, then counts and every figure.

    `rules` are reported in full (the engine first, then the baselines), per persona and per
    bulb room too; `variants` (the engine's `anbu@...` settings) make the trade-off curve.
    """
    ground = read_ground(records())
    all_rules = (*rules, *variants)
    tallies = tally(records(), ground, all_rules, covers)
    by_persona: dict[str, list[str]] = {}
    by_bulb: dict[str, list[str]] = {}
    for h, hh in ground.households.items():
        by_persona.setdefault(hh.persona, []).append(h)
        by_bulb.setdefault(hh.bulb, []).append(h)

    def per(groups: dict[str, list[str]]) -> dict:
        return {
            name: {"households": len(members),
                   "rules": {r: _group(tallies, r, members) for r in rules}}
            for name, members in sorted(groups.items())
        }

    return {
        **(about or {}),
        "counts": _counts(ground),
        "rules": {r: _group(tallies, r, ground.households) for r in all_rules},
        "tradeoff": tradeoff(tallies, ground, rules, variants),
        "personas": per(by_persona),
        "bulbs": per(by_bulb),
        "emergencies": _emergencies(tallies, ground, all_rules, tz),
    }
