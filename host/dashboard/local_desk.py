"""A Desk over a real engine in the caller's own thread: for tests, benchmarks and backtests.

The live host's desk (host.serve.desk) does the same work on the service's thread; both use
host.dashboard.reading, so what a page shows does not depend on which desk serves it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from host import events as ev
from host.dashboard import reading
from host.dashboard.board import HouseholdDetail, HouseholdRow, Telemetry
from host.engine import Engine
from host.events import Event
from host.store import Store, StoredEvent


class LocalDesk:
    """Feeds events to the engine and records what it decides, as `anbu serve` would."""

    def __init__(self, engine: Engine, store: Store, clock: reading.Clock = time.time) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.telemetry: dict[str, Telemetry] = {}

    # -- driving it ------------------------------------------------------------------------

    def feed(self, event: Event, now: float | None = None) -> str | None:
        """Store the event, give it to the engine, record the decisions; the refusal if any."""
        now = self.clock() if now is None else now
        with self.store.batch():
            self.store.add_new_events([StoredEvent.of(event, received_at=now)])
            decision = self.engine.handle(event, now)
            self.store.record(decision.actions)
        return reading.refused(decision)

    def tick(self, household: str, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        decision = self.engine.tick(household, now)
        self.store.record(decision.actions)

    def heard(self, device: str, at: float, **fields: object) -> None:
        """A heartbeat's telemetry, as the live host keeps the latest of each bulb."""
        self.telemetry[device] = Telemetry(device, at, dict(fields))

    # -- Desk ------------------------------------------------------------------------------

    def rows(self) -> Sequence[HouseholdRow]:
        homes, devices = reading.table_of(self.store.households(), self.store.devices())
        return [reading.row_of(home, devices.get(hid, []), self.engine.state(hid))
                for hid, home in homes.items()]

    def detail(self, household: str) -> HouseholdDetail:
        homes, devices = reading.table_of(self.store.households(), self.store.devices())
        if household not in homes:
            raise KeyError(household)
        home = homes[household]
        row = reading.row_of(home, devices[household], self.engine.state(household))
        part = reading.engine_part(self.engine, household)
        return detail_of(row, part, self.store, ZoneInfo(home.tz), self.clock(),
                         self.engine.config.morning_start_h,
                         [self.telemetry[d.id] for d in devices[household]
                          if d.id in self.telemetry])

    def act(self, event: Event, timeout: float = 10.0) -> str | None:
        if event.kind not in ev.PEOPLE_KINDS:
            raise ValueError(f"not a people input: {event.kind!r}")
        return self.feed(event)


def detail_of(row: HouseholdRow, part: reading.EnginePart, store: Store, tz: ZoneInfo,
              now: float, morning_start_h: int,
              telemetry: Sequence[Telemetry]) -> HouseholdDetail:
    """A household page's live part, from the engine's part and the stored history."""
    history = reading.history_part(store, row.id, tz, now, morning_start_h)
    weekend = (history.days[-1] + 3) % 7 >= 5
    wake_usual = part.wake_usual_min[1 if weekend else 0]
    return HouseholdDetail(
        row,
        reading.routine_hours(part, history, False, weekend),
        reading.routine_hours(part, history, True, weekend),
        weekend, wake_usual, history.wake_today_min, part.days_known, tuple(telemetry))
