"""Scenario files: the embedded defaults, a file on top, and mistakes named by file and key."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from host.config import EngineConfig
from simulator import scenario as scenarios
from simulator.scenario import ScenarioError
from simulator.world import World


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_and_describe_the_main_run():
    s = scenarios.load(None)
    assert s.source == "<defaults>" and s.seed == 1 and s.start == date(2026, 1, 5)
    assert s.rules == ("anbu", "fixed-24h", "daily-window", "fixed-36h")
    assert {p.name for p in s.personas} >= {"typical", "early-riser", "night-owl", "homebound"}
    assert set(s.bulbs) == {"bathroom", "living_room", "bedroom"}
    assert s.curve and all(v.name.startswith("anbu@") for v in s.curve)
    assert isinstance(s.engine_config(s.curve[0].name), EngineConfig)
    assert s.engine_config("anbu") == EngineConfig()
    assert s.end_utc() - s.start_utc() == s.days * 86400  # Seoul keeps no summer time
    assert s.household_id(42) == "hh-000042"


def test_the_curve_runs_on_a_sample_and_on_every_household_with_an_emergency():
    s = scenarios.with_overrides(scenarios.load(None), households=60, days=30)
    s = dataclasses.replace(s, life=dataclasses.replace(s.life, emergencies_per_year=3.0))
    curve = s.rules + tuple(v.name for v in s.curve)
    sample = set(range(0, s.households, s.curve_every))
    assert all(s.rules_for(i) == curve for i in sample)
    emergencies = {i for i in range(s.households) if World(s, i).emergency is not None}
    assert emergencies - sample  # about 14 emergencies, most outside the sample
    assert all(s.rules_for(i) == curve for i in emergencies)
    rest = set(range(s.households)) - sample - emergencies
    assert rest and all(s.rules_for(i) == s.rules for i in rest)
    assert s.curve_households() == s.households - len(rest)


def test_a_file_changes_only_what_it_names(tmp_path: Path):
    s = scenarios.load(write(tmp_path, """
        seed = 9
        start = 2026-07-01
        [life]
        emergencies_per_year = 2.5
        [personas.owl]
        wake = 10.0
        bed = 26.0
        [curve]
        variants = {}
        [check.anbu]
        missed = 3
        detection_delay_h = { median = 12.0 }
    """))
    d = scenarios.load(None)
    assert s.seed == 9 and s.start == date(2026, 7, 1) and s.households == d.households
    assert s.life.emergencies_per_year == 2.5 and s.life.illness_per_year == d.life.illness_per_year
    assert [p.name for p in s.personas] == ["owl"]  # a file's personas replace the set
    owl = s.personas[0]
    assert owl.wake == 10.0 and owl.day_visits == d.personas[0].day_visits  # [persona] below
    assert s.curve == () and s.rules_for(0) == s.rules
    assert s.limits == {"anbu": {"missed": 3, "detection_delay_h": {"median": 12.0}}}
    assert s.source == str(tmp_path / "s.toml") and s.table["seed"] == 9


@pytest.mark.parametrize(("text", "names"), [
    ("sede = 3", "'sede'"),
    ("[life]\nemergencies = 1.0", "'life.emergencies'"),
    ("households = 'many'", "households"),
    ("households = 0", "households"),
    ("[network]\nheartbeat_s = 5", "network"),
    ("[network]\nmains = 1.5", "network"),
    ("[people]\nknock_notice = { attic = 0.5 }", "people.knock_notice.attic"),
    ("[people]\nknock_notice = { bathroom = 1.5 }", "people"),
    ("[personas.x]\nwake = 'early'", "personas.x.wake"),
    ("[personas.x]\nsnores = 1.0", "personas.x.snores"),
    ("[curve.variants]\nhot = { tail_knock = 0.5 }", "curve.variants.hot"),
    ("[curve.variants]\nodd = { renotify = 5 }", "curve.variants.odd.renotify"),
    ("[bulbs]\nkitchen = 1.0", "bulbs"),
    ("rules = ['anbu', 'fixed-12h']", "rules"),
    ("timezone = 'Mars/Olympus'", "timezone"),
    ("start = 'soon'", "start"),
    ("[life]\nemergency_kinds = { fall = 1, slip = 1 }", "life"),
    ("life = 3", "life"),
])
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, names: str):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        scenarios.load(path)
    assert str(path) in str(caught.value) and names in str(caught.value)


def test_unreadable_and_broken_files_are_named(tmp_path: Path):
    with pytest.raises(ScenarioError, match="cannot read"):
        scenarios.load(tmp_path / "missing.toml")
    broken = write(tmp_path, "seed = = 1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        scenarios.load(broken)


def test_command_line_overrides_and_their_errors():
    s = scenarios.with_overrides(scenarios.load(None), households=7, days=30, seed=5)
    assert (s.households, s.days, s.seed) == (7, 30, 5)
    assert s.table["households"] == 7
    with pytest.raises(ScenarioError, match="command line: days"):
        scenarios.with_overrides(s, days=0)
