"""What a simulation records: ground truth and what each rule did, one JSON line per record.

The world (residents, devices, life events) and the rules (the engine, today's baselines) run
in worker processes; the report is computed afterwards from these records alone. Streaming them
to disk keeps memory bounded however many households are simulated, and lets a shard's file be
read back, merged and checked by anyone. Times are UTC seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple


class Household(NamedTuple):
    """One simulated household: who lives there, where the bulb is, the simulated window."""

    household: str
    persona: str
    bulb: str  # room: bathroom, living_room, bedroom
    start: float
    end: float  # end of the simulated window for this household


class Emergency(NamedTuple):
    """Ground truth: the resident could no longer act (fall, stroke, death) from `time` on."""

    household: str
    time: float
    kind: str  # fall, stroke, death
    light_on: bool  # the light was left on when it happened


class Period(NamedTuple):
    """Ground truth: a stretch when silence is expected or the household cannot be seen."""

    household: str
    start: float
    end: float
    kind: str  # away_announced, away_unannounced, illness, wifi_outage, broker_outage,
    # power_cut, bulb_failure, guest


class Alarm(NamedTuple):
    """A rule told a caseworker (the first notification of a case; re-notifications apart)."""

    rule: str  # "anbu", "fixed-24h", "daily-window", "fixed-36h", or "anbu@..." variants
    household: str
    time: float
    case: str  # welfare or device
    reason: str  # the engine's reason code, or the baseline's name


class Knock(NamedTuple):
    """The engine asked the resident through the bulb; answered if they toggled in time."""

    rule: str
    household: str
    time: float
    answered: bool


class Dispatch(NamedTuple):
    """A responder was sent after an alarm and reached the door at `door`."""

    rule: str
    household: str
    time: float  # when the caseworker dispatched
    door: float  # when the responder reached the door


class Found(NamedTuple):
    """How an emergency ended for one rule: who reached the resident first, and when."""

    rule: str
    household: str
    time: float | None  # None: nobody reached them within the simulated window
    by: str  # dispatch, visit (a meter reader's regular visit), never


RECORD_TYPES: dict[str, type] = {
    cls.__name__.lower(): cls
    for cls in (Household, Emergency, Period, Alarm, Knock, Dispatch, Found)
}

Record = Household | Emergency | Period | Alarm | Knock | Dispatch | Found


def write(out: IO[str], record: Record) -> None:
    """One line: the type's name, then the fields in order (compact, easy to stream)."""
    out.write(json.dumps([type(record).__name__.lower(), *record], separators=(",", ":")))
    out.write("\n")


def read(path: Path) -> Iterator[Record]:
    """Records of one file, in order; a bad line is an error naming the file and line."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                name, *fields = json.loads(line)
                yield RECORD_TYPES[name](*fields)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a simulation record: {exc}") from exc
