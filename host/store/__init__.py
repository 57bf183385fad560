"""Where households, devices, events and cases are kept: one interface, several databases.

SQLite (host.store.sqlite) is the embedded default; a PostgreSQL store can implement the same
`Store` protocol later and run the same contract tests (tests/test_store.py). All times are UTC
seconds since the epoch (float): the store never keeps local time, the UI converts with `tz`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

from host.decisions import FINE
from host.events import Event

DEFAULT_TZ = "Asia/Seoul"


class StoreError(Exception):
    """Anything the store refuses or cannot do; the message names what and which id."""


class Household(NamedTuple):
    id: str
    name: str
    tz: str = DEFAULT_TZ
    created_at: float = 0.0
    status: str = FINE  # the latest decisions.StatusChanged status
    status_at: float | None = None


class Device(NamedTuple):
    id: str
    household_id: str
    power_mode: str  # events.SWITCHED or events.MAINS
    created_at: float


class StoredEvent(NamedTuple):
    """An engine Event plus where it came from.

    (device, boot, seq) identifies an event sent by a bulb, so a QoS 1 duplicate is stored
    once; events without that identity (CSV logs, people's actions, heartbeats) are told apart
    by (household, device, time, kind). `synced` is False when the device clock was not set
    and `time` is the host's receive time instead.
    """

    household: str
    time: float
    kind: str
    device: str | None = None
    boot: int | None = None
    seq: int | None = None
    synced: bool = True
    received_at: float | None = None
    detail: object = None  # Event.detail; JSON-able (str, number, bool, None, tuples of them)

    @classmethod
    def of(
        cls,
        event: Event,
        boot: int | None = None,
        seq: int | None = None,
        synced: bool = True,
        received_at: float | None = None,
    ) -> StoredEvent:
        return cls(*event[:4], boot, seq, synced, received_at, event.detail)

    @property
    def event(self) -> Event:
        """The engine's input, for replaying stored history."""
        return Event(self.household, self.time, self.kind, self.device, self.detail)


class CaseRecord(NamedTuple):
    id: str
    household: str
    kind: str  # decisions.WELFARE or decisions.DEVICE
    state: str  # decisions.CASE_* ; "resolved" once closed
    reason_code: str
    reason: dict  # decisions.Reason as a dict
    opened_at: float
    closed_at: float | None = None
    outcome: str | None = None


class CaseHistoryEntry(NamedTuple):
    """One step of a case. actor None means the engine did it.

    detail holds the action's own fields, e.g. {"action": "knock", "until": ..., "urgent": ...,
    "reason": {...}}; "action" is the decisions class name in snake case.
    """

    case_id: str
    time: float
    state: str  # the case's state after this step
    actor: str | None
    note: str
    detail: dict


class Store(Protocol):
    """What the host, the simulator and the backtest need from a database."""

    def add_household(
        self, household_id: str, name: str, tz: str = DEFAULT_TZ, created_at: float | None = None
    ) -> Household: ...

    def household(self, household_id: str) -> Household: ...

    def households(self) -> list[Household]: ...

    def add_device(
        self, device_id: str, household_id: str, power_mode: str, created_at: float | None = None
    ) -> Device: ...

    def device(self, device_id: str) -> Device: ...

    def devices(self, household: str | None = None) -> list[Device]: ...

    def add_events(self, events: Iterable[StoredEvent | Event]) -> int:
        """Store new events, all or none; returns how many were new (duplicates are skipped)."""
        ...

    def events(
        self, household: str, start: float | None = None, end: float | None = None
    ) -> Iterator[StoredEvent]:
        """Events with start <= time < end, oldest first (ties in arrival order)."""
        ...

    def last_event_time(self, household: str) -> float | None: ...

    def record(self, actions: Iterable[object]) -> int:
        """Store the engine's actions (host.decisions), all or none; returns how many."""
        ...

    def cases(self, household: str | None = None, open_only: bool = False) -> list[CaseRecord]: ...

    def case(self, case_id: str) -> CaseRecord: ...

    def case_history(self, case_id: str) -> list[CaseHistoryEntry]: ...

    def close(self) -> None: ...
