"""Report figures from hand-written records: each corner case of the definitions once."""

from __future__ import annotations

import json
import random
from zoneinfo import ZoneInfo

import pytest

from simulator import report
from simulator.records import Alarm, Dispatch, Emergency, Found, Household, Knock, Period

SEOUL = ZoneInfo("Asia/Seoul")
T0 = 1_772_377_200.0  # 2026-03-02 00:00 Seoul
H = 3600.0
DAY = 86400.0
MONTH = report.DAYS_PER_MONTH * DAY


def hh(name: str, persona: str = "regular", days: float = report.DAYS_PER_MONTH,
       bulb: str = "bathroom") -> Household:
    return Household(name, persona, bulb, T0, T0 + days * DAY)


def found_all(name: str, time: float | None, by: str, rules=report.MAIN_RULES) -> list[Found]:
    return [Found(rule, name, time, by) for rule in rules]


def build(records, **kw) -> dict:
    return report.build(lambda: iter(records), tz=SEOUL, **kw)


def test_no_emergencies_gives_rates_and_no_delays():
    records = [
        hh("a"), hh("b"),
        Alarm("anbu", "a", T0 + 5 * DAY, "welfare", "inactivity"),
        Alarm("fixed-24h", "b", T0 + 6 * DAY, "welfare", "fixed-24h"),
        Alarm("fixed-24h", "b", T0 + 9 * DAY, "welfare", "fixed-24h"),
        Knock("anbu", "a", T0 + 5 * DAY - 900, False),
        Knock("anbu", "b", T0 + 7 * DAY, True),
    ]
    r = build(records)
    anbu, fixed = r["rules"]["anbu"], r["rules"]["fixed-24h"]
    assert r["counts"]["households"] == 2 and r["counts"]["emergencies"] == 0
    assert anbu["household_months"] == pytest.approx(2.0)
    assert anbu["false_alarms"] == 1 and anbu["false_alarms_per_household_month"] == 0.5
    assert fixed["false_alarms_per_household_month"] == 1.0
    assert anbu["knocks"] == 2 and anbu["knocks_answered"] == 1
    assert anbu["knocks_per_household_month"] == 1.0
    assert anbu["detection_delay_h"] == {"median": None, "p90": None, "p95": None,
                                         "max": None, "alarmed": 0}
    assert anbu["missed"] == 0
    assert anbu["false_alarm_reasons"] == {"inactivity": 1}
    assert r["rules"]["fixed-36h"]["false_alarms"] == 0


def test_rule_that_never_alarms_misses_every_emergency():
    onset = T0 + 10 * DAY
    records = [
        hh("a"),
        Emergency("a", onset, "fall", False),
        Alarm("anbu", "a", onset + 3 * H, "welfare", "inactivity"),
        Dispatch("anbu", "a", onset + 3.5 * H, onset + 4 * H),
        Found("anbu", "a", onset + 4 * H, "dispatch"),
        *found_all("a", onset + 5 * DAY, "visit", report.BASELINES[:2]),
        Found("fixed-36h", "a", None, "never"),
    ]
    r = build(records)
    anbu = r["rules"]["anbu"]
    assert anbu["detection_delay_h"] == {"median": 3.0, "p90": 3.0, "p95": 3.0, "max": 3.0,
                                         "alarmed": 1}
    assert anbu["door_delay_h"]["median"] == 4.0 and anbu["missed"] == 0
    assert anbu["false_dispatches"] == 0 and anbu["false_alarms"] == 0
    fixed = r["rules"]["fixed-24h"]
    assert fixed["detection_delay_h"]["median"] is None
    assert fixed["missed"] == 1 and fixed["missed_found_by_visit"] == 1
    assert r["rules"]["fixed-36h"]["missed_never_found"] == 1
    # The window ends at discovery: 10 days + 4 h for the engine, 15 days for the meter reader.
    assert anbu["household_months"] == pytest.approx((10 * DAY + 4 * H) / MONTH, abs=1e-3)
    assert fixed["household_months"] == pytest.approx(15 * DAY / MONTH, abs=1e-3)
    # Never found: the whole window.
    assert r["rules"]["fixed-36h"]["household_months"] == pytest.approx(1.0)
    [e] = r["emergencies"]
    assert e["onset"] == "2026-03-12T00:00+09:00"
    assert e["rules"]["anbu"] == {"alarm_h": 3.0, "found_h": 4.0, "found_by": "dispatch"}
    assert e["rules"]["fixed-36h"] == {"alarm_h": None, "found_h": None, "found_by": "never"}


