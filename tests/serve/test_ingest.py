"""Reading messages: what each channel becomes, and every way one is turned away."""

from __future__ import annotations

import json

import pytest

from host import events as ev
from host.serve.ingest import (
    Acked,
    Ignored,
    Inbound,
    Reader,
    Registry,
    Rejected,
    RejectLog,
    ToEngine,
    ToStore,
)
from host.store.sqlite import SqliteStore

T = 1_764_000_000.0


class Clock:
    def __init__(self, t: float = T) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store():
    s = SqliteStore()
    s.add_household("h1", "Kim", created_at=0.0)
    s.add_device("bulb-0001", "h1", ev.SWITCHED, created_at=0.0)
    s.add_device("bulb-0002", "h1", ev.MAINS, created_at=0.0)
    yield s
    s.close()


@pytest.fixture
def reader(store):
    return Reader(Registry(store, Clock()), will_delay_s=90.0)


def msg(device: str, channel: str, body: dict | bytes, at: float = T, retain: bool = False):
    payload = body if isinstance(body, bytes) else json.dumps({"v": 1, "d": device, **body})
    if isinstance(payload, str):
        payload = payload.encode()
    return Inbound(f"anbu/v1/dev/{device}/{channel}", payload, 1, 1, retain, at)


def test_a_switch_event_is_stored_with_its_identity_and_device_time(reader):
    out = reader.read(msg("bulb-0001", "evt", {"b": 3, "s": 7, "k": "on", "t": T - 5, "sy": 1,
                                               "up": 9, "a": "k-1"}))
    assert out == ToStore(("h1", T - 5, ev.ON, "bulb-0001", 3, 7, True, T, "k-1"))


def test_an_unsynced_event_takes_the_receive_time_and_says_so(reader):
    out = reader.read(msg("bulb-0001", "evt", {"b": 3, "s": 8, "k": "off", "sy": 0, "up": 9}))
    assert (out.stored.time, out.stored.synced) == (T, False)


def test_boot_is_a_switch_on_for_a_mains_bulb_and_a_sign_of_life_otherwise(reader):
    mains = reader.read(msg("bulb-0002", "evt", {"b": 1, "s": 0, "k": "boot", "sy": 0, "up": 1}))
    switched = reader.read(msg("bulb-0001", "evt", {"b": 1, "s": 0, "k": "boot", "sy": 0,
                                                    "up": 1}))
    assert (mains.stored.kind, mains.stored.detail) == (ev.ON, "boot")
    assert (switched.stored.kind, switched.stored.seq) == (ev.HEARTBEAT, 0)


def test_heartbeat_goes_to_the_engine_only_and_ack_to_the_commands(reader):
    hb = reader.read(msg("bulb-0001", "hb", {"b": 1, "sy": 1, "t": T - 1, "up": 5}))
    assert hb == ToEngine(ev.Event("h1", T - 1, ev.HEARTBEAT, "bulb-0001"))
    ack = reader.read(msg("bulb-0001", "ack", {"id": "k-1", "ok": 0, "err": "dur"}))
    assert isinstance(ack, Acked) and (ack.device, ack.msg.id, ack.msg.ok) == ("bulb-0001",
                                                                                 "k-1", 0)


def test_online_carries_mode_heartbeat_and_boot_to_the_engine(reader):
    out = reader.read(msg("bulb-0001", "status", {"b": 4, "st": "online", "pm": "switched",
                                                  "hb": 60, "sy": 0}))
    assert out.stored.kind == ev.ONLINE and out.stored.detail == ("switched", 60.0, 4)
    assert (out.stored.boot, out.stored.seq) == (4, None)


def test_a_last_will_is_dated_by_when_the_bulb_went_quiet(reader):
    reader.read(msg("bulb-0002", "status", {"b": 1, "st": "online", "pm": "mains", "hb": 60,
                                            "sy": 0}, at=T - 1000))
    reader.read(msg("bulb-0002", "hb", {"b": 1, "sy": 0, "up": 5}, at=T - 200))
    will = reader.read(msg("bulb-0002", "status", {"b": 1, "st": "offline"}, at=T))
    assert will.stored.time == T - 90  # heard 200 s ago; the will fires 90 s after silence
    reader.read(msg("bulb-0002", "status", {"b": 1, "st": "online", "pm": "mains", "hb": 60,
                                            "sy": 0}, at=T + 10))
    will = reader.read(msg("bulb-0002", "status", {"b": 1, "st": "offline"}, at=T + 40))
    assert will.stored.time == T + 10  # never before it was last heard


