"""The dashboard in a real headless Chromium, served by the real `anbu serve` (Service) over a
real Mosquitto, with bulbs played by paho clients.

The engine runs on the serve tests' FAST config (hours into seconds: a bulb that comes online
and stays quiet knocks after 3 s and alarms 2.4 s later), so a household is in alarm within
seconds of its bulb coming online. Users are made with the real Accounts API before the host
starts. Screenshots of each main page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from host import decisions as d
from host import events as ev
from host.dashboard.accounts import Accounts
from host.dashboard.messages import messages
from host.dashboard.settings import DashboardConfig
from host.serve.desk import ServiceDesk
from host.serve.service import Service
from host.store import DEFAULT_TZ
from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.serve.fleet import FakeBulb, Host, config
from tests.serve.test_service import FAST

KO, EN = messages("ko"), messages("en")
SEOUL = ZoneInfo(DEFAULT_TZ)
HOMES = {  # household -> (resident's name, bulb)
    "h1": ("김순자", "bulb-0001"),  # in alarm from the start: the caseworker's scenario
    "h2": ("이영호", "bulb-0002"),  # never heard from: set away
    "h3": ("박말순", "bulb-0003"),  # comes online while the households page is open
    "h4": ("최정남", "bulb-0004"),  # in alarm from the start: forged forms aim at its case
}
ADMIN = ("admin-kim", "admin-password-1", "admin")
CASEWORKER = ("case-lee", "caseworker-password-1", "caseworker")
FORGER = ("case-park", "caseworker-password-2", "caseworker")
LOCKED = ("case-choi", "caseworker-password-3", "caseworker")
WAIT_MS = 20_000  # what a page may take to show what the host decided (FAST: seconds)


class Live(NamedTuple):
    url: str
    db: Path
    service: Service
    bulb: Callable[[str], FakeBulb]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_broker: rig.Broker) -> Iterator[Live]:
    """`anbu serve` with four households, four users, and bulbs online for h1 and h4."""
    folder = tmp_path_factory.mktemp("host")
    db = folder / "anbu.db"
    with SqliteStore(db) as store:
        for hid, (name, bulb) in HOMES.items():
            store.add_household(hid, name, created_at=0.0)
            store.add_device(bulb, hid, ev.SWITCHED, created_at=0.0)
        accounts = Accounts(store, DashboardConfig())
        for name, password, role in (ADMIN, CASEWORKER, FORGER, LOCKED):
            accounts.add_user(name, password, role)
    cfg = config(folder, module_broker.port, engine=FAST, dashboard={"refresh_s": 1.0})
    made: list[FakeBulb] = []

    def bulb(device: str) -> FakeBulb:
        b = FakeBulb(module_broker.port, device)
        made.append(b)
        b.online()
        b.heartbeat()
        return b

    with Host(cfg) as service:
        try:
            bulb(HOMES["h1"][1])
            bulb(HOMES["h4"][1])
            yield Live(f"http://127.0.0.1:{service.web.port}", db, service, bulb)
        finally:
            for b in made:
                b.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A browser profile of its own (cookies) for each test; more via chromium.new_context."""
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR",
                               timezone_id=DEFAULT_TZ)
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


