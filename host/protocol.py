"""The MQTT protocol v1 in code: topics, payload schemas, and one decoder for every channel.

docs/protocol.md is the contract; this module is its executable form, shared by the host's
ingest and by the tests that play a device, so the two cannot disagree. Decoding validates while
it parses (msgspec), and every way a payload can be wrong ends in one ProtocolError with a reason
code, so the host counts bad input and never crashes on it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 512  # bytes, device->host
MAX_COMMAND = 256  # bytes, host->device: the bulb has little RAM to spare
DEFAULT_HEARTBEAT_S = 300
MISSED_HEARTBEATS = 3  # heartbeats are QoS 0; one lost one must not look like a dead bulb
KNOCK_ACK_TIMEOUT_S = 60
FUTURE_TOLERANCE_S = 300  # device clocks drift; beyond this a timestamp is wrong, not early
KEEPALIVE_S = 60  # MQTT keepalive of a bulb; the broker fires its last will after 1.5x this

PREFIX = "anbu/v1/dev/"
HOST_CLIENT_PREFIX = "anbu-host-"
# \A..\Z, not ^..$: `$` also matches before a trailing newline, which would let "abc\n" in.
DEVICE_ID_PATTERN = r"\A[a-z0-9][a-z0-9-]{2,31}\Z"

# Channels, the last topic level.
EVT = "evt"
HB = "hb"
STATUS = "status"
CMD = "cmd"
ACK = "ack"
CHANNELS = (EVT, HB, STATUS, CMD, ACK)
QOS = {EVT: 1, HB: 0, STATUS: 1, CMD: 1, ACK: 1}
RETAIN = {EVT: False, HB: False, STATUS: True, CMD: False, ACK: False}
# What the host subscribes to (QoS 1, persistent session); paho's subscribe() takes this list.
HOST_SUBSCRIPTIONS = [(f"{PREFIX}+/{ch}", 1) for ch in (EVT, HB, STATUS, ACK)]

EVENT_KINDS = frozenset({"on", "off", "boot"})
STATUS_STATES = frozenset({"online", "offline"})
COMMANDS = frozenset({"knock", "knock_stop", "ping", "sync"})
# Known reset causes; not enforced, so a new firmware's cause still gets its heartbeat through.
RESET_CAUSES = frozenset({"power_on", "hard", "wdt", "deepsleep", "soft"})

# Why a payload was rejected, in the order decode checks; ingest adds the last two.
REASONS = (
    "topic",
    "size",
    "json",
    "version",
    "schema",
    "kind",
    "topic_mismatch",
    "future",
    "unknown_device",
    "replay",
)

DeviceId = Annotated[str, Meta(pattern=DEVICE_ID_PATTERN)]
Count = Annotated[int, Meta(ge=0, le=2**31 - 1)]  # fits a PostgreSQL integer column
Uptime = Annotated[int, Meta(ge=0)]  # milliseconds since boot
# UTC seconds, finite and before 2106; int stays int so a payload re-encodes byte for byte.
_EPOCH = Meta(ge=0, le=2**32 - 1)
Epoch = Annotated[int, _EPOCH] | Annotated[float, _EPOCH]
Flag = Literal[0, 1]
CommandId = Annotated[str, Meta(pattern=r"\A[A-Za-z0-9._:-]{1,32}\Z")]
Short = Annotated[str, Meta(min_length=1, max_length=32)]


class ProtocolError(ValueError):
    """A payload or topic that breaks the contract; `reason` is what the host counts."""

    def __init__(self, reason: str, topic: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail} (topic {topic!r})")
        self.reason = reason
        self.topic = topic


class _Msg(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    """Common base: every payload carries the protocol major version, first on the wire.

    Subclasses are keyword-only, so their fields are listed in wire order, not default order.
    """

    v: int

    def __post_init__(self) -> None:
        # Rules that span fields; msgspec turns a ValueError here into a ValidationError.
        if getattr(self, "sy", 0) == 1 and getattr(self, "t", 0) is None:
            raise ValueError("`t` is required when `sy` is 1 - at `$.t`")


class EventMsg(_Msg, kw_only=True):
    """A switch event; (d, b, s) is its identity, so QoS 1 duplicates are stored once."""

    d: DeviceId
    b: Count
    s: Count
    k: str  # checked against EVENT_KINDS by decode, so an unknown kind has its own reason
    t: Epoch | None = None
    sy: Flag
    up: Uptime
    a: CommandId | None = None  # the knock this on/off answered
    q: Count | None = None  # events the full device queue dropped since the last one sent


class HeartbeatMsg(_Msg, kw_only=True):
    """Proof of life plus telemetry; only d, b, sy and up are needed to count as heard."""

    d: DeviceId
    b: Count
    t: Epoch | None = None
    sy: Flag
    up: Uptime
    rssi: Annotated[int, Meta(ge=-128, le=0)] | None = None
    heap: Count | None = None
    q: Count | None = None
    drop: Count | None = None
    rc: Short | None = None
    fw: Short | None = None
    lamp: Flag | None = None
    hmin: Count | None = None  # lowest free heap since boot


class StatusMsg(_Msg, kw_only=True):
    """Retained online/offline; the offline one is also the bulb's last will."""

    d: DeviceId
    b: Count
    st: str  # checked against STATUS_STATES by decode
    pm: Literal["switched", "mains"] | None = None
    fw: Short | None = None
    hb: Annotated[int, Meta(ge=10, le=3600)] | None = None
    t: Epoch | None = None
    sy: Flag = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.st == "online" and (self.pm is None or self.hb is None):
            raise ValueError("online status needs `pm` and `hb` - at `$.pm`/`$.hb`")


