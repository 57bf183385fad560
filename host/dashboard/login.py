"""The pages reached without a session's checks: logging in, logging out, the language switch.

They go through the Gate's public door (no session required), so each checks its own token:
the login form a double-submit one, logout and a logged-in language switch the session's.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from host.dashboard.accounts import LoginRefused, csrf_ok
from host.dashboard.formatting import PAGE_TZ, clock_text
from host.dashboard.gate import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    local_path,
    login_token_ok,
    raw,
    redirect,
    text,
)
from host.dashboard.messages import LANGS, messages
from host.dashboard.site import Handlers


class Login(Handlers):
    """/login, /logout and /lang."""

    def login_page(self, request: Request, form: FormData | None) -> Response:
        site = self.site
        next_url = local_path(request.query_params.get("next")) or "/"
        if request.method == "GET":
            if site.accounts.session(request.cookies.get(SESSION_COOKIE)) is not None:
                return redirect(next_url)
            return self._login_form(request, next_url)
        next_url = local_path(text(form, "next")) or "/"
        if not login_token_ok(request, form):
            site.audit.record(text(form, "name")[:32] or "-", "csrf_refused", "/login")
            return site.error(request, None, 403, "error.csrf")
        lang = site.login_lang(request).lang
        try:
            session = site.accounts.login(text(form, "name"), raw(form, "password"), lang)
        except LoginRefused as e:
            m = site.login_lang(request)
            if e.reason == "locked":
                refusal = (m("login.locked", until=clock_text(e.locked_until, PAGE_TZ))
                           if e.locked_until else m("login.locked_plain"))
            elif e.reason == "disabled":
                refusal = m("login.disabled")
            else:
                refusal = m("login.bad_credentials")
            return self._login_form(request, next_url, error=refusal, status=401,
                                    name=text(form, "name")[:32])
        response = redirect(next_url)
        response.set_cookie(SESSION_COOKIE, session.token, path="/", httponly=True,
                            samesite="lax", secure=site.settings.secure_cookies,
                            max_age=int(site.settings.session_max_s))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    def _login_form(self, request: Request, next_url: str, error: str = "", status: int = 200,
                    name: str = "") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        response = self.site.render(request, None, "login.html", status, csrf=token,
                                    next=next_url, error=error, name=name)
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/", httponly=True,
                            samesite="strict", secure=self.site.settings.secure_cookies)
        return response

    def logout(self, request: Request, form: FormData | None) -> Response:
        site = self.site
        token = request.cookies.get(SESSION_COOKIE)
        session = site.accounts.session(token)
        if session is None:
            return site.error(request, None, 403, "error.no_session")
        if not csrf_ok(session, text(form, "csrf")):
            site.audit.record(session.user.name, "csrf_refused", "/logout")
            return site.error(request, site.visit(session), 403, "error.csrf")
        site.accounts.logout(session.token)
        response = site.back("/login", "ok", messages(session.lang)("login.logged_out"))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def set_lang(self, request: Request, form: FormData | None) -> Response:
        """Logged in: the session's language (CSRF as every form); on the login page: the
        double-submit token. Either way a cookie keeps the choice for the next login page."""
        site = self.site
        lang = text(form, "lang")
        back = local_path(text(form, "next")) or "/"
        session = site.accounts.session(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            if not csrf_ok(session, text(form, "csrf")):
                site.audit.record(session.user.name, "csrf_refused", "/lang")
                return site.error(request, site.visit(session), 403, "error.csrf")
        elif not login_token_ok(request, form):
            return site.error(request, None, 403, "error.csrf")
        if lang not in LANGS:
            visit = site.visit(session) if session else None
            return site.error(request, visit, 400, "error.bad_param", name="lang",
                              value=repr(lang)[:40], expected=", ".join(LANGS))
        if session is not None:
            site.accounts.set_lang(session.token, lang)
        response = redirect(back)
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True,
                            samesite="lax", secure=site.settings.secure_cookies)
        return response
