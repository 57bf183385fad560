"""The quality gate's rules, on report dicts: limits read from a [check] table, figures judged."""

from __future__ import annotations

import tomllib

import pytest

from simulator import check


def report(median=2.5, p95=None, false=0.12, emergencies=3) -> dict:
    figures = {"emergencies": emergencies, "missed": 1,
               "detection_delay_h": {"median": median, "p90": 4.0, "p95": p95, "max": p95},
               "false_alarms_per_household_month": false, "knocks_answered": 7}
    return {"rules": {"anbu": figures, "fixed-24h": dict(figures),
                      "anbu@tail_knock=0.01": dict(figures)}}


def limits(text: str) -> list[check.Limit]:
    return check.limits(tomllib.loads(text)["check"], "ci.toml [check]")


def test_nested_tables_dotted_keys_and_lower_bounds_all_read():
    got = limits("""
        [check]
        "fixed-24h".missed = 2
        [check.anbu]
        detection_delay_h = { median = 4, p95 = 12.5 }
        false_alarms_per_household_month = 0.5
        knocks_answered = { at_least = 5 }
    """)
    assert set(got) == {
        check.Limit("fixed-24h.missed", "at_most", 2.0),
        check.Limit("anbu.detection_delay_h.median", "at_most", 4.0),
        check.Limit("anbu.detection_delay_h.p95", "at_most", 12.5),
        check.Limit("anbu.false_alarms_per_household_month", "at_most", 0.5),
        check.Limit("anbu.knocks_answered", "at_least", 5.0),
    }


def test_a_limit_that_is_not_a_number_names_the_key():
    with pytest.raises(ValueError, match=r"ci.toml \[check\]: anbu.missed: .*number.*'none'"):
        limits('[check.anbu]\nmissed = "none"')
    with pytest.raises(ValueError, match="anbu.missed: median beside at_most"):
        limits("[check.anbu]\nmissed = { at_most = 1, median = 2 }")


def test_figures_within_limits_pass_and_a_stricter_limit_fails_naming_figure_and_value():
    rep = report()
    ok = check.judge(rep, limits("[check.anbu]\ndetection_delay_h.median = 2.5"))
    assert [v.ok for v in ok] == [True]
    [bad] = check.judge(rep, limits("[check.anbu]\ndetection_delay_h.median = 2.4"))
    assert not bad.ok
    assert bad.line() == "FAIL anbu.detection_delay_h.median = 2.5, limit <= 2.4"
    [low] = check.judge(rep, limits("[check.anbu]\nknocks_answered = { at_least = 8 }"))
    assert low.line() == "FAIL anbu.knocks_answered = 7, limit >= 8"


def test_a_missed_percentile_fails_any_limit():
    [v] = check.judge(report(p95=None), limits("[check.anbu]\ndetection_delay_h.p95 = 1000"))
    assert not v.ok and v.line().endswith("= null, limit <= 1000 (a missed emergency)")


def test_a_delay_limit_without_emergencies_fails():
    [v] = check.judge(report(median=None, emergencies=0),
                      limits("[check.anbu]\ndetection_delay_h.median = 4"))
    assert not v.ok and "no emergencies" in v.line()


def test_rule_names_with_dots_resolve():
    [v] = check.judge(report(), limits('[check]\n"anbu@tail_knock=0.01".missed = 1'))
    assert v.ok and v.measured == 1


def test_a_wrong_figure_names_what_exists():
    with pytest.raises(KeyError, match="no 'median' under anbu .*detection_delay_h"):
        check.measured(report(), "anbu.median")
    with pytest.raises(KeyError, match="no rule 'anbo'"):
        check.measured(report(), "anbo.missed")
    with pytest.raises(KeyError, match="not a single figure"):
        check.measured(report(), "anbu.detection_delay_h")