def test_alarm_before_onset_is_false_and_does_not_detect():
    onset = T0 + 10 * DAY
    records = [
        hh("a"),
        Emergency("a", onset, "stroke", True),
        Alarm("anbu", "a", onset - 2 * H, "welfare", "no_morning"),
        Dispatch("anbu", "a", onset - 1.5 * H, onset - 1 * H),  # door before onset: false
        Alarm("anbu", "a", onset + 6 * H, "welfare", "stuck_on"),
        Alarm("anbu", "a", onset + 7 * H, "welfare", "inactivity"),  # later: not the first
        *found_all("a", onset + 8 * H, "dispatch"),
    ]
    anbu = build(records)["rules"]["anbu"]
    assert anbu["false_alarms"] == 1 and anbu["false_alarm_reasons"] == {"no_morning": 1}
    assert anbu["alarms_in_emergency"] == 2
    assert anbu["detection_delay_h"]["median"] == 6.0
    assert anbu["false_dispatches"] == 1 and anbu["dispatches"] == 1


def test_dispatch_arriving_after_a_visit_found_the_resident_is_late_not_false():
    onset = T0 + 10 * DAY
    visit = onset + 20 * H
    records = [
        hh("a"),
        Emergency("a", onset, "fall", False),
        Alarm("fixed-24h", "a", onset + 19 * H, "welfare", "fixed-24h"),
        Dispatch("fixed-24h", "a", onset + 19.5 * H, visit + 1 * H),
        *found_all("a", visit, "visit"),
    ]
    fixed = build(records)["rules"]["fixed-24h"]
    assert fixed["detection_delay_h"]["median"] == 19.0
    assert fixed["door_delay_h"]["median"] is None and fixed["door_delay_h"]["reached"] == 0
    assert fixed["missed"] == 1 and fixed["missed_found_by_visit"] == 1
    assert fixed["late_dispatches"] == 1 and fixed["false_dispatches"] == 0


def test_device_alarms_are_counted_apart():
    records = [
        hh("a"),
        Alarm("anbu", "a", T0 + DAY, "device", "device_offline"),
        Alarm("anbu", "a", T0 + 2 * DAY, "welfare", "unwatched"),
    ]
    anbu = build(records)["rules"]["anbu"]
    assert anbu["device_alarms"] == 1 and anbu["device_alarms_per_household_month"] == 1.0
    assert anbu["false_alarms"] == 1 and anbu["false_alarm_reasons"] == {"unwatched": 1}


def test_missed_emergencies_sort_last_in_the_percentiles():
    names = [f"h{i}" for i in range(10)]
    records = [hh(n) for n in names]
    for i, n in enumerate(names):
        onset = T0 + 5 * DAY
        records.append(Emergency(n, onset, "fall", False))
        if i < 9:  # nine alarmed after 1..9 hours, the tenth never
            records.append(Alarm("anbu", n, onset + (i + 1) * H, "welfare", "inactivity"))
            records.append(Found("anbu", n, onset + (i + 2) * H, "dispatch"))
        else:
            records.append(Found("anbu", n, onset + 9 * DAY, "visit"))
    delay = build(records, rules=("anbu",))["rules"]["anbu"]["detection_delay_h"]
    # nearest rank: median = 5th of 10, p90 = 9th, p95 = 10th (the missed one), max missed
    assert delay == {"median": 5.0, "p90": 9.0, "p95": None, "max": None, "alarmed": 9}


def test_percentile_is_nearest_rank():
    values = [1.0, 2.0, 3.0, 4.0]
    assert [report.percentile(values, p) for p in (1, 25, 50, 51, 75, 95, 100)] == \
        [1.0, 1.0, 2.0, 3.0, 3.0, 4.0, 4.0]


def test_order_of_records_does_not_change_the_report():
    rng = random.Random(5)
    records = []
    for i in range(30):
        name = f"h{i:02d}"
        records.append(hh(name, persona=rng.choice(["early", "owl"]), days=rng.uniform(20, 60)))
        for rule in report.MAIN_RULES:
            for _ in range(rng.randrange(4)):
                records.append(Alarm(rule, name, T0 + rng.uniform(0, 20) * DAY, "welfare", "x"))
                records.append(Knock(rule, name, T0 + rng.uniform(0, 20) * DAY,
                                     rng.random() < 0.5))
        if i % 3 == 0:
            onset = T0 + rng.uniform(1, 19) * DAY
            records.append(Emergency(name, onset, "fall", False))
            for rule in report.MAIN_RULES:
                records.append(Found(rule, name, onset + rng.uniform(1, 50) * H, "dispatch"))
    first = json.dumps(build(records), sort_keys=True)
    rng.shuffle(records)
    assert json.dumps(build(records), sort_keys=True) == first


