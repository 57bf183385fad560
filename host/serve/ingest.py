"""From an MQTT message to what the host does with it: an event to store and give the engine,
a heartbeat for the engine only, a command ack, nothing new, or a rejection with its reason.

Validation is host.protocol.decode (the contract in code); this adds what needs the host's
memory: the device registry (unknown_device), the status a bulb last announced (a stale or
repeated retained status changes nothing), and when each bulb was last heard (to date a last
will). Duplicates by (device, boot, seq) are the store's to find (reason `replay`). Nothing
here raises on bad input.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import NamedTuple

from host import events as ev
from host import protocol as p
from host.events import Event
from host.store import Device, Store, StoredEvent

log = logging.getLogger("anbu.ingest")
_TOPIC_DEVICE = re.compile(r"^anbu/[^/]*/dev/([^/]{1,64})")
UNKNOWN_RECHECK_S = 60.0  # an unknown device is looked up in the store again after this long


class Inbound(NamedTuple):
    """One message as the MQTT thread handed it over."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    retain: bool = False
    received_at: float = 0.0
    generation: int = 0  # which connection it came on: acks go back only on the same one


class ToStore(NamedTuple):
    """An event for the store (dedupe) and, if new, the engine."""

    stored: StoredEvent


class ToEngine(NamedTuple):
    """An input for the engine only: a heartbeat (telemetry, not history)."""

    event: Event


class Acked(NamedTuple):
    device: str
    msg: p.AckMsg
    at: float


class Ignored(NamedTuple):
    why: str  # empty_retained, stale_status, repeated_status


class Rejected(NamedTuple):
    reason: str  # one of host.protocol.REASONS
    device: str  # the id the topic names ("" when it names none), for the operator
    detail: str


Outcome = ToStore | ToEngine | Acked | Ignored | Rejected


