"""The dashboard's window onto the live host (host.dashboard.board.Desk).

The engine belongs to the service's thread. The web thread reads a published board (a tuple
of rows the service rebuilds about once a second for households whose state moved), and
anything more (a household's routine, a caseworker's action) goes to the service as a request
that its loop carries out between batches: actions are stored and journaled in the same
transaction as the events around them, so a crash loses none of them.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec

from host import events as ev
from host.dashboard import reading
from host.dashboard.board import HouseholdDetail, HouseholdRow, Telemetry
from host.dashboard.local_desk import detail_of
from host.engine import Engine
from host.events import Event
from host.store import Device, Household, Store, StoreError

BOARD_EVERY_S = 1.0


class Request(NamedTuple):
    """A read (fn: run on the service thread) or a people input (event) for the engine."""

    future: Future
    fn: Callable[[], Any] | None = None
    event: Event | None = None


class Board:
    """The households' rows, kept by the service's thread and published whole."""

    def __init__(self) -> None:
        self.homes: dict[str, Household] = {}
        self.devices: dict[str, list[Device]] = {}
        self.status_at: dict[str, float] = {}
        self.dirty: set[str] = set()
        self._rows: dict[str, HouseholdRow] = {}
        self.published: tuple[HouseholdRow, ...] = ()
        self.refreshed_at = 0.0  # monotonic

    def load(self, store: Store) -> None:
        self.homes, self.devices = reading.table_of(store.households(), store.devices())
        for home in self.homes.values():
            if home.status_at is not None:
                self.status_at[home.id] = home.status_at
        self.dirty.update(self.homes)

    def refresh(self, engine: Engine, store: Store) -> None:
        """Rebuild the rows of households that moved, and publish (service thread only)."""
        self.refreshed_at = time.monotonic()
        if not self.dirty:
            return
        for household in self.dirty:
            home = self.homes.get(household)
            if home is None:  # provisioned while the host runs, or known only to the engine
                try:
                    home = self.homes[household] = store.household(household)
                    self.devices[household] = store.devices(household)
                except StoreError:
                    continue
            self._rows[household] = reading.row_of(
                home, self.devices.get(household, []), engine.state(household),
                self.status_at.get(household))
        self.dirty.clear()
        self.published = tuple(self._rows.values())

    def row_now(self, household: str, engine: Engine, store: Store) -> HouseholdRow:
        """This household's row as of now (published with it); KeyError if unknown."""
        self.dirty.add(household)
        self.refresh(engine, store)
        return self._rows[household]


class ServiceDesk:
    """Desk for the web thread of `anbu serve`; `store` is the web thread's own connection."""

    def __init__(self, service: Any, store: Store) -> None:
        self.service = service  # host.serve.service.Service (not imported: it imports this)
        self.store = store

    def rows(self) -> Sequence[HouseholdRow]:
        return self.service.board.published

    def detail(self, household: str) -> HouseholdDetail:
        service = self.service
        row, part, telemetry, tz, morning = service.ask(
            lambda: _inside(service, household)).result(10.0)
        return detail_of(row, part, self.store, ZoneInfo(tz), time.time(), morning, telemetry)

    def act(self, event: Event, timeout: float = 10.0) -> str | None:
        if event.kind not in ev.PEOPLE_KINDS:
            raise ValueError(f"not a people input: {event.kind!r}")
        return self.service.submit(event).result(timeout)


def _inside(service: Any, household: str) -> tuple:
    """The engine's part of a household page, read on the service's thread."""
    board: Board = service.board
    row = board.row_now(household, service.engine, service.store)
    home = board.homes[household]
    part = reading.engine_part(service.engine, household)
    telemetry = []
    for dev in board.devices.get(household, []):
        heard = service.reader.telemetry.get(dev.id)
        if heard is not None:
            at, msg = heard
            fields = {k: v for k, v in msgspec.structs.asdict(msg).items()
                      if v is not None and k not in ("v", "d", "t")}  # t: the received time shows
            telemetry.append(Telemetry(dev.id, at, fields))
    return row, part, tuple(telemetry), home.tz, service.engine.config.morning_start_h


def run_requests(requests: queue.SimpleQueue, people: list[Request]) -> None:
    """Answer the reads waiting now; collect the people inputs for the next transaction."""
    while True:
        try:
            req = requests.get_nowait()
        except queue.Empty:
            return
        if req.event is not None:
            people.append(req)
            continue
        if not req.future.set_running_or_notify_cancel():
            continue
        try:
            req.future.set_result(req.fn())  # type: ignore[misc]
        except Exception as e:  # KeyError for an unknown household, or a bug: the asker's
            req.future.set_exception(e)
