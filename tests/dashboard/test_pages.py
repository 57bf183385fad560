"""The dashboard's pages at the request level: a real SqliteStore, a real Engine behind a
LocalDesk, the real Starlette app through Starlette's TestClient, and a real SMTP server.

One household (h1) lives a regular week with its bulb heartbeating, then is silent on the
eighth morning until the engine raises an alarm; the pages are driven from there.
"""

from __future__ import annotations

import ast
import json
import re
import string
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from host import case as ladder
from host import decisions as d
from host import events as ev
from host.dashboard import summary as daily
from host.dashboard.accounts import Accounts, LoginRefused
from host.dashboard.actions import CASE_ACTIONS
from host.dashboard.app import dashboard
from host.dashboard.audit import Audit
from host.dashboard.households_page import LIVE_FLOOR_S
from host.dashboard.local_desk import LocalDesk
from host.dashboard.messages import CATALOG, GROUPS, messages
from host.dashboard.settings import DashboardConfig
from host.decisions import Reason
from host.engine import Engine
from host.events import HEARTBEAT, ONLINE, Event
from host.notify.smtp import SmtpChannel
from host.store import DEAD, PENDING, SENT, Notification, UserRecord
from host.store.sqlite import SqliteStore
from tests.households import at, regular_days
from tests.notify.helpers import settled, sos, the_notify, webhook_notifier
from tests.notify.receivers import SmtpReceiver, WebhookReceiver

SEOUL = ZoneInfo("Asia/Seoul")
H, DEV = "h1", "bulb-0001"
ADMIN, ADMIN_PW = "admin1", "correct horse battery"
WORKER, WORKER_PW = "kim", "staple horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # tests only


class World:
    """Store, engine, desk and a clock the app and the desk share."""

    def __init__(self, path, settings: DashboardConfig | None = None, notify_email=None,
                 notifier=None):
        self.now = at(0, 0)
        self.store = SqliteStore(path)
        self.engine = Engine()
        self.desk = LocalDesk(self.engine, self.store, self.clock)
        self.settings = settings or DashboardConfig()
        self.accounts = Accounts(self.store, self.settings, self.clock, CHEAP)
        self.accounts.add_user(ADMIN, ADMIN_PW, "admin", "관리자 박")
        self.accounts.add_user(WORKER, WORKER_PW, "caseworker", "김복지")
        self.app = dashboard(self.store, self.desk, self.settings, notify_email=notify_email,
                             clock=self.clock, accounts=self.accounts, notifier=notifier)
        self.last_beat = 0.0

    def clock(self) -> float:
        return self.now

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver")

    def home(self, hid: str = H, name: str = "김말순") -> None:
        self.store.add_household(hid, name, created_at=at(0, 0) - 60)
        self.store.add_device(DEV if hid == H else f"bulb-{hid}", hid, ev.SWITCHED,
                              created_at=at(0, 0) - 60)

    def live_week(self) -> None:
        """h1: a regular week, the bulb heartbeating hourly; the clock ends at day 7 00:00."""
        self.home()
        events = [Event(H, at(0, 0), ONLINE, DEV, (ev.SWITCHED, 3600))]
        events += [e._replace(device=DEV) for e in regular_days(H, 7)]
        events += [Event(H, at(0, 0) + 3600 * i + 1, HEARTBEAT, DEV) for i in range(1, 7 * 24)]
        for e in sorted(events, key=lambda e: e.time):
            self.now = e.time
            assert self.desk.feed(e) is None
            if e.kind == HEARTBEAT:
                self.last_beat = e.time
        self.now = at(7, 0)

    def run_to(self, until: float, stop=lambda row: False) -> None:
        """Timers and hourly heartbeats up to `until` (or until stop(h1's row))."""
        while True:
            wake = self.engine.state(H).wake_at
            beat = self.last_beat + 3600
            t = beat if wake is None else min(wake, beat)
            if t > until:
                break
            self.now = t
            if t == beat:
                self.desk.feed(Event(H, t, HEARTBEAT, DEV))
                self.last_beat = t
            else:
                self.desk.tick(H, t)
            if stop(self.row()):
                return
        self.now = until

    def alarm(self) -> str:
        """A week of life, then a silent morning until the engine alarms; the case id."""
        self.live_week()
        self.run_to(at(7, 12), stop=lambda row: row.status == d.ALARM)
        row = self.row()
        assert row.status == d.ALARM, row
        self.now += 60
        return row.welfare_case

    def row(self, hid: str = H):
        return next(r for r in self.desk.rows() if r.id == hid)

    def audit(self, action: str | None = None, actor: str | None = None) -> list:
        entries = Audit(self.store).entries(1000, actor=actor)
        return [e for e in entries if action is None or e.action == action]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "anbu.db")
    yield w
    w.store.close()


