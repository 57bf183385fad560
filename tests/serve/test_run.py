"""`anbu serve` on the command line: a bad config or an unusable database is one clear line and
exit code 2, never a traceback."""

from __future__ import annotations

import logging

import pytest

from host.cli import main
from host.store.sqlite import SqliteStore
from tests.firmware.rig import free_port


@pytest.fixture(autouse=True)
def root_logger():
    """`anbu serve` sets up the process's logging; give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_bad_config_is_named_and_exits_2(tmp_path, capsys):
    assert main(["serve", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: cannot read" in capsys.readouterr().err
    bad = tmp_path / "host.toml"
    bad.write_text('[store]\npath = "anbu.db"\n[mqtt]\npassword_env = "H1_UNSET_VAR"\n')
    assert main(["serve", "--config", str(bad)]) == 2
    assert "environment variable H1_UNSET_VAR is not set" in capsys.readouterr().err


def test_engine_state_from_another_version_stops_the_start_with_a_reason(tmp_path, capsys):
    with SqliteStore(tmp_path / "anbu.db") as store:
        store.add_household("h1", "Kim", created_at=0.0)
        store.save_engine_state({"h1": b"?"}, "pickle-4:0123456789abcdef", 0, 0.0)
    config = tmp_path / "host.toml"
    config.write_text(f'[store]\npath = "anbu.db"\n[mqtt]\nport = {free_port()}\n'
                      '[web]\nport = 0\n')
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "household 'h1': its engine state was saved as pickle-4:0123456789abcdef" in err
    assert "Traceback" not in err
