"""What the engine decides: small immutable actions that the shell around it carries out.

The live host publishes knocks and sends notifications; the simulator and the backtest count
them. Every action that raises a case carries a Reason, so it can explain itself.
"""

from __future__ import annotations

from typing import NamedTuple

# Household status, as a caseworker sees it.
FINE = "fine"
WATCH = "watch"
KNOCK = "knock"
ALARM = "alarm"
AWAY = "away"
DEVICE_FAULT = "device_fault"
STATUSES = (FINE, WATCH, KNOCK, ALARM, AWAY, DEVICE_FAULT)

# Why a case was opened.
INACTIVITY = "inactivity"  # a gap without activity that is improbable for this household
NO_MORNING = "no_morning"  # no sign of life this morning, long after the usual first one
STUCK_ON = "stuck_on"  # the light left on far longer than this household ever does
SOS = "sos"  # the resident flicked the switch in the SOS pattern
UNWATCHED = "unwatched"  # the device is down and nothing has been heard for the ceiling
DEVICE_OFFLINE = "device_offline"  # the device stopped talking (last will, missed heartbeats)
KNOCK_UNDELIVERED = "knock_undelivered"  # a knock could not reach the bulb
REASON_CODES = (INACTIVITY, NO_MORNING, STUCK_ON, SOS, UNWATCHED, DEVICE_OFFLINE,
                KNOCK_UNDELIVERED)

# Case kinds: welfare (is the resident well?) and device (is the bulb working?).
WELFARE = "welfare"
DEVICE = "device"

# Case states, in ladder order; "resolved" ends a case.
CASE_KNOCK = "knock"
CASE_ALARM = "alarm"
CASE_ACKNOWLEDGED = "acknowledged"
CASE_DISPATCHED = "dispatched"
CASE_OPEN = "open"  # a device case before anyone acted on it
CASE_RESOLVED = "resolved"


class Reason(NamedTuple):
    """Why: the facts behind a decision, rendered to words by host.explain."""

    code: str
    since: float  # UTC seconds of the last sign of life the decision counts from
    gap: float  # seconds without activity (or light on, for stuck_on) when decided
    one_in_days: float | None = None  # a gap this long is expected once in this many days
    days_known: int = 0  # days of this household's own history behind the estimate
    detail: str = ""


class StatusChanged(NamedTuple):
    household: str
    time: float
    status: str
    reason: Reason | None = None


class CaseOpened(NamedTuple):
    household: str
    time: float
    case_id: str
    kind: str  # WELFARE or DEVICE
    reason: Reason


class CaseChanged(NamedTuple):
    household: str
    time: float
    case_id: str
    state: str
    actor: str | None = None
    note: str = ""


class CaseResolved(NamedTuple):
    household: str
    time: float
    case_id: str
    outcome: str
    actor: str | None = None
    note: str = ""


class Knock(NamedTuple):
    """Ask the resident: pulse the bulb; a switch toggle before `until` answers."""

    household: str
    time: float
    case_id: str
    until: float
    urgent: bool
    reason: Reason


class Alarm(NamedTuple):
    household: str
    time: float
    case_id: str
    reason: Reason


class Notify(NamedTuple):
    """Tell people. audience: "caseworker" (welfare) or "maintenance" (device)."""

    household: str
    time: float
    case_id: str
    audience: str
    urgent: bool
    repeat: int  # 0 for the first notice, then 1, 2, ... for re-notifications
    reason: Reason


class Rejected(NamedTuple):
    """An input the engine would not take, and why. Nothing else changed."""

    household: str
    time: float
    kind: str
    why: str


class Decision(NamedTuple):
    actions: list
    wake_at: float | None  # when to call Engine.tick if nothing else happens first