def q(case_id: str) -> str:
    """A case id in a URL path (ids look like h1#2)."""
    return quote(case_id, safe="")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def login(client: TestClient, name: str = WORKER, password: str = WORKER_PW,
          next_url: str = "/") -> str:
    """Log in through the form; the session's CSRF token (from the page behind it)."""
    page = client.get("/login", params={"next": next_url})
    assert page.status_code == 200
    r = client.post("/login", data={"csrf": csrf_of(page.text), "name": name,
                                    "password": password, "next": next_url},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/summary").text)


def flash(client: TestClient, path: str) -> str:
    """The flash message the page at `path` shows (after a redirect)."""
    html = client.get(path).text
    match = re.search(r'class="flash flash-(ok|error)"[^>]*>([^<]*)<', html)
    return f"{match.group(1)}: {match.group(2)}" if match else ""


# -- logging in and out ---------------------------------------------------------------------


def test_login_then_pages_then_logout(world):
    world.home()
    c = world.client()
    r = c.get("/households/h1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fhouseholds%2Fh1"

    page = c.get(r.headers["location"])
    token = csrf_of(page.text)
    assert "anbu_login" in c.cookies
    bad = c.post("/login", data={"csrf": token, "name": WORKER, "password": "wrong password!",
                                 "next": "/households/h1"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "아이디 또는 비밀번호가 맞지 않습니다" in bad.text
    assert "anbu_session" not in c.cookies

    ok = c.post("/login", data={"csrf": csrf_of(bad.text), "name": WORKER,
                                "password": WORKER_PW, "next": "/households/h1"},
                follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/households/h1"
    cookie = ok.headers["set-cookie"]
    assert "anbu_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = c.get("/households/h1")
    assert home.status_code == 200 and "김말순" in home.text and "김복지" in home.text
    assert [e.actor for e in world.audit("login")] == [WORKER]

    out = c.post("/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert c.get("/", follow_redirects=False).status_code == 303
    assert world.audit("logout")


def test_the_live_refresh_does_not_keep_an_unattended_session_alive(world):
    world.home()
    c = world.client()
    login(c)
    idle = world.settings.session_idle_s
    for _ in range(3):
        world.now += idle / 3 - 1
        assert c.get("/", params={"partial": "rows"}).status_code == 200
    world.now += 3
    assert c.get("/", params={"partial": "rows"}).status_code == 401
    assert c.get("/", follow_redirects=False).status_code == 303  # to the login page


def test_login_refuses_a_form_without_its_token_and_foreign_redirects(world):
    c = world.client()
    c.get("/login")
    r = c.post("/login", data={"name": WORKER, "password": WORKER_PW})
    assert r.status_code == 403 and "보안 토큰" in r.text
    r = c.post("/login", data={"csrf": "forged", "name": WORKER, "password": WORKER_PW})
    assert r.status_code == 403
    assert "anbu_session" not in c.cookies and not world.audit("login")
    # A next= that leaves the site is replaced by the start page.
    page = c.get("/login")
    r = c.post("/login", data={"csrf": csrf_of(page.text), "name": WORKER,
                               "password": WORKER_PW, "next": "//evil.example/x"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_lockout_is_said_on_the_login_page(world):
    c = world.client()
    for _ in range(world.settings.max_failures):
        page = c.get("/login")
        r = c.post("/login", data={"csrf": csrf_of(page.text), "name": WORKER,
                                   "password": "not the password"})
    assert r.status_code == 401 and "계정이" in r.text and "잠겼습니다" in r.text
    page = c.get("/login")
    r = c.post("/login", data={"csrf": csrf_of(page.text), "name": WORKER,
                               "password": WORKER_PW})
    assert r.status_code == 401 and "잠겼습니다" in r.text
    # An admin unlocks the account on the users page.
    admin = world.client()
    token = login(admin, ADMIN, ADMIN_PW)
    users = admin.get("/admin/users")
    assert "잠금 해제" in users.text
    r = admin.post("/admin/users/unlock", data={"csrf": token, "name": WORKER})
    assert r.status_code == 200 and "잠금을 풀었습니다" in r.text
    login(c)
    assert world.audit("unlock")[0].target == WORKER


def test_every_page_needs_a_session(world):
    case = world.alarm()
    c = world.client()
    for path in ("/", "/alarms", "/households/h1", "/summary", "/admin/audit",
                 "/admin/users", "/?status=alarm"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")
    assert c.get("/?partial=rows", follow_redirects=False).status_code == 401
    for path in (f"/cases/{q(case)}/ack", "/households/h1/away", "/summary/email", "/logout"):
        assert c.post(path, data={"csrf": "x"}).status_code == 403, path
    assert world.store.case(case).state == d.CASE_ALARM
    # Static files are public (the login page needs its stylesheet).
    assert c.get("/static/style.css").status_code == 200


def test_a_caseworker_cannot_reach_admin_pages(world):
    world.home()
    c = world.client()
    token = login(c)
    assert "/admin/audit" not in c.get("/").text  # not even linked
    for path in ("/admin/audit", "/admin/users"):
        r = c.get(path)
        assert r.status_code == 403 and "관리자만" in r.text, path
    assert c.post("/admin/users/unlock", data={"csrf": token, "name": ADMIN}).status_code == 403
    assert c.post("/summary/email", data={"csrf": token}).status_code == 403
    assert {e.target for e in world.audit("forbidden")} == {
        "/admin/audit", "/admin/users", "/admin/users/unlock", "/summary/email"}
    admin = world.client()
    login(admin, ADMIN, ADMIN_PW)
    r = admin.get("/admin/audit")
    assert r.status_code == 200 and "forbidden" in r.text and WORKER in r.text


# -- forged forms -----------------------------------------------------------------------------


def test_forged_forms_are_refused_and_change_nothing(world):
    case = world.alarm()
    c = world.client()
    token = login(c)
    forged = [
        (f"/cases/{q(case)}/ack", {}),
        (f"/cases/{q(case)}/resolve", {"outcome": ev.FALSE_ALARM, "note": "x"}),
        (f"/cases/{q(case)}/assign", {"user": WORKER}),
        ("/households/h1/away", {"mode": "back"}),
        ("/lang", {"lang": "en"}),
        ("/logout", {}),
    ]
    for path, data in forged:
        for bad in (None, "", token[:-2] + "xx"):
            form = dict(data) if bad is None else {**data, "csrf": bad}
            r = c.post(path, data=form, follow_redirects=False)
            assert r.status_code == 403, (path, bad)
            assert "보안 토큰이 없거나 맞지 않아" in r.text
    assert world.store.case(case).state == d.CASE_ALARM
    assert world.store.case_history(case)[-1].actor is None
    assert world.store.assignments() == {}
    assert world.row().away_until is None
    page = c.get("/")  # still logged in, still in Korean
    assert page.status_code == 200 and '<html lang="ko">' in page.text
    refused = world.audit("csrf_refused")
    assert len(refused) == 3 * len(forged) and {e.actor for e in refused} == {WORKER}


# -- households at a glance -------------------------------------------------------------------


@pytest.fixture
def many(tmp_path):
    """25 households: statuses set as the engine would have recorded them, a few with activity."""
    w = World(tmp_path / "anbu.db", DashboardConfig(page_size=10))
    statuses = [d.FINE] * 15 + [d.WATCH] * 4 + [d.AWAY] * 2 + [d.DEVICE_FAULT] * 2 + \
        [d.ALARM, d.KNOCK]
    for i, status in enumerate(statuses):
        hid = f"hh{i:02d}"
        w.store.add_household(hid, f"{'가나다라마바사아자차카타파하'[i % 14]}{i:02d} 씨",
                              created_at=at(0, 0))
        if status != d.FINE:
            w.store.record([d.StatusChanged(hid, at(0, 1) + i, status)])
    for i in (3, 5, 7):  # heard from, at different times
        w.now = at(0, 2 + i)
        w.desk.feed(Event(f"hh{i:02d}", w.now, ev.ON))
    w.now = at(0, 12)
    yield w
    w.store.close()


def ids_on(html: str) -> list[str]:
    return re.findall(r'data-household="([^"]+)"', html)


def test_households_default_order_filter_search_sort_and_pages(many):
    c = many.client()
    login(c)
    page = c.get("/")
    assert page.status_code == 200
    shown = ids_on(page.text)
    assert len(shown) == 10
    assert shown[:4] == ["hh23", "hh24", "hh21", "hh22"]  # alarm, knock, device faults
    assert "1–10" in page.text and "25" in page.text
    assert 'data-count="alarm">1<' in page.text and 'data-count="fine">15<' in page.text

    alarm_knock = c.get("/", params=[("status", "alarm"), ("status", "knock")])
    assert ids_on(alarm_knock.text) == ["hh23", "hh24"]
    assert "경보" in alarm_knock.text and "노크 중" in alarm_knock.text

    found = c.get("/", params={"q": "HH07"})
    assert ids_on(found.text) == ["hh07"]
    by_name = c.get("/", params={"q": "마", "sort": "name"})
    assert ids_on(by_name.text) == ["hh04", "hh18"]

    names = ids_on(c.get("/", params={"sort": "-name"}).text)
    assert names[0] == "hh13"  # 하13 씨 sorts last in Korean order
    latest = ids_on(c.get("/", params={"sort": "-last_activity"}).text)
    assert latest[:3] == ["hh07", "hh05", "hh03"]

    second = c.get("/", params={"page": "2"})
    third = c.get("/", params={"page": "3"})
    beyond = c.get("/", params={"page": "9"})
    assert len(ids_on(second.text)) == 10 and len(ids_on(third.text)) == 5
    assert ids_on(beyond.text) == ids_on(third.text)  # past the end: the last page
    assert set(shown) | set(ids_on(second.text)) | set(ids_on(third.text)) == {
        f"hh{i:02d}" for i in range(25)}
    assert 'href="/?page=2"' in page.text

    for params, name in (({"status": "sleepy"}, "status"), ({"page": "x"}, "page"),
                         ({"page": "0"}, "page"), ({"sort": "age"}, "sort")):
        r = c.get("/", params=params)
        assert r.status_code == 400 and f"{name}:" in r.text, params
    assert len(many.audit("view_households")) == 9  # each full page once


def test_partial_refresh_returns_rows_without_an_audit_entry(many):
    c = many.client()
    login(c)
    c.get("/", params={"status": "alarm"})
    before = len(many.audit("view_households"))
    r = c.get("/", params={"status": "alarm", "partial": "rows"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    data = r.json()
    assert ids_on(data["rows"]) == ["hh23"]
    assert data["counts"]["fine"] == 15 and data["total"] == 1
    assert data["updated"].startswith("갱신 ") and "<html" not in data["rows"]
    # The board moves on (hh02 alarms); the next refresh shows it.
    many.store.record([d.StatusChanged("hh02", many.now, d.ALARM)])
    data = c.get("/", params={"status": "alarm", "partial": "rows"}).json()
    assert sorted(ids_on(data["rows"])) == ["hh02", "hh23"]
    assert len(many.audit("view_households")) == before


def test_households_page_shows_status_activity_devices_and_case(world):
    case = world.alarm()
    c = world.client()
    login(c)
    html = c.get("/").text
    row = re.search(r'<tr class="s-alarm" data-household="h1">.*?</tr>', html, re.S).group(0)
    assert "경보" in row and "김말순" in row
    assert "bulb-0001: 연결됨" in row and "마지막 신호" in row
    assert f"/alarms#case-{q(case)}" in row
    last = world.row().last_activity
    assert datetime.fromtimestamp(last, SEOUL).strftime("%Y-%m-%d %H:%M") in row
    assert re.search(r"\d+시간( \d+분)? 전", row)
    assert '<span class="count count-open" data-open-cases>1<' in html
    # Why, at a glance: the case's reason and how long the silence has lasted.
    reason = world.store.case(case).reason
    span = messages("ko").span(world.now - reason["since"])
    assert f'<small class="why">{messages("ko").word("reason", reason["code"])} · {span}째<' in row


# -- the alarm queue --------------------------------------------------------------------------


def test_acknowledge_then_resolve_with_outcome_and_note(world):
    case = world.alarm()
    c = world.client()
    token = login(c)
    queue = c.get("/alarms")
    assert f'id="case-{case}"' in queue.text
    assert "오늘 아침 아직 활동이 없습니다" in queue.text  # the reason in words
    assert 'data-action="ack"' in queue.text

    r = c.post(f"/cases/{q(case)}/ack", data={"csrf": token, "next": "/alarms"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alarms"
    assert flash(c, "/alarms") == f"ok: 사례 {case}를 접수했습니다."
    assert world.store.case(case).state == d.CASE_ACKNOWLEDGED
    assert 'data-action="ack"' not in c.get("/alarms").text

    world.now += 600
    r = c.post(f"/cases/{q(case)}/resolve",
               data={"csrf": token, "outcome": ev.RESIDENT_FINE, "note": "병원 다녀오셨음"})
    assert r.status_code == 200 and "해결로 닫았습니다" in r.text
    record = world.store.case(case)
    assert record.state == d.CASE_RESOLVED and record.outcome == ev.RESIDENT_FINE
    last = world.store.case_history(case)[-1]
    assert (last.actor, last.note) == (WORKER, "병원 다녀오셨음")
    assert f'id="case-{case}"' not in c.get("/alarms").text
    page = c.get("/households/h1").text
    assert "병원 다녀오셨음" in page and "본인 무사" in page and WORKER in page
    done = [(e.action, e.target, e.detail["result"]) for e in world.audit(actor=WORKER)
            if e.action in ("ack", "resolve")]
    assert sorted(done) == [("ack", case, "done"), ("resolve", case, "done")]
    assert world.audit("view_alarms")


def test_resolve_needs_an_outcome(world):
    case = world.alarm()
    c = world.client()
    token = login(c)
    r = c.post(f"/cases/{q(case)}/resolve", data={"csrf": token, "outcome": "bored"})
    assert r.status_code == 200 and "결과를 선택해 주세요" in r.text
    assert world.store.case(case).state == d.CASE_ALARM


def test_the_engines_refusal_is_shown(world):
    case = world.alarm()
    c = world.client()
    token = login(c)
    c.post(f"/cases/{q(case)}/dispatch", data={"csrf": token})
    assert world.store.case(case).state == d.CASE_DISPATCHED
    r = c.post(f"/cases/{q(case)}/ack", data={"csrf": token})  # a stale page's button
    assert r.status_code == 200
    assert f"처리되지 않았습니다: 사례 {case}는 이미 출동 상태입니다" in r.text
    assert world.store.case(case).state == d.CASE_DISPATCHED
    refused = [e for e in world.audit("ack") if e.detail.get("result") == "refused"]
    assert refused and refused[0].detail["why"] == f"case {case} is dispatched"  # as it was
    r = c.post("/cases/nope/ack", data={"csrf": token})
    assert r.status_code == 404 and "nope" in r.text


def test_every_refusal_the_engine_gives_a_person_has_words():
    """The engine's own refusals of people's inputs (host/people.py), from a real engine, in
    both languages; a refusal these words do not know is shown as the engine wrote it."""
    engine = Engine()
    t = at(0, 8)
    engine.handle(Event(H, t, ev.ON, DEV), t)
    whys = []
    for kind, detail, when in (
        (ev.ACK, ("h1#9", None, "kim", ""), t + 60),
        (ev.AWAY, t - 10, t + 60),
        (ev.AWAY_END, None, t + 60),
    ):
        (action,) = engine.handle(Event(H, when, kind, None, detail), when).actions
        whys.append(action.why)
    # and the ones that need an open case, from the ladder's words
    whys += ["case h1#1 is dispatched", "unknown outcome 'bored'",
             "stamped before case h1#1 opened: a replay?", "stale: away changed since",
             "unknown household 'h9'"]
    for lang in ("ko", "en"):
        m = messages(lang)
        for why in whys:
            assert m.engine_refusal(why) != why, (lang, why)
    assert messages("ko").engine_refusal("something new") == "something new"


def test_assign_a_case_to_a_caseworker(world):
    case = world.alarm()
    c = world.client()
    token = login(c, ADMIN, ADMIN_PW)
    r = c.post(f"/cases/{q(case)}/assign", data={"csrf": token, "user": WORKER})
    assert r.status_code == 200 and f"{WORKER}에게 배정했습니다" in r.text
    assert world.store.assignments() == {case: WORKER}
    assert f'data-assignee>{WORKER}<' in c.get("/alarms").text
    r = c.post(f"/cases/{q(case)}/assign", data={"csrf": token, "user": "ghost"})
    assert "ghost" in r.text and world.store.assignments() == {case: WORKER}
    assert world.audit("assign")[0].actor == ADMIN


# -- one household ----------------------------------------------------------------------------


def test_household_page_sections(world):
    case = world.alarm()
    world.desk.heard(DEV, world.now - 30, rssi=-61, heap=81234, fw="0.1.0")
    c = world.client()
    login(c)
    r = c.get("/households/h1")
    assert r.status_code == 200
    html = r.text
    for section in ("open-cases", "away", "heatmap", "routine", "timeline", "cases", "telemetry"):
        assert f'id="{section}"' in html, section
    # Heatmap: 28 days of 24 hours; day 6 (a Sunday) at 22:00 had one switch use (on + off).
    heatmap = re.search(r'<section id="heatmap".*?</section>', html, re.S).group(0)
    assert heatmap.count('<td class="h') == 28 * 24
    sunday = datetime.fromtimestamp(at(6, 0), SEOUL).strftime("%m-%d")
    assert f'title="{sunday} 일 22시: 2회"' in heatmap
    # Timeline: newest first, in local time, heartbeats left out.
    times = re.findall(r'<tr class="k-(?:on|off)"><td>([^<]+)</td><td>bulb-0001</td>', html)
    assert times and times == sorted(times, reverse=True)
    assert "k-heartbeat" not in html
    # The learned routine next to today's; the case with its reason; the bulb's telemetry.
    assert "평일 기준" in html and "평소 기상" in html
    routine = re.search(r'<section id="routine".*?</section>', html, re.S).group(0)
    assert routine.count('<td class="t') == 24  # today's row, hour by hour
    assert re.search(r'title="22시: 평소 [\d.]+회, 오늘 0회, 노크까지 [\d.]+시간"', routine)
    assert f"{case}" in html and "오늘 아침 아직 활동이 없습니다" in html
    assert "Wi-Fi 신호 (dBm)" in html and "-61" in html and "0.1.0" in html
    assert world.audit("view_household")[0].target == H
    assert r.headers["cache-control"] == "no-store"
    missing = c.get("/households/nobody")
    assert missing.status_code == 404 and "nobody" in missing.text


def test_away_set_with_a_return_then_ended(world):
    world.live_week()
    world.now = at(7, 9)
    c = world.client()
    token = login(c)
    r = c.post("/households/h1/away", data={"csrf": token, "mode": "until",
                                            "date": "2026-03-12", "time": "18:30"})
    assert r.status_code == 200 and "부재를 설정했습니다" in r.text
    expected = datetime(2026, 3, 12, 18, 30, tzinfo=SEOUL).timestamp()
    assert world.row().away_until == expected and world.row().status == d.AWAY
    assert "부재 중: 2026-03-12 18:30" in r.text
    assert world.audit("away_set")[0].detail["until"] == expected

    world.now += 1200  # within the session's idle timeout
    r = c.post("/households/h1/away/end", data={"csrf": token})
    assert r.status_code == 200 and "부재를 끝냈습니다" in r.text
    assert world.row().away_until is None and world.row().status != d.AWAY

    world.now += 60
    r = c.post("/households/h1/away", data={"csrf": token, "mode": "back"})
    assert world.row().away_until == float("inf") and "돌아올 때까지" in r.text
    for form in ({"mode": "until", "date": "12/03/2026", "time": "18:30"},
                 {"mode": "until", "date": "2026-03-01", "time": "08:00"}):
        r = c.post("/households/h1/away", data={"csrf": token, **form})
        assert r.status_code == 200 and "flash-error" in r.text
    assert world.row().away_until == float("inf")


# -- language ---------------------------------------------------------------------------------


def test_korean_by_default_english_after_switching(world):
    world.home()
    c = world.client()
    login_page = c.get("/login")
    assert '<html lang="ko">' in login_page.text and "비밀번호" in login_page.text
    # On the login page the switch rides the login form's token.
    r = c.post("/lang", data={"csrf": csrf_of(login_page.text), "lang": "en",
                              "next": "/login"})
    assert '<html lang="en">' in r.text and "Password" in r.text
    token = login(c)
    page = c.get("/")
    assert '<html lang="en">' in page.text and "Households" in page.text
    r = c.post("/lang", data={"csrf": token, "lang": "ko", "next": "/alarms"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alarms"
    assert '<html lang="ko">' in c.get("/alarms").text
    c.post("/lang", data={"csrf": token, "lang": "en", "next": "/"})
    other = world.client()  # a new browser of the same person: Korean until they choose
    login(other)
    assert '<html lang="ko">' in other.get("/").text
    assert "Alarm queue" in c.get("/alarms").text  # the session keeps its language
    assert c.post("/lang", data={"csrf": token, "lang": "fr"}).status_code == 400


def test_both_catalogs_have_the_same_words():
    ko, en = CATALOG["ko"], CATALOG["en"]
    assert set(ko) == set(en)
    fields = string.Formatter()
    for key in ko:
        names = [{f for _, f, _, _ in fields.parse(text) if f} for text in (ko[key], en[key])]
        assert names[0] == names[1], key
    for group, values in GROUPS.items():
        for value in values:
            assert f"{group}.{value}" in ko, (group, value)


def test_security_headers(world):
    world.home()
    c = world.client()
    login(c)
    for path in ("/", "/households/h1", "/login", "/static/live.js"):
        r = c.get(path)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "same-origin"
    assert c.get("/").headers["cache-control"] == "no-store"
    assert "<script>" not in c.get("/").text  # the CSP allows no inline script


# -- the daily summary ------------------------------------------------------------------------


def known_day(w: World) -> date:
    """On 2026-03-03 (Seoul): two welfare cases and one device case opened, one of them from
    the day before closed; an alarm acknowledged after 10 minutes."""
    for hid in ("a", "b", "c"):
        w.home(hid, f"가구 {hid}")
    reason = Reason(d.INACTIVITY, at(0, 10), 7 * 3600, 250.0, 20)
    w.store.record([
        d.CaseOpened("a", at(0, 20), "a#1", d.WELFARE, reason),  # the day before
        d.Knock("a", at(0, 20), "a#1", at(0, 20.5), False, reason),
        d.Alarm("a", at(0, 20.5), "a#1", reason),
        d.CaseResolved("a", at(1, 8), "a#1", ev.FALSE_ALARM, ADMIN, "all well"),
        d.CaseOpened("b", at(1, 9), "b#1", d.WELFARE, reason._replace(code=d.NO_MORNING)),
        d.Alarm("b", at(1, 9.5), "b#1", reason),
        d.CaseChanged("b", at(1, 9.5) + 600, "b#1", d.CASE_ACKNOWLEDGED, WORKER),
        d.CaseOpened("c", at(1, 23.5), "c#1", d.WELFARE, reason),
        d.CaseOpened("c", at(1, 12), "c#2", d.DEVICE,
                     Reason(d.DEVICE_OFFLINE, at(1, 11), 3600)),
        d.CaseOpened("c", at(2, 1), "c#3", d.WELFARE, reason),  # the day after
    ])
    return date(2026, 3, 3)


def test_summary_figures_on_a_known_day(world):
    day = known_day(world)
    world.now = at(2, 12)
    s = daily.daily_summary(world.store, world.desk.rows(), day, SEOUL, now=world.now)
    assert (s.households, s.watched) == (3, 0)
    assert (s.opened_welfare, s.opened_device) == (2, 1)
    assert s.opened_by_reason == {d.INACTIVITY: 1, d.NO_MORNING: 1}
    assert (s.closed, s.closed_by_outcome) == (1, {ev.FALSE_ALARM: 1})
    assert s.alarms == 1 and s.ack_median_s == 600
    assert s.open_at_end == 3  # b#1, c#1, c#2
    assert s.devices_offline == 3  # three bulbs, none ever online
    subject, text = daily.summary_text(s, "en")
    assert subject == "[anbu] Daily summary 2026-03-03"
    assert "Cases opened: 3" in text and "false alarm: 1" in text and "10 m" in text

    c = world.client()
    login(c)
    page = c.get("/summary", params={"date": "2026-03-03"})
    assert page.status_code == 200
    figures = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num"[^>]*>([^<]*)<',
                              page.text))
    assert figures["새로 열린 사례"] == "3" and figures["닫힌 사례"] == "1"
    assert figures["경보에서 접수까지 (중앙값)"] == "10분"
    assert c.get("/summary", params={"date": "3/3/2026"}).status_code == 400
    assert world.audit("view_summary")[0].target == "2026-03-03"


def test_summary_is_emailed_to_a_real_smtp_server(tmp_path):
    smtp = SmtpReceiver()
    try:
        channel = daily.smtp_channel({"log": False, "email": {
            "host": "127.0.0.1", "port": smtp.port, "security": "none",
            "from": "alerts@anbu.example", "to": ["oncall@anbu.example"]}}, env={})
        assert isinstance(channel, SmtpChannel)
        settings = DashboardConfig(summary_to=("lead@anbu.example", "boss@anbu.example"),
                                   summary_from="summary@anbu.example")
        w = World(tmp_path / "anbu.db", settings, notify_email=channel)
        known_day(w)
        w.now = at(2, 12)
        c = w.client()
        token = login(c, ADMIN, ADMIN_PW)
        r = c.post("/summary/email", data={"csrf": token, "date": "2026-03-03"},
                   follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/summary?date=2026-03-03"
        assert flash(c, r.headers["location"]).startswith("ok: 2026-03-03 요약을")
        assert len(smtp.messages) == 1
        mail = smtp.messages[0]
        assert smtp.envelopes[0] == ("summary@anbu.example",
                                     ["lead@anbu.example", "boss@anbu.example"])
        assert mail["Subject"] == "[안부] 일일 요약 2026-03-03"
        body = mail.get_content()
        assert "새로 열린 사례: 3" in body and "오경보: 1" in body
        sent = w.audit("summary_emailed")
        assert sent[0].actor == ADMIN and sent[0].detail["result"] == "sent"
        w.store.close()
    finally:
        smtp.close()


def test_summary_email_says_why_it_was_not_sent(tmp_path):
    dead = SmtpChannel("127.0.0.1", "x@anbu.example", ["y@anbu.example"], port=1,
                       security="none", timeout_s=2)
    w = World(tmp_path / "anbu.db", DashboardConfig(summary_to=("a@anbu.example",)), dead)
    c = w.client()
    token = login(c, ADMIN, ADMIN_PW)
    r = c.post("/summary/email", data={"csrf": token, "date": "2026-03-03"})
    assert r.status_code == 200 and "요약을 보내지 못했습니다" in r.text
    assert w.audit("summary_emailed")[0].detail["result"] == "failed"
    w.store.close()
    none = World(tmp_path / "other.db")
    c = none.client()
    token = login(c, ADMIN, ADMIN_PW)
    r = c.post("/summary/email", data={"csrf": token})
    assert "메일 서버가 설정되지 않았습니다" in r.text
    none.store.close()


def test_scheduled_summary_time():
    now = datetime(2026, 3, 3, 7, 0, tzinfo=SEOUL).timestamp()
    assert daily.next_summary_at("08:00", now) == now + 3600
    assert daily.next_summary_at("06:30", now) == now + 23.5 * 3600
    assert daily.next_summary_at("", now) is None


def test_audit_log_pages_back_and_filters(tmp_path):
    world = World(tmp_path / "anbu.db", DashboardConfig(page_size=50))
    world.home()
    c = world.client()
    login(c, ADMIN, ADMIN_PW)
    for _ in range(60):
        c.get("/households/h1")
    first = c.get("/admin/audit")
    ids = [int(i) for i in re.findall(r"<tr><td>(\d+)</td>", first.text)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="(/admin/audit\?before=\d+)"', first.text).group(1)
    rest = [int(i) for i in re.findall(r"<tr><td>(\d+)</td>", c.get(older).text)]
    assert rest and max(rest) < min(ids)
    mine = c.get("/admin/audit", params={"actor": WORKER})
    assert "view_household" not in mine.text
    assert c.get("/admin/audit", params={"before": "abc"}).status_code == 400
    assert json.loads(json.dumps(world.audit("view_audit")[0].detail)) == {}
    world.store.close()


def test_bad_input_is_a_clear_4xx_never_a_500(world):
    case = world.alarm()
    c = world.client()
    token = login(c)
    garbage = c.post(f"/cases/{q(case)}/ack", content=b"--x\r\nnot a part",
                     headers={"content-type": "multipart/form-data; boundary=x"})
    assert garbage.status_code == 400 and "양식을 읽을 수 없습니다" in garbage.text
    assert c.post(f"/cases/{q(case)}/explode", data={"csrf": token}).status_code == 404
    assert c.get("/households/%00").status_code == 404
    assert c.post("/households/nobody/away", data={"csrf": token}).status_code == 404
    r = c.get("/", params={"page": "9" * 30})
    assert r.status_code == 400 and "page:" in r.text
    assert world.store.case(case).state == d.CASE_ALARM


# -- what the review of the screenshots found -------------------------------------------------


def audit_codes_in_the_code() -> set[str]:
    """Every action code the code gives the audit log: audit.record(actor, "code", ...),
    Actions._act(visit, event, "code", ...), AuditEntry(None, at, by, "code", ...), and the case
    actions the URL names (recorded through a variable)."""
    root = Path(__file__).resolve().parents[2]
    files = [*sorted((root / "host" / "dashboard").glob("*.py")),
             root / "host" / "store" / "sqlite_dashboard.py"]
    codes: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            where = {"record": 1, "_act": 2, "AuditEntry": 3}.get(name)
            if name == "record" and not (isinstance(func, ast.Attribute)
                                         and "audit" in ast.unparse(func.value)):
                continue  # store.record(actions) is the engine's, not the audit log's
            if where is not None and len(node.args) > where:
                arg = node.args[where]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    codes.add(arg.value)
    return codes | set(CASE_ACTIONS) | {"assign"}


def test_every_audit_action_has_words_in_both_languages():
    codes = audit_codes_in_the_code()
    # The scan sees the codes of every part: accounts, pages, the store, the command line.
    assert {"login_failed", "lockout", "csrf_refused", "view_household", "assign", "away_set",
            "user_add", "ack"} <= codes
    assert codes - set(GROUPS["audit_action"]) == set()
    for lang in ("ko", "en"):
        m = messages(lang)
        for code in codes:
            assert m.word("audit_action", code) != code, (lang, code)
    assert messages("ko").word("audit_action", "brand_new") == "brand_new"


def test_audit_log_shows_words_local_times_and_the_codes(world):
    world.home()
    for _ in range(world.settings.max_failures):
        with pytest.raises(LoginRefused):
            world.accounts.login(WORKER, "not the password")
    lockout = world.audit("lockout")[0]
    until = lockout.detail["until"]
    Audit(world.store, world.clock).record("cli", "brand_new", "x", until=until + 60)
    c = world.client()
    login(c, ADMIN, ADMIN_PW)
    html = c.get("/admin/audit").text
    row = re.search(rf"<tr><td>{lockout.id}</td>.*?</tr>", html, re.S).group(0)
    local = datetime.fromtimestamp(until, SEOUL).strftime("%Y-%m-%d %H:%M:%S")
    assert f"until: {local}" in row and "failures: 5" in row
    assert str(int(until)) not in html  # no epoch seconds anywhere on the page
    assert '<td title="lockout">계정 잠김 <small class="code">lockout</small></td>' in row
    assert '계정 잠김' in html and '로그인 실패 <small class="code">login_failed</small>' in html
    later = datetime.fromtimestamp(until + 60, SEOUL).strftime("%Y-%m-%d %H:%M:%S")
    assert '<td title="brand_new">brand_new</td>' in html and f"until: {later}" in html
    token = csrf_of(html)
    c.post("/lang", data={"csrf": token, "lang": "en", "next": "/admin/audit"})
    english = c.get("/admin/audit").text
    assert 'account locked <small class="code">lockout</small>' in english
    assert 'login failed <small class="code">login_failed</small>' in english


def test_case_history_puts_the_engines_notes_in_words(world):
    case = world.alarm()  # knocked, the knock ran out: the engine's note is "timeout"
    notes = [h.note for h in world.store.case_history(case) if h.actor is None and h.note]
    assert ladder.TIMEOUT in notes
    world.now += 60
    world.desk.feed(Event(H, world.now, ev.ON, DEV))  # life, after the alarm went out
    seen = world.store.case_history(case)[-1]
    assert seen.note.startswith("activity seen at ")
    world.now += 60
    world.store.record([d.CaseChanged(H, world.now, case, d.CASE_ALARM, None,
                                      "a note no catalog knows")])
    c = world.client()
    token = login(c)
    c.post(f"/cases/{q(case)}/ack", data={"csrf": token, "note": ""})
    world.now += 60
    c.post(f"/cases/{q(case)}/resolve",
           data={"csrf": token, "outcome": ev.RESIDENT_FINE, "note": "timeout"})
    history = re.search(r'<section id="cases".*?</section>', c.get("/households/h1").text,
                        re.S).group(0)
    clock = seen.note.removeprefix("activity seen at ")
    assert "· <span class=\"note\">노크에 응답 없음</span>" in history
    assert f"{clock}에 활동 확인" in history
    assert "“timeout”" not in history and "activity seen" not in history
    assert "<q>a note no catalog knows</q>" in history  # unknown: as it is
    assert "<q>timeout</q>" in history  # a person's note is theirs, never translated
    c.post("/lang", data={"csrf": token, "lang": "en"})
    english = c.get("/households/h1").text
    assert "the knock was not answered in time" in english
    assert f"activity seen at {clock}" in english


@pytest.mark.parametrize(("refresh_s", "said"), [(1, "2"), (2.5, "2.5"), (10.0, "10")])
def test_the_refresh_period_said_is_the_one_the_script_uses(tmp_path, refresh_s, said):
    w = World(tmp_path / "anbu.db", DashboardConfig(refresh_s=refresh_s))
    w.home()
    c = w.client()
    login(c)
    html = c.get("/").text
    assert f"자동 새로 고침: {said}초마다" in html
    assert f'data-refresh="{said}"' in html
    # live.js takes data-refresh as it is, with the same floor the server applies.
    script = c.get("/static/live.js").text
    floor = re.search(r'Math\.max\(([\d.]+), Number\(table\.getAttribute\("data-refresh"\)\)',
                      script)
    assert floor and float(floor.group(1)) == LIVE_FLOOR_S
    w.store.close()


def assign_select(html: str, case: str) -> str:
    form = re.search(rf'action="/cases/{re.escape(q(case))}/assign".*?</select>', html, re.S)
    assert form, html[:300]
    return form.group(0)


def test_the_assign_form_offers_active_people_and_preselects_only_the_assignee(world):
    case = world.alarm()
    world.accounts.add_user("case-lee", "caseworker-password-1", "caseworker")
    world.store.add_user(UserRecord("gone", "caseworker", "떠난 사람", CHEAP.hash("x" * 12),
                                    world.now, disabled=True))
    c = world.client()
    token = login(c)
    select = assign_select(c.get("/alarms").text, case)
    assert "<select name=\"user\" required>" in select
    assert '<option value="" disabled selected>담당자 선택</option>' in select
    assert select.count(" selected") == 1  # nobody is preselected while the case is unassigned
    assert '<option value="case-lee">case-lee</option>' in select
    assert f'<option value="{ADMIN}">관리자 박 ({ADMIN})</option>' in select
    assert f'<option value="{WORKER}">김복지 ({WORKER})</option>' in select
    assert "gone" not in select

    for user, said in (("", "배정할 담당자를 골라 주세요."),
                       ("ghost", "배정할 사용자 ghost를 찾을 수 없습니다"),
                       ("gone", "배정할 사용자 gone를 찾을 수 없습니다")):  # disabled
        r = c.post(f"/cases/{q(case)}/assign", data={"csrf": token, "user": user},
                   follow_redirects=False)
        assert r.status_code == 303, user
        assert flash(c, "/alarms").startswith(f"error: {said}"), user
    assert world.store.assignments() == {}
    r = c.post(f"/cases/{q(case)}/assign", data={"csrf": token})  # no field at all
    assert r.status_code == 200 and "배정할 담당자를 골라 주세요." in r.text

    c.post(f"/cases/{q(case)}/assign", data={"csrf": token, "user": "case-lee"})
    assert world.store.assignments() == {case: "case-lee"}
    for page in ("/alarms", "/households/h1"):
        select = assign_select(c.get(page).text, case)
        assert '<option value="case-lee" selected>case-lee</option>' in select, page
        assert '<option value="" disabled>' in select and select.count(" selected") == 1


def test_refusals_are_audited_with_the_decoded_path_and_found_by_target(world):
    case = world.alarm()
    c = world.client()
    token = login(c)
    assert c.post(f"/cases/{q(case)}/ack", data={"csrf": "forged"}).status_code == 403
    c.post(f"/cases/{q(case)}/ack", data={"csrf": token})
    assert c.get("/admin/%61udit").status_code == 403
    assert world.audit("csrf_refused")[0].target == f"/cases/{case}/ack"
    assert world.audit("forbidden")[0].target == "/admin/audit"

    admin = world.client()
    login(admin, ADMIN, ADMIN_PW)
    page = admin.get("/admin/audit", params={"target": case.upper()})
    assert page.status_code == 200 and f'name="target" value="{case.upper()}"' in page.text
    found = re.findall(r'<td title="([a-z_]+)">', page.text)
    assert sorted(found) == ["ack", "csrf_refused"]
    both = admin.get("/admin/audit", params={"target": case, "actor": ADMIN})
    assert "<tr><td>" not in both.text  # the admin did nothing to the case
    assert world.audit("view_audit")[0].detail == {"target_filter": case}


# -- notifications that did not go out (/admin/notifications) ----------------------------------


def notice_row(key: str, state: str, created_at: float, error: str, kind: str = "alarm",
               attempts: int = 3) -> Notification:
    return Notification(f"{key}:webhook", "webhook", H, f"{H}#1", kind, created_at,
                        {"id": key, "kind": kind}, state, attempts, error, created_at + 30)


def dead_letters_in_page(html: str) -> list[str]:
    return re.findall(r'<tr class="n-(?:dead|pending)" data-key="([^"]+)"', html)


def test_a_caseworker_cannot_see_or_retry_notifications(world):
    world.home()
    world.store.add_notifications([notice_row("n1", DEAD, at(6, 9), "HTTP 503")])
    c = world.client()
    token = login(c)
    assert "/admin/notifications" not in c.get("/").text
    r = c.get("/admin/notifications")
    assert r.status_code == 403 and "관리자만" in r.text and "HTTP 503" not in r.text
    r = c.post("/admin/notifications/n1%3Awebhook/retry", data={"csrf": token})
    assert r.status_code == 403
    assert world.store.notifications()[0].state == DEAD
    assert {e.target for e in world.audit("forbidden")} == {
        "/admin/notifications", "/admin/notifications/n1:webhook/retry"}


def test_dead_letters_then_pending_notices_with_their_errors(world):
    world.home()
    world.store.add_notifications([
        notice_row("old-dead", DEAD, at(6, 8), "HTTP 503 Service Unavailable"),
        notice_row("waiting", PENDING, at(6, 10), "cannot reach https://sms.example/anbu: "
                   "timed out", kind="reminder", attempts=2),
        notice_row("new-dead", DEAD, at(6, 9), "mail server refused: 550 <care@x> unknown",
                   kind="device_fault"),
        notice_row("done", SENT, at(6, 11), ""),
    ])
    c = world.client()
    login(c, ADMIN, ADMIN_PW)
    home = c.get("/").text
    badge = re.search(r'href="/admin/notifications">[^<]*<span[^>]*data-dead-letters[^>]*>(\d+)<',
                      home)
    assert badge and badge.group(1) == "2"
    r = c.get("/admin/notifications")
    assert r.status_code == 200
    html = r.text
    # Dead letters first, newest first; then the outbox; a sent notice is not listed.
    assert dead_letters_in_page(html) == ["new-dead:webhook", "old-dead:webhook",
                                          "waiting:webhook"]
    assert "HTTP 503 Service Unavailable" in html
    assert "mail server refused: 550 &lt;care@x&gt; unknown" in html  # escaped
    assert "cannot reach https://sms.example/anbu: timed out" in html
    assert html.count('href="/households/h1">김말순</a>') == 3
    assert ">기기 이상<" in html and ">재알림<" in html and ">경보<" in html
    created = datetime.fromtimestamp(at(6, 9), SEOUL).strftime("%Y-%m-%d %H:%M:%S")
    assert f"<td>{created}</td>" in html and created.endswith("09:00:00")
    assert "보내지 못한 알림 2건 · 재시도 중 1건" in html
    # No notifier on this dashboard: no retry button, and a POST says why.
    assert "다시 보내기</button>" not in html
    token = csrf_of(html)
    r = c.post("/admin/notifications/new-dead%3Awebhook/retry", data={"csrf": token},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/notifications"
    assert flash(c, "/admin/notifications").startswith("error: 이 호스트는 알림을 다시 보낼 수")
    assert world.store.notifications(DEAD)[1].key == "new-dead:webhook"
    assert world.audit("view_notifications")[0].detail["dead"] == 2

    c.post("/lang", data={"csrf": token, "lang": "en", "next": "/admin/notifications"})
    english = c.get("/admin/notifications").text
    assert "Notifications that did not go out" in english and ">device fault<" in english
    assert "2 dead letters · 1 being retried" in english


def test_notifications_are_paged(tmp_path):
    world = World(tmp_path / "anbu.db", DashboardConfig(page_size=10))
    world.home()
    world.store.add_notifications(
        [notice_row(f"d{i:02d}", DEAD, at(6, 0) + 60 * i, f"error {i}") for i in range(25)])
    c = world.client()
    login(c, ADMIN, ADMIN_PW)
    first = c.get("/admin/notifications").text
    assert dead_letters_in_page(first) == [f"d{i:02d}:webhook" for i in range(24, 14, -1)]
    assert 'href="/admin/notifications?page=2" rel="next"' in first
    third = c.get("/admin/notifications", params={"page": "3"}).text
    assert dead_letters_in_page(third) == [f"d{i:02d}:webhook" for i in range(4, -1, -1)]
    assert 'href="/admin/notifications?page=2" rel="prev"' in third
    r = c.get("/admin/notifications", params={"page": "abc"})
    assert r.status_code == 400 and "page:" in r.text
    world.store.close()


def test_an_admin_sends_a_dead_letter_again_through_the_notifier(tmp_path):
    path = tmp_path / "anbu.db"
    hook_store = SqliteStore(path)  # the notifier's connection; the dashboard has its own
    hook_store.add_household(H, "김말순", created_at=at(0, 0))
    receiver = WebhookReceiver()
    receiver.always = 503  # the SMS service is down
    notifier = webhook_notifier(hook_store, receiver.url)
    world = World(path, notifier=notifier)
    try:
        notifier.notify(the_notify(sos(H)))
        [dead] = settled(hook_store, 1)
        assert dead.state == DEAD and len(receiver.posts) == 3
        receiver.always = None  # ... and back
        c = world.client()
        login(c, ADMIN, ADMIN_PW)
        html = c.get("/admin/notifications").text
        action = f"/admin/notifications/{quote(dead.key, safe='')}/retry"
        assert f'action="{action}"' in html and "HTTP 503 Service Unavailable" in html

        forged = c.post(action, data={"csrf": "forged"})
        assert forged.status_code == 403
        unknown = c.post("/admin/notifications/nothing%3Awebhook/retry",
                         data={"csrf": csrf_of(html)})
        assert unknown.status_code == 404
        assert "알림 nothing:webhook를 찾을 수 없습니다" in unknown.text
        assert hook_store.notifications() == [dead] and len(receiver.posts) == 3

        r = c.post(action, data={"csrf": csrf_of(html)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/notifications"
        [sent] = settled(hook_store, 1)
        assert (sent.state, sent.attempts) == (SENT, 1)
        assert len(receiver.posts) == 4 and receiver.posts[-1].payload == dead.payload
        page = c.get("/admin/notifications").text
        assert "다시 보냅니다" in page and dead_letters_in_page(page) == []
        assert "data-dead-letters" not in page
        [entry] = world.audit("notification_retry")
        assert (entry.actor, entry.target) == (ADMIN, dead.key)
        assert entry.detail["handed_back"] is True

        again = c.post(action, data={"csrf": csrf_of(page)}, follow_redirects=False)
        assert again.status_code == 303
        assert "보내지 못한 알림이 아닙니다 (지금: 보냄)" in flash(c, "/admin/notifications")
        assert len(receiver.posts) == 4
    finally:
        notifier.close()
        receiver.close()
        world.store.close()
        hook_store.close()
