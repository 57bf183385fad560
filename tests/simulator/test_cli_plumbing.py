"""The report's plumbing with a stand-in world: shards, progress, files, HTML, plots.

The stand-in writes records the way the contract says (a Household, ground truth, each rule's
alarms, knocks, dispatches and one Found per emergency), each household from its own random
stream, so these tests hold the shell to "same seed, same report, whatever --workers" without
depending on how the real world is built (tests/simulator/test_cli.py runs the real one).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simulator import cli, shards
from simulator import records as rec
from simulator.report import MAIN_RULES, build

SEOUL = ZoneInfo("Asia/Seoul")


@dataclass(frozen=True)
class Variant:
    name: str


@dataclass(frozen=True)
class StandIn:
    """The parts of simulator.scenario.Scenario that the shell reads."""

    seed: int = 7
    households: int = 12
    days: int = 40
    start: date = date(2026, 3, 2)
    timezone: str = "Asia/Seoul"
    source: str = "stand-in"
    rules: tuple[str, ...] = MAIN_RULES
    curve: tuple[Variant, ...] = (Variant("anbu@tail_knock=0.02"),)
    limits: dict = field(default_factory=dict)
    table: dict = field(default_factory=lambda: {"note": "stand-in"})

    def household_id(self, index: int) -> str:
        return f"hh{index:03d}"

    def rules_for(self, index: int) -> tuple[str, ...]:
        return self.rules + (tuple(v.name for v in self.curve) if index % 2 == 0 else ())


def stand_in_run_shard(scenario: StandIn, shard: int, shards: int, out: Path,
                       progress=None) -> None:
    t0 = datetime.combine(scenario.start, datetime.min.time(), SEOUL).timestamp()
    with out.open("w", encoding="utf-8") as f:
        for i in range(shard, scenario.households, shards):
            rng = random.Random(f"{scenario.seed}:{i}")
            name = f"hh{i:03d}"
            end = t0 + scenario.days * 86400
            rec.write(f, rec.Household(name, rng.choice(["early", "owl"]), "bathroom", t0, end))
            onset = t0 + rng.uniform(10, scenario.days) * 86400 if i % 3 == 0 else None
            if onset is not None:
                rec.write(f, rec.Emergency(name, onset, "fall", rng.random() < 0.3))
            for rule in scenario.rules_for(i):
                for _ in range(rng.randrange(3)):
                    t = t0 + rng.uniform(0, 9) * 86400
                    rec.write(f, rec.Alarm(rule, name, t, "welfare", "inactivity"))
                    rec.write(f, rec.Knock(rule, name, t - 900, rng.random() < 0.4))
                if onset is not None:
                    alarm = onset + rng.uniform(1, 30) * 3600
                    rec.write(f, rec.Alarm(rule, name, alarm, "welfare", "inactivity"))
                    rec.write(f, rec.Dispatch(rule, name, alarm + 600, alarm + 3000))
                    rec.write(f, rec.Found(rule, name, alarm + 3000, "dispatch"))
            if progress:
                progress(scenario.days)


def run(out: Path, workers: int, scenario: StandIn | None = None) -> tuple[dict, dict, Path]:
    steps: list[int] = []
    scenario = scenario or StandIn()
    report, run_facts = cli.simulate(scenario, None, out, workers, quiet=True,
                                     progress=steps.append, run_shard=stand_in_run_shard)
    assert sum(steps) == scenario.households * scenario.days
    return report, run_facts, out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, tuple[dict, dict, Path]]:
    """The stand-in scenario through the whole shell, in this process."""
    return {1: run(tmp_path_factory.mktemp("runs") / "w1", 1)}


def test_same_records_same_report_json_whatever_the_shards(runs, tmp_path: Path):
    """Three shard files of the same households, merged: the same bytes as one file."""
    scenario = StandIn()
    for k in range(3):
        stand_in_run_shard(scenario, k, 3, tmp_path / f"{k}.jsonl")
    rules, variants, covers = cli.rule_set(scenario)
    paths = [tmp_path / f"{k}.jsonl" for k in (2, 0, 1)]  # any order
    merged = build(lambda: cli._read(paths), rules=rules, variants=variants, covers=covers,
                   tz=SEOUL, about=cli.about(scenario, None))
    assert cli.as_json(merged).encode() == (runs[1][2] / "report.json").read_bytes()
    assert runs[1][1]["records"] == ["records/shard-000-of-001.jsonl"]
    facts = json.loads((runs[1][2] / "run.json").read_text())
    assert facts["workers"] == 1 and facts["seconds"]["total"] > 0


def test_another_seed_another_report(tmp_path: Path):
    def figures(seed: int) -> dict:
        scenario = StandIn(seed=seed)
        paths = shards.run(scenario, tmp_path / str(seed), 1, run_shard=stand_in_run_shard)
        rules, variants, covers = cli.rule_set(scenario)
        return build(lambda: cli._read(paths), rules=rules, variants=variants, covers=covers,
                     tz=SEOUL)

    assert figures(7) == figures(7)
    assert figures(7)["rules"] != figures(8)["rules"]


def test_report_folder_has_page_plots_and_json(runs):
    report, _, out = runs[1]
    for name in ("delays.png", "tradeoff.png", "personas.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text()
    assert 'src="tradeoff.png"' in page
    assert "12 simulated households" in page and "seed 7" in page
    assert report["scenario"] == {"name": "stand-in", "note": "stand-in"}
    # Emergency onsets are shown in Seoul time, as report.json states them.
    onset = report["emergencies"][0]["onset"]
    assert onset.endswith("+09:00") and onset[:16].replace("T", " ") in page
    assert report["tradeoff"]["households"] == 6
    assert set(report["rules"]) == {*MAIN_RULES, "anbu@tail_knock=0.02"}


def test_rerun_in_the_same_folder_drops_old_shard_files(tmp_path: Path):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "shard-001-of-002.jsonl").write_text("old")
    paths = shards.run(StandIn(), tmp_path, 1, run_shard=stand_in_run_shard)
    assert [p.name for p in (tmp_path / "records").iterdir()] == ["shard-000-of-001.jsonl"] == \
        [p.name for p in paths]


def test_summary_names_every_rule(runs):
    report, facts, _ = runs[1]
    text = cli.summary(report, facts)
    assert "12 households x 40 days, seed 7" in text
    for rule in MAIN_RULES:
        assert f"\n{rule} " in text
