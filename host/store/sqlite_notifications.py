"""SqliteStore's notifications table: the notifier's outbox and its dead letters."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable

from host.store import NOTIFICATION_STATES, Notification, StoreError

_COLUMNS = (
    "key, channel, household_id, case_id, kind, created_at, payload, state, attempts, "
    "last_error, updated_at"
)


class NotificationsMixin:
    """The notification half of host.store.Store, for SqliteStore (uses its transactions)."""

    def add_notifications(self, items: Iterable[Notification]) -> int:
        added = 0
        with self._transaction() as conn:
            for index, item in enumerate(items):
                row = self._notification_row(index, item)
                added += conn.execute(
                    f"INSERT INTO notifications ({_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    row,
                ).rowcount
        return added

    def _notification_row(self, index: int, item: object) -> tuple:
        if not isinstance(item, Notification):
            raise StoreError(f"notification {index}: expected Notification, got {item!r}")
        where = f"notification {index} ({item.key!r}): "
        if not isinstance(item.key, str) or not item.key:
            raise StoreError(f"{where}key must be a non-empty string")
        created = item.created_at
        if not isinstance(created, int | float) or isinstance(created, bool) or \
                not math.isfinite(created):
            raise StoreError(f"{where}created_at must be finite UTC seconds, got {created!r}")
        if item.state not in NOTIFICATION_STATES:
            raise StoreError(f"{where}unknown state {item.state!r}")
        if type(item.attempts) is not int or item.attempts < 0:
            raise StoreError(f"{where}attempts must be an integer >= 0, got {item.attempts!r}")
        self._require_household(item.household, where)
        try:
            payload = json.dumps(item.payload, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StoreError(f"{where}payload is not JSON-able: {e}") from e
        return (*item[:6], payload, *item[7:])

    def update_notification(
        self, key: str, state: str, attempts: int, error: str = "", at: float | None = None
    ) -> Notification:
        if state not in NOTIFICATION_STATES:
            raise StoreError(f"notification {key!r}: unknown state {state!r}")
        if type(attempts) is not int or attempts < 0:
            raise StoreError(f"notification {key!r}: attempts must be an integer >= 0")
        at = time.time() if at is None else float(at)
        with self._transaction() as conn:
            changed = conn.execute(
                "UPDATE notifications SET state = ?, attempts = ?, last_error = ?,"
                " updated_at = ? WHERE key = ?",
                (state, attempts, error, at, key),
            ).rowcount
            if not changed:
                raise StoreError(f"unknown notification {key!r}")
            row = self._one(f"SELECT {_COLUMNS} FROM notifications WHERE key = ?", (key,))
        return _notification(row)

    def notifications(
        self, state: str | None = None, case_id: str | None = None, channel: str | None = None
    ) -> list[Notification]:
        if state is not None and state not in NOTIFICATION_STATES:
            raise StoreError(f"unknown notification state {state!r}")
        sql, params = f"SELECT {_COLUMNS} FROM notifications WHERE 1 = 1", []
        for column, value in (("state", state), ("case_id", case_id), ("channel", channel)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        rows = self._conn.execute(sql + " ORDER BY created_at, rowid", params).fetchall()
        return [_notification(row) for row in rows]


def _notification(row: tuple) -> Notification:
    return Notification(*row[:6], json.loads(row[6]), *row[7:])
