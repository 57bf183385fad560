"""`anbu backtest` as a user runs it: the installed command, in a subprocess, on real files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
ALL_RULES = ["anbu", "fixed-24h", "daily-window", "fixed-36h"]
MONTH_DAYS = 30.44


def anbu_command() -> list[str]:
    """The installed `anbu` script beside this interpreter, else on PATH, else the module."""
    beside = Path(sys.executable).with_name("anbu")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("anbu")
    if found:
        return [found]
    print("anbu is not installed as a script here; running `python -m host.cli` instead")
    return [sys.executable, "-m", "host.cli"]


def anbu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*anbu_command(), *args], capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def write(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("time,household,event\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def parse_table(text: str) -> tuple[list[str], dict[str, dict[str, tuple[int, float | None]]]]:
    """The side-by-side table back into numbers: {row: {rule: (alarms, per month)}}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("household "))
    rules = lines[start].split()[2:]
    rows: dict[str, dict[str, tuple[int, float | None]]] = {}
    for line in lines[start + 2:]:
        if line.startswith("-"):
            continue
        cells = re.findall(r"(\d+) \(([\d.]+|-)\)", line)
        if not cells:
            break
        key = line.split()[0]
        rows[key] = {
            rule: (int(n), None if r == "-" else float(r))
            for rule, (n, r) in zip(rules, cells, strict=True)
        }
        rows[key]["months"] = float(line.split()[1])
        if key == "overall":
            break
    return rules, rows


def check_text_agrees_with_json(text: str, data: dict, rules: list[str]) -> None:
    table_rules, rows = parse_table(text)
    assert table_rules == rules
    assert set(rows) == set(data["households"]) | {"overall"}
    for rule in rules:
        for key, figures in data["rules"][rule]["households"].items():
            row = (figures["alarm_count"], figures["alarms_per_household_month"])
            assert rows[key][rule] == row
            assert figures["alarm_count"] == len(figures["alarms"])
            for alarm in figures["alarms"]:
                local = datetime.fromisoformat(alarm["time"]).strftime("%Y-%m-%d %H:%M")
                assert f"{local}  {alarm['reason']}" in text
        total = data["rules"][rule]["overall"]
        assert rows["overall"][rule] == (total["alarm_count"], total["alarms_per_household_month"])
        assert total["alarm_count"] == sum(
            h["alarm_count"] for h in data["rules"][rule]["households"].values()
        )
    after = next(line for line in text.splitlines() if "of which after a log ended" in line)
    assert [int(n) for n in after.split()[6:]] == [
        data["rules"][rule]["overall"]["alarms_after_last_event"] for rule in rules
    ]
    if "anbu" in rules:
        total = data["rules"]["anbu"]["overall"]
        assert f"knocks (anbu): {total['knocks']}, answered {total['knocks_answered']}" in text
    errors = data["input_errors"]
    assert f"Input problems: {errors['total']} rows skipped" in text
    assert f"Unreadable files: {len(errors['unreadable_files'])}" in text


def check_shape(data: dict, rules: list[str]) -> None:
    assert set(data) == {"rules", "households", "input_errors"}
    assert list(data["rules"]) == rules
    for rule in rules:
        block = data["rules"][rule]
        assert set(block["households"]) == set(data["households"])
        for key, figures in block["households"].items():
            hh = data["households"][key]
            for alarm in figures["alarms"]:
                when = datetime.fromisoformat(alarm["time"])
                assert when.utcoffset() is not None
                assert alarm["time"].endswith(hh["utc_offset"])
                assert isinstance(alarm["reason"], str) and alarm["reason"]
            assert isinstance(figures["knocks"], int)
            assert 0 <= figures["knocks_answered"] <= figures["knocks"]
            if figures["alarms_per_household_month"] is not None:
                span = datetime.fromisoformat(hh["last_event"]) - datetime.fromisoformat(
                    hh["first_event"]
                )
                rate = len(figures["alarms"]) * MONTH_DAYS * 86400 / span.total_seconds()
                assert figures["alarms_per_household_month"] == pytest.approx(rate, abs=0.011)
        overall = block["overall"]
        for name in ("alarm_count", "alarms_per_household_month", "knocks", "household_months"):
            assert name in overall
    for hh in data["households"].values():
        first = datetime.fromisoformat(hh["first_event"])
        last = datetime.fromisoformat(hh["last_event"])
        assert hh["days"] == pytest.approx((last - first).total_seconds() / 86400, abs=0.01)
        assert hh["household_months"] == pytest.approx(hh["days"] / MONTH_DAYS, abs=0.01)
    assert set(data["input_errors"]) >= {"total", "by_reason", "unreadable_files"}


