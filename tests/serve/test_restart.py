"""Restarts: `anbu serve` killed (SIGKILL) or stopped (SIGTERM) forgets no open case, knock or
decision, and raises nothing twice."""

from __future__ import annotations

import queue
import time

from host import decisions as d
from host import events as ev
from host.serve.ingest import Inbound
from host.serve.service import Service
from host.store.sqlite import SqliteStore
from tests.firmware.rig import free_port, wait_until
from tests.serve.fleet import FakeBulb, HostProcess, config, register
from tests.serve.test_service import FAST


def case_of(path, household: str):
    with SqliteStore(path) as s:
        cases = s.cases(household)
        return (cases[-1], s.case_history(cases[-1].id)) if cases else (None, [])


def test_a_killed_host_forgets_no_open_case_and_does_not_alarm_it_again(tmp_path, broker):
    db = tmp_path / "anbu.db"
    register(db, {"h1": [("bulb-0001", ev.SWITCHED)]})
    host = HostProcess(tmp_path, broker.port, engine=FAST, ingest={"ack_timeout_s": 1.0})
    bulb = FakeBulb(broker.port, "bulb-0001", auto_ack=False)
    try:
        host.start()
        bulb.online()
        wait_until(lambda: case_of(db, "h1")[0] and case_of(db, "h1")[0].state == d.CASE_ALARM,
                   20, "the knock to fail and alarm")
        host.kill()
        case, history = case_of(db, "h1")
        host.start()
        wait_until(lambda: host.health().get("timers_running"), 20, "timers to run")
        time.sleep(4)  # longer than the knock gap: a host that forgot the case would knock again
        assert case_of(db, "h1") == (case, history)  # nothing raised again, nothing lost
        assert host.health()["engine"]["replayed_at_start"] > 0  # rebuilt from the journal
        bulb.event("on")  # the restarted engine knows the case: activity is noted on it
        wait_until(lambda: len(case_of(db, "h1")[1]) > len(history), 10, "activity noted")
        note = case_of(db, "h1")[1][-1]
        assert note.detail["action"] == "case_changed" and "activity seen" in note.note
        assert host.stop() == 0
    finally:
        bulb.close()
        host.kill()


def test_a_knock_running_when_the_host_died_still_fails_after_the_restart(tmp_path, broker):
    db = tmp_path / "anbu.db"
    register(db, {"h1": [("bulb-0001", ev.SWITCHED)]})
    # The knock lasts 6 s and the bulb has 3 s to ack: time enough for a restart between.
    host = HostProcess(tmp_path, broker.port, engine={**FAST, "knock_timeout_min": 0.1,
                                                      "min_gap_h": 0.002, "max_gap_h": 0.002},
                       ingest={"ack_timeout_s": 3.0})
    bulb = FakeBulb(broker.port, "bulb-0001", auto_ack=False)
    try:
        host.start()
        bulb.online()
        knock = bulb.wait_command("knock", timeout=30)
        host.kill()  # within the 3 s the bulb has to ack
        host.start()
        wait_until(lambda: bulb.received("knock_stop"), 20, "the knock to time out")
        wait_until(lambda: case_of(db, "h1")[0].state == d.CASE_ALARM, 20, "the alarm")
        with SqliteStore(db) as s:
            assert [e.kind for e in s.events("h1")].count(ev.KNOCK_FAILED) == 1
            (cmd,) = [c for c in s.commands("bulb-0001") if c.command == "knock"]
            assert cmd.id == knock.id and cmd.failed_at is not None
        assert host.stop() == 0
    finally:
        bulb.close()
        host.kill()


def test_sigterm_saves_the_engine_so_the_next_start_replays_nothing(tmp_path, broker):
    db = tmp_path / "anbu.db"
    register(db, {"h1": [("bulb-0001", ev.SWITCHED)]})
    host = HostProcess(tmp_path, broker.port)
    bulb = FakeBulb(broker.port, "bulb-0001")
    try:
        host.start()
        bulb.online()
        for kind in ("on", "off", "on"):
            bulb.event(kind)
        wait_until(lambda: len(list(SqliteStore(db).events("h1"))) == 4, 10, "events stored")
        assert host.stop() == 0
        with SqliteStore(db) as s:
            assert [h for h, _, _ in s.engine_state()] == ["h1"]
            assert list(s.engine_inputs()) == []
            assert s.mark("effects_through") == s.mark("state_through") > 0
        assert '"event": "stopped"' in host.log()
        host.start()
        engine = host.health()["engine"]
        assert engine["households"] == 1 and engine["replayed_at_start"] == 0
        # Since the start: at most the one `listening` input it gives h1 once subscribed.
        assert engine["journal_inputs"] <= 1
    finally:
        bulb.close()
        host.stop()


def test_decisions_committed_but_not_carried_out_are_carried_out_at_the_next_start(tmp_path):
    """A crash between the commit and the publish: the knock goes out when the host is back,
    with the same command id (a bulb that did get it acks it again and does not pulse twice)."""
    db = tmp_path / "anbu.db"
    register(db, {"h1": [("bulb-0001", ev.SWITCHED)]})
    cfg = config(tmp_path, free_port(), engine=FAST)  # no broker: nothing leaves the process
    first = Service(cfg)
    first._effects = lambda outgoing, actions: None  # the process dies right after the commit
    now = time.time()
    online = ('{"v":1,"d":"bulb-0001","b":1,"st":"online","pm":"switched","hb":300,"sy":0}')
    first.process([Inbound("anbu/v1/dev/bulb-0001/status", online.encode(), 1, 1, False, now)],
                  now)
    first.process([], now + 5)  # the knock is due
    first.store.close()
    with SqliteStore(db) as s:
        (sent,) = s.commands("bulb-0001")

    second = Service(cfg)
    published: queue.SimpleQueue = queue.SimpleQueue()
    second.link.publish = lambda topic, payload: published.put((topic, payload))
    second.start()
    second.stop()
    second.shutdown()
    topic, payload = published.get_nowait()
    assert topic == "anbu/v1/dev/bulb-0001/cmd" and sent.id.encode() in payload
    assert published.empty()
