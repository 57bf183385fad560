"""The way into the dashboard's pages, and the HTTP details every answer shares.

Every page but /login and /static needs a session; every POST carries the session's CSRF token
(the login form a double-submit one); admin pages refuse caseworkers. The Gate checks these in
that order before a handler runs, so no handler repeats them. Here too: the cookies, the
security headers, the flash message a redirect leaves, and reading a form without a 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host.dashboard.accounts import Session, csrf_ok
from host.dashboard.messages import Messages

if TYPE_CHECKING:
    from host.dashboard.site import Site

SESSION_COOKIE = "anbu_session"
LOGIN_COOKIE = "anbu_login"  # the login form's double-submit CSRF token
LANG_COOKIE = "anbu_lang"  # the language of the login page, before there is a session
FLASH_COOKIE = "anbu_flash"  # one message for the page after a redirect

SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


class BadInput(ValueError):
    """A query or form value a person can fix: answered 400 with the message, never a 500."""


class NotFound(LookupError):
    """A page for something that is not there (a household, a case): answered 404 with the
    message."""


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
PublicHandler = Callable[[Request, FormData | None], Response]


class SecurityHeaders:
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


class Gate:
    """Wraps handlers into Starlette endpoints: the form read, then the checks, then the
    handler in the thread pool (the store and the Desk block)."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def page(self, handler: Handler, admin: bool = False):
        async def endpoint(request: Request) -> Response:
            form, bad_form = await read_form(request)
            return await run_in_threadpool(self._guard, request, form, bad_form, handler, admin)

        return endpoint

    def public(self, handler: PublicHandler):
        async def endpoint(request: Request) -> Response:
            form, bad_form = await read_form(request)
            if bad_form:
                return self.site.error(request, None, 400, "error.bad_form")
            return await run_in_threadpool(handler, request, form)

        return endpoint

    def _guard(self, request: Request, form: FormData | None, bad_form: bool, handler: Handler,
               admin: bool) -> Response:
        """Session, then CSRF, then role; only then the handler."""
        site = self.site
        # The page's own live refresh is no sign of a person: an unattended screen still
        # times out after session_idle_s.
        automatic = request.method == "GET" and bool(request.query_params.get("partial"))
        session = site.accounts.session(request.cookies.get(SESSION_COOKIE),
                                        touch=not automatic)
        if session is None:
            if request.method != "GET":
                return site.error(request, None, 403, "error.no_session")
            if request.query_params.get("partial"):
                return JSONResponse({"error": "session"}, status_code=401,
                                    headers={"Cache-Control": "no-store"})
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect("/login?" + urlencode({"next": target}))
        visit = site.visit(session)
        if request.method == "POST":
            if bad_form:
                return site.error(request, visit, 400, "error.bad_form")
            if not csrf_ok(session, text(form, "csrf")):
                site.audit.record(visit.actor, "csrf_refused", decoded_path(request),
                                  method=request.method)
                return site.error(request, visit, 403, "error.csrf")
        if admin and not visit.admin:
            site.audit.record(visit.actor, "forbidden", decoded_path(request))
            return site.error(request, visit, 403, "error.admin_only")
        try:
            return handler(request, visit, form)
        except BadInput as e:
            return site.error(request, visit, 400, text=str(e))
        except NotFound as e:
            return site.error(request, visit, 404, text=str(e))


async def read_form(request: Request) -> tuple[FormData | None, bool]:
    """The form of a POST (url-encoded; no files), and whether it could not be read."""
    if request.method != "POST":
        return None, False
    try:
        return await request.form(max_files=0, max_fields=50), False
    except Exception:  # a malformed body is the sender's problem: 400, not 500
        return None, True


def text(form: FormData | None, name: str) -> str:
    """A form field, trimmed; empty when it is missing or a file."""
    value = form.get(name) if form is not None else None
    return value.strip() if isinstance(value, str) else ""


def raw(form: FormData | None, name: str) -> str:
    """A field as typed (a password's spaces are part of it)."""
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


def login_token_ok(request: Request, form: FormData | None) -> bool:
    """The login form's double-submit check: the hidden field equals the cookie."""
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    field = text(form, "csrf")
    return bool(cookie) and bool(field) and hmac.compare_digest(cookie.encode(), field.encode())


def local_path(url: str | None) -> str | None:
    """A redirect target on this site only: a path, never //host or a scheme."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    if any(ord(c) < 32 for c in url):
        return None
    return url


def decoded_path(request: Request) -> str:
    """The path as the routes saw it (/cases/h4#1/ack), so the audit log's targets read
    alike and a filter by case id finds the refusals too."""
    return unquote(request.url.path)


def here(request: Request) -> str:
    """Where the language switch comes back to: this page, or / after a POST."""
    if request.method != "GET" or request.query_params.get("partial"):
        return "/"
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def redirect(url: str) -> RedirectResponse:
    """303 to url, never cached."""
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def flash_redirect(url: str, kind: str, message: str, secure: bool) -> RedirectResponse:
    """303 to url with a flash message ("ok" or "error") for the page there."""
    response = redirect(url)
    payload = base64.urlsafe_b64encode(json.dumps([kind, message]).encode()).decode()
    response.set_cookie(FLASH_COOKIE, payload, max_age=60, path="/", httponly=True,
                        samesite="lax", secure=secure)
    return response


def read_flash(request: Request) -> tuple[str, str] | None:
    """The flash message the redirect left, if it is one of ours."""
    cookie = request.cookies.get(FLASH_COOKIE)
    if not cookie:
        return None
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(cookie.encode()))
    except (ValueError, TypeError, binascii.Error):
        return None
    if kind not in ("ok", "error") or not isinstance(message, str):
        return None
    return kind, message[:500]