def log_in(ctx: BrowserContext, live: Live, user: tuple[str, str, str]) -> Page:
    """Through the login form, as a person would; lands on the households page."""
    page = ctx.new_page()
    page.goto(live.url + "/login")
    page.fill("input[name=name]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("form[action='/login'] button")
    page.wait_for_url(live.url + "/")
    return page


def shot(page: Page, folder: Path, name: str) -> Path:
    """A full-page PNG, checked to be a real picture of a real page."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 1000 and height >= 400 and len(data) > 8_000, (path, width, height,
                                                                     len(data))
    return path


def alarmed_case(live: Live, household: str) -> str:
    """The household's open welfare case once the host has raised it to an alarm."""
    def case() -> str | None:
        with SqliteStore(live.db) as s:
            return next((c.id for c in s.cases(household, open_only=True)
                         if c.kind == d.WELFARE and c.state == d.CASE_ALARM), None)

    return rig.wait_until(case, WAIT_MS / 1000, f"an alarm for {household}", step=0.2)


def badge(page: Page, household: str):
    return page.locator(f"tr[data-household='{household}'] .badge")


def status_class(*statuses: str) -> re.Pattern:
    return re.compile(r"\bs-(" + "|".join(statuses) + r")\b")


def audit_rows(page: Page) -> set[tuple[str, str, str]]:
    """(actor, action, target) of every line of the audit log page (the action as its code,
    which the cell keeps in its title next to the words)."""
    cells = page.eval_on_selector_all(
        "table.audit tbody tr",
        "rows => rows.map(r => Array.from(r.cells, c => c.title || c.textContent.trim()))")
    return {(c[2], c[3], c[4]) for c in cells}


def test_pages_need_a_login_and_failed_logins_lock_the_account(live, context, screenshots):
    page = context.new_page()
    for path in ("/", "/alarms", "/households/h1", "/summary", "/admin/audit", "/admin/users"):
        page.goto(live.url + path)
        where = urlsplit(page.url)
        assert where.path == "/login" and parse_qs(where.query)["next"] == [path], page.url
    expect(page.locator("html")).to_have_attribute("lang", "ko")  # Korean by default
    expect(page.locator("h1")).to_have_text(KO("login.title"))
    expect(page.locator("table.households, li.case")).to_have_count(0)
    shot(page, screenshots, "login")
    refused = page.request.post(live.url + "/households/h2/away", form={"mode": "back"},
                                max_redirects=0)
    assert refused.status == 403  # a POST without a session: refused, not redirected

    error = page.locator(".login-box .flash-error")
    for attempt in range(1, 6):
        page.fill("input[name=name]", LOCKED[0])
        page.fill("input[name=password]", f"not-the-password-{attempt}")
        page.click("form[action='/login'] button")
        if attempt < 5:
            expect(error).to_have_text(KO("login.bad_credentials"))
    for part in KO("login.locked", until="\0").split("\0"):  # "... until 17:42 ..."
        expect(error).to_contain_text(part)
    page.fill("input[name=name]", LOCKED[0])
    page.fill("input[name=password]", LOCKED[1])  # the right password, too late
    page.click("form[action='/login'] button")
    expect(error).to_contain_text(KO("login.locked", until="\0").split("\0")[0])
    assert urlsplit(page.url).path == "/login"
    assert not [c for c in context.cookies() if c["name"] == "anbu_session"]
    with SqliteStore(live.db) as s:
        user = s.user(LOCKED[0])
        assert user.locked_until is not None and user.locked_until > time.time()
        actions = [e.action for e in s.audit_entries(actor=LOCKED[0])]
    assert actions.count("login_failed") == 5 and "lockout" in actions
    assert "login" not in actions


def test_a_caseworker_acknowledges_and_resolves_an_alarm_and_an_admin_sees_it(
        live, context, chromium, screenshots):
    page = log_in(context, live, CASEWORKER)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("h1")).to_have_text(KO("households.title"))
    expect(badge(page, "h1")).to_have_class(status_class(d.ALARM))  # live refresh brings it
    expect(badge(page, "h1")).to_have_text(KO.word("status", d.ALARM))
    expect(page.locator("a[href^='/admin']")).to_have_count(0)  # no admin links
    shot(page, screenshots, "households")

    case_id = alarmed_case(live, "h1")
    page.click("nav a[href='/alarms']")
    expect(page.locator("h1")).to_contain_text(KO("alarms.title"))
    item = page.locator(f"li.case[data-case='{case_id}']")
    expect(item.locator("a.who")).to_have_attribute("href", "/households/h1")
    expect(item.locator(".badge")).to_have_attribute("data-state", d.CASE_ALARM)
    expect(item.locator(".reason")).not_to_be_empty()  # why, in words
    shot(page, screenshots, "alarm-queue")

    item.locator("button[data-action=ack]").click()  # one click
    expect(page.locator("div.flash")).to_have_text(KO("flash.ack", id=case_id))
    expect(item.locator(".badge")).to_have_attribute("data-state", d.CASE_ACKNOWLEDGED)
    note = "전화 연결됨: 낮잠 중이셨음"
    item.locator("select[name=outcome]").select_option(ev.FALSE_ALARM)
    item.locator("input[name=note]").fill(note)
    item.locator("button[data-action=resolve]").click()
    expect(page.locator("div.flash")).to_have_text(KO("flash.resolve", id=case_id))
    expect(item).to_have_count(0)  # off the queue

    page.goto(live.url + "/households/h1")
    record = page.locator(f"details.case-record[data-case='{case_id}']")
    expect(record).to_contain_text(note)
    expect(record).to_contain_text(KO.word("outcome", ev.FALSE_ALARM))
    expect(record).to_contain_text(CASEWORKER[0])
    shot(page, screenshots, "household")
    with SqliteStore(live.db) as s:
        case = s.case(case_id)
        history = s.case_history(case_id)
        steps = [(h.state, h.actor, h.note or "") for h in history if h.actor]
    expect(record.locator("ol.steps li")).to_have_count(len(history))  # the engine's steps too
    assert case.outcome == ev.FALSE_ALARM and case.closed_at is not None
    assert steps == [(d.CASE_ACKNOWLEDGED, CASEWORKER[0], ""),
                     (d.CASE_RESOLVED, CASEWORKER[0], note)]

    for path in ("/admin/audit", "/admin/users"):  # a caseworker is no admin
        answer = page.goto(live.url + path)
        assert answer is not None and answer.status == 403
        expect(page.locator("[data-error]")).to_have_text(KO("error.admin_only"))
        expect(page.locator("table.audit, table.users")).to_have_count(0)

    admin_context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        admin = log_in(admin_context, live, ADMIN)
        expect(admin.locator("nav a[href='/admin/users']")).to_be_visible()
        admin.click("nav a[href='/admin/audit']")
        expect(admin.locator("h1")).to_have_text(KO("audit.title"))
        seen = audit_rows(admin)
        for entry in [(CASEWORKER[0], "login", ""), (CASEWORKER[0], "ack", case_id),
                      (CASEWORKER[0], "resolve", case_id),
                      (CASEWORKER[0], "view_household", "h1"),
                      (CASEWORKER[0], "forbidden", "/admin/audit"),
                      (CASEWORKER[0], "forbidden", "/admin/users")]:
            assert entry in seen, entry
        shot(admin, screenshots, "audit-log")
        answer = admin.goto(live.url + "/admin/users")
        assert answer is not None and answer.status == 200
        expect(admin.locator(f"tr[data-user='{CASEWORKER[0]}']")).to_be_visible()
    finally:
        admin_context.close()