# -- small logs with plain answers

SEOUL_ROWS = [
    "2024-05-01T08:00:00+09:00,kim,on",
    "2024-05-01T08:10:00+09:00,kim,off",
    "2024-05-02T14:10:00+09:00,kim,on",  # 30 h of silence: fixed-24h alarms, fixed-36h not
    "2024-05-02T14:20:00+09:00,kim,off",
    "2024-05-31T14:20:00+09:00,kim,activity",  # 29 days: every rule alarms
]


def test_small_log_json_gives_the_plain_answers(tmp_path):
    log = write(tmp_path, "seoul.csv", SEOUL_ROWS)
    done = anbu("backtest", str(log), "--json", "--rules", "fixed-24h,daily-window,fixed-36h")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    rules = ["fixed-24h", "daily-window", "fixed-36h"]
    check_shape(data, rules)
    assert list(data["households"]) == ["seoul/kim"]
    hh = data["households"]["seoul/kim"]
    assert hh["utc_offset"] == "+09:00" and hh["events"] == 5
    assert hh["until"] == "2024-06-01T14:20:00+09:00"  # last event + the 24 h ceiling
    fixed = data["rules"]["fixed-24h"]["households"]["seoul/kim"]
    assert [a["time"] for a in fixed["alarms"]] == [
        "2024-05-02T08:10:00+09:00",
        "2024-05-03T14:20:00+09:00",
    ]  # the one at 2024-06-01T14:20 would be exactly at until: not counted
    assert fixed["alarms"][0]["reason"] == (
        "no switch or activity for 24 h since 2024-05-01 08:10 (fixed-24h)"
    )
    months = (30 + (6 + 20 / 60) / 24) / MONTH_DAYS  # 05-01 08:00 to 05-31 14:20
    assert fixed["alarms_per_household_month"] == round(2 / months, 2)
    f36 = data["rules"]["fixed-36h"]["households"]["seoul/kim"]
    assert [a["time"] for a in f36["alarms"]] == ["2024-05-04T02:20:00+09:00"]
    daily = data["rules"]["daily-window"]["households"]["seoul/kim"]
    # The window 1st 09:00 - 2nd 08:59 is empty (08:10 was before it, 14:10 after), and so
    # are 3rd 09:00 .. 31st 08:59: the checks on the 2nd and on the 4th to the 31st alarm.
    times = [a["time"][:10] for a in daily["alarms"]]
    assert times == ["2024-05-02"] + [f"2024-05-{d:02d}" for d in range(4, 32)]
    assert data["input_errors"] == {"total": 0, "by_reason": {}, "by_log": {str(log): {}},
                                    "unreadable_files": []}


def test_small_log_text_agrees_with_json_all_rules(tmp_path):
    a = write(tmp_path, "seoul.csv", SEOUL_ROWS)
    b = write(tmp_path, "two.csv", [
        "2024-05-01T07:00:00+01:00,x,on", "2024-05-01T07:05:00+01:00,y,on",
        "2024-05-01T19:00:00+01:00,x,off", "2024-05-03T07:00:00+01:00,y,off",
        "2024-05-04T07:00:00+01:00,x,activity",
    ])
    text = anbu("backtest", str(a), str(b))
    data = anbu("backtest", str(a), str(b), "--json")
    assert text.returncode == 0 and data.returncode == 0, text.stderr + data.stderr
    parsed = json.loads(data.stdout)
    check_shape(parsed, ALL_RULES)
    assert set(parsed["households"]) == {"seoul/kim", "two/x", "two/y"}
    check_text_agrees_with_json(text.stdout, parsed, ALL_RULES)
    # The engine reaches a person within its ceiling of the last sign of life, every time.
    for key, figures in parsed["rules"]["anbu"]["households"].items():
        assert figures["alarm_count"] >= 1, key


