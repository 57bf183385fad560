"""The dashboard's desk on the live host: rows published, actions taken through the loop."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from host import decisions as d
from host import events as ev
from host.events import Event
from host.serve.desk import ServiceDesk
from host.store.sqlite import SqliteStore
from tests.firmware.rig import wait_until
from tests.notify.receivers import SmtpReceiver
from tests.serve.fleet import FakeBulb, Host, config, register
from tests.serve.test_service import FAST


@pytest.fixture
def home(tmp_path):
    register(tmp_path / "anbu.db", {"h1": [("bulb-0001", ev.SWITCHED)],
                                    "h2": [("bulb-0002", ev.SWITCHED)]})
    return tmp_path


def test_rows_follow_the_engine_and_a_caseworker_resolves_a_case(home, broker):
    cfg = config(home, broker.port, engine=FAST, ingest={"ack_timeout_s": 1.0})
    with Host(cfg) as service, SqliteStore(home / "anbu.db") as reads:
        desk = ServiceDesk(service, reads)
        rows = {r.id: r for r in desk.rows()}
        assert set(rows) == {"h1", "h2"}  # registered, never heard: still listed
        assert rows["h1"].last_activity is None and not rows["h1"].devices[0].online
        bulb = FakeBulb(broker.port, "bulb-0001", auto_ack=False)
        try:
            bulb.online()
            bulb.heartbeat()
            bulb.wait_command("knock", timeout=15)  # nobody acks: an alarm follows
            wait_until(lambda: {r.id: r for r in desk.rows()}["h1"].status == d.ALARM, 15,
                       "the board to show the alarm")
            row = {r.id: r for r in desk.rows()}["h1"]
            assert row.devices[0].online and row.welfare_state == d.CASE_ALARM
            detail = desk.detail("h1")
            assert [t.device for t in detail.telemetry] == ["bulb-0001"]
            assert detail.telemetry[0].fields["up"] == 5000
            assert len(detail.routine_weekday) == 24 and detail.routine_weekday[0].knock_after_h

            case = row.welfare_case
            assert desk.act(Event("h1", time.time(), ev.ACK, None,
                                  (case, None, "kim", "calling her"))) is None
            refusal = desk.act(Event("h1", time.time(), ev.RESOLVE, None,
                                     (case, "bored", "kim", "")))
            assert refusal == "unknown outcome 'bored'"
            assert desk.act(Event("h1", time.time(), ev.RESOLVE, None,
                                  (case, ev.FALSE_ALARM, "kim", "she was asleep"))) is None
            wait_until(lambda: {r.id: r for r in desk.rows()}["h1"].welfare_case is None, 5,
                       "the board to drop the case")
        finally:
            bulb.close()
        with pytest.raises(KeyError):
            desk.detail("nobody")
    with SqliteStore(home / "anbu.db") as s:
        (record,) = s.cases("h1")
        assert record.outcome == ev.FALSE_ALARM
        steps = [(h.state, h.actor, h.note) for h in s.case_history(record.id) if h.actor]
        assert steps == [(d.CASE_ACKNOWLEDGED, "kim", "calling her"),
                         (d.CASE_RESOLVED, "kim", "she was asleep")]
        kinds = [e.kind for e in s.events("h1") if e.kind in ev.PEOPLE_KINDS]
        assert kinds == [ev.ACK, ev.RESOLVE, ev.RESOLVE]  # kept, refused one too


def test_away_set_from_the_desk_survives_a_restart(home, broker):
    cfg = config(home, broker.port)
    until = time.time() + 86400
    with Host(cfg) as service, SqliteStore(home / "anbu.db") as reads:
        assert ServiceDesk(service, reads).act(Event("h2", time.time(), ev.AWAY, None,
                                                     until)) is None
    with Host(cfg) as service, SqliteStore(home / "anbu.db") as reads:
        row = {r.id: r for r in ServiceDesk(service, reads).rows()}["h2"]
        assert row.status == d.AWAY and row.away_until == pytest.approx(until)


def test_yesterdays_summary_is_emailed_once_when_its_hour_has_come(home, broker):
    smtp = SmtpReceiver()
    notify = {"email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                        "from": "anbu@example.org", "to": ["caseworkers@example.org"]}}
    dashboard = {"summary_to": ["office@example.org"], "summary_at": "00:00",
                 "summary_from": "anbu@example.org"}
    cfg = config(home, broker.port, notify=notify, dashboard=dashboard)
    try:
        with Host(cfg):
            wait_until(lambda: smtp.messages, 15, "the daily summary")
        (mail,) = smtp.messages
        assert smtp.envelopes[0][1] == ["office@example.org"]
        yesterday = (datetime.now(ZoneInfo("Asia/Seoul")).date() - timedelta(days=1))
        assert yesterday.isoformat() in mail["Subject"]
        with Host(cfg):  # restarted the same day: already sent
            time.sleep(1.5)
        assert len(smtp.messages) == 1
    finally:
        smtp.close()
