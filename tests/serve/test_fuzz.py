"""10,000 hostile payloads through a real Mosquitto into the running host.

Each payload is a valid message with one defect of a known kind, so the host's count by reason
must match exactly; the real bulb's events in between must all be stored, the host must stay
healthy, and the log says each bad device once a minute, not once a message.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

import paho.mqtt.client as mqtt

from host import events as ev
from host.protocol import REASONS
from tests.firmware.rig import wait_until
from tests.serve.fleet import FakeBulb, Host, config, register

N = 10_000
DEVICES = ["bulb-0001", "bulb-0002", "bulb-0003"]  # registered; bulb-0001 also sends real events


def valid(rng: random.Random, device: str, channel: str, now: float) -> dict:
    base = {"v": 1, "d": device}
    if channel == "evt":
        return {**base, "b": rng.randrange(1, 1000), "s": rng.randrange(10**6),
                "k": rng.choice(["on", "off", "boot"]), "t": now, "sy": 1, "up": 5}
    if channel == "hb":
        return {**base, "b": 1, "sy": 0, "up": 5, "rssi": -60}
    if channel == "status":
        return {**base, "b": 1, "st": "online", "pm": "switched", "hb": 300, "sy": 0}
    return {**base, "id": "c-1", "ok": 1}


REQUIRED = {"evt": ["v", "d", "b", "s", "k", "sy", "up"], "hb": ["v", "d", "b", "sy", "up"],
            "status": ["v", "d", "b", "st"], "ack": ["v", "d", "id", "ok"]}
INTS = {"evt": ["b", "s", "up"], "hb": ["b", "up"], "status": ["b"], "ack": []}
BAD_VALUES = ["1", 1.5, True, None, [], {}, -1, 2**31, 2**64, "", "x" * 40]


def hostile(rng: random.Random, now: float) -> tuple[str, bytes, str]:
    """(topic, payload, the reason the host must give)."""
    device = rng.choice(DEVICES)
    channel = rng.choice(["evt", "hb", "status", "ack"])
    msg = valid(rng, device, channel, now)
    topic = f"anbu/v1/dev/{device}/{channel}"
    defect = rng.choice(["topic", "size", "json", "notobject", "version", "missing", "type",
                         "range", "synced", "kind", "mismatch", "future", "unknown"])
    if defect == "topic":
        bad = rng.choice(["Bulb_1", "ab", "x" * 33, "-bulb", "bulb.1", "bülb-1", "bulb 1"])
        return f"anbu/v1/dev/{bad}/{channel}", json.dumps(msg).encode(), "topic"
    if defect == "size":
        msg["junk"] = "z" * rng.randrange(520, 3000)
        return topic, json.dumps(msg).encode(), "size"
    if defect == "json":
        text = json.dumps(msg).encode()
        cut = rng.choice([text[: rng.randrange(1, len(text) - 1)],
                          b"\xff\xfe" + bytes(rng.randrange(256) for _ in range(20)),
                          text.replace(b":", b"=", 1), b""])
        return topic, cut, "json"
    if defect == "notobject":
        return topic, rng.choice([b"[1,2,3]", b'"on"', b"42", b"null", b"true"]), "json"
    if defect == "version":
        msg["v"] = rng.choice([0, 2, 99])
        return topic, json.dumps(msg).encode(), "version"
    if defect == "missing":
        del msg[rng.choice([k for k in REQUIRED[channel] if k != "v"])]
        return topic, json.dumps(msg).encode(), "schema"
    if defect == "type":
        key = rng.choice(["d", "sy"] + INTS[channel])
        msg[key] = rng.choice([v for v in BAD_VALUES if v not in (0, 1)
                               and not (key == "up" and type(v) is int and v >= 0)])
        if key == "d" and isinstance(msg[key], str):
            msg[key] = 7  # a string id that fits the pattern would be a topic mismatch
        return topic, json.dumps(msg).encode(), "schema"
    if defect == "range":
        if channel == "status":
            msg["hb"] = rng.choice([0, 9, 3601])
        elif channel == "hb":
            msg["rssi"] = rng.choice([1, -129])
        elif channel == "ack":
            msg["ok"] = rng.choice([2, -1])
        else:
            msg["b"] = rng.choice([-1, 2**31])
        return topic, json.dumps(msg).encode(), "schema"
    if defect == "synced":
        msg.pop("t", None)
        msg["sy"] = 1
        return topic, json.dumps(msg).encode(), "schema"
    if defect == "kind":
        if channel in ("evt", "status"):
            msg["k" if channel == "evt" else "st"] = rng.choice(["flash", "ON", "", "reboot"])
            return topic, json.dumps(msg).encode(), "kind"
        msg["d"] = "bulb-9999"
        return topic, json.dumps(msg).encode(), "topic_mismatch"
    if defect == "mismatch":
        msg["d"] = rng.choice([d for d in DEVICES if d != device])
        return topic, json.dumps(msg).encode(), "topic_mismatch"
    if defect == "future" and channel != "hb":
        msg["t"], msg["sy"] = now + rng.choice([400, 86400, 10**9]), 1
        return topic, json.dumps(msg).encode(), "future"
    unknown = f"bulb-{rng.randrange(10**6):06d}x"
    msg["d"] = unknown
    return f"anbu/v1/dev/{unknown}/{channel}", json.dumps(msg).encode(), "unknown_device"


def test_ten_thousand_hostile_payloads_are_counted_by_reason_and_lose_nothing(tmp_path, broker,
                                                                              caplog):
    register(tmp_path / "anbu.db", {"h1": [(d, ev.SWITCHED) for d in DEVICES]})
    rng = random.Random(6)
    cfg = config(tmp_path, broker.port)
    with Host(cfg) as service:
        bulb = FakeBulb(broker.port, "bulb-0001")
        attacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fuzzer",
                               protocol=mqtt.MQTTv311)
        attacker.max_inflight_messages_set(100)
        attacker.connect("127.0.0.1", broker.port)
        attacker.loop_start()
        try:
            bulb.online()
            expected: Counter[str] = Counter()
            now = time.time()
            infos = []
            for i in range(N):
                topic, payload, reason = hostile(rng, now)
                expected[reason] += 1
                infos.append(attacker.publish(topic, payload, qos=1))
                if i % 50 == 0:
                    bulb.event("on" if (i // 50) % 2 == 0 else "off")
            for info in infos:
                info.wait_for_publish(30)
            sent = bulb.seq
            bulb.seq = 0
            for _ in range(min(20, sent)):  # QoS 1 duplicates of stored events: replays
                bulb.event("on")
            expected["replay"] += min(20, sent)

            def counted() -> Counter:
                return Counter({r: int(service.metrics.registry.get_sample_value(
                    "anbu_rejected_total", {"reason": r}) or 0) for r in expected})

            wait_until(lambda: sum(counted().values()) >= sum(expected.values()), 60,
                       "every hostile payload to be counted")
            assert counted() == expected
            events = service.metrics.registry.get_sample_value
            assert (events("anbu_events_total", {"kind": "on"})
                    + events("anbu_events_total", {"kind": "off"})) == sent
            assert service.health()["status"] == "ok"
            assert set(expected) == set(REASONS)  # every reason was tried
        finally:
            attacker.loop_stop()
            attacker.disconnect()
            bulb.close()
    lines = [r for r in caplog.records if r.name == "anbu.ingest"
             and r.fields["event"] == "rejected"]
    assert len(lines) == len({r.fields["device"] for r in lines})  # once per device a minute
    assert len(lines) <= 200  # and a flood of made-up ids is capped