def test_until_cuts_the_replay_and_is_the_same_for_every_log(tmp_path):
    log = write(tmp_path, "seoul.csv", SEOUL_ROWS)
    done = anbu("backtest", str(log), "--json", "--rules", "fixed-24h",
                "--until", "2024-05-03T00:00+09:00")
    data = json.loads(done.stdout)
    hh = data["households"]["seoul/kim"]
    assert hh["until"] == "2024-05-03T00:00:00+09:00"
    assert hh["events"] == 4  # the event on the 31st lies after until
    fixed = data["rules"]["fixed-24h"]["households"]["seoul/kim"]
    assert [a["time"] for a in fixed["alarms"]] == ["2024-05-02T08:10:00+09:00"]


def test_korean_reasons(tmp_path):
    log = write(tmp_path, "seoul.csv", SEOUL_ROWS)
    done = anbu("backtest", str(log), "--json", "--lang", "ko")
    data = json.loads(done.stdout)
    fixed = data["rules"]["fixed-24h"]["households"]["seoul/kim"]["alarms"][0]
    assert fixed["reason"] == "2024-05-01 08:10 이후 24시간 동안 스위치·활동 없음 (fixed-24h)"
    engine = data["rules"]["anbu"]["households"]["seoul/kim"]["alarms"][0]
    assert re.search("[가-힣]", engine["reason"]), engine["reason"]


# -- bad input and bad arguments


def test_bad_rows_are_reported_with_file_and_line_and_counted(tmp_path):
    log = write(tmp_path, "messy.csv", [
        "2024-05-01T08:00:00+09:00,kim,on",
        "2024-05-01T08:00:00+09:00,kim,on",  # line 3: duplicate
        "2024-05-01T07:00:00+09:00,kim,off",  # line 4: backwards
        "2024-05-01T09:00:00,kim,off",  # line 5: no offset
        "2024-05-01T09:00:00+09:00,kim,blink",  # line 6: unknown kind
        "2024-05-01T09:00:00+09:00,kim",  # line 7: missing column
        "2999-01-01T00:00:00+09:00,kim,on",  # line 8: future
        "2024-05-01T09:30:00+09:00,kim,off",
    ])
    done = anbu("backtest", str(log), "--json", "--rules", "fixed-24h")
    assert done.returncode == 0, done.stderr
    for line, words in [(3, "duplicate of line 2"), (4, "earlier than"), (5, "no UTC offset"),
                        (6, "unknown event 'blink'"), (7, "columns"), (8, "in the future")]:
        assert f"{log}:{line}: " in done.stderr and words in done.stderr
    assert "Traceback" not in done.stderr
    data = json.loads(done.stdout)
    assert data["input_errors"]["total"] == 6
    assert data["input_errors"]["by_reason"] == {
        "backwards": 1, "column_count": 1, "duplicate": 1, "future": 1, "no_offset": 1,
        "unknown_kind": 1,
    }
    assert data["households"]["messy/kim"]["events"] == 2  # the rest was still read
    text = anbu("backtest", str(log), "--rules", "fixed-24h").stdout
    assert "input problems: 6 rows skipped" in text
    assert "Input problems: 6 rows skipped (backwards 1, column_count 1, duplicate 1" in text