def test_a_retained_status_seen_again_or_from_an_older_boot_changes_nothing(reader):
    online = {"b": 5, "st": "online", "pm": "switched", "hb": 60, "sy": 0}
    assert isinstance(reader.read(msg("bulb-0001", "status", online)), ToStore)
    again = reader.read(msg("bulb-0001", "status", online, at=T + 5, retain=True))
    assert again == Ignored("repeated_status")
    stale = reader.read(msg("bulb-0001", "status", {"b": 4, "st": "offline"}, at=T + 6))
    assert stale == Ignored("stale_status")
    live = reader.read(msg("bulb-0001", "status", online, at=T + 7))  # a reconnect, live
    assert isinstance(live, ToStore)
    empty = reader.read(msg("bulb-0001", "status", b"", retain=True))
    assert empty == Ignored("empty_retained")


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("anbu/v1/dev/Bulb_1/evt", b'{"v":1}', "topic"),
    ("anbu/v1/dev/bulb-0001/evt", b"x" * 600, "size"),
    ("anbu/v1/dev/bulb-0001/evt", b'{"v":1,"d":"bulb-0001","b":1', "json"),
    ("anbu/v1/dev/bulb-0001/evt", b'\xff\xfe', "json"),
    ("anbu/v1/dev/bulb-0001/evt", b'{"v":2,"d":"bulb-0001","b":1,"s":0,"k":"on","sy":0,"up":5}',
     "version"),
    ("anbu/v1/dev/bulb-0001/evt", b'{"v":1,"d":"bulb-0001","b":"1","s":0,"k":"on","sy":0,'
     b'"up":5}', "schema"),
    ("anbu/v1/dev/bulb-0001/evt", b'{"v":1,"d":"bulb-0001","b":1,"s":0,"k":"dance","sy":0,'
     b'"up":5}', "kind"),
    ("anbu/v1/dev/bulb-0001/evt", b'{"v":1,"d":"bulb-0002","b":1,"s":0,"k":"on","sy":0,"up":5}',
     "topic_mismatch"),
    ("anbu/v1/dev/bulb-0001/evt", b'{"v":1,"d":"bulb-0001","b":1,"s":0,"k":"on","t":4000000000,'
     b'"sy":1,"up":5}', "future"),
    ("anbu/v1/dev/bulb-0009/evt", b'{"v":1,"d":"bulb-0009","b":1,"s":0,"k":"on","sy":0,"up":5}',
     "unknown_device"),
    ("anbu/v1/dev/bulb-0001/cmd", b'{"v":1,"id":"c-1","c":"ping"}', "topic"),
])
def test_bad_input_is_rejected_with_its_reason(reader, topic, payload, reason):
    out = reader.read(Inbound(topic, payload, 1, 1, False, T))
    assert isinstance(out, Rejected) and out.reason == reason, out


def test_a_device_provisioned_while_running_is_found_within_a_minute(store):
    clock = Clock()
    reader = Reader(Registry(store, clock))
    evt = msg("bulb-0003", "evt", {"b": 1, "s": 0, "k": "on", "sy": 0, "up": 5})
    assert reader.read(evt).reason == "unknown_device"
    store.add_device("bulb-0003", "h1", ev.SWITCHED, created_at=0.0)
    assert reader.read(evt).reason == "unknown_device"  # not asked again within the minute
    clock.t += 61
    assert isinstance(reader.read(evt), ToStore)


def test_rejections_are_logged_once_per_device_per_minute(caplog):
    clock = Clock(0.0)
    log = RejectLog(60.0, clock)
    bad = Rejected("json", "bulb-0001", "not JSON")
    with caplog.at_level("WARNING", logger="anbu.ingest"):
        assert log("t", bad)
        assert not log("t", bad._replace(reason="schema"))
        assert log("t", bad._replace(device="bulb-0002"))
        clock.t = 61.0
        assert log("t", bad)
    assert len(caplog.records) == 3
    assert caplog.records[-1].fields["held_back"] == 1


def test_a_flood_of_made_up_ids_cannot_flood_the_log(caplog):
    clock = Clock(0.0)
    log = RejectLog(60.0, clock, most=2)
    with caplog.at_level("WARNING", logger="anbu.ingest"):
        logged = [log("t", Rejected("unknown_device", f"bulb-{i:04d}", "?")) for i in range(5)]
        clock.t = 60.0
        assert log("t", Rejected("unknown_device", "bulb-9999", "?"))
    assert logged == [True, True, False, False, False]
    assert [r.fields["event"] for r in caplog.records] == [
        "rejected", "rejected", "rejected_not_logged", "rejected"]
    assert caplog.records[2].fields["count"] == 3
