"""What the dashboard shows about households, and what it may ask of the live host.

The engine's state lives in the service's own thread; the web thread never touches it. The
service publishes a board of immutable rows (refreshed about once a second for the households
that changed) and answers the rest through a Desk: a household's detail and people's actions,
both carried out on the service's thread between batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from host.events import Event


class DeviceHealth(NamedTuple):
    id: str
    power_mode: str | None  # events.SWITCHED / MAINS; None: never said (never came online)
    online: bool
    last_seen: float | None  # UTC seconds the host last heard it (any message); None: never
    changed_at: float | None  # when it last went online or offline
    heartbeat_s: float


class HouseholdRow(NamedTuple):
    """One line of the households page. Times are UTC seconds; None means never."""

    id: str
    name: str
    status: str  # decisions.FINE / WATCH / KNOCK / ALARM / AWAY / DEVICE_FAULT
    status_at: float | None
    last_activity: float | None  # the resident's last switch use or other sign of activity
    devices: tuple[DeviceHealth, ...]
    welfare_case: str | None  # the open welfare case's id
    welfare_state: str | None  # its state: knock, alarm, acknowledged, dispatched
    device_case: str | None  # the open device case's id
    away_until: float | None  # away mode: expected return (float("inf"): until back)
    tz: str = "Asia/Seoul"  # the household's zone: its times are shown in it
    # Why the household needs someone, at a glance: the open case's reason (welfare first).
    reason_code: str | None = None  # decisions.INACTIVITY, SOS, DEVICE_OFFLINE ...
    reason_since: float | None = None  # the last sign of life (or of the bulb) it counts from


class RoutineHour(NamedTuple):
    """The learned routine at one local hour, next to what happened today."""

    hour: int
    knock_after_h: float  # a quiet gap starting at this hour knocks after this long
    usual_events: float  # learned: switch events in this hour on an average day
    today_events: int  # today (local day) so far


class Telemetry(NamedTuple):
    """A bulb's latest heartbeat (protocol section 5.3), as received."""

    device: str
    at: float  # when the host received it (UTC seconds)
    fields: dict  # rssi, heap, hmin, q, drop, rc, fw, lamp, up, sy ...


class HouseholdDetail(NamedTuple):
    row: HouseholdRow
    routine_weekday: tuple[RoutineHour, ...]  # 24 hours, today's counts on today's day type
    routine_weekend: tuple[RoutineHour, ...]
    today_is_weekend: bool
    wake_usual_min: float | None  # first sign of life: minutes after local midnight, learned
    wake_today_min: float | None  # and today's
    days_known: int  # days of this household's own history behind the routine
    telemetry: tuple[Telemetry, ...]


class Desk(Protocol):
    """The dashboard's window onto the live host."""

    def rows(self) -> Sequence[HouseholdRow]:
        """Every registered household, as last published (cheap: no engine work)."""
        ...

    def detail(self, household: str) -> HouseholdDetail:
        """KeyError for an unknown household."""
        ...

    def act(self, event: Event, timeout: float = 10.0) -> str | None:
        """Give a people input (events.ACK, DISPATCH, RESOLVE, AWAY, AWAY_END) to the engine
        through the service loop: journaled and stored like any input. None when taken, else
        why the engine refused it (e.g. "case c-12 is already resolved"). TimeoutError when
        the loop did not get to it in time (the action may still be carried out)."""
        ...