def test_persona_and_bulb_groups_split_the_households():
    records = [
        hh("a", persona="early"), hh("b", persona="owl", bulb="bedroom"), hh("c", persona="owl"),
        Alarm("anbu", "b", T0 + DAY, "welfare", "inactivity"),
    ]
    r = build(records)
    assert r["personas"]["owl"]["households"] == 2
    assert r["personas"]["owl"]["rules"]["anbu"]["false_alarms_per_household_month"] == 0.5
    assert r["personas"]["early"]["rules"]["anbu"]["false_alarms"] == 0
    assert r["bulbs"]["bedroom"]["rules"]["anbu"]["false_alarms"] == 1


def test_tradeoff_uses_only_the_households_the_variants_ran_on():
    onset = T0 + 3 * DAY
    records = [hh("a"), hh("b"), Emergency("a", onset, "fall", False)]
    records += found_all("a", onset + 2 * H, "dispatch", (*report.MAIN_RULES, "anbu@x"))
    records += [
        Alarm("anbu", "a", onset + H, "welfare", "inactivity"),
        Alarm("anbu@x", "a", onset + 0.5 * H, "welfare", "inactivity"),
        Alarm("anbu@x", "a", T0 + DAY, "welfare", "inactivity"),
        Alarm("anbu", "b", T0 + DAY, "welfare", "inactivity"),  # b is not on the curve
    ]
    r = build(records, variants=("anbu@x",), covers=lambda rule, h: "@" not in rule or h == "a")
    curve = r["tradeoff"]
    assert curve["households"] == 1
    points = {p["rule"]: p for p in curve["points"]}
    assert points["anbu"]["false_alarms_per_household_month"] == 0.0
    assert points["anbu@x"]["kind"] == "variant"
    assert points["anbu@x"]["detection_delay_median_h"] == 0.5
    assert points["anbu@x"]["false_alarms_per_household_month"] > 0
    assert points["fixed-24h"]["kind"] == "baseline"
    assert r["rules"]["anbu@x"]["households"] == 1 and r["rules"]["anbu"]["households"] == 2


def test_missing_found_names_the_household_and_rule():
    records = [hh("a"), Emergency("a", T0 + DAY, "fall", False),
               *found_all("a", T0 + 2 * DAY, "visit", ("anbu", "fixed-24h", "fixed-36h"))]
    with pytest.raises(ValueError, match="household 'a'.*'daily-window' has 0 Found"):
        build(records)


def test_records_of_an_unknown_rule_or_household_are_an_error():
    with pytest.raises(ValueError, match="rule 'anbu@y' in household 'a'"):
        build([hh("a"), Alarm("anbu@y", "a", T0, "welfare", "x")])
    with pytest.raises(ValueError, match="household 'zz'"):
        build([hh("a"), Knock("anbu", "zz", T0, False)])


def test_period_counts_and_emergency_kinds():
    records = [
        hh("a"), Period("a", T0, T0 + 2 * DAY, "away_announced"),
        Period("a", T0 + 5 * DAY, T0 + 5.5 * DAY, "wifi_outage"),
        Emergency("a", T0 + 9 * DAY, "death", True), *found_all("a", T0 + 10 * DAY, "visit"),
    ]
    counts = build(records)["counts"]
    assert counts["periods"] == {"away_announced": {"count": 1, "days": 2.0},
                                 "wifi_outage": {"count": 1, "days": 0.5}}
    assert counts["emergencies_by_kind"] == {"death": 1} and counts["emergencies_light_on"] == 1


def test_a_variant_run_on_an_emergency_outside_its_sample_counts_there_too():
    """Variants may run on every household with an emergency besides their sample: a Found
    says so, and the trade-off curve then measures delays on those emergencies as well."""
    onset = T0 + 3 * DAY
    rules = (*report.MAIN_RULES, "anbu@x")
    records = [hh("a"), hh("b"), hh("c"), Emergency("b", onset, "fall", False),
               *found_all("b", onset + 2 * H, "dispatch", rules),
               Alarm("anbu@x", "b", onset + H, "welfare", "inactivity")]
    r = build(records, variants=("anbu@x",), covers=lambda rule, h: "@" not in rule or h == "a")
    assert r["rules"]["anbu@x"]["households"] == 2 and r["rules"]["anbu@x"]["emergencies"] == 1
    assert r["tradeoff"]["households"] == 2  # a (the sample) and b (its emergency)
    point = next(p for p in r["tradeoff"]["points"] if p["rule"] == "anbu@x")
    assert point["detection_delay_median_h"] == 1.0
