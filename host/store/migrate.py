"""Schema migrations: numbered SQL files, applied once and in order, never edited afterwards.

A database records each applied file in `schema_migrations` (version, name, checksum,
applied_at). Opening a store runs `migrate(conn)`: it checks that every applied file is still
the same (a changed file is an error, because the database was built by the old text), then
applies the pending ones in one transaction, so a failed upgrade leaves the database as it was.

The files in migrations/ are SQLite's. The runner itself needs only a DB-API connection: a
PostgreSQL store will keep its own files in migrations/postgres/ (same numbering, its own
types, e.g. BIGINT identity columns and JSONB) and call `migrate(conn, directory)`; for a
non-SQLite connection each file runs as one statement with `%s` placeholders, inside the
driver's own transaction (take pg_advisory_xact_lock first if several hosts may upgrade).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from importlib.abc import Traversable
from importlib.resources import files
from typing import NamedTuple

from host.store import StoreError

MIGRATIONS: Traversable = files("host.store") / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)"""


class MigrationError(StoreError):
    """The schema cannot be brought up to date safely; the message names the file."""


class Migration(NamedTuple):
    version: int
    name: str  # the file name, e.g. "0001_initial.sql"
    sql: str
    checksum: str  # sha256 of the file's bytes, hex


def migrations(directory: Traversable = MIGRATIONS) -> list[Migration]:
    """The migration files in `directory`, in version order."""
    found: dict[int, Migration] = {}
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if not match:
            raise MigrationError(f"migration file {entry} is not named NNNN_lower_case.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"migration files {found[version].name} and {entry.name} share version {version}"
            )
        data = entry.read_bytes()
        found[version] = Migration(
            version, entry.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest()
        )
    return [found[v] for v in sorted(found)]


def migrate(conn, directory: Traversable = MIGRATIONS) -> list[str]:
    """Bring the schema up to date; returns the names of the files applied now."""
    is_sqlite = isinstance(conn, sqlite3.Connection)
    mark = "?" if is_sqlite else "%s"
    wanted = migrations(directory)
    if is_sqlite:
        if conn.in_transaction:
            raise MigrationError("migrate needs a connection with no open transaction")
        # IMMEDIATE takes the write lock now, so two processes opening one file do not race.
        conn.execute("BEGIN IMMEDIATE")
    cur = conn.cursor()
    try:
        cur.execute(_CREATE_TABLE)
        cur.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        applied = {version: (name, checksum) for version, name, checksum in cur.fetchall()}
        pending = _check(wanted, applied)
        for migration in pending:
            try:
                for statement in _statements(migration.sql, is_sqlite):
                    cur.execute(statement)
            except Exception as e:
                raise MigrationError(f"migration {migration.name} failed: {e}") from e
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                f"VALUES ({mark}, {mark}, {mark}, {mark})",
                (migration.version, migration.name, migration.checksum, time.time()),
            )
    except BaseException:
        if not is_sqlite:
            conn.rollback()
        elif conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if is_sqlite:
        conn.execute("COMMIT")
    else:
        conn.commit()
    return [m.name for m in pending]


def _check(wanted: list[Migration], applied: dict[int, tuple[str, str]]) -> list[Migration]:
    """The migrations still to apply, after making sure the applied ones are unchanged."""
    by_version = {m.version: m for m in wanted}
    for version, (name, checksum) in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {name} applied, which this code does not have "
                "(was it opened by a newer anbu?)"
            )
        if migration.name != name:
            raise MigrationError(
                f"migration {version:04d} was applied as {name} but the file is now "
                f"{migration.name}"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {name} was changed after it was applied; add a new migration "
                "instead of editing an applied one"
            )
    newest = max(applied, default=0)
    pending = [m for m in wanted if m.version not in applied]
    for migration in pending:
        if migration.version < newest:
            raise MigrationError(
                f"migration {migration.name} is older than the newest applied one "
                f"({applied[newest][0]}); number new migrations after it"
            )
    return pending


def _statements(sql: str, is_sqlite: bool) -> list[str]:
    """SQLite's driver runs one statement per call; split where SQLite says one is complete."""
    if not is_sqlite:
        return [sql]
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if any(line.strip() and not line.lstrip().startswith("--") for line in buffer.splitlines()):
        raise MigrationError(f"unterminated statement at the end of a migration: {buffer[:80]!r}")
    return statements
