"""The protocol contract: docs/protocol.md and host/protocol.py must say the same thing.

The doc's examples and tables are parsed here, so a change to one side without the other fails.
The MQTT tests publish through a real Mosquitto, started by the `broker` fixture.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import protocol as p
from host.protocol import (
    ACK,
    CMD,
    EVT,
    HB,
    STATUS,
    AckMsg,
    CommandMsg,
    EventMsg,
    HeartbeatMsg,
    ProtocolError,
    StatusMsg,
    decode,
    encode,
    parse_topic,
    topic_for,
)

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text("utf-8")
NOW = 1764040000.0
DEV = "bulb-0001"


def _section(number: int) -> str:
    """The text of section `## {number}.` of the doc, up to the next section."""
    m = re.search(rf"^## {number}\. .*?(?=^## |\Z)", DOC, re.S | re.M)
    assert m, f"docs/protocol.md has no section {number}"
    return m.group(0)


def _doc_examples() -> list[tuple[str, str]]:
    """Every ```json TOPIC block of the doc, one message per line."""
    blocks = re.findall(r"^```json (\S+)\n(.*?)^```", DOC, re.S | re.M)
    return [(topic, line) for topic, body in blocks for line in body.splitlines() if line.strip()]


def _doc_rejections() -> list[tuple[str, str, str]]:
    """(reason, topic, payload) rows of the doc's rejection examples table."""
    row = re.compile(r"^\| `(\w+)` \| `([^`]+)` \| `([^`]+)` \|", re.M)
    return row.findall(_section(9))


EXAMPLES = _doc_examples()
REJECTIONS = _doc_rejections()


def _names(field: str, message: str) -> bool:
    """msgspec names a field as `$.x` (bad value) or `x` in backticks (missing)."""
    return f"$.{field}`" in message or f"`{field}`" in message


def _reject(topic: str, payload: bytes | str, reason: str, now: float | None = NOW) -> str:
    raw = payload.encode() if isinstance(payload, str) else payload
    with pytest.raises(ProtocolError) as info:
        decode(topic, raw, now=now)
    err = info.value
    assert err.reason == reason, str(err)
    assert err.topic == topic
    assert topic in str(err)
    return str(err)


# --- the doc's examples and tables ---------------------------------------------------------


@pytest.mark.parametrize(("topic", "payload"), EXAMPLES)
def test_every_doc_example_decodes_and_round_trips(topic: str, payload: str) -> None:
    msg = decode(topic, payload.encode(), now=time.time())
    assert isinstance(msg, p.SCHEMAS[parse_topic(topic)[1]])
    compact = json.dumps(json.loads(payload), separators=(",", ":"), ensure_ascii=False)
    assert payload == compact, "doc examples must be compact JSON"
    assert decode(topic, encode(msg)) == msg


def test_doc_examples_cover_every_channel_kind_and_power_mode() -> None:
    msgs = [decode(t, x.encode()) for t, x in EXAMPLES]
    assert {parse_topic(t)[1] for t, _ in EXAMPLES} == set(p.CHANNELS)
    assert {m.k for m in msgs if isinstance(m, EventMsg)} == p.EVENT_KINDS
    assert {m.st for m in msgs if isinstance(m, StatusMsg)} == p.STATUS_STATES
    assert {m.c for m in msgs if isinstance(m, CommandMsg)} == p.COMMANDS
    assert {m.pm for m in msgs if isinstance(m, StatusMsg) and m.pm} == {"switched", "mains"}
    assert {m.ok for m in msgs if isinstance(m, AckMsg)} == {0, 1}
    assert any(getattr(m, "sy", None) == 0 and getattr(m, "t", 0) is None for m in msgs)


@pytest.mark.parametrize(("reason", "topic", "payload"), REJECTIONS)
def test_every_doc_rejection_example_fails_with_its_reason(
    reason: str, topic: str, payload: str
) -> None:
    _reject(topic, payload, reason, now=time.time())


