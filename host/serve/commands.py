"""Knocks on the wire: the engine's Knock becomes a `knock` command to the household's bulbs,
their acks are recorded, and silence becomes `knock_failed` (docs/protocol.md section 8).

A knock goes to every bulb of the household that is online (all of them when none is known to
be): any one that pulses can reach the resident. The knock counts as delivered when one bulb
acks it with ok:1; when none has by the deadline (60 s), or all refused, the engine gets
`knock_failed`, and every bulb that did not ack gets a `knock_stop` queued behind the knock, so
one delivered late ends as soon as it starts. When the case leaves the knock stage before the
knock's end (answered, away mode, SOS), the other bulbs get `knock_stop` too.

Command ids are derived from the case and the time, so a knock published again after a crash
carries the same id, and the bulb acks it without pulsing twice.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from host import decisions as d
from host import events as ev
from host import protocol as p
from host.events import Event
from host.store import Command

log = logging.getLogger("anbu.commands")
KNOCK = "knock"
KNOCK_STOP = "knock_stop"


class Outgoing(NamedTuple):
    """A command to store (in the batch) and publish (after the commit)."""

    command: Command
    topic: str
    payload: bytes


@dataclass
class KnockRun:
    """One knock of one case, on one or more bulbs."""

    household: str
    case_id: str
    until: float
    devices: dict[str, str]  # device -> command id
    deadline: float
    acked: set[str] = field(default_factory=set)  # bulbs that acked ok:1
    refused: set[str] = field(default_factory=set)
    failed: bool = False


def command_id(prefix: str, *parts: object) -> str:
    """A short id, the same for the same parts: `[A-Za-z0-9._:-]{1,32}`."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).hexdigest()
    return f"{prefix}-{digest}"


def _command(device: str, cmd_id: str, c: str, case_id: str, now: float,
             deadline: float | None, dur: int | None = None) -> Outgoing:
    msg = p.CommandMsg(v=p.PROTOCOL_VERSION, id=cmd_id, c=c, dur=dur)
    return Outgoing(Command(device, cmd_id, c, case_id, now, deadline),
                    p.topic_for(device, p.CMD), p.encode(msg))


class Knocks:
    """The knocks in flight. `bulbs(household)` names the bulbs to knock on."""

    def __init__(self, bulbs: Callable[[str], list[str]], ack_timeout_s: float) -> None:
        self.bulbs = bulbs
        self.ack_timeout_s = ack_timeout_s
        self.runs: dict[str, KnockRun] = {}  # case id -> run
        self._by_command: dict[tuple[str, str], KnockRun] = {}

    def on_action(self, action: object, now: float) -> list[Outgoing]:
        """Commands an engine action calls for (none for most)."""
        if isinstance(action, d.Knock):
            return self._knock(action, now)
        run = self.runs.get(getattr(action, "case_id", None))  # type: ignore[arg-type]
        if run is None:
            return []
        left_knock = isinstance(action, d.CaseResolved | d.Alarm) or (
            isinstance(action, d.CaseChanged) and action.state != d.CASE_KNOCK)
        if not left_knock:
            return []
        self._forget(run)
        if now >= run.until:
            return []  # the bulbs stop by themselves
        return [self._stop(run, dev, now, "ended") for dev in run.devices]

    def _knock(self, action: d.Knock, now: float) -> list[Outgoing]:
        old = self.runs.get(action.case_id)
        if old is not None:
            self._forget(old)
        devices = self.bulbs(action.household)
        dur = int(min(max(math.ceil(action.until - now), 10), 3600))
        deadline = now + self.ack_timeout_s
        run = KnockRun(action.household, action.case_id, action.until, {}, deadline)
        out = []
        for dev in devices:
            cid = command_id("k", action.case_id, action.time, dev)
            run.devices[dev] = cid
            out.append(_command(dev, cid, KNOCK, action.case_id, now, deadline, dur))
        self._track(run)
        return out

    def _stop(self, run: KnockRun, device: str, now: float, why: str) -> Outgoing:
        cid = command_id("s", run.case_id, run.devices[device], why)
        return _command(device, cid, KNOCK_STOP, run.case_id, now, None)

    def _track(self, run: KnockRun) -> None:
        self.runs[run.case_id] = run
        for dev, cid in run.devices.items():
            self._by_command[(dev, cid)] = run

    def _forget(self, run: KnockRun) -> None:
        self.runs.pop(run.case_id, None)
        for dev, cid in run.devices.items():
            self._by_command.pop((dev, cid), None)

    def resume(self, commands: list[Command],
               knocking: Callable[[str], tuple[str, float] | None]) -> None:
        """After a restart: the knock commands of cases still at the knock stage, with their
        acks so far. knocking(case id) is (household, knock's end), or None when it is over."""
        for cmd in commands:
            if cmd.command != KNOCK or cmd.case_id is None:
                continue
            case = knocking(cmd.case_id)
            if case is None:
                continue
            run = self.runs.get(cmd.case_id)
            if run is None:
                deadline = cmd.deadline if cmd.deadline is not None else cmd.sent_at
                run = KnockRun(case[0], cmd.case_id, case[1], {}, deadline)
            run.devices[cmd.device] = cmd.id
            if cmd.acked_at is not None:
                (run.acked if cmd.ok else run.refused).add(cmd.device)
            if cmd.failed_at is not None:
                run.failed = True
            self._track(run)

    def on_ack(self, device: str, msg: p.AckMsg) -> KnockRun | None:
        """Note a bulb's ack; the run it belongs to, if it is a running knock's."""
        run = self._by_command.get((device, msg.id))
        if run is None:
            return None
        if msg.ok == 1:
            run.acked.add(device)
        else:
            run.refused.add(device)
            log.warning("bulb %s refused knock %s: %s", device, msg.id, msg.err or "no reason",
                        extra={"fields": {"event": "knock_refused", "device": device,
                                          "command": msg.id, "err": msg.err}})
        return run

    def next_deadline(self) -> float | None:
        pending = [r.deadline for r in self.runs.values() if not r.failed and not r.acked]
        return min(pending, default=None)

    def due(self, now: float) -> tuple[list[Event], list[Outgoing], list[tuple[str, str]]]:
        """Knocks no bulb took: (knock_failed inputs for the engine, knock_stops to send,
        (device, command id) that timed out)."""
        failed, stops, timed_out = [], [], []
        for run in list(self.runs.values()):
            if run.failed or run.acked:
                continue
            all_refused = bool(run.devices) and run.refused >= set(run.devices)
            if now < run.deadline and not all_refused:
                continue
            run.failed = True
            failed.append(Event(run.household, now, ev.KNOCK_FAILED, None, run.case_id))
            for dev in run.devices:
                if dev not in run.refused:
                    timed_out.append((dev, run.devices[dev]))
                    stops.append(self._stop(run, dev, now, "failed"))
        return failed, stops, timed_out
