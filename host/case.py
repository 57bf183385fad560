"""A case and the one table of how its state may change.

Everything that moves a case along the ladder (knock -> alarm -> acknowledged -> dispatched ->
resolved) is in TRANSITIONS; the engine asks `next_state` and refuses what the table lacks, so a
replayed or stale command from a person cannot push a case somewhere it should not be.
"""

from __future__ import annotations

from host.decisions import (
    CASE_ACKNOWLEDGED,
    CASE_ALARM,
    CASE_DISPATCHED,
    CASE_KNOCK,
    CASE_OPEN,
    CASE_RESOLVED,
    Reason,
)

# Triggers: what happened to the case.
ANSWERED = "answered"  # the resident toggled the switch during a knock
TIMEOUT = "timeout"  # the knock ran out unanswered
UNDELIVERED = "undelivered"  # the bulb never acknowledged the knock
ACKNOWLEDGE = "acknowledge"  # a person took the case
DISPATCH = "dispatch"  # a person is on the way
RESOLVE = "resolve"  # a person closed it with an outcome
RECOVERED = "recovered"  # the device came back by itself
ESCALATE = "escalate"  # raised again: SOS, the ceiling, or a new silence on an open case

_OPEN_STATES = (CASE_KNOCK, CASE_ALARM, CASE_ACKNOWLEDGED, CASE_DISPATCHED, CASE_OPEN)

TRANSITIONS: dict[tuple[str, str], str] = {
    (CASE_KNOCK, ANSWERED): CASE_RESOLVED,
    (CASE_KNOCK, TIMEOUT): CASE_ALARM,
    (CASE_KNOCK, UNDELIVERED): CASE_ALARM,
    (CASE_KNOCK, ESCALATE): CASE_ALARM,
    (CASE_ALARM, ESCALATE): CASE_ALARM,
    (CASE_ACKNOWLEDGED, ESCALATE): CASE_ALARM,  # a new silence: someone must take it again
    (CASE_DISPATCHED, ESCALATE): CASE_DISPATCHED,  # already on the way: tell them, no step back
    (CASE_KNOCK, ACKNOWLEDGE): CASE_ACKNOWLEDGED,
    (CASE_ALARM, ACKNOWLEDGE): CASE_ACKNOWLEDGED,
    (CASE_OPEN, ACKNOWLEDGE): CASE_ACKNOWLEDGED,
    (CASE_KNOCK, DISPATCH): CASE_DISPATCHED,
    (CASE_ALARM, DISPATCH): CASE_DISPATCHED,
    (CASE_ACKNOWLEDGED, DISPATCH): CASE_DISPATCHED,
    (CASE_OPEN, DISPATCH): CASE_DISPATCHED,
    (CASE_OPEN, RECOVERED): CASE_RESOLVED,
    (CASE_ACKNOWLEDGED, RECOVERED): CASE_RESOLVED,
    **{(state, RESOLVE): CASE_RESOLVED for state in _OPEN_STATES},
}


def next_state(state: str, trigger: str) -> str | None:
    """The state a trigger leads to, or None when the table does not allow it."""
    return TRANSITIONS.get((state, trigger))


class Case:
    """One open case of a household: welfare (is the resident well?) or device."""

    __slots__ = (
        "id",
        "kind",
        "state",
        "reason",
        "opened_at",
        "knock_until",
        "urgent",
        "notified_at",
        "repeats",
        "activity_seen",
        "held_gap",
        "held_on",
    )

    def __init__(self, case_id: str, kind: str, state: str, reason: Reason, at: float) -> None:
        self.id = case_id
        self.kind = kind
        self.state = state
        self.reason = reason
        self.opened_at = at
        self.knock_until = 0.0
        self.urgent = False
        self.notified_at = 0.0  # when the last notice went out
        self.repeats = 0  # re-notifications sent
        self.activity_seen = False  # the resident was active again after the alarm
        # A gap or on-period that ended while this case was at alarm or later: learned only
        # if a person resolves the case as a false alarm, never if it was an emergency.
        self.held_gap: tuple[int, float] | None = None
        self.held_on: float | None = None
