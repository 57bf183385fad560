"""Dashboard accounts over a real SqliteStore: hashes only, lockout, sessions, CSRF, the audit
log and case assignments, on an injected clock."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from host import decisions as d
from host.dashboard.accounts import (
    AccountError,
    Accounts,
    LoginRefused,
    Session,
    User,
    csrf_ok,
)
from host.dashboard.audit import Audit, AuditEntry
from host.dashboard.settings import DashboardConfig
from host.serve.config import parse
from host.store import StoreError
from host.store.migrate import MIGRATIONS
from host.store.sqlite import SqliteStore

PASSWORD = "correct horse battery"
T0 = 1_750_000_000.0
# Real argon2id, with parameters cheap enough for many logins per test.
FAST = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "anbu.db"


@pytest.fixture
def store(db: Path):
    with SqliteStore(db) as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store, clock) -> Accounts:
    a = Accounts(store, DashboardConfig(), clock, hasher=FAST)
    a.add_user("kim", PASSWORD, "caseworker", "김 주무관")
    return a


def database_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def actions(accounts: Accounts, actor: str | None = None) -> list[str]:
    return [e.action for e in reversed(accounts.audit.entries(actor=actor))]


def fail(accounts: Accounts, times: int, name: str = "kim") -> list[str]:
    reasons = []
    for _ in range(times):
        with pytest.raises(LoginRefused) as refused:
            accounts.login(name, "not the password")
        reasons.append(refused.value.reason)
    return reasons


# Passwords and accounts


def test_passwords_are_argon2id_hashes_and_the_password_is_stored_nowhere(db, store, clock):
    accounts = Accounts(store, DashboardConfig(), clock)  # the default, production hasher
    user = accounts.add_user("lee", PASSWORD, "admin", display="Lee")
    assert user == User("lee", "admin", "Lee", T0, 0, None, False)
    stored = store.user("lee")
    assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    session = accounts.login("lee", PASSWORD)
    assert session.user.name == "lee"
    assert PASSWORD.encode() not in database_bytes(db)
    assert session.token.encode() not in database_bytes(db)
    row = sqlite3.connect(db).execute("SELECT token_hash FROM web_sessions").fetchone()
    assert row == (hashlib.sha256(session.token.encode()).hexdigest(),)


def test_an_unknown_name_costs_the_same_hashing_as_a_wrong_password(store, clock):
    accounts = Accounts(store, DashboardConfig(max_failures=100), clock)  # production hasher
    accounts.add_user("lee", PASSWORD, "admin")

    def fastest(name: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            with pytest.raises(LoginRefused):
                accounts.login(name, "wrong password")
            times.append(time.perf_counter() - start)
        return min(times)

    known, unknown = fastest("lee"), fastest("nobody")
    assert unknown > 0.5 * known, (known, unknown)


def test_account_mistakes_say_which(accounts):
    cases = [
        (("Kim2", PASSWORD, "admin"), r"user name 'Kim2': use 2 to 32 of a-z"),
        (("k", PASSWORD, "admin"), r"user name 'k'"),
        (("a" * 33, PASSWORD, "admin"), r"user name 'a{33}'"),
        (("park", PASSWORD, "boss"), r"role 'boss' is not one of caseworker, admin"),
        (("park", "short", "admin"), r"too weak: use at least 10 characters"),
        (("park", "aaaaaaaaaaaa", "admin"), r"too weak: not the name, nor one character"),
        (("kim", PASSWORD, "admin"), r"user name 'kim' is taken"),
    ]
    for args, message in cases:
        with pytest.raises(AccountError, match=message):
            accounts.add_user(*args)
    with pytest.raises(AccountError, match="display name must be at most 80 printable"):
        accounts.add_user("park", PASSWORD, "admin", "two\nlines")
    with pytest.raises(AccountError, match="unknown user 'park'"):
        accounts.unlock("park")
    with pytest.raises(AccountError, match="unknown user 'park'"):
        accounts.set_password("park", PASSWORD)
    assert [u.name for u in accounts.users()] == ["kim"]


def test_a_new_password_replaces_the_old_one_and_ends_every_session(accounts):
    session = accounts.login("kim", PASSWORD)
    with pytest.raises(AccountError, match="too weak"):
        accounts.set_password("kim", "short")
    accounts.set_password("kim", "another good one")
    assert accounts.session(session.token) is None
    assert fail(accounts, 1) == ["bad_credentials"]
    with pytest.raises(LoginRefused):
        accounts.login("kim", PASSWORD)
    assert accounts.login("kim", "another good one").user.name == "kim"


# Logging in


def test_a_login_gives_a_session_with_its_own_csrf_token(accounts, clock):
    session = accounts.login("  Kim ", PASSWORD, lang="en")  # typed loosely: still kim
    assert isinstance(session, Session)
    assert session.user == User("kim", "caseworker", "김 주무관", T0, 0, None, False)
    assert (session.created_at, session.seen_at, session.lang) == (T0, T0, "en")
    other = accounts.login("kim", PASSWORD, lang="fr")  # an unknown language: the default
    assert other.lang == "ko"
    assert len({session.token, session.csrf, other.token, other.csrf}) == 4
    assert len(session.token) >= 43 and len(session.csrf) >= 43  # 32 random bytes each
    assert accounts.session(session.token).csrf == session.csrf
    assert actions(accounts, "kim") == ["login", "login"]


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(accounts):
    refusals = []
    for name in ("kim", "nobody", "NOT A NAME!"):
        with pytest.raises(LoginRefused) as refused:
            accounts.login(name, "not the password")
        refusals.append((refused.value.reason, refused.value.locked_until, str(refused.value)))
    assert refusals == [("bad_credentials", None, "bad_credentials")] * 3
    with pytest.raises(LoginRefused, match="bad_credentials"):
        accounts.login("x" * 100_000, PASSWORD)
    entries = accounts.audit.entries()
    assert [(e.actor, e.action, e.detail["reason"]) for e in reversed(entries)] == [
        ("kim", "login_failed", "bad_credentials"),
        ("nobody", "login_failed", "bad_credentials"),
        ("not a name!", "login_failed", "bad_credentials"),
        ("x" * 64, "login_failed", "bad_credentials"),  # a flood of text is cut short
    ]


def test_max_failures_within_the_window_lock_the_account_until_lockout_s(accounts, clock):
    settings = accounts.settings
    reasons = []
    for _ in range(settings.max_failures):
        clock.now += 60
        reasons += fail(accounts, 1)
    assert reasons == ["bad_credentials"] * 4 + ["locked"]
    locked_at = clock.now
    until = locked_at + settings.lockout_s
    kim = accounts.users()[0]
    assert (kim.failures, kim.locked_until) == (5, until)
    # Locked: even the right password is refused, and says until when.
    clock.now = until - 1
    with pytest.raises(LoginRefused) as refused:
        accounts.login("kim", PASSWORD)
    assert (refused.value.reason, refused.value.locked_until) == ("locked", until)
    assert fail(accounts, 1) == ["locked"]
    assert accounts.users()[0].locked_until == until  # guesses while locked do not extend it
    # The lock lifts by itself.
    clock.now = until
    assert accounts.users()[0] == User("kim", "caseworker", "김 주무관", T0, 0, None, False)
    assert accounts.login("kim", PASSWORD).user.name == "kim"
    assert actions(accounts, "kim") == [
        *["login_failed"] * 5, "lockout", "login_refused", "login_refused", "login",
    ]
    lockout = next(e for e in accounts.audit.entries() if e.action == "lockout")
    assert (lockout.at, lockout.detail) == (locked_at, {"until": until, "failures": 5})


def test_failures_spread_wider_than_the_window_never_lock(accounts, clock):
    window = accounts.settings.failure_window_s
    assert fail(accounts, 4) == ["bad_credentials"] * 4
    clock.now += window
    assert fail(accounts, 4) == ["bad_credentials"] * 4  # a new window: counting from 1
    assert accounts.users()[0].failures == 4
    assert accounts.login("kim", PASSWORD)


def test_a_successful_login_resets_the_count(accounts, clock):
    assert fail(accounts, 4) == ["bad_credentials"] * 4
    accounts.login("kim", PASSWORD)
    assert accounts.users()[0].failures == 0
    assert fail(accounts, 4) == ["bad_credentials"] * 4
    assert fail(accounts, 1) == ["locked"]


def test_unlock_lifts_a_lockout_at_once(accounts, clock):
    assert fail(accounts, 5)[-1] == "locked"
    accounts.unlock("kim")
    assert accounts.users()[0].locked_until is None
    assert accounts.login("kim", PASSWORD).user.name == "kim"


def test_the_lockout_follows_the_dashboard_table_of_host_toml(store, clock):
    cfg = parse({"store": {"path": "x.db"},
                 "dashboard": {"max_failures": 2, "failure_window_s": 60, "lockout_s": 30}})
    accounts = Accounts(store, cfg.dashboard, clock, hasher=FAST)
    accounts.add_user("park", PASSWORD, "admin")
    assert fail(accounts, 2, "park") == ["bad_credentials", "locked"]
    clock.now += 30
    assert accounts.login("park", PASSWORD).user.role == "admin"


def test_a_disabled_account_is_told_so_only_with_the_right_password(accounts, db):
    session = accounts.login("kim", PASSWORD)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE users SET disabled = 1 WHERE name = 'kim'")
    assert accounts.session(session.token) is None
    assert fail(accounts, 1) == ["bad_credentials"]
    with pytest.raises(LoginRefused) as refused:
        accounts.login("kim", PASSWORD)
    assert refused.value.reason == "disabled"
    assert accounts.users()[0].disabled


# Sessions


def test_a_session_ends_after_session_idle_s_without_a_request(accounts, clock, store):
    idle = accounts.settings.session_idle_s
    session = accounts.login("kim", PASSWORD)
    for _ in range(3):  # each request moves the idle deadline on
        clock.now += idle - 1
        seen = accounts.session(session.token)
        assert seen is not None and seen.seen_at == clock.now
        assert seen.created_at == T0
    clock.now += idle
    assert accounts.session(session.token) is None
    assert store.web_session(hashlib.sha256(session.token.encode()).hexdigest()) is None


def test_an_automatic_refresh_does_not_keep_a_session_alive(accounts, clock):
    idle = accounts.settings.session_idle_s
    session = accounts.login("kim", PASSWORD)
    clock.now += idle - 1
    assert accounts.session(session.token, touch=False) is not None
    clock.now += 1
    assert accounts.session(session.token, touch=False) is None


def test_a_session_ends_session_max_s_after_login_however_busy(accounts, clock):
    limit = accounts.settings.session_max_s
    session = accounts.login("kim", PASSWORD)
    while clock.now + 600 < T0 + limit:
        clock.now += 600
        assert accounts.session(session.token) is not None
    clock.now = T0 + limit
    assert accounts.session(session.token) is None


def test_expired_sessions_are_deleted_at_the_next_login(accounts, clock, db):
    accounts.login("kim", PASSWORD)
    clock.now += accounts.settings.session_idle_s
    accounts.login("kim", PASSWORD)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM web_sessions").fetchone() == (1,)


def test_logout_ends_the_session_and_forged_tokens_find_nothing(accounts, clock):
    session = accounts.login("kim", PASSWORD)
    other = accounts.login("kim", PASSWORD)
    for token in (None, "", "forged", session.token + "x"):
        assert accounts.session(token) is None
    accounts.logout(session.token)
    accounts.logout(session.token)  # twice, or an unknown token: nothing happens
    accounts.logout("forged")
    assert accounts.session(session.token) is None
    assert accounts.session(other.token) is not None
    assert actions(accounts, "kim") == ["login", "login", "logout"]


def test_the_language_is_kept_with_the_session(accounts):
    session = accounts.login("kim", PASSWORD)
    accounts.set_lang(session.token, "en")
    assert accounts.session(session.token).lang == "en"
    with pytest.raises(AccountError, match="language 'de' is not one of ko, en"):
        accounts.set_lang(session.token, "de")
    assert accounts.session(session.token).lang == "en"


def test_csrf_ok_accepts_only_this_sessions_token(accounts):
    session = accounts.login("kim", PASSWORD)
    other = accounts.login("kim", PASSWORD)
    assert csrf_ok(session, session.csrf)
    for submitted in (None, "", other.csrf, session.csrf[:-1], session.csrf + "a", "토큰"):
        assert not csrf_ok(session, submitted)


# The audit log and assignments


def test_the_audit_log_pages_back_newest_first_and_filters_by_actor(store, clock):
    audit = Audit(store, clock)
    for i in range(5):
        clock.now = T0 + i
        audit.record("kim" if i % 2 else "lee", "view_household", f"hh-{i}", page=i,
                     when=Path("x"))
    first = audit.entries(limit=2)
    assert [(e.target, e.at) for e in first] == [("hh-4", T0 + 4), ("hh-3", T0 + 3)]
    assert first[0] == AuditEntry(first[0].id, T0 + 4, "lee", "view_household", "hh-4",
                                  {"page": 4, "when": "x"})
    rest = audit.entries(limit=10, before_id=first[-1].id)
    assert [e.target for e in rest] == ["hh-2", "hh-1", "hh-0"]
    assert [e.target for e in audit.entries(actor="kim")] == ["hh-3", "hh-1"]
    assert audit.entries(actor="kim", before_id=first[-1].id)[0].target == "hh-1"
    assert audit.entries(actor="nobody") == []


def test_cases_are_assigned_to_users_and_each_assignment_is_audited(accounts, store):
    store.add_household("hh-1", "Kim Soon-ja")
    reason = d.Reason(d.INACTIVITY, T0 - 7200, 7200.0)
    store.record([d.CaseOpened("hh-1", T0, "c-1", d.WELFARE, reason),
                  d.CaseOpened("hh-1", T0, "c-2", d.WELFARE, reason)])
    accounts.add_user("lee", PASSWORD, "admin")
    store.assign_case("c-1", "kim", by="lee", at=T0 + 60)
    assert store.assignments() == {"c-1": "kim"}
    store.assign_case("c-1", "lee", by="lee", at=T0 + 120)  # taken over
    store.assign_case("c-2", "kim", by="kim", at=T0 + 180)
    assert store.assignments() == {"c-1": "lee", "c-2": "kim"}
    assert store.assignments(["c-2", "c-9"]) == {"c-2": "kim"}
    assert store.assignments([]) == {}
    with pytest.raises(StoreError, match="unknown case 'c-9'"):
        store.assign_case("c-9", "kim", by="lee", at=T0)
    with pytest.raises(StoreError, match="case 'c-1': unknown user 'park'"):
        store.assign_case("c-1", "park", by="lee", at=T0)
    assigned = [(e.at, e.actor, e.target, e.detail) for e in accounts.audit.entries()
                if e.action == "assign"]
    assert assigned == [(T0 + 180, "kim", "c-2", {"user": "kim"}),
                        (T0 + 120, "lee", "c-1", {"user": "lee"}),
                        (T0 + 60, "lee", "c-1", {"user": "kim"})]


# The migration


def test_migration_0005_upgrades_a_database_made_before_it(tmp_path, clock):
    old = tmp_path / "migrations-0004"
    old.mkdir()
    for entry in MIGRATIONS.iterdir():
        if entry.name.endswith(".sql") and int(entry.name[:4]) <= 4:
            shutil.copyfile(str(entry), old / entry.name)
    assert sorted(p.name for p in old.iterdir())[-1] == "0004_notifications.sql"
    path = tmp_path / "old.db"
    with SqliteStore(path, migrations=old) as store:
        store.add_household("hh-1", "Kim Soon-ja")
        assert store._conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'users'"
        ).fetchone() == (0,)
    with SqliteStore(path) as store:
        assert [h.id for h in store.households()] == ["hh-1"]
        versions = store._conn.execute("SELECT version FROM schema_migrations").fetchall()
        assert versions[-1] == (5,)
        accounts = Accounts(store, DashboardConfig(), clock, hasher=FAST)
        accounts.add_user("kim", PASSWORD, "admin")
        assert accounts.session(accounts.login("kim", PASSWORD).token) is not None