def test_away_mode_with_an_expected_return_and_english(live, context, screenshots):
    page = log_in(context, live, CASEWORKER)
    page.goto(live.url + "/households/h2")
    back = (datetime.now(SEOUL) + timedelta(days=3)).replace(hour=9, minute=30, second=0,
                                                              microsecond=0)
    shown = back.strftime("%Y-%m-%d %H:%M")
    page.fill("form.away-form input[name=date]", back.strftime("%Y-%m-%d"))
    page.fill("form.away-form input[name=time]", "09:30")
    page.click("button[data-action=away-set]")
    expect(page.locator("div.flash")).to_have_text(KO("flash.away_set", until=shown))
    expect(page.locator("[data-away]")).to_contain_text(shown)

    page.click("nav a[href='/']")
    expect(badge(page, "h2")).to_have_class(status_class(d.AWAY))
    expect(badge(page, "h2")).to_have_text(KO.word("status", d.AWAY))
    expect(page.locator("tr[data-household='h2'] .away-until")).to_contain_text(shown)
    with SqliteStore(live.db) as s:
        row = {r.id: r for r in ServiceDesk(live.service, s).rows()}["h2"]
    assert row.status == d.AWAY and row.away_until == pytest.approx(back.timestamp())

    page.click("form.lang button[value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text(EN("households.title"))
    expect(badge(page, "h2")).to_have_text(EN.word("status", d.AWAY))
    expect(page.locator("nav a[href='/alarms']")).to_contain_text(EN("nav.alarms"))
    shot(page, screenshots, "households-en")


def test_the_households_page_follows_the_host_without_a_reload(live, context):
    page = log_in(context, live, FORGER)
    expect(badge(page, "h3")).to_have_class(status_class(d.FINE))
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    page.evaluate("window.stillThisPage = true")
    live.bulb(HOMES["h3"][1])  # comes online, then stays quiet: the host knocks
    expect(badge(page, "h3")).to_have_class(status_class(d.KNOCK, d.ALARM))
    assert page.evaluate("window.stillThisPage") is True and loads == []

    def counted_as_shown() -> bool:  # the chips' counts came with the rows: h3 left "fine"
        shown = page.locator("tbody[data-rows] .badge.s-fine").count()
        return page.locator("[data-count='fine']").text_content() == str(shown)

    rig.wait_until(counted_as_shown, WAIT_MS / 1000, "the counts to follow the rows", step=0.2)


def test_forged_forms_are_refused_and_change_nothing(live, context):
    case_id = alarmed_case(live, "h4")
    page = log_in(context, live, FORGER)
    page.goto(live.url + "/alarms")
    item = page.locator(f"li.case[data-case='{case_id}']")
    with SqliteStore(live.db) as s:
        before = (s.case(case_id), len(s.case_history(case_id)))
    assert before[0].closed_at is None

    # A wrong token: the form's hidden field edited in the page, then sent as it is.
    item.locator("form[action$='/ack'] input[name=csrf]").evaluate(
        "el => { el.value = 'forged' + el.value.slice(6); }")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        item.locator("button[data-action=ack]").click()
    assert answer.value.status == 403
    expect(page.locator("[data-error]")).to_have_text(KO("error.csrf"))

    # No token at all.
    page.goto(live.url + "/alarms")
    item.locator("form[action$='/resolve'] input[name=csrf]").evaluate("el => el.remove()")
    item.locator("select[name=outcome]").select_option(ev.DECEASED)
    item.locator("input[name=note]").fill("forged")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        item.locator("button[data-action=resolve]").click()
    assert answer.value.status == 403
    expect(page.locator("[data-error]")).to_have_text(KO("error.csrf"))

    page.goto(live.url + "/alarms")
    expect(item.locator(".badge")).to_have_attribute("data-state", before[0].state)
    with SqliteStore(live.db) as s:
        after = (s.case(case_id), len(s.case_history(case_id)))
        people = [e for e in s.events("h4") if e.kind in ev.PEOPLE_KINDS]
        refusals = [e for e in s.audit_entries(actor=FORGER[0]) if e.action == "csrf_refused"]
    assert after[0].closed_at is None and after[0].outcome is None
    assert after[0].state == before[0].state and after[1] == before[1]
    assert people == []
    assert sorted(unquote(e.target) for e in refusals) == sorted(
        [f"/cases/{case_id}/ack", f"/cases/{case_id}/resolve"])
