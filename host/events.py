"""What the engine is told: small immutable inputs, one class for every source.

The live host, the simulator and the backtest all turn their inputs into these. Times are UTC
seconds since the epoch (float); the engine never reads a clock, so each input carries its own.
"""

from __future__ import annotations

from typing import NamedTuple

# A resident did something: the switch went on or off, or another sensor saw a person.
ON = "on"
OFF = "off"
ACTIVITY = "activity"
RESIDENT_KINDS = frozenset({ON, OFF, ACTIVITY})

# The device's own life: it came online (detail: (power mode "switched" or "mains", heartbeat
# interval in seconds[, boot number])), went offline (last will, or an orderly goodbye), or
# said it is alive. Device inputs must name their device.
ONLINE = "online"
OFFLINE = "offline"
HEARTBEAT = "heartbeat"
DEVICE_KINDS = frozenset({ONLINE, OFFLINE, HEARTBEAT})

# The host could not deliver a knock to the bulb (no command ack in time). detail: case id.
KNOCK_FAILED = "knock_failed"

# The host hears its bulbs again from event.time on, after its own outage or its broker's:
# heartbeats (QoS 0, not queued for it) it could not hear before then are not missed. No device;
# it touches only the household's online bulbs (the live host and the simulator feed it).
LISTENING = "listening"

# People: a caseworker acknowledged, dispatched or resolved a case (detail: case id, or
# (case id, outcome, actor, note) with the outcome for resolve), or set away mode (detail:
# expected return, UTC seconds, or None for "until the resident is back") / ended it.
ACK = "ack"
DISPATCH = "dispatch"
RESOLVE = "resolve"
AWAY = "away"
AWAY_END = "away_end"
PEOPLE_KINDS = frozenset({ACK, DISPATCH, RESOLVE, AWAY, AWAY_END})

ALL_KINDS = RESIDENT_KINDS | DEVICE_KINDS | PEOPLE_KINDS | {KNOCK_FAILED, LISTENING}

SWITCHED = "switched"
MAINS = "mains"
POWER_MODES = frozenset({SWITCHED, MAINS})


# Nothing real happened before 2000: such a time is a device that never set its clock, or a
# corrupt row. Every reader of inputs (engine, event logs) refuses it.
EARLIEST = 946_684_800.0  # 2000-01-01T00:00:00Z


class Event(NamedTuple):
    """One input to the engine. A NamedTuple because the hot path makes and reads millions.

    The engine tells a replay from a new input by time and kind alone (per household for the
    resident, per device for device inputs); exact duplicates with the same (device, boot,
    seq) are the store's to drop before they reach it.
    """

    household: str
    time: float
    kind: str
    device: str | None = None
    detail: object = None


# Outcomes a case can be resolved with. RESIDENT_ANSWERED and DEVICE_RECOVERED are set by the
# engine itself; the rest by a person.
RESIDENT_FINE = "resident_fine"
NEEDED_HELP = "needed_help"
HOSPITAL = "hospital"
DECEASED = "deceased"
FALSE_ALARM = "false_alarm"
DEVICE_FAULT = "device_fault"
RESIDENT_ANSWERED = "resident_answered"
DEVICE_RECOVERED = "device_recovered"
OUTCOMES = frozenset(
    {
        RESIDENT_FINE,
        NEEDED_HELP,
        HOSPITAL,
        DECEASED,
        FALSE_ALARM,
        DEVICE_FAULT,
        RESIDENT_ANSWERED,
        DEVICE_RECOVERED,
    }
)
