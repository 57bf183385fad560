"""What the engine remembers about a household and its bulbs, between one input and the next.

Mutated only by host.engine; kept apart so the engine module holds the rules and this one the
memory they work on (about 3 KB per household, most of it the learned Routine).
"""

from __future__ import annotations

import math

from host import decisions as d
from host import events as ev
from host.case import Case
from host.localtime import LocalClock
from host.routine import Routine

NEVER = math.inf


class DeviceState:
    __slots__ = ("mode", "heartbeat_s", "boot", "last_seen", "listening_from", "online",
                 "changed_at", "light_on", "light_t", "light_seen")

    def __init__(self, mode: str | None, heartbeat_s: float) -> None:
        self.mode = mode  # None: heard of only through switch events, never online
        self.heartbeat_s = heartbeat_s
        self.boot: object = None
        self.last_seen = -NEVER  # last heard (the dashboard shows it)
        # The host heard nothing before this (its own or its broker's outage): the heartbeat
        # deadline counts from here when it is later than last_seen (events.LISTENING).
        self.listening_from = -NEVER
        self.online = False
        self.changed_at = -NEVER  # time of the last online/offline change
        self.light_on = False  # this bulb's own light, for stuck-on
        self.light_t = -NEVER
        self.light_seen = 0

    def deadline(self, missed: int) -> float:
        """When this bulb, if online, has missed `missed` heartbeats: counted from when it was
        last heard, or from when the host could hear again if that is later."""
        seen = self.last_seen if self.last_seen > self.listening_from else self.listening_from
        return seen + self.heartbeat_s * missed


class HouseholdState:
    """Everything the engine knows about one household (about 3 KB with its routine)."""

    __slots__ = (
        "id", "clock", "routine", "last", "last_bucket", "alive_at", "day", "morning_day",
        "gap_clean", "light_on", "light_t", "light_seen", "stuck_from", "stuck_reset", "toggles",
        "status", "watch_at", "knock_at", "knock_code", "knock_urgent", "watching", "due_raw",
        "due_urgent", "away_until", "away_changed_at", "devices", "device_due", "blind",
        "welfare", "device_case", "cases_opened", "retired", "wake_at", "hold_until",
    )  # fmt: skip

    def __init__(self, household: str, clock: LocalClock) -> None:
        self.id = household
        self.clock = clock
        self.routine = Routine()
        self.last = -NEVER  # last resident activity (UTC seconds)
        self.last_bucket = 0  # routine.bucket_of the local hour of `last`
        self.alive_at = -NEVER  # last time someone vouched for the resident, or first heard of
        self.day = -1  # local day number of the last activity
        self.morning_day = -1  # local day whose first morning sign of life was learned
        self.gap_clean = True  # the gap in progress is a fair sample of the routine
        # The light of switch events that name no device (logs, other sensors).
        self.light_on = False
        self.light_t = -NEVER
        self.light_seen = 0
        self.stuck_from = NEVER  # since when some light has been on without a break
        self.stuck_reset = -NEVER  # the resident answered about a light left on, at this time
        self.toggles: list[float] = []  # recent light changes, for SOS
        self.status = d.FINE
        self.watch_at: float | None = None  # cached: when the gap becomes unusual
        self.knock_at: float | None = None  # cached: when to knock
        self.knock_code = d.INACTIVITY
        self.knock_urgent = False
        self.watching = False
        # Running maxima over every sign of life of (since + knock gap) and (since + urgent
        # gap). Knocks are scheduled from these, so a later sign of life can never bring a
        # knock forward, even where a night visit's own threshold is shorter than the
        # evening's before it.
        self.due_raw = -NEVER
        self.due_urgent = -NEVER
        self.away_until: float | None = None  # NEVER: until the resident is back
        self.away_changed_at = -NEVER
        self.devices: dict[str, DeviceState] | None = None
        self.device_due = NEVER  # earliest heartbeat deadline of an online device
        self.blind = False  # no bulb left that could see the resident
        self.welfare: Case | None = None
        self.device_case: Case | None = None
        self.cases_opened = 0
        self.retired = False  # the resident died: nothing more to watch
        self.wake_at: float | None = None
        self.hold_until = -NEVER  # a backlog is arriving: judge nothing before this

    @property
    def since(self) -> float:
        """The last sign of life inactivity is counted from."""
        return self.last if self.last > self.alive_at else self.alive_at

    def devices_changed(self, missed: int) -> None:
        """Recompute what the plan needs from the devices (only device inputs change it)."""
        due = NEVER
        switched = up = mains = 0
        for dev in (self.devices or {}).values():
            if dev.online:
                due = min(due, dev.deadline(missed))
            if dev.mode == ev.SWITCHED:
                switched += 1
                up += dev.online
            elif dev.mode == ev.MAINS:
                mains += 1
        self.device_due = due
        # A mains bulb that is off is still watching: switching it on is what it reports.
        self.blind = switched > 0 and up == 0 and mains == 0
        self.lights_changed()

    def lights_changed(self) -> None:
        """Recompute stuck_from after a light change. A switch press changes only the lights,
        so it need not redo devices_changed (device_due and blind stay as they were)."""
        lit = self.light_t if self.light_on else NEVER
        for dev in (self.devices or {}).values():
            if dev.light_on:
                lit = min(lit, dev.light_t)
        self.stuck_from = lit

    def heard(self, missed: int) -> None:
        """Recompute device_due after a heartbeat from an online bulb: its deadline is all
        that moved (mode, online and the lights did not, so blind and stuck_from stand)."""
        due = NEVER
        for dev in self.devices.values():  # type: ignore[union-attr] - a bulb was heard
            if dev.online:
                due = min(due, dev.deadline(missed))
        self.device_due = due