def test_an_unreadable_file_fails_the_run_but_the_others_still_run(tmp_path):
    good = write(tmp_path, "good.csv", SEOUL_ROWS)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.csv"
    for extra in ([], ["--json"]):
        done = anbu("backtest", str(missing), str(garbage), str(empty), str(good),
                    "--rules", "fixed-24h", *extra)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert f"{missing}: no such file" in done.stderr
        assert f"{garbage}: is not a text CSV file" in done.stderr
        assert f"{empty}: is empty" in done.stderr
    data = json.loads(done.stdout)
    assert [u["path"] for u in data["input_errors"]["unreadable_files"]] == [
        str(missing), str(garbage), str(empty)
    ]
    assert list(data["households"]) == ["good/kim"]
    assert data["rules"]["fixed-24h"]["households"]["good/kim"]["alarm_count"] == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["backtest", "x.csv", "--until", "2024-05-01T09:00"], "has no UTC offset"),
        (["backtest", "x.csv", "--until", "soon"], "is not an ISO 8601 time"),
        (["backtest", "x.csv", "--until", "0001-01-01T00:00+09:00"], "is not between 2000"),
        (["backtest", "x.csv", "--until", "9999-12-31T23:59+00:00"], "is not between 2000"),
        (["backtest", "x.csv", "--rules", "anbu,fixed-48h"], "unknown rule fixed-48h"),
        (["backtest", "x.csv", "--lang", "fr"], "invalid choice: 'fr'"),
        (["backtest"], "the following arguments are required: LOG.csv"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_give_a_message_not_a_traceback(args, words):
    done = anbu(*args)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_help():
    top = anbu("--help")
    assert top.returncode == 0 and "backtest" in top.stdout
    sub = anbu("backtest", "--help")
    assert sub.returncode == 0
    for option in ("--until", "--json", "--rules", "--lang"):
        assert option in sub.stdout
    bare = anbu()
    assert bare.returncode == 2 and "backtest" in bare.stderr


# -- the shared real-home datasets


def dataset_logs() -> list[Path]:
    logs = sorted(DATASETS.glob("*.csv")) if DATASETS.is_dir() else []
    if not logs:
        pytest.skip(f"no shared datasets at {DATASETS} (shared/ sits beside the clone in CI)")
    return logs


def test_datasets_json_and_text_agree():
    logs = [str(p) for p in dataset_logs()]
    data_run = anbu("backtest", *logs, "--json")
    text_run = anbu("backtest", *logs)
    assert data_run.returncode == 0 and text_run.returncode == 0, data_run.stderr
    data = json.loads(data_run.stdout)
    check_shape(data, ALL_RULES)
    assert len(data["households"]) == len(logs)
    check_text_agrees_with_json(text_run.stdout, data, ALL_RULES)
    # Each stderr line names a file and line, and there is one per counted problem.
    problems = [line for line in data_run.stderr.splitlines() if line.strip()]
    assert len(problems) == data["input_errors"]["total"]
    assert all(re.search(r"\.csv:\d+: ", line) for line in problems)
    for hh in data["households"].values():
        assert hh["utc_offset"] == "+01:00"
        assert hh["days"] > 10


def test_datasets_one_rule_matches_the_same_rule_in_a_full_run():
    logs = [str(p) for p in dataset_logs()]
    full = json.loads(anbu("backtest", *logs, "--json").stdout)
    alone = json.loads(anbu("backtest", *logs, "--json", "--rules", "daily-window").stdout)
    assert alone["rules"]["daily-window"] == full["rules"]["daily-window"]


def test_the_same_log_named_two_ways_is_replayed_once(tmp_path):
    write(tmp_path, "good.csv", SEOUL_ROWS)
    once = json.loads(subprocess.run(
        [*anbu_command(), "backtest", "good.csv", "--json"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, check=True).stdout)
    twice = json.loads(subprocess.run(
        [*anbu_command(), "backtest", "good.csv", "./good.csv", str(tmp_path / "good.csv"),
         "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True).stdout)
    assert twice["households"].keys() == once["households"].keys()
    assert twice["rules"]["anbu"]["overall"] == once["rules"]["anbu"]["overall"]


def test_the_table_in_docs_backtest_is_what_the_command_prints_now():
    """docs/backtest.md quotes the side-by-side table; an engine change must update it."""
    logs = [str(p) for p in dataset_logs()]
    doc = (Path(__file__).resolve().parents[1] / "docs" / "backtest.md").read_text()
    quoted = doc[doc.index("Side by side:"):]
    quoted = quoted[:quoted.index("```")]
    printed = anbu("backtest", *logs).stdout
    assert parse_table(quoted) == parse_table(printed), (
        "docs/backtest.md's table is out of date: rerun `anbu backtest ../shared/datasets/*.csv`")