def test_doc_lists_exactly_the_reason_codes() -> None:
    reasons_table = _section(9).split("The checks run")[0]
    assert re.findall(r"^\| `(\w+)` \|", reasons_table, re.M) == list(p.REASONS)
    assert {r for r, _, _ in REJECTIONS} == set(p.REASONS) - {"size", "unknown_device", "replay"}


def test_doc_topic_table_matches_qos_and_retain() -> None:
    rows = re.findall(r"^\| `anbu/v1/dev/\{id\}/(\w+)` \| [^|]+ \| (\d) \| \**(yes|no)\** \|",
                      _section(2), re.M)  # fmt: skip
    assert {ch: int(q) for ch, q, _ in rows} == p.QOS
    assert {ch: r == "yes" for ch, _, r in rows} == p.RETAIN
    filters = re.findall(r"`(anbu/v1/dev/\+/\w+)`", _section(2))
    assert [(f, 1) for f in filters] == p.HOST_SUBSCRIPTIONS


def test_doc_constants_table_matches_the_module() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d+) \|", _section(12), re.M)
    assert {name: int(v) for name, v in rows} == {
        "PROTOCOL_VERSION": 1,
        "MAX_PAYLOAD": 512,
        "MAX_COMMAND": 256,
        "DEFAULT_HEARTBEAT_S": 300,
        "MISSED_HEARTBEATS": 3,
        "KNOCK_ACK_TIMEOUT_S": 60,
        "FUTURE_TOLERANCE_S": 300,
        "KEEPALIVE_S": 60,
    }
    for name, value in rows:
        assert getattr(p, name) == int(value), name


# --- topics --------------------------------------------------------------------------------


def test_topic_helpers_round_trip() -> None:
    for ch in p.CHANNELS:
        assert parse_topic(topic_for("abc", ch)) == ("abc", ch)
    assert topic_for(DEV, EVT) == "anbu/v1/dev/bulb-0001/evt"
    with pytest.raises(ValueError, match="no topic"):
        topic_for("Bulb", EVT)
    with pytest.raises(ValueError, match="no topic"):
        topic_for(DEV, "log")
    with pytest.raises(ValueError, match="no topic"):
        topic_for("abc\n", EVT)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("anbu/v1/dev/ab/evt", "topic"),  # id too short
        ("anbu/v1/dev/bulb-0001\n/evt", "topic"),  # `$` would have let the newline in
        ("anbu/v1/dev/-bulb/evt", "topic"),  # leading hyphen
        (f"anbu/v1/dev/{'a' * 33}/evt", "topic"),  # id too long
        ("anbu/v1/dev/bulb-0001/log", "topic"),
        ("anbu/v1/dev/bulb-0001/evt/x", "topic"),
        ("anbu/v1/dev/bulb-0001", "topic"),
        ("other/v1/dev/bulb-0001/evt", "topic"),
        ("", "topic"),
        ("anbu/v2/dev/bulb-0001/evt", "version"),
    ],
)
def test_foreign_or_malformed_topics_are_rejected(topic: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_topic(topic)
    assert info.value.reason == reason
    assert repr(topic) in str(info.value)


# --- one concrete bad payload per reason ---------------------------------------------------

EVT_T = topic_for(DEV, EVT)
GOOD_EVT = {"v": 1, "d": DEV, "b": 17, "s": 42, "k": "on", "t": NOW, "sy": 1, "up": 5321000}


def _evt(**changes: object) -> bytes:
    body = {**GOOD_EVT, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_size_limit_is_exact() -> None:
    pad = p.MAX_PAYLOAD - len(_evt(x=""))
    assert decode(EVT_T, _evt(x="z" * pad)).s == 42  # 512 bytes: fine
    msg = _reject(EVT_T, _evt(x="z" * (pad + 1)), "size")
    assert "513 bytes" in msg
    cmd_t = topic_for(DEV, CMD)
    cmd = {"v": 1, "id": "c-1", "c": "ping", "x": ""}
    cmd["x"] = "z" * (p.MAX_COMMAND - len(json.dumps(cmd)))
    assert decode(cmd_t, json.dumps(cmd).encode()).c == "ping"
    cmd["x"] += "z"
    assert "257 bytes" in _reject(cmd_t, json.dumps(cmd), "size")


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b"\xff\xfe", b'{"v":1,', b'{"v":1,"d":"\xff"}', b"{} x"]
)
def test_not_json_is_rejected(payload: bytes) -> None:
    _reject(EVT_T, payload, "json")


