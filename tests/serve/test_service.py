"""The live host against a real Mosquitto, with bulbs played by paho clients.

The engine runs on a config that makes hours into seconds (a 3 s silence knocks, a knock lasts
2.4 s), rather than driving a fake clock: the host reads the wall clock like in production.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from host import decisions as d
from host import events as ev
from host.store.sqlite import SqliteStore
from tests.firmware.rig import wait_until
from tests.serve.fleet import FakeBulb, Host, config, register

FAST = {  # hours into seconds: knock after 3 s of silence, 2.4 s to answer, never quiet hours
    "min_gap_h": 3 / 3600, "max_gap_h": 3 / 3600, "ceiling_h": 60 / 3600,
    "knock_timeout_min": 0.04, "quiet_start_h": 0, "quiet_end_h": 0, "renotify_min": 60.0,
}


@pytest.fixture
def home(tmp_path):
    register(tmp_path / "anbu.db", {"h1": [("bulb-0001", ev.SWITCHED)],
                                    "h2": [("bulb-0002", ev.SWITCHED)]})
    return tmp_path


@pytest.fixture
def bulbs(broker):
    made: list[FakeBulb] = []

    def make(device: str, **kw) -> FakeBulb:
        bulb = FakeBulb(broker.port, device, **kw)
        made.append(bulb)
        return bulb

    yield make
    for bulb in made:
        bulb.close()


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stored(path, sql: str, *args) -> list:
    with SqliteStore(path) as s:
        return s._conn.execute(sql, args).fetchall()


def metric(service, name: str, **labels) -> float:
    value = service.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def test_events_are_stored_once_acknowledged_and_counted(home, broker, bulbs):
    cfg = config(home, broker.port)
    with Host(cfg) as service:
        bulb = bulbs("bulb-0001")
        bulb.online()
        for i in range(20):
            bulb.event("on" if i % 2 == 0 else "off")
        bulb.seq = 3
        bulb.event("off")  # seq 3 again: a QoS 1 duplicate
        bulb.client.publish("anbu/v1/dev/bulb-0001/evt", b"{not json", qos=1).wait_for_publish()
        bulb.client.publish("anbu/v1/dev/bulb-0077/evt", json.dumps(
            {"v": 1, "d": "bulb-0077", "b": 1, "s": 0, "k": "on", "sy": 0, "up": 1}),
            qos=1).wait_for_publish()
        wait_until(lambda: metric(service, "anbu_rejected_total", reason="unknown_device"), 10,
                   "the unknown bulb to be counted")
        assert metric(service, "anbu_events_total", kind="on") == 10
        assert metric(service, "anbu_rejected_total", reason="replay") == 1
        assert metric(service, "anbu_rejected_total", reason="json") == 1
        status, body = get(service.web.port, "/health")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok", health
        assert health["unknown_devices"] == {"bulb-0077": 1}
        status, body = get(service.web.port, "/metrics")
        assert status == 200
        assert b'anbu_rejected_total{reason="json"} 1.0' in body
        assert b'anbu_ingest_lag_seconds_count' in body
    rows = stored(home / "anbu.db", "SELECT kind, seq FROM events WHERE device_id = 'bulb-0001'"
                  " ORDER BY id")
    assert rows[0] == ("online", None)
    assert [seq for _, seq in rows[1:]] == list(range(20))
    # Everything was acknowledged: a second host with the same session gets nothing again
    # (only the retained status, which it recognises).
    with Host(cfg) as service:
        time.sleep(1.0)
        assert metric(service, "anbu_rejected_total", reason="replay") == 0
        assert metric(service, "anbu_events_total", kind="on") == 0
        assert service.replayed == 0  # the first host saved its engine state on SIGTERM


def test_a_knock_reaches_the_bulb_and_its_answer_resolves_the_case(home, broker, bulbs):
    cfg = config(home, broker.port, engine=FAST)
    with Host(cfg):
        bulb = bulbs("bulb-0001")
        bulb.online()
        knock = bulb.wait_command("knock", timeout=15)
        assert 10 <= knock.dur <= 3600
        bulb.event("on", answer=knock.id)
        wait_until(lambda: stored(home / "anbu.db", "SELECT outcome FROM cases WHERE"
                                  " outcome IS NOT NULL"), 10, "the case to be resolved")
    with SqliteStore(home / "anbu.db") as s:
        case = s.cases("h1")[0]
        assert case.outcome == ev.RESIDENT_ANSWERED
        (cmd,) = [c for c in s.commands("bulb-0001") if c.id == knock.id]
        assert cmd.ok is True and cmd.acked_at is not None and cmd.case_id == case.id


def test_a_knock_nobody_acks_fails_and_alarms(home, broker, bulbs):
    cfg = config(home, broker.port, engine=FAST, ingest={"ack_timeout_s": 1.0})
    with Host(cfg) as service:
        bulb = bulbs("bulb-0002", auto_ack=False)  # a bulb whose Wi-Fi is gone after online
        bulb.online()
        knock = bulb.wait_command("knock", timeout=15)
        stop = bulb.wait_command("knock_stop", timeout=10)
        assert stop.id != knock.id
        wait_until(lambda: metric(service, "anbu_actions_total", action="Alarm"), 10, "an alarm")
        assert metric(service, "anbu_command_failures_total", command="knock", why="timeout") == 1
    with SqliteStore(home / "anbu.db") as s:
        case = s.cases("h2")[0]
        assert case.state == d.CASE_ALARM
        alarms = [h for h in s.case_history(case.id) if h.detail["action"] == "alarm"]
        assert [a.detail["reason"]["code"] for a in alarms] == [d.KNOCK_UNDELIVERED]
        assert [e.kind for e in s.events("h2")].count(ev.KNOCK_FAILED) == 1
        (cmd,) = [c for c in s.commands("bulb-0002") if c.id == knock.id]
        assert cmd.failed_at is not None and cmd.acked_at is None


def test_timers_wait_while_the_broker_is_away(home, broker, bulbs):
    cfg = config(home, broker.port, engine=FAST)
    with Host(cfg) as service:
        bulbs("bulb-0001").online()
        wait_until(lambda: service._ticking, 10, "timers to run")
        broker.stop()
        wait_until(lambda: not service._ticking, 10, "timers to pause")
        status, body = get(service.web.port, "/health")
        assert status == 503 and json.loads(body)["mqtt"]["connected"] is False
        time.sleep(4)  # longer than the knock gap: nothing may be judged meanwhile
        assert metric(service, "anbu_actions_total", action="Knock") == 0
        broker.start()
        wait_until(lambda: service._ticking, 20, "timers to run again")


def test_heartbeats_lost_while_the_host_was_down_open_no_device_case(home, broker, bulbs):
    # Heartbeats are QoS 0: the broker keeps none for a host that is away. A bulb heartbeating
    # all along must not look dead after a restart, and one silent since must be missed only
    # missed_heartbeats * hb after the host listens again (hb 10 s, the protocol's least).
    cfg = config(home, broker.port, engine={"missed_heartbeats": 1})
    db = home / "anbu.db"

    def device_cases(household: str) -> list:
        with SqliteStore(db) as s:
            return [c for c in s.cases(household) if c.kind == d.DEVICE]

    alive, beating = bulbs("bulb-0001", hb=10), threading.Event()
    silent = bulbs("bulb-0002", hb=10)

    def beat() -> None:
        while not beating.wait(2.0):
            alive.heartbeat()

    with Host(cfg) as service:
        alive.online()
        silent.online()
        wait_until(lambda: service._ticking and all(
            (st := service.engine.state(h)) is not None and st.device_due < float("inf")
            for h in ("h1", "h2")), 10, "both bulbs online")
    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        time.sleep(12)  # longer than the deadline: the host hears none of these heartbeats
        restarted = time.time()
        with Host(cfg) as service:
            wait_until(lambda: service._ticking, 10, "timers to run")
            time.sleep(2)
            assert device_cases("h1") == [] and device_cases("h2") == []
            wait_until(lambda: device_cases("h2"), 15, "the silent bulb's device case")
            (case,) = device_cases("h2")
            assert case.opened_at >= restarted + 10  # counted from when the host listened
            assert device_cases("h1") == []
    finally:
        beating.set()
        beater.join(5)


def test_a_sibling_bulbs_heartbeat_before_the_timers_run_takes_no_bulb_for_dead(tmp_path, broker,
                                                                               bulbs):
    # Two bulbs in one household; the host is away longer than their deadline, so it heard
    # neither's heartbeats. Back, it waits for the backlog (settle) before running timers; a
    # heartbeat of one bulb in that window must not find the other overdue: the engine hears
    # that the host listens again as soon as it is subscribed, before any message.
    register(tmp_path / "anbu.db", {"h3": [("bulb-0003", ev.SWITCHED),
                                           ("bulb-0004", ev.SWITCHED)]})
    cfg = config(tmp_path, broker.port, engine={"missed_heartbeats": 1},
                 ingest={"settle_ms": 4000.0, "settle_max_s": 8.0})
    first, second = bulbs("bulb-0003", hb=10), bulbs("bulb-0004", hb=10)
    with Host(cfg) as service:
        first.online()
        second.online()
        wait_until(lambda: (st := service.engine.state("h3")) is not None
                   and all(dev.online for dev in st.devices.values()), 10, "both bulbs online")
    time.sleep(11)  # past both deadlines, unheard
    with Host(cfg) as service:
        first.heartbeat()  # in the settle window: timers are not running yet
        wait_until(lambda: service._ticking, 15, "timers to run")
        second.heartbeat()
        time.sleep(0.5)
    with SqliteStore(tmp_path / "anbu.db") as s:
        assert [c for c in s.cases("h3") if c.kind == d.DEVICE] == []
