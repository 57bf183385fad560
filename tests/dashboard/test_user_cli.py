"""`anbu user add|list|unlock|passwd` through the real entry point, then a login with Accounts."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.cli import main
from host.dashboard.accounts import Accounts, LoginRefused
from host.dashboard.settings import DashboardConfig
from host.store.sqlite import SqliteStore

PASSWORD = "correct horse battery"
ANBU = Path(sys.executable).with_name("anbu")


def anbu(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["user", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def login(db: Path, name: str, password: str, **settings):
    with SqliteStore(db) as store:
        return Accounts(store, DashboardConfig(**settings)).login(name, password)


def host_toml(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "host.toml"
    path.write_text(f'[store]\npath = "anbu.db"\n{extra}', encoding="utf-8")
    return path


def test_anbu_user_add_from_a_shell_then_log_in(tmp_path):
    """The installed `anbu` script, with the database named by host.toml as `anbu serve` has it."""
    config = host_toml(tmp_path)
    done = subprocess.run(
        [str(ANBU), "user", "add", "kim", "--role", "admin", "--display", "김 주무관",
         "--config", str(config), "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "added admin kim (김 주무관)\n", "")
    session = login(tmp_path / "anbu.db", "kim", PASSWORD)
    assert (session.user.role, session.user.display) == ("admin", "김 주무관")
    listed = subprocess.run([str(ANBU), "user", "list", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split()[:2] == ["kim", "admin"]


def test_add_list_passwd_and_unlock(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "anbu.db")
    assert anbu(monkeypatch, capsys, "add", "lee", "--role", "caseworker", "--database", db,
                "--password-stdin", stdin=PASSWORD + "\r\n") == (0, "added caseworker lee\n", "")
    assert login(Path(db), "lee", PASSWORD).user.role == "caseworker"
    # Five wrong guesses lock lee out; `list` shows it and `unlock` lifts it.
    for _ in range(5):
        with pytest.raises(LoginRefused):
            login(Path(db), "lee", "not the password")
    with pytest.raises(LoginRefused, match="locked"):
        login(Path(db), "lee", PASSWORD)
    code, out, _ = anbu(monkeypatch, capsys, "list", "--database", db)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ROLE", "CREATED", "STATE", "DISPLAY"]
    assert row.split()[:2] == ["lee", "caseworker"] and "locked until" in row
    assert anbu(monkeypatch, capsys, "unlock", "lee", "--database", db) == (
        0, "unlocked lee: failed logins forgotten\n", "")
    session = login(Path(db), "lee", PASSWORD)
    # A new password: the old one stops working and so does the session made with it.
    code, out, _ = anbu(monkeypatch, capsys, "passwd", "lee", "--database", db,
                        "--password-stdin", stdin="a new long password\n")
    assert (code, out) == (0, "new password set for lee; their sessions have ended\n")
    with SqliteStore(db) as store:
        accounts = Accounts(store, DashboardConfig())
        assert accounts.session(session.token) is None
        with pytest.raises(LoginRefused, match="bad_credentials"):
            accounts.login("lee", PASSWORD)
        assert accounts.login("lee", "a new long password").user.name == "lee"
        cli = [(e.action, e.target) for e in reversed(accounts.audit.entries(actor="cli"))]
    assert cli == [("user_add", "lee"), ("user_unlock", "lee"), ("user_passwd", "lee")]


def test_the_password_is_asked_twice_on_the_terminal(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "anbu.db")
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "a typo in it"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert anbu(monkeypatch, capsys, "add", "kim", "--role", "admin", "--database", db)[0] == 0
    code, _, err = anbu(monkeypatch, capsys, "passwd", "kim", "--database", db)
    assert (code, err) == (1, "anbu user passwd: the two passwords differ; nothing changed\n")
    assert login(Path(db), "kim", PASSWORD).user.name == "kim"


def test_no_terminal_and_no_password_stdin_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [str(ANBU), "user", "add", "kim", "--role", "admin", "--database",
         str(tmp_path / "anbu.db")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        start_new_session=True,  # no controlling terminal for getpass to open
    )
    assert done.returncode == 1
    assert done.stderr.endswith(
        "anbu user add: no terminal to ask for the password on: use --password-stdin\n")


@pytest.mark.parametrize(("argv", "stdin", "code", "message"), [
    (["add", "kim", "--role", "admin"], PASSWORD, 1, "anbu user add: user name 'kim' is taken"),
    (["add", "park", "--role", "admin"], "short", 1,
     "anbu user add: user 'park': the password is too weak: use at least 10 characters"),
    (["add", "Park", "--role", "admin"], PASSWORD, 1, "anbu user add: user name 'Park': use 2"),
    (["add", "park", "--role", "admin"], "", 1,
     "anbu user add: no password on standard input (one line expected)"),
    (["unlock", "park"], "", 1, "anbu user unlock: unknown user 'park'"),
    (["passwd", "park"], PASSWORD, 1, "anbu user passwd: unknown user 'park'"),
])
def test_mistakes_are_one_clear_line_and_a_failing_exit_code(
    tmp_path, monkeypatch, capsys, argv, stdin, code, message
):
    db = str(tmp_path / "anbu.db")
    assert anbu(monkeypatch, capsys, "add", "kim", "--role", "admin", "--database", db,
                "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    secret = ["--password-stdin"] if argv[0] in ("add", "passwd") else []
    got, out, err = anbu(monkeypatch, capsys, *argv, "--database", db, *secret, stdin=stdin)
    assert (got, out) == (code, "")
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    with SqliteStore(db) as store:
        assert [u.name for u in store.users()] == ["kim"]


def test_a_missing_or_bad_config_and_a_missing_database_say_so(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nope.toml"
    code, _, err = anbu(monkeypatch, capsys, "list", "--config", str(missing))
    assert (code, err) == (2, f"anbu user list: {missing}: cannot read: No such file or "
                              "directory\n")
    bad = host_toml(tmp_path, "[dashboard]\nlockout = 60\n")
    code, _, err = anbu(monkeypatch, capsys, "list", "--config", str(bad))
    assert code == 2 and err.startswith(f"anbu user list: {bad}: dashboard.lockout: unknown key")
    bad = host_toml(tmp_path, '[dashboard]\nsummary_at = "8 am"\n')
    code, _, err = anbu(monkeypatch, capsys, "list", "--config", str(bad))
    assert code == 2 and "dashboard.summary_at: expected HH:MM" in err
    code, _, err = anbu(monkeypatch, capsys, "list", "--database", str(tmp_path / "none.db"))
    assert code == 1 and "no database at" in err
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(SystemExit):  # argparse: one of --config or --database is required
        main(["user", "list"])


def test_the_lockout_settings_come_from_the_config(tmp_path, monkeypatch, capsys):
    config = host_toml(tmp_path, "[dashboard]\nmax_failures = 2\nlockout_s = 600\n")
    assert anbu(monkeypatch, capsys, "add", "kim", "--role", "admin", "--config", str(config),
                "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    from host.serve.config import load

    settings = load(config).dashboard
    with SqliteStore(tmp_path / "anbu.db") as store:
        accounts = Accounts(store, settings)
        with pytest.raises(LoginRefused, match="bad_credentials"):
            accounts.login("kim", "wrong password")
        with pytest.raises(LoginRefused) as refused:
            accounts.login("kim", "wrong password")
        assert refused.value.reason == "locked"
        assert refused.value.locked_until == pytest.approx(time.time() + 600, abs=30)