@pytest.mark.parametrize("payload", [b"[]", b'"on"', b"1", b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected(payload: bytes) -> None:
    assert "JSON object" in _reject(EVT_T, payload, "json")


def test_other_versions_are_rejected_before_their_schema() -> None:
    assert "`v` is 2" in _reject(EVT_T, _evt(v=2), "version")
    # a v2 payload need not look like v1 at all: still a version error, not a schema error
    assert "`v` is 2" in _reject(EVT_T, b'{"v":2,"event":{"kind":"on"}}', "version")
    assert _names("v", _reject(EVT_T, _evt(v="1"), "schema"))
    assert _names("v", _reject(EVT_T, _evt(v=True), "schema"))
    assert _names("v", _reject(EVT_T, _evt(v=...), "schema"))


@pytest.mark.parametrize(
    ("channel", "payload", "field"),
    [
        (EVT, _evt(s=...), "s"),
        (EVT, _evt(b="17"), "b"),
        (EVT, _evt(b=-1), "b"),
        (EVT, _evt(b=2**31), "b"),
        (EVT, _evt(s=1.0), "s"),
        (EVT, _evt(d="BULB-1"), "d"),
        (EVT, _evt(d="bulb-0001\n"), "d"),
        (EVT, _evt(t=-1), "t"),
        (EVT, _evt(t=2**32), "t"),
        (EVT, _evt(t=...), "t"),  # sy is 1, so t is required
        (EVT, _evt(sy=2), "sy"),
        (EVT, _evt(up=...), "up"),
        (EVT, _evt(a="x" * 33), "a"),
        (EVT, _evt(a="has space"), "a"),
        (EVT, _evt(a="c-1\n"), "a"),
        (EVT, _evt(q=-1), "q"),
        (HB, b'{"v":1,"d":"bulb-0001","b":1,"sy":0,"up":1,"rssi":5}', "rssi"),
        (HB, b'{"v":1,"d":"bulb-0001","b":1,"sy":0,"up":1,"lamp":true}', "lamp"),
        (HB, b'{"v":1,"d":"bulb-0001","b":1,"sy":0,"up":1,"fw":""}', "fw"),
        (STATUS, b'{"v":1,"d":"bulb-0001","b":1,"st":"online","hb":300}', "pm"),
        (STATUS, b'{"v":1,"d":"bulb-0001","b":1,"st":"online","pm":"mains"}', "hb"),
        (STATUS, b'{"v":1,"d":"bulb-0001","b":1,"st":"online","pm":"solar","hb":300}', "pm"),
        (STATUS, b'{"v":1,"d":"bulb-0001","b":1,"st":"online","pm":"mains","hb":5}', "hb"),
        (CMD, b'{"v":1,"c":"ping"}', "id"),
        (CMD, b'{"v":1,"id":"","c":"ping"}', "id"),
        (CMD, b'{"v":1,"id":"c-1","c":"knock"}', "dur"),
        (CMD, b'{"v":1,"id":"c-1","c":"knock","dur":3601}', "dur"),
        (ACK, b'{"v":1,"d":"bulb-0001","id":"c-1","ok":"yes"}', "ok"),
        (ACK, b'{"v":1,"d":"bulb-0001","id":"c-1","ok":0,"err":"' + b"e" * 65 + b'"}', "err"),
    ],
)
def test_schema_errors_name_the_field(channel: str, payload: bytes, field: str) -> None:
    msg = _reject(topic_for(DEV, channel), payload, "schema")
    assert _names(field, msg), msg


@pytest.mark.parametrize(
    ("channel", "payload", "field"),
    [
        (EVT, _evt(k="flash"), "k"),
        (EVT, _evt(k="ON"), "k"),
        (STATUS, b'{"v":1,"d":"bulb-0001","b":1,"st":"sleeping"}', "st"),
        (CMD, b'{"v":1,"id":"c-1","c":"reboot"}', "c"),
    ],
)
def test_unknown_kinds_have_their_own_reason(channel: str, payload: bytes, field: str) -> None:
    assert f"$.{field}`" in _reject(topic_for(DEV, channel), payload, "kind")


def test_device_id_must_match_the_topic() -> None:
    msg = _reject(topic_for("bulb-0002", EVT), _evt(), "topic_mismatch")
    assert "`d`" in msg and "bulb-0001" in msg and "bulb-0002" in msg
    ack = b'{"v":1,"d":"bulb-0001","id":"c-1","ok":1}'
    _reject(topic_for("bulb-0002", ACK), ack, "topic_mismatch")
    assert decode(topic_for(DEV, ACK), ack).ok == 1


def test_future_timestamps_only_matter_when_synced_and_now_is_given() -> None:
    limit = NOW + p.FUTURE_TOLERANCE_S
    assert decode(EVT_T, _evt(t=limit), now=NOW).t == limit
    assert "`t`" in _reject(EVT_T, _evt(t=limit + 1), "future")
    assert decode(EVT_T, _evt(t=limit + 1), now=None).t == limit + 1  # no clock, no check
    unsynced = decode(EVT_T, _evt(t=limit + 1000, sy=0), now=NOW)  # t is ignored when sy is 0
    assert p.sent_at(unsynced, received=NOW) == NOW
    st_t = topic_for(DEV, STATUS)
    online = b'{"v":1,"d":"bulb-0001","b":1,"st":"online","pm":"mains","hb":300,"t":%d,"sy":1}'
    _reject(st_t, online % (limit + 1), "future")


def test_unknown_keys_are_ignored_and_null_means_absent() -> None:
    msg = decode(EVT_T, _evt(color="red", extra={"nested": [1, 2]}, a=None, q=None))
    assert msg == decode(EVT_T, _evt())
    assert msg.a is None and msg.q is None


def test_sent_at_prefers_a_synced_device_clock() -> None:
    assert p.sent_at(decode(EVT_T, _evt(t=NOW - 60)), received=NOW) == NOW - 60
    assert p.sent_at(decode(EVT_T, _evt(t=..., sy=0)), received=NOW) == NOW


def test_the_first_failing_check_gives_the_reason() -> None:
    # a v2 payload with an unknown kind for another device: version comes first
    _reject(topic_for("bulb-0002", EVT), _evt(v=2, k="flash"), "version")
    # an unknown kind for another device: kind comes before topic_mismatch
    _reject(topic_for("bulb-0002", EVT), _evt(k="flash"), "kind")
    # a foreign topic never gets as far as the payload
    _reject("anbu/v1/dev/X/evt", b"garbage", "topic")


# --- round trips ---------------------------------------------------------------------------

ids = st.from_regex(r"\A[a-z0-9][a-z0-9-]{2,31}\Z")
cmd_ids = st.from_regex(r"\A[A-Za-z0-9._:-]{1,32}\Z")
counts = st.integers(0, 2**31 - 1)
flags = st.sampled_from([0, 1])
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=32)
epochs = st.one_of(
    st.integers(0, 2**32 - 1),
    st.floats(0, 2**32 - 1, allow_nan=False, allow_infinity=False),
)


def _timed(draw: st.DrawFn) -> dict[str, object]:
    sy = draw(flags)
    t = draw(epochs) if sy else draw(st.none() | epochs)
    return {"sy": sy, "t": t}


@st.composite
def events(draw: st.DrawFn) -> EventMsg:
    return EventMsg(
        v=1, d=draw(ids), b=draw(counts), s=draw(counts),
        k=draw(st.sampled_from(sorted(p.EVENT_KINDS))), up=draw(st.integers(0, 2**62)),
        a=draw(st.none() | cmd_ids), q=draw(st.none() | counts), **_timed(draw),
    )  # fmt: skip


@st.composite
def heartbeats(draw: st.DrawFn) -> HeartbeatMsg:
    opt = lambda s: draw(st.none() | s)  # noqa: E731
    return HeartbeatMsg(
        v=1, d=draw(ids), b=draw(counts), up=draw(st.integers(0, 2**62)),
        rssi=opt(st.integers(-128, 0)), heap=opt(counts), q=opt(counts), drop=opt(counts),
        rc=opt(texts), fw=opt(texts), lamp=opt(flags), hmin=opt(counts), **_timed(draw),
    )  # fmt: skip


@st.composite
def statuses(draw: st.DrawFn) -> StatusMsg:
    online = draw(st.booleans())
    return StatusMsg(
        v=1, d=draw(ids), b=draw(counts), st="online" if online else "offline",
        pm=draw(st.sampled_from(["switched", "mains"])) if online else None,
        hb=draw(st.integers(10, 3600)) if online else None,
        fw=draw(st.none() | texts), **_timed(draw),
    )  # fmt: skip


@st.composite
def commands(draw: st.DrawFn) -> CommandMsg:
    c = draw(st.sampled_from(sorted(p.COMMANDS)))
    dur = draw(st.integers(10, 3600)) if c == "knock" else draw(st.none() | st.integers(10, 3600))
    return CommandMsg(v=1, id=draw(cmd_ids), c=c, dur=dur)


@st.composite
def acks(draw: st.DrawFn) -> AckMsg:
    err = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)
    return AckMsg(
        v=1, d=draw(ids), id=draw(cmd_ids), ok=draw(flags), err=draw(st.none() | err),
        **_timed(draw),
    )  # fmt: skip


