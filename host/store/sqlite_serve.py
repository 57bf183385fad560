"""SqliteStore's tables for the live host: batches, the engine's journal and saved state, marks
and commands to bulbs (migration 0003)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from host.events import Event
from host.store import Command, EngineInput, StoredEvent, StoreError

_INSERT_EVENT = (
    "INSERT INTO events (household_id, time, kind, device_id, boot, seq, synced, received_at,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_COMMAND_COLUMNS = (
    "device_id, id, command, case_id, sent_at, deadline, acked_at, ok, err, failed_at"
)


class ServeMixin:
    """The live host's half of host.store.Store, for SqliteStore (uses its transactions)."""

    _depth = 0  # open transaction levels on this connection: 1 in batch(), more in savepoints
    _known: tuple[set[str], dict[str, str]] | None = None  # households, device -> household

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction, one commit (one fsync) for a whole batch of messages."""
        with self._transaction():
            yield

    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        """A call inside batch(): rolled back alone if it fails, committed with the batch."""
        name = f"call{self._depth}"
        self._conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self._conn
        except BaseException as e:
            try:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
            except sqlite3.Error:
                pass  # SQLite rolled the whole transaction back itself (I/O): batch() will say
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"database {self.path}: {e}") from e
            raise
        else:
            self._conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    # Events, telling the new from the duplicates

    def add_new_events(self, events: Sequence[StoredEvent | Event]) -> list[bool]:
        # The live host calls this for every batch: remember which households exist and where
        # each device lives (neither is ever deleted or moved), instead of asking every time.
        if self._known is None:
            self._known = (set(), {})
        households, device_homes = self._known
        with self._transaction() as conn:
            rows = [self._event_row(i, e, households, device_homes) for i, e in enumerate(events)]
            # Duplicates are rare (a redelivery after a crash): try all at once, and only if
            # some were not new, undo that and find out which, one by one.
            before = conn.total_changes
            conn.execute("SAVEPOINT new_events")
            conn.executemany(_INSERT_EVENT, rows)
            if conn.total_changes - before == len(rows):
                conn.execute("RELEASE new_events")
                return [True] * len(rows)
            conn.execute("ROLLBACK TO new_events")
            conn.execute("RELEASE new_events")
            return [conn.execute(_INSERT_EVENT, row).rowcount == 1 for row in rows]

    # The engine's journal and saved state

    def add_engine_inputs(self, inputs: Iterable[EngineInput]) -> int:
        rows = [_input_row(i, item) for i, item in enumerate(inputs)]
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO engine_inputs (now, household_id, time, kind, device_id, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self._one("SELECT COALESCE(MAX(id), 0) FROM engine_inputs", ())[0]

    def engine_inputs(self, after: int = 0) -> Iterator[EngineInput]:
        """Paged by id, so replaying a long journal keeps memory bounded."""
        sql = (
            "SELECT id, now, household_id, time, kind, device_id, detail FROM engine_inputs"
            " WHERE id > ? ORDER BY id LIMIT 1000"
        )
        while rows := self._conn.execute(sql, (after,)).fetchall():
            for id_, now, household, t, kind, device, detail in rows:
                detail = None if detail is None else _tuples(json.loads(detail))
                yield EngineInput(now, Event(household, t, kind, device, detail), id_)
            after = rows[-1][0]

    def save_engine_state(
        self, states: Mapping[str, bytes], fmt: str, through: int, at: float
    ) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO engine_state (household_id, format, state, saved_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (household_id) DO UPDATE SET"
                " format = excluded.format, state = excluded.state, saved_at = excluded.saved_at",
                [(h, fmt, sqlite3.Binary(blob), at) for h, blob in states.items()],
            )
            conn.execute("DELETE FROM engine_inputs WHERE id <= ?", (through,))
            self._set_mark(conn, "state_through", through)

    def engine_state(self) -> Iterator[tuple[str, str, bytes]]:
        rows = self._conn.execute(
            "SELECT household_id, format, state FROM engine_state ORDER BY household_id"
        )
        for household, fmt, blob in rows:
            yield household, fmt, bytes(blob)

    def mark(self, name: str) -> float | None:
        row = self._conn.execute("SELECT value FROM marks WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def set_mark(self, name: str, value: float) -> None:
        with self._transaction() as conn:
            self._set_mark(conn, name, value)

    @staticmethod
    def _set_mark(conn: sqlite3.Connection, name: str, value: float) -> None:
        if not isinstance(name, str) or not name:
            raise StoreError(f"mark name must be a non-empty string, got {name!r}")
        if not _is_number(value):
            raise StoreError(f"mark {name!r}: value must be a finite number, got {value!r}")
        conn.execute(
            "INSERT INTO marks (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # Commands to bulbs

    def add_commands(self, commands: Iterable[Command]) -> int:
        added = 0
        with self._transaction() as conn:
            for index, cmd in enumerate(commands):
                if not isinstance(cmd, Command):
                    raise StoreError(f"command {index}: expected Command, got {cmd!r}")
                if not _is_number(cmd.sent_at):
                    raise StoreError(f"command {index} ({cmd.id!r}): sent_at must be a time")
                if not self._one("SELECT 1 FROM devices WHERE id = ?", (cmd.device,)):
                    raise StoreError(f"command {index} ({cmd.id!r}): unknown device {cmd.device!r}")
                added += conn.execute(
                    f"INSERT INTO commands ({_COMMAND_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                    " ?, ?) ON CONFLICT DO NOTHING",
                    cmd,
                ).rowcount
        return added

    def command_acked(
        self, device: str, command_id: str, at: float, ok: bool, err: str | None = None
    ) -> Command | None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE commands SET acked_at = ?, ok = ?, err = ?"
                " WHERE device_id = ? AND id = ? AND acked_at IS NULL",
                (at, bool(ok), err, device, command_id),
            )
            return self._command(device, command_id)

    def command_failed(self, device: str, command_id: str, at: float) -> Command | None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE commands SET failed_at = ? WHERE device_id = ? AND id = ?"
                " AND failed_at IS NULL",
                (at, device, command_id),
            )
            return self._command(device, command_id)

    def commands(
        self, device: str | None = None, open_only: bool = False, case_id: str | None = None
    ) -> list[Command]:
        sql, params = f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE 1 = 1", []
        if device is not None:
            sql += " AND device_id = ?"
            params.append(device)
        if case_id is not None:
            sql += " AND case_id = ?"
            params.append(case_id)
        if open_only:
            sql += " AND acked_at IS NULL AND failed_at IS NULL"
        rows = self._conn.execute(sql + " ORDER BY sent_at, rowid", params)
        return [_command(row) for row in rows]

    def _command(self, device: str, command_id: str) -> Command | None:
        row = self._one(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE device_id = ? AND id = ?",
            (device, command_id),
        )
        return None if row is None else _command(row)


def _input_row(index: int, item: object) -> tuple:
    """Check one journal entry; the words of an error are put together only for an error."""
    if not isinstance(item, EngineInput) or not isinstance(item.event, Event):
        raise StoreError(f"engine input {index}: expected EngineInput, got {item!r}")
    now, event = item.now, item.event
    household, t, kind, device, detail = event
    if not (_is_number(now) and _is_number(t)):
        raise StoreError(f"{_where(index, event)}now and time must be finite UTC seconds")
    if not isinstance(household, str) or not isinstance(kind, str):
        raise StoreError(f"{_where(index, event)}household and kind must be strings")
    if detail is not None:
        try:
            detail = json.dumps(detail, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StoreError(f"{_where(index, event)}detail is not JSON-able: {e}") from e
    return (now, household, t, kind, device, detail)


def _where(index: int, event: Event) -> str:
    return f"engine input {index} ({event.household!r}, {event.kind!r}): "


def _command(row: tuple) -> Command:
    ok = row[7]
    return Command(*row[:7], None if ok is None else bool(ok), *row[8:])


def _is_number(value: object) -> bool:
    if type(value) is float:  # the usual case, quickly: inf - inf and nan - nan are nan
        return value - value == 0.0
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _tuples(value: object) -> object:
    """JSON gives lists back; Event details are tuples, so replayed inputs compare equal."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
