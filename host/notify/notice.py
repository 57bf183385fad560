"""Which of the engine's actions tell people something, and what: a Notice.

The engine emits a `Notify` for every notice it means (host.engine: the first alarm, each
re-notification, a device fault for maintenance); `Alarm` and `CaseOpened` always come with it,
so they add nothing here. A case that people were told about and that then resolves (the
resident answered late, the device came back) gets a `resolved` notice, so nobody drives out
for nothing; the notifier decides that from the store, since only it knows who was told.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from host import decisions as d

ALARM = "alarm"  # the first notice of a welfare case at alarm
REMINDER = "reminder"  # the same case again: nobody took it yet, or it was raised again
DEVICE_FAULT = "device_fault"  # a device case, for maintenance
RESOLVED = "resolved"  # a case people were told about is closed
KINDS = (ALARM, REMINDER, DEVICE_FAULT, RESOLVED)

CASEWORKER = "caseworker"
MAINTENANCE = "maintenance"
AUDIENCES = (CASEWORKER, MAINTENANCE)


class Notice(NamedTuple):
    """One thing to tell people, from one engine action."""

    id: str  # the same action gives the same id: the idempotency key receivers see
    kind: str
    household: str
    time: float  # UTC seconds of the decision
    case_id: str
    audience: str | None  # None for RESOLVED until the notifier knows who was told
    urgent: bool
    repeat: int
    reason: d.Reason | None
    outcome: str | None = None
    actor: str | None = None
    note: str = ""


def notice_of(action: object) -> Notice | None:
    """The notice an engine action calls for, or None (most actions tell nobody)."""
    if isinstance(action, d.Notify):
        if action.audience == MAINTENANCE:
            kind = DEVICE_FAULT
        else:
            kind = REMINDER if action.repeat else ALARM
        return Notice(
            notice_id(action.household, action.case_id, kind, action.repeat, action.time),
            kind, action.household, action.time, action.case_id, action.audience,
            bool(action.urgent), action.repeat, action.reason,
        )
    if isinstance(action, d.CaseResolved):
        return Notice(
            notice_id(action.household, action.case_id, RESOLVED, 0, action.time),
            RESOLVED, action.household, action.time, action.case_id, None, False, 0, None,
            action.outcome, action.actor, action.note,
        )
    return None


def notice_id(household: str, case_id: str, kind: str, repeat: int, time: float) -> str:
    """A stable id: 32 hex digits of sha256 over what makes the notice this notice."""
    text = "\x1f".join((household, case_id, kind, str(repeat), repr(float(time))))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