CHANNEL_OF = {EventMsg: EVT, HeartbeatMsg: HB, StatusMsg: STATUS, CommandMsg: CMD, AckMsg: ACK}
messages = st.one_of(events(), heartbeats(), statuses(), commands(), acks())


@settings(max_examples=300)
@given(messages, ids)
def test_valid_messages_round_trip(msg: p.Message, cmd_device: str) -> None:
    device = msg.d if not isinstance(msg, CommandMsg) else cmd_device
    topic = topic_for(device, CHANNEL_OF[type(msg)])
    raw = encode(msg)
    assert len(raw) <= (p.MAX_COMMAND if topic.endswith("/cmd") else p.MAX_PAYLOAD)
    assert next(iter(json.loads(raw).items())) == ("v", 1)  # the version leads
    assert decode(topic, raw) == msg


def test_encode_is_compact_and_omits_absent_keys() -> None:
    raw = encode(CommandMsg(v=1, id="c-8f3a", c="knock", dur=900))
    assert raw == b'{"v":1,"id":"c-8f3a","c":"knock","dur":900}'
    raw = encode(StatusMsg(v=1, d=DEV, b=17, st="offline"))
    assert raw == b'{"v":1,"d":"bulb-0001","b":17,"st":"offline"}'


def test_host_cannot_build_a_knock_without_duration() -> None:
    with pytest.raises(ValueError, match="dur"):
        CommandMsg(v=1, id="c-1", c="knock")


