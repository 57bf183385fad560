"""`anbu simulate` end to end with the real world, on a tiny scenario: same seed, same report;
the --check gate passes at the measured figure and fails, naming it, just below."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import sys
import termios
from pathlib import Path

import pytest

from host import cli
from simulator import cli as sim
from simulator import scenario as scenarios

TINY = """
seed = 5
households = 8
days = 40
[life]
emergencies_per_year = 6.0
[curve]
variants = { knock-1in50 = { tail_knock = 0.02, tail_watch = 0.1 } }
every = 2
"""


def simulate(*argv: str) -> int:
    return cli.main(["simulate", "--quiet", *argv])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    path = folder / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reports(tiny: Path) -> dict[int, Path]:
    """The tiny scenario, once with one worker (the command) and once with two (the shell's
    simulate(), to hear its progress from both processes)."""
    outs = {n: tiny.parent / f"w{n}" for n in (1, 2)}
    assert simulate("--scenario", str(tiny), "--workers", "1", "--out", str(outs[1])) == 0
    steps: list[int] = []
    sim.simulate(scenarios.load(tiny), tiny, outs[2], 2, quiet=True, progress=steps.append)
    assert sum(steps) == 8 * 40, "household-days from both workers reach the one bar"
    return outs


def test_same_seed_same_report_whatever_the_workers(reports):
    one, two = (reports[n] / "report.json" for n in (1, 2))
    assert one.read_bytes() == two.read_bytes()
    report = json.loads(one.read_text())
    assert report["seed"] == 5 and report["counts"]["households"] == 8
    assert report["counts"]["emergencies"] > 0, "the tiny scenario must measure some delay"
    assert set(report["rules"]) == {"anbu", "fixed-24h", "daily-window", "fixed-36h",
                                    "anbu@knock-1in50"}
    # The variants ran on every second household and on every one with an emergency.
    sample = {f"hh-{i:06d}" for i in range(0, 8, 2)}
    emergencies = {e["household"] for e in report["emergencies"]}
    assert report["tradeoff"]["households"] == len(sample | emergencies)
    assert json.loads((reports[2] / "run.json").read_text())["workers"] == 2
    assert (reports[2] / "index.html").exists() and (reports[2] / "tradeoff.png").exists()


def test_another_seed_changes_the_world(reports, tiny, tmp_path, capsys):
    assert cli.main(["simulate", "--scenario", str(tiny), "--seed", "6", "--workers", "1",
                     "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == "", "no progress bar when stderr is not a terminal"
    other = json.loads((tmp_path / "report.json").read_text())
    first = json.loads((reports[1] / "report.json").read_text())
    assert other["seed"] == 6 and other["counts"] != first["counts"]


def check_file(tiny: Path, folder: Path, limits: str) -> Path:
    path = folder / "check.toml"
    path.write_text(tiny.read_text().replace("variants = {", "variants = {}\n#") + limits)
    return path


def test_check_passes_at_the_measured_figure_and_fails_just_below(reports, tiny, tmp_path,
                                                                  capsys):
    rules = json.loads((reports[1] / "report.json").read_text())["rules"]["anbu"]
    median = rules["detection_delay_h"]["median"]
    false = rules["false_alarms_per_household_month"]
    assert median is not None
    met = check_file(tiny, tmp_path, f"[check.anbu]\ndetection_delay_h.median = {median}\n"
                     f"false_alarms_per_household_month = {false}\n")
    capsys.readouterr()
    assert simulate("--check", str(met), "--workers", "1") == 0
    assert "all 2 limits met" in capsys.readouterr().out

    stricter = check_file(tiny, tmp_path, f"[check.anbu]\ndetection_delay_h.median = "
                          f"{median - 0.01}\nfalse_alarms_per_household_month = {false}\n")
    assert simulate("--check", str(stricter), "--workers", "1") == 1
    out = capsys.readouterr()
    line = f"FAIL anbu.detection_delay_h.median = {median:g}, limit <= {median - 0.01:g}"
    assert line in out.out and line[5:] in out.err
    assert "ok   anbu.false_alarms_per_household_month" in out.out


def test_check_with_a_figure_that_does_not_exist_stops_before_running(tiny, tmp_path, capsys):
    bad = check_file(tiny, tmp_path, "[check.anbu]\ndetection_delay.median = 4\n")
    assert simulate("--check", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad} [check]: anbu.detection_delay.median: no 'detection_delay' under anbu" in err
    assert not list(tmp_path.glob("anbu-check-*"))


def test_check_without_limits_or_with_a_scenario_too_is_refused(tiny, capsys):
    assert simulate("--check", str(tiny)) == 2
    assert "no [check] table" in capsys.readouterr().err
    assert simulate("--check", str(tiny), "--scenario", str(tiny)) == 2
    assert "not both" in capsys.readouterr().err


def test_a_bad_scenario_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("househods = 3\n")
    assert simulate("--scenario", str(bad)) == 2
    assert f"{bad}: unknown key 'househods'" in capsys.readouterr().err


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    """stderr on a real pseudo-terminal: the bar is drawn there (and not when stderr is not a
    terminal: test_another_seed_changes_the_world)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    terminal = os.fdopen(follower, "w")
    monkeypatch.setattr(sys, "stderr", terminal)
    try:
        assert cli.main(["simulate", "--households", "1", "--days", "2", "--workers", "1",
                         "--out", str(tmp_path)]) == 0
        terminal.flush()
        drawn = os.read(leader, 65536)  # a few hundred bytes: well within the pty's buffer
    finally:
        monkeypatch.undo()
        terminal.close()
        os.close(leader)
    assert b"household-days" in drawn and b"100%" in drawn
