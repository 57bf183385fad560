"""The embedded store: one SQLite file per host, in WAL mode so readers never block the writer."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib.abc import Traversable
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from host import decisions as d
from host.events import ALL_KINDS, OUTCOMES, POWER_MODES, Event
from host.protocol import DEVICE_ID_PATTERN
from host.store import (
    DEFAULT_TZ,
    CaseHistoryEntry,
    CaseRecord,
    Device,
    Household,
    StoredEvent,
    StoreError,
)
from host.store.migrate import MIGRATIONS, MigrationError, migrate
from host.store.sqlite_credentials import CredentialsMixin
from host.store.sqlite_dashboard import DashboardMixin
from host.store.sqlite_notifications import NotificationsMixin
from host.store.sqlite_serve import ServeMixin

DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_BATCH = 5000  # events validated and inserted per executemany
_PAGE = 1000  # events read per query while iterating

_INSERT_EVENT = (
    "INSERT INTO events (household_id, time, kind, device_id, boot, seq, synced, received_at,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_EVENT_COLUMNS = "id, household_id, time, kind, device_id, boot, seq, synced, received_at, detail"
_CASE_COLUMNS = "id, household_id, kind, state, reason_code, reason, opened_at, closed_at, outcome"
_CHANGED_STATES = frozenset(
    {d.CASE_OPEN, d.CASE_KNOCK, d.CASE_ALARM, d.CASE_ACKNOWLEDGED, d.CASE_DISPATCHED}
)
# Fields every case action has; the rest of an action goes into the history entry's detail.
_COMMON_FIELDS = ("household", "time", "case_id", "actor", "note")


class SqliteStore(NotificationsMixin, ServeMixin, CredentialsMixin, DashboardMixin):
    """`host.store.Store` on SQLite. path ":memory:" gives a private, throw-away database."""

    def __init__(self, path: str | os.PathLike = ":memory:", migrations: Traversable = MIGRATIONS):
        self.path = os.fspath(path)
        try:
            # We BEGIN ourselves; other threads (the notifier's workers) may call too, and
            # _transaction's lock keeps their transactions apart.
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._lock = threading.RLock()
        except sqlite3.Error as e:
            raise StoreError(f"cannot open database {self.path}: {e}") from e
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            migrate(self._conn, migrations)
        except MigrationError as e:
            self._conn.close()
            raise MigrationError(f"database {self.path}: {e}") from e
        except sqlite3.Error as e:
            self._conn.close()
            raise StoreError(f"cannot open database {self.path}: {e}") from e

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One call, one transaction: all of it is stored or none of it."""
        with self._lock:  # one transaction at a time on the connection the threads share
            yield from self._locked_transaction()

    def _locked_transaction(self) -> Iterator[sqlite3.Connection]:
        if self._depth:  # a call inside batch(): a savepoint (host.store.sqlite_serve)
            yield from self._savepoint()
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"database {self.path}: {e}") from e
        self._depth = 1
        try:
            yield self._conn
        except BaseException as e:
            if self._conn.in_transaction:  # SQLite may have rolled back itself (I/O, disk full)
                self._conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"database {self.path}: {e}") from e
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    def _one(self, sql: str, params: tuple) -> tuple | None:
        return self._conn.execute(sql, params).fetchone()

    # Households and devices

    def add_household(
        self, household_id: str, name: str, tz: str = DEFAULT_TZ, created_at: float | None = None
    ) -> Household:
        if not isinstance(household_id, str) or not household_id:
            raise StoreError(f"household id must be a non-empty string, got {household_id!r}")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise StoreError(f"household {household_id!r}: unknown time zone {tz!r}") from e
        household = Household(household_id, name, tz, _now(created_at))
        with self._transaction() as conn:
            if self._one("SELECT 1 FROM households WHERE id = ?", (household_id,)):
                raise StoreError(f"household {household_id!r} already exists")
            conn.execute(
                "INSERT INTO households (id, name, tz, created_at) VALUES (?, ?, ?, ?)",
                household[:4],
            )
        return household

    def household(self, household_id: str) -> Household:
        row = self._one(
            "SELECT id, name, tz, created_at, status, status_at FROM households WHERE id = ?",
            (household_id,),
        )
        if row is None:
            raise StoreError(f"unknown household {household_id!r}")
        return Household(*row)

    def households(self) -> list[Household]:
        rows = self._conn.execute(
            "SELECT id, name, tz, created_at, status, status_at FROM households ORDER BY id"
        )
        return [Household(*row) for row in rows]

    def add_device(
        self, device_id: str, household_id: str, power_mode: str, created_at: float | None = None
    ) -> Device:
        if not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
            raise StoreError(f"device id {device_id!r} is not [a-z0-9][a-z0-9-]{{2,31}}")
        if power_mode not in POWER_MODES:
            raise StoreError(f"device {device_id!r}: unknown power mode {power_mode!r}")
        device = Device(device_id, household_id, power_mode, _now(created_at))
        with self._transaction() as conn:
            self._require_household(household_id, f"device {device_id!r}: ")
            if self._one("SELECT 1 FROM devices WHERE id = ?", (device_id,)):
                raise StoreError(f"device {device_id!r} already exists")
            conn.execute(
                "INSERT INTO devices (id, household_id, power_mode, created_at)"
                " VALUES (?, ?, ?, ?)",
                device,
            )
        return device

    def device(self, device_id: str) -> Device:
        row = self._one(
            "SELECT id, household_id, power_mode, created_at FROM devices WHERE id = ?",
            (device_id,),
        )
        if row is None:
            raise StoreError(f"unknown device {device_id!r}")
        return Device(*row)

    def devices(self, household: str | None = None) -> list[Device]:
        sql = "SELECT id, household_id, power_mode, created_at FROM devices"
        if household is None:
            rows = self._conn.execute(sql + " ORDER BY id")
        else:
            self._require_household(household)
            rows = self._conn.execute(sql + " WHERE household_id = ? ORDER BY id", (household,))
        return [Device(*row) for row in rows]

    def _require_household(self, household_id: object, where: str = "") -> None:
        if not self._one("SELECT 1 FROM households WHERE id = ?", (household_id,)):
            raise StoreError(f"{where}unknown household {household_id!r}")

    # Events

    def add_events(self, events: Iterable[StoredEvent | Event]) -> int:
        added = 0
        households: set[str] = set()  # known to exist, checked once per call
        device_homes: dict[str, str] = {}
        numbered = enumerate(events)
        with self._transaction() as conn:
            while batch := list(islice(numbered, _BATCH)):
                rows = [self._event_row(i, e, households, device_homes) for i, e in batch]
                added += conn.executemany(_INSERT_EVENT, rows).rowcount
        return added

    def _event_row(
        self, index: int, event: object, households: set[str], device_homes: dict[str, str]
    ) -> tuple:
        """Check one event before it goes in; the error names the event's place in the batch.

        On the live host's hot path: the checks are the same for every event, but the words of
        an error are only put together when there is one."""
        if type(event) is not StoredEvent:
            if isinstance(event, Event):
                event = StoredEvent.of(event)
            if not isinstance(event, StoredEvent):
                raise StoreError(f"event {index}: expected StoredEvent or Event, got {event!r}")
        household, t, kind, device, boot, seq, synced, received, detail = event
        if kind not in ALL_KINDS:
            raise StoreError(f"{_where(index, event)}unknown kind")
        if not _is_time(t) or not (received is None or _is_time(received)):
            raise StoreError(f"{_where(index, event)}time and received_at must be finite UTC"
                             " seconds")
        if household not in households:
            self._require_household(household, _where(index, event))
            households.add(household)
        if device is not None:
            home = device_homes.get(device)
            if home is None:
                row = self._one("SELECT household_id FROM devices WHERE id = ?", (device,))
                if row is None:
                    raise StoreError(f"{_where(index, event)}unknown device {device!r}")
                home = device_homes[device] = row[0]
            if home != household:
                raise StoreError(f"{_where(index, event)}device {device!r} belongs to household"
                                 f" {home!r}")
        for name, value in (("boot", boot), ("seq", seq)):
            if value is not None and (type(value) is not int or value < 0):
                raise StoreError(f"{_where(index, event)}{name} must be an integer >= 0, got"
                                 f" {value!r}")
        if seq is not None and (device is None or boot is None):
            raise StoreError(f"{_where(index, event)}a sequence number needs a device and a boot"
                             " number")
        if detail is not None:
            try:
                detail = json.dumps(detail, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise StoreError(f"{_where(index, event)}detail is not JSON-able: {e}") from e
        return (household, float(t), kind, device, boot, seq, bool(synced), received, detail)

    def events(
        self, household: str, start: float | None = None, end: float | None = None
    ) -> Iterator[StoredEvent]:
        self._require_household(household)
        return self._event_pages(household, start, end)

    def _event_pages(
        self, household: str, start: float | None, end: float | None
    ) -> Iterator[StoredEvent]:
        """Page by (time, id) so no query stays open between yields and memory stays bounded."""
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE household_id = ?"
        params: list = [household]
        if end is not None:
            sql += " AND time < ?"
            params.append(end)
        after = (-math.inf if start is None else start, -1)
        sql += " AND (time, id) > (?, ?) ORDER BY time, id LIMIT ?"
        while rows := self._conn.execute(sql, (*params, *after, _PAGE)).fetchall():
            for row in rows:
                yield _stored_event(row)
            after = (rows[-1][2], rows[-1][0])

    def last_event_time(self, household: str) -> float | None:
        self._require_household(household)
        return self._one("SELECT MAX(time) FROM events WHERE household_id = ?", (household,))[0]

    # Cases

    def record(self, actions: Iterable[object]) -> int:
        stored = 0
        with self._transaction():
            for index, action in enumerate(actions):
                stored += self._record_one(index, action)
        return stored

    def _record_one(self, index: int, action: object) -> int:
        kind = type(action).__name__
        where = f"action {index} ({kind}): "
        if isinstance(action, d.Rejected):
            return 0  # the shell counts rejections; nothing in the database changed
        if isinstance(action, d.StatusChanged):
            if action.status not in d.STATUSES:
                raise StoreError(f"{where}unknown status {action.status!r}")
            self._require_household(action.household, where)
            self._conn.execute(
                "UPDATE households SET status = ?, status_at = ? WHERE id = ?",
                (action.status, action.time, action.household),
            )
            return 1
        if isinstance(action, d.CaseOpened):
            self._open_case(where, action)
        elif isinstance(action, d.Knock | d.Alarm | d.Notify | d.CaseChanged | d.CaseResolved):
            self._advance_case(where, action)
        else:
            raise StoreError(f"{where}not an action this store keeps")
        return 1

    def _open_case(self, where: str, action: d.CaseOpened) -> None:
        if action.kind not in (d.WELFARE, d.DEVICE):
            raise StoreError(f"{where}unknown case kind {action.kind!r}")
        self._require_household(action.household, where)
        if self._one("SELECT 1 FROM cases WHERE id = ?", (action.case_id,)):
            raise StoreError(f"{where}case {action.case_id!r} already exists")
        reason = action.reason._asdict()
        self._conn.execute(
            f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                action.case_id,
                action.household,
                action.kind,
                d.CASE_OPEN,
                reason["code"],
                json.dumps(reason),
                action.time,
            ),
        )
        self._add_history(action, d.CASE_OPEN)

    def _advance_case(self, where: str, action) -> None:
        row = self._one("SELECT household_id, state FROM cases WHERE id = ?", (action.case_id,))
        if row is None:
            raise StoreError(f"{where}unknown case {action.case_id!r}")
        household, state = row
        if household != action.household:
            raise StoreError(
                f"{where}case {action.case_id!r} belongs to household {household!r}, "
                f"not {action.household!r}"
            )
        if state == d.CASE_RESOLVED:
            raise StoreError(f"{where}case {action.case_id!r} is already resolved")
        if isinstance(action, d.Knock):
            state = d.CASE_KNOCK
        elif isinstance(action, d.Alarm):
            state = d.CASE_ALARM
        elif isinstance(action, d.CaseChanged):
            if action.state not in _CHANGED_STATES:
                raise StoreError(f"{where}cannot change a case to state {action.state!r}")
            state = action.state
        elif isinstance(action, d.CaseResolved):
            if action.outcome not in OUTCOMES:
                raise StoreError(f"{where}unknown outcome {action.outcome!r}")
            state = d.CASE_RESOLVED
            self._conn.execute(
                "UPDATE cases SET closed_at = ?, outcome = ? WHERE id = ?",
                (action.time, action.outcome, action.case_id),
            )
        self._conn.execute("UPDATE cases SET state = ? WHERE id = ?", (state, action.case_id))
        self._add_history(action, state)

    def _add_history(self, action, state: str) -> None:
        fields = action._asdict()
        detail = {"action": _snake(type(action).__name__)}
        for name, value in fields.items():
            if name not in _COMMON_FIELDS:
                detail[name] = value._asdict() if isinstance(value, d.Reason) else value
        self._conn.execute(
            "INSERT INTO case_history (case_id, time, state, actor, note, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                action.case_id,
                action.time,
                state,
                fields.get("actor"),
                fields.get("note", ""),
                json.dumps(detail),
            ),
        )

    def cases(self, household: str | None = None, open_only: bool = False) -> list[CaseRecord]:
        sql, params = f"SELECT {_CASE_COLUMNS} FROM cases WHERE 1 = 1", []
        if household is not None:
            self._require_household(household)
            sql += " AND household_id = ?"
            params.append(household)
        if open_only:
            sql += " AND closed_at IS NULL"
        rows = self._conn.execute(sql + " ORDER BY opened_at, id", params)
        return [_case(row) for row in rows]

    def case(self, case_id: str) -> CaseRecord:
        row = self._one(f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,))
        if row is None:
            raise StoreError(f"unknown case {case_id!r}")
        return _case(row)

    def case_history(self, case_id: str) -> list[CaseHistoryEntry]:
        self.case(case_id)
        rows = self._conn.execute(
            "SELECT case_id, time, state, actor, note, detail FROM case_history"
            " WHERE case_id = ? ORDER BY time, id",
            (case_id,),
        )
        return [CaseHistoryEntry(*row[:5], json.loads(row[5])) for row in rows]


def _now(created_at: float | None) -> float:
    return time.time() if created_at is None else float(created_at)


def _is_time(value: object) -> bool:
    if type(value) is float:  # the usual case, quickly: inf - inf and nan - nan are nan
        return value - value == 0.0
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _where(index: int, event: StoredEvent) -> str:
    return f"event {index} ({event.household!r}, {event.time!r}, {event.kind!r}): "


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tuples(value: object) -> object:
    """JSON gives lists back; Event details are tuples, so replayed events compare equal."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _stored_event(row: tuple) -> StoredEvent:
    detail = row[9]
    detail = None if detail is None else _tuples(json.loads(detail))
    return StoredEvent(*row[1:7], bool(row[7]), row[8], detail)


def _case(row: tuple) -> CaseRecord:
    return CaseRecord(*row[:5], json.loads(row[5]), *row[6:])