# --- nothing but ProtocolError, whatever arrives --------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)
channels = st.sampled_from(p.CHANNELS)
any_topic = st.one_of(channels.map(lambda ch: topic_for(DEV, ch)), st.text(max_size=60))


def _decode_or_protocol_error(topic: str, payload: bytes, now: float | None) -> None:
    try:
        msg = decode(topic, payload, now=now)
    except ProtocolError as e:
        assert e.reason in p.REASONS[:8]
        return
    assert isinstance(msg, p.SCHEMAS[parse_topic(topic)[1]])


@settings(max_examples=400)
@given(any_topic, st.binary(max_size=600), st.none() | st.floats(allow_nan=False))
def test_arbitrary_bytes_only_raise_protocol_error(
    topic: str, raw: bytes, now: float | None
) -> None:
    _decode_or_protocol_error(topic, raw, now)


@settings(max_examples=400)
@given(channels, json_values)
def test_arbitrary_json_only_raises_protocol_error(channel: str, value: object) -> None:
    _decode_or_protocol_error(topic_for(DEV, channel), json.dumps(value).encode(), NOW)


@settings(max_examples=400)
@given(st.sampled_from(EXAMPLES), st.data())
def test_mutated_examples_only_raise_protocol_error(
    example: tuple[str, str], data: st.DataObject
) -> None:
    topic, payload = example
    body = json.loads(payload)
    key = data.draw(st.sampled_from([*body, "extra"]))
    if data.draw(st.booleans()):
        body.pop(key, None)
    else:
        body[key] = data.draw(json_values)
    _decode_or_protocol_error(topic, json.dumps(body).encode(), NOW)