class Registry:
    """Which household each bulb belongs to, from the store's device table.

    Loaded once; a device not in it is looked up again at most once a minute, so a bulb
    provisioned while the host runs is picked up, and a flood of unknown ids costs one query
    per id per minute.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._devices: dict[str, Device] = {d.id: d for d in store.devices()}
        self._tz: dict[str, str] = {h.id: h.tz for h in store.households()}
        self._misses: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._devices)

    def device(self, device_id: str) -> Device | None:
        found = self._devices.get(device_id)
        if found is not None:
            return found
        now = self._clock()
        if now - self._misses.get(device_id, -UNKNOWN_RECHECK_S) < UNKNOWN_RECHECK_S:
            return None
        if len(self._misses) > 100_000:
            self._misses.clear()
        self._misses[device_id] = now
        try:
            found = self._store.device(device_id)
        except Exception:  # StoreError: still unknown
            return None
        self._misses.pop(device_id, None)
        self._devices[device_id] = found
        if found.household_id not in self._tz:
            self._tz[found.household_id] = self._store.household(found.household_id).tz
        return found

    def devices_of(self, household: str) -> list[str]:
        return [d.id for d in self._devices.values() if d.household_id == household]

    def tz(self, household: str) -> str:
        tz = self._tz.get(household)
        if tz is None:
            tz = self._tz[household] = self._store.household(household).tz
        return tz


class Reader:
    """Reads messages in arrival order; keeps per bulb its last status and when it was heard."""

    def __init__(self, registry: Registry, will_delay_s: float = 1.5 * p.KEEPALIVE_S) -> None:
        self.registry = registry
        self.will_delay_s = will_delay_s
        self.status: dict[str, tuple[int, str]] = {}  # device -> (boot, online/offline)
        self.heard: dict[str, float] = {}  # device -> when anything was last heard from it
        # device -> (received at, its latest heartbeat): telemetry for the dashboard only
        self.telemetry: dict[str, tuple[float, p.HeartbeatMsg]] = {}

    def remember(self, device: str, boot: int | None, online: bool, heard: float) -> None:
        """Seed what a restart would otherwise forget (from the engine's restored state)."""
        if boot is not None:
            self.status[device] = (boot, ev.ONLINE if online else ev.OFFLINE)
        if heard > self.heard.get(device, float("-inf")):
            self.heard[device] = heard

    def read(self, msg: Inbound) -> Outcome:
        try:
            return self._read(msg)
        except Exception as e:  # a bug here must cost one message, never the service
            log.exception("ingest: unexpected error on %r", msg.topic[:200])
            return Rejected("schema", _device_of(msg.topic), f"unexpected error: {e!r}")

    def _read(self, msg: Inbound) -> Outcome:
        topic, payload, at = msg.topic, msg.payload, msg.received_at
        if not payload and topic.endswith("/" + p.STATUS) and msg.retain:
            return Ignored("empty_retained")  # the broker deleting a retained status
        try:
            decoded = p.decode(topic, payload, now=at)
        except p.ProtocolError as e:
            return Rejected(e.reason, _device_of(topic), str(e))
        channel = topic[topic.rfind("/") + 1:]
        if channel == p.CMD:  # the host's own commands are not subscribed to; a stray one
            return Rejected("topic", _device_of(topic), "a command on the host's subscription")
        device_id = decoded.d  # decode made sure it is the topic's
        device = self.registry.device(device_id)
        if device is None:
            return Rejected("unknown_device", device_id,
                            f"device {device_id} is not registered to a household")
        household = device.household_id
        if channel == p.EVT:
            return ToStore(self._event(device, decoded, at))
        if channel == p.HB:
            self._heard(device_id, at)
            self.telemetry[device_id] = (at, decoded)
            t = p.sent_at(decoded, at)
            return ToEngine(Event(household, t, ev.HEARTBEAT, device_id))
        if channel == p.ACK:
            self._heard(device_id, at)
            return Acked(device_id, decoded, at)
        return self._status(household, decoded, msg)

    def _event(self, device: Device, msg: p.EventMsg, at: float) -> StoredEvent:
        self._heard(msg.d, at)
        t = p.sent_at(msg, at)
        kind, detail = msg.k, msg.a
        if kind == "boot":
            # A mains bulb boots when its wall switch is turned on; a switched bulb's (re)start
            # is only proof that it is alive.
            kind = ev.ON if device.power_mode == ev.MAINS else ev.HEARTBEAT
            detail = "boot"
        return StoredEvent(device.household_id, t, kind, msg.d, msg.b, msg.s, msg.sy == 1, at,
                           detail)

    def _status(self, household: str, msg: p.StatusMsg, inbound: Inbound) -> Outcome:
        at = inbound.received_at
        known = self.status.get(msg.d)
        if known is not None:
            if msg.b < known[0]:
                return Ignored("stale_status")  # an old boot's will, published late
            if inbound.retain and (msg.b, msg.st) == known:
                return Ignored("repeated_status")  # redelivered on subscribe: nothing new
        heard = self.heard.get(msg.d)
        self.status[msg.d] = (msg.b, msg.st)
        if msg.st == ev.ONLINE:
            self._heard(msg.d, at)
            t = p.sent_at(msg, at)
            return ToStore(StoredEvent(household, t, ev.ONLINE, msg.d, msg.b, None,
                                      msg.sy == 1, at, (msg.pm, float(msg.hb), msg.b)))
        # Offline: the will carries no time. The bulb went quiet at the latest will_delay_s
        # before it came, and never before it was last heard (docs/protocol.md section 7).
        if msg.t is not None and msg.sy == 1:
            t = float(msg.t)
        elif inbound.retain and heard is not None:
            t = heard  # a will that fired while the host was away: all we know is the last word
        else:
            t = at - self.will_delay_s
            if heard is not None and heard > t:
                t = heard
        return ToStore(StoredEvent(household, t, ev.OFFLINE, msg.d, msg.b, None, False, at))

    def _heard(self, device: str, at: float) -> None:
        if at > self.heard.get(device, float("-inf")):
            self.heard[device] = at


def _device_of(topic: str) -> str:
    """The device a bad message claims to be from, for the once-a-minute log (never trusted)."""
    m = _TOPIC_DEVICE.match(topic)
    return m.group(1) if m else ""


class RejectLog:
    """Logs rejections at most once per device per minute, with how many were held back; and
    at most `most` lines a minute in all, so a flood of made-up device ids cannot flood the log
    (the counts in /metrics still see every one)."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 most: int = 200) -> None:
        self.every_s = every_s
        self.most = most
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # device -> (logged at, held back since)
        self._minute = (-every_s, 0, 0)  # (start, lines logged, lines held back)

    def __call__(self, topic: str, rejected: Rejected) -> bool:
        """Log this rejection unless its device was logged within the minute; True if logged."""
        key = rejected.device or topic[:64]
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.every_s:
            self._last[key] = (last[0], last[1] + 1)
            return False
        start, lines, over = self._minute
        if now - start >= self.every_s:
            if over:
                log.warning("%d more rejected messages were not logged in the last minute", over,
                            extra={"fields": {"event": "rejected_not_logged", "count": over}})
            start, lines, over = now, 0, 0
        if lines >= self.most:
            self._minute = (start, lines, over + 1)
            return False
        self._minute = (start, lines + 1, over)
        if len(self._last) > 10_000:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.every_s}
        held = last[1] if last else 0
        self._last[key] = (now, 0)
        log.warning("rejected %s from %r: %s", rejected.reason, key, rejected.detail[:300],
                    extra={"fields": {"event": "rejected", "reason": rejected.reason,
                                      "device": key, "topic": topic[:200],
                                      "held_back": held}})
        return True
