"""The caseworkers' dashboard: Starlette routes over the store and the Desk (docs/dashboard.md).

Server-rendered pages (Jinja2, autoescaped) and one small script for the live refresh. Every
page but /login and /static needs a session; every POST carries the session's CSRF token
(the login form a double-submit one); admin pages refuse caseworkers. Handlers run in
Starlette's thread pool, because the store and the Desk block (desk.act waits for the service
loop), so one slow action never holds up the other pages.

`anbu serve` mounts `dashboard(...)` at "/" next to /health and /metrics.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host import case as ladder
from host import decisions as d
from host import events as ev
from host.dashboard import summary as daily
from host.dashboard.accounts import ROLES, Accounts, LoginRefused, Session, csrf_ok
from host.dashboard.audit import Audit
from host.dashboard.board import Desk, HouseholdRow
from host.dashboard.messages import DEFAULT_LANG, LANGS, Messages, messages
from host.dashboard.reading import history_part
from host.dashboard.settings import DashboardConfig
from host.decisions import Reason
from host.events import Event
from host.explain import describe
from host.store import DEFAULT_TZ, Store, StoreError

STATIC = Path(__file__).with_name("static")
SESSION_COOKIE = "anbu_session"
LOGIN_COOKIE = "anbu_login"  # the login form's double-submit CSRF token
LANG_COOKIE = "anbu_lang"  # the language of the login page, before there is a session
FLASH_COOKIE = "anbu_flash"  # one message for the page after a redirect
PAGE_TZ = ZoneInfo(DEFAULT_TZ)  # the page chrome's clock; households show their own

SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]

# Most urgent first; the households page's default order, then the longest quiet.
URGENCY = {d.ALARM: 0, d.KNOCK: 1, d.DEVICE_FAULT: 2, d.WATCH: 3, d.AWAY: 4, d.FINE: 5}
SORTS = ("status", "name", "last_activity", "status_at")
SORT_CHOICES = tuple(s for field in SORTS for s in (field, "-" + field))
# The alarm queue: what needs a person first.
QUEUE_ORDER = {d.CASE_ALARM: 0, d.CASE_KNOCK: 1, d.CASE_OPEN: 2, d.CASE_ACKNOWLEDGED: 3,
               d.CASE_DISPATCHED: 4}
PERSON_OUTCOMES = (ev.RESIDENT_FINE, ev.NEEDED_HELP, ev.HOSPITAL, ev.DECEASED, ev.FALSE_ALARM,
                   ev.DEVICE_FAULT)
CASE_ACTIONS = {"ack": ev.ACK, "dispatch": ev.DISPATCH, "resolve": ev.RESOLVE}
TIMELINE_DAYS = 7
TIMELINE_MAX = 300  # rows on the household page; the store keeps every event
NOTE_MAX = 1000
# The households page never refreshes itself faster than this (static/live.js has the same
# floor); the page says the period it will really use.
LIVE_FLOOR_S = 2.0
# Audit detail values that are instants (UTC seconds): shown in the page's local time.
AUDIT_TIMES = ("until", "at", "since", "locked_until")
_NEVER = -math.inf


class BadInput(ValueError):
    """A query or form value a person can fix: answered 400 with the message, never a 500."""


class Assignee(NamedTuple):
    """A person the assign form offers: the account name, and how the list shows it."""

    name: str
    label: str


class Visit(NamedTuple):
    """One request by a logged-in person."""

    session: Session
    m: Messages
    now: float

    @property
    def actor(self) -> str:
        return self.session.user.name

    @property
    def admin(self) -> bool:
        return self.session.user.role == "admin"


Handler = Callable[[Request, Visit, FormData | None], Response]


class _SecurityHeaders:
    """Adds the headers every answer of the dashboard carries (framing, CSP, referrer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def dashboard(store: Store, desk: Desk, settings: DashboardConfig, notify_email=None,
              clock: Callable[[], float] = time.time,
              accounts: Accounts | None = None) -> Starlette:
    """The dashboard application. `notify_email`: the SMTP channel the summary goes out on
    (summary.smtp_channel(cfg.notify)), None when no mail server is configured. `accounts`
    may be given (tests use a cheaper password hasher); by default one is made over `store`."""
    pages = Pages(store, desk, settings, notify_email, clock, accounts)
    return pages.app()


class Pages:
    """The routes and what they share: the store, the desk, the accounts, the templates."""

    def __init__(self, store: Store, desk: Desk, settings: DashboardConfig, notify_email,
                 clock: Callable[[], float], accounts: Accounts | None) -> None:
        self.store = store
        self.desk = desk
        self.settings = settings
        self.notify_email = notify_email
        self.clock = clock
        self.accounts = accounts or Accounts(store, settings, clock)
        self.audit = Audit(store, clock)
        self.env = Environment(loader=PackageLoader("host.dashboard", "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True,
                               auto_reload=False)

    def app(self) -> Starlette:
        routes = [
            Route("/login", self._public(self.login_page), methods=["GET", "POST"]),
            Route("/logout", self._public(self.logout), methods=["POST"]),
            Route("/lang", self._public(self.set_lang), methods=["POST"]),
            Route("/", self._page(self.households), methods=["GET"]),
            Route("/alarms", self._page(self.alarms), methods=["GET"]),
            Route("/cases/{case_id}/{action}", self._page(self.case_action), methods=["POST"]),
            Route("/households/{household_id}", self._page(self.household), methods=["GET"]),
            Route("/households/{household_id}/away", self._page(self.away_set),
                  methods=["POST"]),
            Route("/households/{household_id}/away/end", self._page(self.away_end),
                  methods=["POST"]),
            Route("/summary", self._page(self.summary_page), methods=["GET"]),
            Route("/summary/email", self._page(self.summary_email, admin=True),
                  methods=["POST"]),
            Route("/admin/audit", self._page(self.audit_page, admin=True), methods=["GET"]),
            Route("/admin/users", self._page(self.users_page, admin=True), methods=["GET"]),
            Route("/admin/users/unlock", self._page(self.unlock, admin=True), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        return Starlette(routes=routes, middleware=[Middleware(_SecurityHeaders)])

    # -- the gate every page goes through ---------------------------------------------------

    def _page(self, handler: Handler, admin: bool = False):
        async def endpoint(request: Request) -> Response:
            form, bad_form = await _read_form(request)
            return await run_in_threadpool(self._guard, request, form, bad_form, handler, admin)

        return endpoint

    def _public(self, handler: Callable[[Request, FormData | None], Response]):
        async def endpoint(request: Request) -> Response:
            form, bad_form = await _read_form(request)
            if bad_form:
                return self._error(request, None, 400, "error.bad_form")
            return await run_in_threadpool(handler, request, form)

        return endpoint

    def _guard(self, request: Request, form: FormData | None, bad_form: bool, handler: Handler,
               admin: bool) -> Response:
        """Session, then CSRF, then role; only then the handler."""
        # The page's own live refresh is no sign of a person: an unattended screen still
        # times out after session_idle_s.
        automatic = request.method == "GET" and bool(request.query_params.get("partial"))
        session = self.accounts.session(request.cookies.get(SESSION_COOKIE),
                                        touch=not automatic)
        if session is None:
            if request.method != "GET":
                return self._error(request, None, 403, "error.no_session")
            if request.query_params.get("partial"):
                return JSONResponse({"error": "session"}, status_code=401,
                                    headers={"Cache-Control": "no-store"})
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return _redirect("/login?" + urlencode({"next": target}))
        visit = Visit(session, messages(session.lang), self.clock())
        if request.method == "POST":
            if bad_form:
                return self._error(request, visit, 400, "error.bad_form")
            if not csrf_ok(session, _text(form, "csrf")):
                self.audit.record(visit.actor, "csrf_refused", _decoded_path(request),
                                  method=request.method)
                return self._error(request, visit, 403, "error.csrf")
        if admin and not visit.admin:
            self.audit.record(visit.actor, "forbidden", _decoded_path(request))
            return self._error(request, visit, 403, "error.admin_only")
        try:
            return handler(request, visit, form)
        except BadInput as e:
            return self._error(request, visit, 400, text=str(e))

    # -- rendering --------------------------------------------------------------------------

    def render(self, request: Request, visit: Visit | None, template: str, status: int = 200,
               **values: object) -> HTMLResponse:
        m = visit.m if visit else self._login_lang(request)
        flash = _read_flash(request)
        values.update(
            _=m, lang=m.lang, langs=LANGS, visit=visit, flash=flash,
            user=visit.session.user if visit else None,
            # Without a session, the login form's token (the language switch rides on it).
            csrf=visit.session.csrf if visit else values.get(
                "csrf", request.cookies.get(LOGIN_COOKIE, "")),
            here=_here(request),
            path=request.url.path,
        )
        if visit is not None and "open_cases" not in values:
            values["open_cases"] = _open_cases(self.desk.rows())
        html = self.env.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def _error(self, request: Request, visit: Visit | None, status: int, key: str = "",
               text: str = "", **values: object) -> HTMLResponse:
        m = visit.m if visit else self._login_lang(request)
        message = text or m(key, **values)
        return self.render(request, visit, "error.html", status, status_code=status,
                           message=message)

    def _login_lang(self, request: Request) -> Messages:
        lang = request.cookies.get(LANG_COOKIE)
        return messages(lang if lang in LANGS else self.settings.default_lang)

    def _back(self, url: str, kind: str, text: str) -> RedirectResponse:
        """303 to url with a flash message for the page there."""
        response = _redirect(url)
        payload = base64.urlsafe_b64encode(json.dumps([kind, text]).encode()).decode()
        response.set_cookie(FLASH_COOKIE, payload, max_age=60, path="/", httponly=True,
                            samesite="lax", secure=self.settings.secure_cookies)
        return response

    # -- login, logout, language ------------------------------------------------------------

    def login_page(self, request: Request, form: FormData | None) -> Response:
        next_url = _local_path(request.query_params.get("next")) or "/"
        if request.method == "GET":
            if self.accounts.session(request.cookies.get(SESSION_COOKIE)) is not None:
                return _redirect(next_url)
            return self._login_form(request, next_url)
        next_url = _local_path(_text(form, "next")) or "/"
        if not _login_token_ok(request, form):
            self.audit.record(_text(form, "name")[:32] or "-", "csrf_refused", "/login")
            return self._error(request, None, 403, "error.csrf")
        lang = self._login_lang(request).lang
        try:
            session = self.accounts.login(_text(form, "name"), _raw(form, "password"), lang)
        except LoginRefused as e:
            m = self._login_lang(request)
            if e.reason == "locked":
                text = (m("login.locked", until=_clock_text(e.locked_until, PAGE_TZ))
                        if e.locked_until else m("login.locked_plain"))
            elif e.reason == "disabled":
                text = m("login.disabled")
            else:
                text = m("login.bad_credentials")
            return self._login_form(request, next_url, error=text, status=401,
                                    name=_text(form, "name")[:32])
        response = _redirect(next_url)
        response.set_cookie(SESSION_COOKIE, session.token, path="/", httponly=True,
                            samesite="lax", secure=self.settings.secure_cookies,
                            max_age=int(self.settings.session_max_s))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    def _login_form(self, request: Request, next_url: str, error: str = "", status: int = 200,
                    name: str = "") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        response = self.render(request, None, "login.html", status, csrf=token, next=next_url,
                               error=error, name=name)
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/", httponly=True,
                            samesite="strict", secure=self.settings.secure_cookies)
        return response

    def logout(self, request: Request, form: FormData | None) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        session = self.accounts.session(token)
        if session is None:
            return self._error(request, None, 403, "error.no_session")
        if not csrf_ok(session, _text(form, "csrf")):
            self.audit.record(session.user.name, "csrf_refused", "/logout")
            return self._error(request, Visit(session, messages(session.lang), self.clock()),
                               403, "error.csrf")
        self.accounts.logout(session.token)
        response = self._back("/login", "ok", messages(session.lang)("login.logged_out"))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def set_lang(self, request: Request, form: FormData | None) -> Response:
        """Logged in: the session's language (CSRF as every form); on the login page: the
        double-submit token. Either way a cookie keeps the choice for the next login page."""
        lang = _text(form, "lang")
        back = _local_path(_text(form, "next")) or "/"
        session = self.accounts.session(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            if not csrf_ok(session, _text(form, "csrf")):
                self.audit.record(session.user.name, "csrf_refused", "/lang")
                return self._error(request, Visit(session, messages(session.lang),
                                                  self.clock()), 403, "error.csrf")
        elif not _login_token_ok(request, form):
            return self._error(request, None, 403, "error.csrf")
        if lang not in LANGS:
            visit = Visit(session, messages(session.lang), self.clock()) if session else None
            return self._error(request, visit, 400, "error.bad_param", name="lang",
                               value=repr(lang)[:40], expected=", ".join(LANGS))
        if session is not None:
            self.accounts.set_lang(session.token, lang)
        response = _redirect(back)
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True,
                            samesite="lax", secure=self.settings.secure_cookies)
        return response

    # -- households at a glance -------------------------------------------------------------

    def households(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        query = _households_query(request, visit.m)
        rows = self.desk.rows()
        view = self._households_view(rows, query, visit)
        if request.query_params.get("partial") == "rows":
            parts = {name: self.env.get_template(f"_households_{name}.html").render(view)
                     for name in ("rows", "pager")}
            return JSONResponse(
                {**parts, "updated": view["updated"], "open_cases": view["open_cases"],
                 "counts": view["counts"], "total": view["total"]},
                headers={"Cache-Control": "no-store"})
        self.audit.record(visit.actor, "view_households", "", page=view["page"],
                          filter=list(query.statuses), sort=query.sort)
        return self.render(request, visit, "households.html", **view)

    def _households_view(self, rows: Sequence[HouseholdRow], query: _Query,
                         visit: Visit) -> dict:
        m, now = visit.m, visit.now
        open_cases = _open_cases(rows)
        if query.q:
            q = query.q.casefold()
            rows = [r for r in rows if q in r.name.casefold() or q in r.id.casefold()]
        counts = dict.fromkeys(d.STATUSES, 0)
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        if query.statuses:
            wanted = set(query.statuses)
            rows = [r for r in rows if r.status in wanted]
        ordered = _sort_rows(rows, query.sort)
        size = self.settings.page_size
        pages = max(1, -(-len(ordered) // size))
        page = min(query.page, pages)
        shown = ordered[(page - 1) * size: page * size]
        return {
            "_": m, "rows": [_row_view(r, m, now, _zone(r.tz)) for r in shown],
            "counts": counts, "total": len(ordered),
            "page": page, "pages": pages, "first": (page - 1) * size + 1 if shown else 0,
            "last": (page - 1) * size + len(shown), "query": query,
            "page_url": lambda p: "/?" + query.encode(page=p),
            "statuses": d.STATUSES, "sorts": SORT_CHOICES,
            "updated": m("time.updated", time=_clock_text(now, PAGE_TZ, "%H:%M:%S")),
            "refresh_s": _live_period(self.settings.refresh_s),
            "open_cases": open_cases,
        }

    def _assignees(self) -> list[Assignee]:
        """Who a case may be given to: caseworkers and admins whose account is not disabled."""
        return [Assignee(u.name, u.name if not u.display or u.display == u.name
                         else f"{u.display} ({u.name})")
                for u in self.accounts.users() if u.role in ROLES and not u.disabled]

    def _homes(self, ids: set[str]) -> dict:
        """The store's households by id, for the few a page names."""
        homes = {}
        for hid in ids:
            with contextlib.suppress(StoreError):  # gone since: the page shows the id
                homes[hid] = self.store.household(hid)
        return homes

    # -- the alarm queue and what people do to a case ---------------------------------------

    def alarms(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m, now = visit.m, visit.now
        cases = self.store.cases(open_only=True)
        cases.sort(key=lambda c: (QUEUE_ORDER.get(c.state, 9), c.opened_at, c.id))
        homes = self._homes({c.household for c in cases})
        assigned = self.store.assignments([c.id for c in cases])
        rows = []
        for c in cases:
            home = homes.get(c.household)
            tz = _zone(home.tz if home else DEFAULT_TZ)
            rows.append({
                "case": c, "household_name": home.name if home else c.household,
                "href": "/households/" + quote(c.household, safe=""),
                "kind_word": m.word("casekind", c.kind), "state_word": m.word("state", c.state),
                "reason": _reason_text(c.reason, tz, m), "age": m.span(now - c.opened_at),
                "opened": m("alarms.opened", time=_clock_text(c.opened_at, tz)),
                "assignee": assigned.get(c.id),
                "can_ack": ladder.next_state(c.state, ladder.ACKNOWLEDGE) is not None,
                "can_dispatch": ladder.next_state(c.state, ladder.DISPATCH) is not None,
            })
        self.audit.record(visit.actor, "view_alarms", "", cases=len(rows))
        return self.render(request, visit, "alarms.html", rows=rows, users=self._assignees(),
                           outcomes=PERSON_OUTCOMES, open_cases=len(rows))

    def case_action(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m = visit.m
        case_id = request.path_params["case_id"]
        action = request.path_params["action"]
        if action not in CASE_ACTIONS and action != "assign":
            return self._error(request, visit, 404, "error.not_found")
        try:
            case = self.store.case(case_id)
        except StoreError:
            return self._error(request, visit, 404, "error.unknown_case", id=case_id)
        back = _local_path(_text(form, "next")) or "/alarms"
        if case.closed_at is not None:
            self.audit.record(visit.actor, action, case.id, household=case.household,
                              refused="closed")
            return self._back(back, "error", m("flash.case_closed", id=case.id))
        if action == "assign":
            user = _text(form, "user")
            if not user:
                return self._back(back, "error", m("flash.no_user"))
            if user not in {a.name for a in self._assignees()}:
                return self._back(back, "error", m("flash.bad_user", user=user[:32]))
            try:
                self.store.assign_case(case.id, user, visit.actor, visit.now)  # audits itself
            except StoreError:  # the account went away since the check
                return self._back(back, "error", m("flash.bad_user", user=user[:32]))
            return self._back(back, "ok", m("flash.assign", id=case.id, user=user))
        outcome, note = None, ""
        if action == "resolve":
            outcome = _text(form, "outcome")
            if outcome not in PERSON_OUTCOMES:
                return self._back(back, "error", m("flash.bad_outcome"))
            note = _text(form, "note")[:NOTE_MAX]
        event = Event(case.household, visit.now, CASE_ACTIONS[action], None,
                      (case.id, outcome, visit.actor, note))
        return self._act(visit, event, action, case.id, back,
                         m(f"flash.{action}", id=case.id), household=case.household,
                         outcome=outcome)

    def _act(self, visit: Visit, event: Event, action: str, target: str, back: str,
             done: str, **detail: object) -> Response:
        """Give a person's input to the engine through the desk; say what became of it."""
        m = visit.m
        try:
            why = self.desk.act(event)
        except TimeoutError:
            self.audit.record(visit.actor, action, target, result="timeout", **detail)
            return self._back(back, "error", m("flash.timeout"))
        if why is not None:
            self.audit.record(visit.actor, action, target, result="refused", why=why, **detail)
            return self._back(back, "error", m("flash.refused", why=why))
        self.audit.record(visit.actor, action, target, result="done", **detail)
        return self._back(back, "ok", done)

    # -- one household ----------------------------------------------------------------------

    def household(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m, now = visit.m, visit.now
        hid = request.path_params["household_id"]
        try:
            home = self.store.household(hid)
        except StoreError:
            return self._error(request, visit, 404, "error.unknown_household", id=hid)
        tz = _zone(home.tz)
        busy = False
        try:
            detail = self.desk.detail(hid)
        except KeyError:  # registered, not on the board yet
            detail = None
        except TimeoutError:  # the host's loop is busy: the stored parts still show
            detail, busy = None, True
        row = detail.row if detail else None
        if row is None:
            row = next((r for r in self.desk.rows() if r.id == hid), None)
        history = history_part(self.store, hid, tz, now)
        self.audit.record(visit.actor, "view_household", hid)
        return self.render(
            request, visit, "household.html", home=home, tz_name=home.tz,
            href="/households/" + quote(hid, safe=""),
            row=_row_view(row, m, now, tz) if row else None,
            heatmap=_heatmap(history, tz, m),
            timeline=self._timeline(hid, tz, now, m),
            routine=_routine(detail, m), cases=self._case_history(hid, tz, m),
            telemetry=_telemetry(detail, row, tz, now, m),
            away=_away_view(row, tz, now, m), outcomes=PERSON_OUTCOMES,
            users=self._assignees(),
            default_return=_clock_text(now + 86400, tz, "%Y-%m-%d"), busy=busy,
        )

    def _timeline(self, hid: str, tz: ZoneInfo, now: float, m: Messages) -> dict:
        items = []
        for e in self.store.events(hid, now - TIMELINE_DAYS * 86400, now + 1):
            if e.kind != ev.HEARTBEAT:
                items.append(e)
        more = len(items) > TIMELINE_MAX
        shown = items[-TIMELINE_MAX:][::-1]
        return {"more": more, "max": TIMELINE_MAX, "entries": [
            {"time": _clock_text(e.time, tz, "%m-%d %H:%M"), "device": e.device or "",
             "kind": e.kind, "word": m.word("kind", e.kind), "detail": _event_detail(e, tz, m)}
            for e in shown]}

    def _case_history(self, hid: str, tz: ZoneInfo, m: Messages) -> list[dict]:
        cases = self.store.cases(hid)
        cases.sort(key=lambda c: (c.opened_at, c.id), reverse=True)
        assigned = self.store.assignments([c.id for c in cases]) if cases else {}
        out = []
        for c in cases[:50]:
            steps, said = [], _reason_text(c.reason, tz, m)
            for h in self.store.case_history(c.id):
                reason = h.detail.get("reason")
                words = _reason_text(reason, tz, m) if isinstance(reason, dict) else ""
                if words == said:
                    words = ""  # said already (on the case, or the step before)
                else:
                    said = words or said
                # A person's note is theirs, shown as written; the engine's is put in words.
                note = h.note if h.actor or not h.note else m.engine_note(h.note)
                steps.append({
                    "time": _clock_text(h.time, tz, "%m-%d %H:%M"),
                    "action": m.word("action", h.detail.get("action", "")),
                    "state": m.word("state", h.state),
                    "actor": h.actor or m("household.actor_engine"),
                    "note": note, "quoted": note == h.note,
                    "outcome": m.word("outcome", h.detail["outcome"])
                    if h.detail.get("outcome") else "",
                    "reason": words,
                })
            out.append({
                "case": c, "kind_word": m.word("casekind", c.kind),
                "state_word": m.word("state", c.state), "reason": _reason_text(c.reason, tz, m),
                "opened": _clock_text(c.opened_at, tz),
                "closed": _clock_text(c.closed_at, tz) if c.closed_at else "",
                "outcome": m.word("outcome", c.outcome) if c.outcome else "",
                "assignee": assigned.get(c.id), "steps": steps, "open": c.closed_at is None,
                "can_ack": ladder.next_state(c.state, ladder.ACKNOWLEDGE) is not None,
                "can_dispatch": ladder.next_state(c.state, ladder.DISPATCH) is not None,
            })
        return out

    def away_set(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m, now = visit.m, visit.now
        hid = request.path_params["household_id"]
        try:
            home = self.store.household(hid)
        except StoreError:
            return self._error(request, visit, 404, "error.unknown_household", id=hid)
        back = "/households/" + quote(hid, safe="")
        tz = _zone(home.tz)
        if _text(form, "mode") == "back":
            until = None
        else:
            try:
                local = datetime.strptime(f"{_text(form, 'date')} {_text(form, 'time')}",
                                          "%Y-%m-%d %H:%M")
            except ValueError:
                return self._back(back, "error", m("flash.away_bad_date"))
            until = local.replace(tzinfo=tz).timestamp()
            if until <= now:
                return self._back(back, "error", m("flash.away_past"))
        shown = m("time.until_back") if until is None else _clock_text(until, tz)
        return self._act(visit, Event(hid, now, ev.AWAY, None, until), "away_set", hid, back,
                         m("flash.away_set", until=shown), until=until)

    def away_end(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        hid = request.path_params["household_id"]
        try:
            self.store.household(hid)
        except StoreError:
            return self._error(request, visit, 404, "error.unknown_household", id=hid)
        back = "/households/" + quote(hid, safe="")
        return self._act(visit, Event(hid, visit.now, ev.AWAY_END), "away_end", hid, back,
                         visit.m("flash.away_end"))

    # -- the daily summary ------------------------------------------------------------------

    def summary_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m = visit.m
        day = _day_param(request.query_params.get("date"), visit.now, m)
        rows = self.desk.rows()
        summary = daily.daily_summary(self.store, rows, day, PAGE_TZ, now=visit.now)
        self.audit.record(visit.actor, "view_summary", day.isoformat())
        return self.render(
            request, visit, "summary.html", s=summary, view=daily.summary_view(summary, m),
            day=day.isoformat(), prev=(day - timedelta(days=1)).isoformat(),
            next=(day + timedelta(days=1)).isoformat(), open_cases=_open_cases(rows),
            mail_to=", ".join(self.settings.summary_to),
            can_mail=bool(self.settings.summary_to) and self.notify_email is not None)

    def summary_email(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m = visit.m
        day = _day_param(_text(form, "date") or None, visit.now, m)
        back = "/summary?" + urlencode({"date": day.isoformat()})
        if self.notify_email is None:
            return self._back(back, "error", m("flash.summary_no_smtp"))
        if not self.settings.summary_to:
            return self._back(back, "error", m("flash.summary_no_to"))
        summary = daily.daily_summary(self.store, self.desk.rows(), day, PAGE_TZ,
                                      now=visit.now)
        try:
            daily.email_summary(summary, self.notify_email, self.settings.summary_to,
                                self.settings.summary_from, m.lang)
        except Exception as e:  # DeliveryError, OSError: say why, never a 500
            self.audit.record(visit.actor, "summary_emailed", day.isoformat(), result="failed",
                              why=str(e))
            return self._back(back, "error", m("flash.summary_failed", why=str(e)))
        to = ", ".join(self.settings.summary_to)
        self.audit.record(visit.actor, "summary_emailed", day.isoformat(), result="sent",
                          to=list(self.settings.summary_to))
        return self._back(back, "ok", m("flash.summary_sent", day=day.isoformat(), to=to))

    # -- admin ------------------------------------------------------------------------------

    def audit_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m = visit.m
        actor = (request.query_params.get("actor") or "").strip()[:64] or None
        target = (request.query_params.get("target") or "").strip()[:100] or None
        raw = request.query_params.get("before")
        before = None
        if raw:
            if not raw.isdigit():
                raise BadInput(m("error.bad_param", name="before", value=repr(raw)[:40],
                                 expected=m("error.expected_id")))
            before = int(raw)
        size = self.settings.page_size
        entries = self.audit.entries(size, before, actor, target)
        self.audit.record(visit.actor, "view_audit", actor or "",
                          **({"target_filter": target} if target else {}))
        shown = [{"id": e.id, "at": _clock_text(e.at, PAGE_TZ, "%Y-%m-%d %H:%M:%S"),
                  "actor": e.actor, "action": e.action,
                  "action_word": m.word("audit_action", e.action), "target": e.target,
                  "detail": _audit_detail(e.action, e.detail, m)} for e in entries]
        filters = {k: v for k, v in (("actor", actor), ("target", target)) if v}
        older = None
        if len(entries) == size:
            older = "/admin/audit?" + urlencode({"before": entries[-1].id, **filters})
        return self.render(request, visit, "audit.html", entries=shown, actor=actor or "",
                           target=target or "", older=older, paged=before is not None,
                           newest="/admin/audit" + (f"?{urlencode(filters)}" if filters else ""))

    def users_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        self.audit.record(visit.actor, "view_users")
        users = [{"u": u, "created": _clock_text(u.created_at, PAGE_TZ, "%Y-%m-%d"),
                  "locked": _clock_text(u.locked_until, PAGE_TZ) if u.locked_until else ""}
                 for u in self.accounts.users()]
        return self.render(request, visit, "users.html", users=users)

    def unlock(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        name = _text(form, "name")
        try:
            self.accounts.unlock(name)
        except ValueError as e:
            return self._back("/admin/users", "error", str(e))
        self.audit.record(visit.actor, "unlock", name)
        return self._back("/admin/users", "ok", visit.m("flash.unlocked", user=name))


# -- households: the query, the order, the row as shown --------------------------------------


class _Query(NamedTuple):
    statuses: tuple[str, ...]
    q: str
    sort: str
    page: int

    def encode(self, **over: object) -> str:
        """This query as URL parameters, with some changed (page links, filter chips)."""
        values = self._replace(**over)
        params: list[tuple[str, object]] = [("status", s) for s in values.statuses]
        if values.q:
            params.append(("q", values.q))
        if values.sort != "status":
            params.append(("sort", values.sort))
        if values.page != 1:
            params.append(("page", values.page))
        return urlencode(params)


def _households_query(request: Request, m: Messages) -> _Query:
    params = request.query_params
    statuses = tuple(dict.fromkeys(s for s in params.getlist("status") if s))
    for s in statuses:
        if s not in d.STATUSES:
            raise BadInput(m("error.bad_param", name="status", value=repr(s)[:40],
                             expected=m("error.expected_status", options=", ".join(d.STATUSES))))
    sort = params.get("sort") or "status"
    if sort not in SORT_CHOICES:
        raise BadInput(m("error.bad_param", name="sort", value=repr(sort)[:40],
                         expected=m("error.expected_sort", options=", ".join(SORT_CHOICES))))
    raw = params.get("page") or "1"
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        raise BadInput(m("error.bad_param", name="page", value=repr(raw)[:40],
                         expected=m("error.expected_page")))
    return _Query(statuses, (params.get("q") or "").strip()[:100], sort, int(raw))


def _sort_rows(rows: Sequence[HouseholdRow], sort: str) -> list[HouseholdRow]:
    """One key per row, computed once; ties fall back to the household id so pages are stable."""
    field = sort.lstrip("-")
    reverse = sort.startswith("-")
    if field == "status":
        rank = URGENCY.get

        def key(r: HouseholdRow) -> tuple:
            la = r.last_activity
            return (rank(r.status, 9), _NEVER if la is None else la, r.id)
    elif field == "name":
        def key(r: HouseholdRow) -> tuple:
            return (r.name.casefold(), r.id)
    elif field == "last_activity":
        def key(r: HouseholdRow) -> tuple:
            la = r.last_activity
            return (_NEVER if la is None else la, r.id)
    else:
        def key(r: HouseholdRow) -> tuple:
            sa = r.status_at
            return (_NEVER if sa is None else sa, r.id)
    return sorted(rows, key=key, reverse=reverse)


class DeviceView(NamedTuple):
    id: str
    state: str  # online / offline / never: the CSS class and the word's key
    word: str
    heard: str


class RowView(NamedTuple):
    """A households-page line as display strings, so the template only prints."""

    id: str
    href: str
    name: str
    status: str
    status_word: str
    since: str
    since_local: str
    last_ago: str
    last_local: str
    devices: tuple[DeviceView, ...]
    case_id: str | None
    case_word: str
    device_case: str | None
    away: str


def _row_view(r: HouseholdRow, m: Messages, now: float, tz: ZoneInfo) -> RowView:
    devices = []
    for dev in r.devices:
        state = "online" if dev.online else ("offline" if dev.last_seen is not None else "never")
        heard = m("device.heard", ago=m.ago(now - dev.last_seen)) if dev.last_seen else ""
        devices.append(DeviceView(dev.id, state, m(f"device.{state}"), heard))
    la, sa = r.last_activity, r.status_at
    away = ""
    if r.away_until is not None:
        away = (m("time.until_back") if math.isinf(r.away_until)
                else _clock_text(r.away_until, tz))
    return RowView(
        r.id, "/households/" + quote(r.id, safe=""), r.name, r.status,
        m.word("status", r.status),
        m.ago(now - sa) if sa is not None else "", _clock_text(sa, tz) if sa else "",
        m.ago(now - la if la is not None else None), _clock_text(la, tz) if la else "",
        tuple(devices), r.welfare_case,
        m.word("state", r.welfare_state) if r.welfare_state else "", r.device_case, away)


def _open_cases(rows: Sequence[HouseholdRow]) -> int:
    return sum((r.welfare_case is not None) + (r.device_case is not None) for r in rows)


# -- the household page's sections -----------------------------------------------------------


def _heatmap(history, tz: ZoneInfo, m: Messages) -> dict:
    """28 days x 24 hours; a shade class 0-5 relative to the busiest hour, the count in title."""
    peak = max((n for row in history.heatmap for n in row), default=0)
    rows = []
    for day, counts in zip(history.days, history.heatmap, strict=True):
        label = date(1970, 1, 1) + timedelta(days=day)
        text = f"{label:%m-%d} {m.word('weekday', label.weekday())}"
        cells = [(_shade(n, peak), n, m("household.heatmap_cell", day=text, hour=h, n=n))
                 for h, n in enumerate(counts)]
        rows.append({"label": text, "weekend": label.weekday() >= 5, "cells": cells})
    return {"rows": rows, "peak": peak}


def _shade(n: float, peak: float) -> int:
    """0 for nothing, else 1-5 by the share of the peak."""
    return 0 if n <= 0 or peak <= 0 else 1 + min(4, int(n * 5 / peak - 1e-9))


def _routine(detail, m: Messages) -> dict | None:
    """Today's day type, hour by hour: the usual count, today's, and when a silence knocks."""
    if detail is None:
        return None
    hours = detail.routine_weekend if detail.today_is_weekend else detail.routine_weekday
    peak = max((max(h.usual_events, h.today_events) for h in hours), default=0)
    cells = []
    for h in hours:
        knock = h.knock_after_h
        cells.append({
            "hour": h.hour,
            "usual": f"{h.usual_events:.1f}" if h.usual_events >= 0.05 else "",
            "usual_shade": _shade(h.usual_events, peak),
            "today": h.today_events or "", "today_shade": _shade(h.today_events, peak),
            "knock": (f"{knock:.1f}" if knock < 10 else f"{knock:.0f}") if knock else "",
            "title": m("household.routine_cell", hour=h.hour, usual=f"{h.usual_events:.1f}",
                       today=h.today_events,
                       knock=m("household.hours", n=f"{knock:.1f}") if knock else "–"),
        })
    return {
        "title": m("household.routine_weekend" if detail.today_is_weekend
                   else "household.routine_weekday"),
        "hours": cells,
        "wake_usual": _minutes_text(detail.wake_usual_min),
        "wake_today": _minutes_text(detail.wake_today_min),
        "days_known": detail.days_known,
    }


def _telemetry(detail, row: HouseholdRow | None, tz: ZoneInfo, now: float,
               m: Messages) -> list[dict]:
    """Each bulb: its health on the board, and its latest heartbeat's fields."""
    beats = {t.device: t for t in detail.telemetry} if detail else {}
    out = []
    for dev in row.devices if row else ():
        beat = beats.pop(dev.id, None)
        out.append(_device_block(dev.id, dev, beat, tz, now, m))
    for dev_id, beat in beats.items():
        out.append(_device_block(dev_id, None, beat, tz, now, m))
    return out


def _device_block(dev_id: str, dev, beat, tz: ZoneInfo, now: float, m: Messages) -> dict:
    state = "never"
    if dev is not None:
        state = "online" if dev.online else ("offline" if dev.last_seen is not None else "never")
    fields = []
    if beat is not None:
        for key, value in sorted(beat.fields.items()):
            fields.append((m.word("telemetry", key), str(value)))
    return {
        "id": dev_id, "state": state, "word": m(f"device.{state}"),
        "mode": (dev.power_mode or "") if dev else "",
        "heard": m("device.heard", ago=m.ago(now - dev.last_seen))
        if dev is not None and dev.last_seen else "",
        "received": m("household.received", time=_clock_text(beat.at, tz)) if beat else "",
        "fields": fields,
    }


def _away_view(row: HouseholdRow | None, tz: ZoneInfo, now: float, m: Messages) -> dict:
    until = row.away_until if row else None
    shown = ""
    if until is not None:
        shown = m("time.until_back") if math.isinf(until) else _clock_text(until, tz)
    return {"on": until is not None, "until": shown}


def _event_detail(e, tz: ZoneInfo, m: Messages) -> str:
    """The few words a timeline entry needs beyond its kind (who did it, the outcome)."""
    detail = e.detail
    if e.kind in (ev.ACK, ev.DISPATCH, ev.RESOLVE) and isinstance(detail, list | tuple):
        parts = list(detail) + [None] * 4
        words = [str(parts[0])]
        if parts[1]:
            words.append(m.word("outcome", parts[1]))
        if parts[2]:
            words.append(m("household.by", actor=parts[2]))
        if parts[3]:
            words.append(f"“{parts[3]}”")
        return " · ".join(words)
    if e.kind == ev.AWAY:
        return m("time.until_back") if detail is None else (
            _clock_text(detail, tz) if isinstance(detail, int | float) else "")
    if e.kind == ev.KNOCK_FAILED and isinstance(detail, str):
        return detail
    return ""


def _audit_detail(action: str, detail: dict, m: Messages) -> str:
    """An audit entry's detail as `key: value`, instants in the page's local time; empty
    values left out."""
    parts = []
    for key, value in sorted(detail.items()):
        if key in AUDIT_TIMES and isinstance(value, int | float) and not isinstance(value, bool):
            text = _clock_text(value, PAGE_TZ, "%Y-%m-%d %H:%M:%S") or m("time.until_back")
        elif key in AUDIT_TIMES and value is None and action == "away_set":
            text = m("time.until_back")
        elif value is None or value in ("", [], {}):
            continue
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}: {text}")
    return " · ".join(parts)


def _reason_text(reason: dict | None, tz: ZoneInfo, m: Messages) -> str:
    if not reason:
        return ""
    try:
        return describe(Reason(**reason), tz, m.lang)
    except (TypeError, ValueError, OverflowError, OSError):
        return m.word("reason", reason.get("code", ""))


# -- small helpers ---------------------------------------------------------------------------


async def _read_form(request: Request) -> tuple[FormData | None, bool]:
    """The form of a POST (url-encoded; no files), and whether it could not be read."""
    if request.method != "POST":
        return None, False
    try:
        return await request.form(max_files=0, max_fields=50), False
    except Exception:  # a malformed body is the sender's problem: 400, not 500
        return None, True


def _text(form: FormData | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value.strip() if isinstance(value, str) else ""


def _raw(form: FormData | None, name: str) -> str:
    """A field as typed (a password's spaces are part of it)."""
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


def _login_token_ok(request: Request, form: FormData | None) -> bool:
    """The login form's double-submit check: the hidden field equals the cookie."""
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    field = _text(form, "csrf")
    return bool(cookie) and bool(field) and hmac.compare_digest(cookie.encode(), field.encode())


def _local_path(url: str | None) -> str | None:
    """A redirect target on this site only: a path, never //host or a scheme."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    if any(ord(c) < 32 for c in url):
        return None
    return url


def _decoded_path(request: Request) -> str:
    """The path as the routes saw it (/cases/h4#1/ack), so the audit log's targets read
    alike and a filter by case id finds the refusals too."""
    return unquote(request.url.path)


def _live_period(refresh_s: float) -> str:
    """The households page's refresh period in seconds as text, for both the words and the
    script: at least LIVE_FLOOR_S, at most one decimal."""
    return f"{max(LIVE_FLOOR_S, round(float(refresh_s), 1)):.1f}".removesuffix(".0")


def _here(request: Request) -> str:
    """Where the language switch comes back to: this page, or / after a POST."""
    if request.method != "GET" or request.query_params.get("partial"):
        return "/"
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _read_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError, binascii.Error):
        return None
    if kind not in ("ok", "error") or not isinstance(text, str):
        return None
    return kind, text[:500]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return PAGE_TZ


def _clock_text(t: float | None, tz, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if t is None or not math.isfinite(t):
        return ""
    return datetime.fromtimestamp(t, tz).strftime(fmt)


def _minutes_text(minutes: float | None) -> str:
    if minutes is None:
        return "–"
    h, mnt = divmod(int(minutes), 60)
    return f"{h:02d}:{mnt:02d}"


def _day_param(raw: str | None, now: float, m: Messages) -> date:
    if not raw:
        return datetime.fromtimestamp(now, PAGE_TZ).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadInput(m("error.bad_param", name="date", value=repr(raw)[:40],
                         expected=m("error.expected_date"))) from None


__all__ = ["DEFAULT_LANG", "BadInput", "Pages", "dashboard"]