class CommandMsg(_Msg, kw_only=True):
    """A host->bulb command; the bulb executes each `id` once, since QoS 1 may redeliver."""

    id: CommandId
    c: str  # checked against COMMANDS by decode
    dur: Annotated[int, Meta(ge=10, le=3600)] | None = None  # knock length, seconds

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.c == "knock" and self.dur is None:
            raise ValueError("knock needs `dur` - at `$.dur`")


class AckMsg(_Msg, kw_only=True):
    """The bulb's answer to a command id; ok=0 carries a short `err`."""

    d: DeviceId
    id: CommandId
    ok: Flag
    t: Epoch | None = None
    sy: Flag = 0
    err: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


Message = EventMsg | HeartbeatMsg | StatusMsg | CommandMsg | AckMsg
SCHEMAS: dict[str, type[Message]] = {
    EVT: EventMsg,
    HB: HeartbeatMsg,
    STATUS: StatusMsg,
    CMD: CommandMsg,
    ACK: AckMsg,
}
# The field that names what a message is, and the values this version knows.
_KIND_FIELDS = {EVT: ("k", EVENT_KINDS), STATUS: ("st", STATUS_STATES), CMD: ("c", COMMANDS)}
_TOPIC = re.compile(r"^anbu/v1/dev/([^/]+)/([^/]+)$")
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_encoder = msgspec.json.Encoder()
_decoders = {ch: msgspec.json.Decoder(schema) for ch, schema in SCHEMAS.items()}


class _Envelope(msgspec.Struct):
    """Just enough to tell 'not an object' and 'other version' apart from a schema error."""

    v: Any = None


def topic_for(device_id: str, channel: str) -> str:
    """The one place topic strings are built, so a typo cannot create a silent topic."""
    if not _DEVICE_ID.match(device_id) or channel not in CHANNELS:
        raise ValueError(f"no topic for device {device_id!r} channel {channel!r}")
    return f"{PREFIX}{device_id}/{channel}"


def parse_topic(topic: str) -> tuple[str, str]:
    """(device id, channel) of a v1 device topic; anything else is foreign and rejected."""
    m = _TOPIC.match(topic)
    if m is None:
        if re.match(r"^anbu/v(?!1/)[^/]*/", topic):
            raise ProtocolError("version", topic, "topic is not protocol v1")
        raise ProtocolError("topic", topic, f"not an {PREFIX}{{id}}/{{channel}} topic")
    device_id, channel = m.groups()
    if not _DEVICE_ID.match(device_id):
        raise ProtocolError("topic", topic, f"device id {device_id!r} is not {DEVICE_ID_PATTERN}")
    if channel not in CHANNELS:
        raise ProtocolError("topic", topic, f"unknown channel {channel!r}")
    return device_id, channel


def decode(topic: str, payload: bytes, now: float | None = None) -> Message:
    """Validate one received payload against its topic; pass `now` (UTC s) to reject future t."""
    device_id, channel = parse_topic(topic)
    limit = MAX_COMMAND if channel == CMD else MAX_PAYLOAD
    if len(payload) > limit:
        raise ProtocolError("size", topic, f"payload is {len(payload)} bytes, limit {limit}")
    try:
        msg = _decoders[channel].decode(payload)
    except msgspec.ValidationError as e:
        _explain_invalid(topic, payload)
        raise ProtocolError("schema", topic, str(e)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise ProtocolError("json", topic, f"not JSON: {e}") from None
    if msg.v != PROTOCOL_VERSION:
        raise ProtocolError("version", topic, f"`v` is {msg.v}, expected {PROTOCOL_VERSION}")
    if channel in _KIND_FIELDS:
        field, known = _KIND_FIELDS[channel]
        value = getattr(msg, field)
        if value not in known:
            raise ProtocolError("kind", topic, f"unknown `{field}` {value!r} - at `$.{field}`")
    if channel != CMD and msg.d != device_id:
        raise ProtocolError(
            "topic_mismatch", topic, f"`d` is {msg.d!r} but the topic is for {device_id!r}"
        )
    t = getattr(msg, "t", None)
    synced = getattr(msg, "sy", 0) == 1
    if now is not None and synced and t is not None and t > now + FUTURE_TOLERANCE_S:
        raise ProtocolError(
            "future", topic, f"`t` {t} is {t - now:.0f} s ahead of now (limit {FUTURE_TOLERANCE_S})"
        )
    return msg


def _explain_invalid(topic: str, payload: bytes) -> None:
    """Raise json/version when that, not a field, is why the schema did not fit."""
    # msgspec stops at the first bad field, so the rest of the payload may not even be JSON.
    try:
        env = msgspec.json.decode(payload, type=_Envelope)
    except msgspec.ValidationError:
        raise ProtocolError("json", topic, "payload is not a JSON object") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise ProtocolError("json", topic, f"not JSON: {e}") from None
    if type(env.v) is int and env.v != PROTOCOL_VERSION:
        raise ProtocolError("version", topic, f"`v` is {env.v}, expected {PROTOCOL_VERSION}")


def sent_at(msg: EventMsg | HeartbeatMsg | StatusMsg | AckMsg, received: float) -> float:
    """The device's time if its clock was synced, else the receive time (flag it: sy == 0)."""
    t = msg.t
    return float(t) if msg.sy == 1 and t is not None else received


def encode(msg: Message) -> bytes:
    """Compact JSON for publishing; it does not validate, so tests can play a broken bulb."""
    return _encoder.encode(msg)
