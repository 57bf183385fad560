"""SqliteStore's tables for the dashboard (migration 0005): accounts, login sessions, the audit
log and case assignments. The rules (password strength, lockout policy, session timeouts) live
in host.dashboard.accounts; this keeps rows and makes each change one transaction."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from itertools import islice

from host.store import LANGS, ROLES, AuditEntry, StoreError, UserRecord, WebSession

_USER_COLUMNS = (
    "name, role, display, password_hash, created_at, failures, failed_since, locked_until, "
    "disabled"
)
_SESSION_COLUMNS = "token_hash, user_name, csrf, created_at, seen_at, lang"
_AUDIT_COLUMNS = "id, at, actor, action, target, detail"
_IN_CHUNK = 500  # case ids per IN (...) query, well under SQLite's parameter limit


class DashboardMixin:
    """The dashboard's half of host.store.Store, for SqliteStore (uses its transactions)."""

    # Accounts

    def add_user(self, user: UserRecord) -> None:
        if not isinstance(user, UserRecord):
            raise StoreError(f"expected UserRecord, got {user!r}")
        if user.role not in ROLES:
            raise StoreError(f"user {user.name!r}: unknown role {user.role!r}; known: {ROLES}")
        if not isinstance(user.password_hash, str) or not user.password_hash.startswith("$"):
            raise StoreError(f"user {user.name!r}: the password must be stored as a hash")
        _require_time(user.created_at, f"user {user.name!r}: created_at")
        with self._transaction() as conn:
            if self._one("SELECT 1 FROM users WHERE name = ?", (user.name,)):
                raise StoreError(f"user {user.name!r} already exists")
            conn.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*user[:8], int(bool(user.disabled))),
            )

    def user(self, name: str) -> UserRecord | None:
        row = self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))
        return None if row is None else _user(row)

    def users(self) -> list[UserRecord]:
        rows = self._conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
        return [_user(row) for row in rows]

    def set_password_hash(self, name: str, password_hash: str) -> None:
        if not isinstance(password_hash, str) or not password_hash.startswith("$"):
            raise StoreError(f"user {name!r}: the password must be stored as a hash")
        with self._transaction() as conn:
            changed = conn.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name)
            ).rowcount
            if not changed:
                raise StoreError(f"unknown user {name!r}")

    def login_failed(
        self, name: str, at: float, window_s: float, max_failures: int, lockout_s: float
    ) -> UserRecord:
        _require_time(at, f"user {name!r}: failure time")
        with self._transaction() as conn:
            row = self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))
            if row is None:
                raise StoreError(f"unknown user {name!r}")
            user = _user(row)
            if user.locked_until is not None and user.locked_until > at:
                return user  # already locked: a guess now changes nothing
            lock_over = user.locked_until is not None
            if lock_over or user.failed_since is None or at - user.failed_since >= window_s:
                failures, since = 1, at
            else:
                failures, since = user.failures + 1, user.failed_since
            locked = at + lockout_s if failures >= max_failures else None
            conn.execute(
                "UPDATE users SET failures = ?, failed_since = ?, locked_until = ?"
                " WHERE name = ?",
                (failures, since, locked, name),
            )
        return user._replace(failures=failures, failed_since=since, locked_until=locked)

    def reset_failures(self, name: str) -> None:
        with self._transaction() as conn:
            changed = conn.execute(
                "UPDATE users SET failures = 0, failed_since = NULL, locked_until = NULL"
                " WHERE name = ?",
                (name,),
            ).rowcount
            if not changed:
                raise StoreError(f"unknown user {name!r}")

    # Login sessions

    def add_web_session(self, session: WebSession) -> None:
        if not isinstance(session, WebSession):
            raise StoreError(f"expected WebSession, got {session!r}")
        if session.lang not in LANGS:
            raise StoreError(f"session language {session.lang!r} is not one of {LANGS}")
        with self._transaction() as conn:
            if not self._one("SELECT 1 FROM users WHERE name = ?", (session.user,)):
                raise StoreError(f"session for unknown user {session.user!r}")
            conn.execute(
                f"INSERT INTO web_sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                session,
            )

    def web_session(self, token_hash: str) -> WebSession | None:
        row = self._one(
            f"SELECT {_SESSION_COLUMNS} FROM web_sessions WHERE token_hash = ?", (token_hash,)
        )
        return None if row is None else WebSession(*row)

    def update_web_session(
        self, token_hash: str, seen_at: float | None = None, lang: str | None = None
    ) -> None:
        if lang is not None and lang not in LANGS:
            raise StoreError(f"session language {lang!r} is not one of {LANGS}")
        if seen_at is not None:
            _require_time(seen_at, "session seen_at")
        with self._transaction() as conn:
            conn.execute(
                "UPDATE web_sessions SET seen_at = COALESCE(?, seen_at),"
                " lang = COALESCE(?, lang) WHERE token_hash = ?",
                (seen_at, lang, token_hash),
            )

    def end_web_sessions(
        self,
        token_hash: str | None = None,
        user: str | None = None,
        seen_by: float | None = None,
        created_by: float | None = None,
    ) -> int:
        conditions = [
            (column, value)
            for column, value in (
                ("token_hash = ?", token_hash),
                ("user_name = ?", user),
                ("seen_at <= ?", seen_by),
                ("created_at <= ?", created_by),
            )
            if value is not None
        ]
        if not conditions:
            return 0
        where = " OR ".join(column for column, _ in conditions)
        with self._transaction() as conn:
            return conn.execute(
                f"DELETE FROM web_sessions WHERE {where}", [value for _, value in conditions]
            ).rowcount

    # The audit log

    def add_audit(self, entry: AuditEntry) -> int:
        with self._transaction() as conn:
            return self._add_audit(conn, entry)

    def _add_audit(self, conn, entry: AuditEntry) -> int:
        if not isinstance(entry, AuditEntry):
            raise StoreError(f"expected AuditEntry, got {entry!r}")
        _require_time(entry.at, f"audit entry {entry.action!r}: at")
        for field in ("actor", "action", "target"):
            if not isinstance(getattr(entry, field), str):
                raise StoreError(f"audit entry {entry.action!r}: {field} must be a string")
        if not entry.action:
            raise StoreError("audit entry: action must not be empty")
        try:
            detail = json.dumps(entry.detail, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StoreError(f"audit entry {entry.action!r}: detail is not JSON-able: {e}") from e
        return conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (entry.at, entry.actor, entry.action, entry.target, detail),
        ).lastrowid

    def audit_entries(
        self,
        limit: int = 200,
        before_id: int | None = None,
        actor: str | None = None,
        target: str | None = None,
    ) -> list[AuditEntry]:
        if type(limit) is not int or limit < 1:
            raise StoreError(f"audit entries: limit must be an integer >= 1, got {limit!r}")
        sql, params = f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1", []
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        if actor is not None:
            sql += " AND actor = ?"
            params.append(actor)
        if target:  # a part of the target, any case (ASCII)
            sql += " AND instr(lower(target), lower(?)) > 0"
            params.append(target)
        rows = self._conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [AuditEntry(*row[:5], json.loads(row[5])) for row in rows]

    # Case assignments

    def assign_case(self, case_id: str, user: str, by: str, at: float) -> None:
        _require_time(at, f"case {case_id!r}: assigned at")
        with self._transaction() as conn:
            if not self._one("SELECT 1 FROM cases WHERE id = ?", (case_id,)):
                raise StoreError(f"unknown case {case_id!r}")
            if not self._one("SELECT 1 FROM users WHERE name = ?", (user,)):
                raise StoreError(f"case {case_id!r}: unknown user {user!r}")
            conn.execute(
                "INSERT INTO case_assignments (case_id, user_name, assigned_by, assigned_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (case_id) DO UPDATE SET"
                " user_name = excluded.user_name, assigned_by = excluded.assigned_by,"
                " assigned_at = excluded.assigned_at",
                (case_id, user, by, at),
            )
            self._add_audit(conn, AuditEntry(None, at, by, "assign", case_id, {"user": user}))

    def assignments(self, case_ids: Iterable[str] | None = None) -> dict[str, str]:
        sql = "SELECT case_id, user_name FROM case_assignments"
        if case_ids is None:
            return dict(self._conn.execute(sql).fetchall())
        out: dict[str, str] = {}
        ids = iter(case_ids)
        while chunk := list(islice(ids, _IN_CHUNK)):
            marks = ", ".join("?" * len(chunk))
            out.update(self._conn.execute(f"{sql} WHERE case_id IN ({marks})", chunk).fetchall())
        return out


def _require_time(value: object, what: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise StoreError(f"{what} must be finite UTC seconds, got {value!r}")


def _user(row: tuple) -> UserRecord:
    return UserRecord(*row[:8], bool(row[8]))
