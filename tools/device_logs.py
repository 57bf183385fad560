"""What a bulb keeps on its flash, read back for the people who look after it.

The firmware keeps no log file: what it prints goes to the serial console only (`anbu device
console` shows it live). What it does keep is its event queue (`queue.log`, docs/firmware.md:
lines `CRC32 BODY`, E/A/D/C records) and its boot number (`boot.num`); this reads both.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Journal:
    pending: list[dict] = field(default_factory=list)  # events not yet acked by the broker
    acked: int = 0
    dropped: int = 0  # dropped on overflow (from D records and the last checkpoint)
    unreported: int = 0
    damaged: int = 0  # lines a power cut tore or flash damage spoiled
    lines: int = 0
    last: list[str] = field(default_factory=list)  # the newest intact lines, as text


def read_journal(data: bytes, keep_last: int = 10) -> Journal:
    """The queue as the firmware replays it at boot; never raises on damaged content."""
    j = Journal()
    pending: dict[tuple[int, int], dict] = {}
    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    elif chunks:
        chunks.pop()  # a last line without its newline: torn by a power cut
        j.damaged += 1
    for raw in chunks:
        body = raw[9:]
        if len(raw) < 11 or raw[8:9] != b" " or f"{zlib.crc32(body):08x}".encode() != raw[:8]:
            j.damaged += 1
            continue
        j.lines += 1
        text = body.decode("utf-8", "replace")
        j.last.append(text)
        parts = text.split(" ", 3)
        try:
            if parts[0] == "E":
                pending[(int(parts[1]), int(parts[2]))] = json.loads(parts[3])
            elif parts[0] == "A" and pending.pop((int(parts[1]), int(parts[2])), None) is not None:
                j.acked += 1
            elif parts[0] == "D" and pending.pop((int(parts[1]), int(parts[2])), None) is not None:
                j.dropped += 1
            elif parts[0] == "C":
                j.dropped, j.unreported = int(parts[1]), int(parts[2])
        except (IndexError, ValueError):
            j.damaged += 1
    j.pending = list(pending.values())
    j.last = j.last[-keep_last:]
    return j


def describe_event(e: dict) -> str:
    when = (datetime.fromtimestamp(float(e["t"]), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            if e.get("sy") == 1 and "t" in e else f"uptime {int(e.get('up', 0)) / 1000:.1f} s")
    answer = f", answers {e['a']}" if e.get("a") else ""
    return f"boot {e.get('b')} #{e.get('s')} {e.get('k')} at {when}{answer}"