# --- through the real broker ---------------------------------------------------------------

TIMEOUT = 10.0


def _client(client_id: str) -> mqtt.Client:
    return mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
    )


def _connect(client: mqtt.Client, port: int) -> None:
    """Connect, start the network thread, and wait for the broker's CONNACK."""
    acked: queue.Queue[object] = queue.Queue()
    client.on_connect = lambda c, u, flags, code, props: acked.put(code)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    assert not acked.get(timeout=TIMEOUT).is_failure


class _Host:
    """A subscriber with the host's filters that keeps what arrives for one test device."""

    def __init__(self, device: str, port: int) -> None:
        self.port = port
        self.prefix = f"anbu/v1/dev/{device}/"
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subscribed: queue.Queue[int] = queue.Queue()
        self.client = _client(f"anbu-host-{device}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subscribed.put(mid)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith(self.prefix):  # other tests' devices share the broker
            self.inbox.put(msg)

    def __enter__(self) -> _Host:
        _connect(self.client, self.port)
        _, mid = self.client.subscribe(p.HOST_SUBSCRIPTIONS)
        assert self.subscribed.get(timeout=TIMEOUT) == mid
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def receive(self) -> mqtt.MQTTMessage:
        return self.inbox.get(timeout=TIMEOUT)


def test_event_through_mosquitto_arrives_and_decodes(broker) -> None:
    device = f"test-{uuid.uuid4().hex[:12]}"
    sent = EventMsg(v=1, d=device, b=17, s=42, k="on", t=time.time(), sy=1, up=5321000)
    with _Host(device, broker.port) as host:
        bulb = _client(device)
        _connect(bulb, broker.port)
        try:
            info = bulb.publish(topic_for(device, EVT), encode(sent), qos=p.QOS[EVT])
            info.wait_for_publish(timeout=TIMEOUT)
            assert info.is_published()
            got = host.receive()
        finally:
            bulb.disconnect()
            bulb.loop_stop()
    assert got.qos == 1 and not got.retain
    assert decode(got.topic, got.payload, now=time.time()) == sent


def test_last_will_arrives_as_a_decodable_offline_status(broker) -> None:
    device = f"test-{uuid.uuid4().hex[:12]}"
    topic = topic_for(device, STATUS)
    online = StatusMsg(v=1, d=device, b=3, st="online", pm="mains", hb=300)
    will = StatusMsg(v=1, d=device, b=3, st="offline")
    with _Host(device, broker.port) as host:
        try:
            bulb = _client(device)
            bulb.will_set(topic, encode(will), qos=1, retain=p.RETAIN[STATUS])
            _connect(bulb, broker.port)
            bulb.publish(topic, encode(online), qos=1, retain=True).wait_for_publish(TIMEOUT)
            bulb.loop_stop()
            assert decode(topic, host.receive().payload) == online
            bulb.socket().shutdown(socket.SHUT_RDWR)  # the power goes, no DISCONNECT is sent
            bulb.loop(timeout=0.2)  # let paho notice and close its sockets
            got = host.receive()
            assert decode(got.topic, got.payload) == will
        finally:  # leave no retained status behind
            host.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(TIMEOUT)
