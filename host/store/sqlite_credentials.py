"""SqliteStore's device credentials: the hash of each bulb's broker password, never the password."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from host.events import POWER_MODES
from host.protocol import DEVICE_ID_PATTERN
from host.store import DeviceCredential, StoreError

DEVICE_ID = re.compile(DEVICE_ID_PATTERN)

# Mosquitto's PBKDF2-SHA512 line part: $7$iterations$salt$hash, base64. Nothing else goes in:
# a plain password must never be stored by mistake, and a ':' or a newline would let one entry
# forge another in the broker's password file.
PASSWORD_HASH = re.compile(r"\A\$7\$[1-9][0-9]{0,8}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}\Z")
_COLUMNS = "device_id, password_hash, created_at"


class CredentialsMixin:
    """The device-credential half of host.store.Store, for SqliteStore (uses its transactions)."""

    def provision_device(
        self,
        device_id: str,
        household_id: str,
        power_mode: str,
        password_hash: str,
        created_at: float | None = None,
        replace: bool = False,
    ) -> DeviceCredential:
        if not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
            raise StoreError(f"device id {device_id!r} is not [a-z0-9][a-z0-9-]{{2,31}}")
        if power_mode not in POWER_MODES:
            raise StoreError(f"device {device_id!r}: unknown power mode {power_mode!r}")
        if not isinstance(password_hash, str) or not PASSWORD_HASH.match(password_hash):
            raise StoreError(
                f"device {device_id!r}: the password hash is not Mosquitto's $7$ format"
            )
        at = time.time() if created_at is None else float(created_at)
        with self._transaction() as conn:
            row = self._one(
                "SELECT household_id, power_mode FROM devices WHERE id = ?", (device_id,)
            )
            if row is None:
                self._require_household(household_id, f"device {device_id!r}: ")
                conn.execute(
                    "INSERT INTO devices (id, household_id, power_mode, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (device_id, household_id, power_mode, at),
                )
            elif row[0] != household_id:
                raise StoreError(
                    f"device {device_id!r} belongs to household {row[0]!r}, not {household_id!r}"
                )
            elif row[1] != power_mode:
                raise StoreError(
                    f"device {device_id!r} is registered as {row[1]!r}, not {power_mode!r}"
                )
            old = self._one(
                "SELECT created_at FROM device_credentials WHERE device_id = ?", (device_id,)
            )
            if old is not None and not replace:
                since = datetime.fromtimestamp(old[0], UTC).strftime("%Y-%m-%d %H:%M UTC")
                raise StoreError(f"device {device_id!r} is already provisioned (since {since})")
            conn.execute(
                f"INSERT INTO device_credentials ({_COLUMNS}) VALUES (?, ?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET password_hash = excluded.password_hash,"
                " created_at = excluded.created_at",
                (device_id, password_hash, at),
            )
        return DeviceCredential(device_id, password_hash, at)

    def device_credential(self, device_id: str) -> DeviceCredential:
        row = self._one(
            f"SELECT {_COLUMNS} FROM device_credentials WHERE device_id = ?", (device_id,)
        )
        if row is None:
            raise StoreError(f"device {device_id!r} has no credentials (not provisioned)")
        return DeviceCredential(*row)

    def device_credentials(self) -> list[DeviceCredential]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM device_credentials ORDER BY device_id"
        ).fetchall()
        return [DeviceCredential(*row) for row in rows]

    def revoke_device_credential(self, device_id: str) -> None:
        with self._transaction() as conn:
            gone = conn.execute(
                "DELETE FROM device_credentials WHERE device_id = ?", (device_id,)
            ).rowcount
            if not gone:
                raise StoreError(f"device {device_id!r} has no credentials (not provisioned)")
