"""What every page of the dashboard shares, and the frame each one is drawn in.

The store, the Desk, the accounts, the audit log and the templates are made once per
application; the page modules hold a Site rather than each their own. Rendering lives here so
that every page gets the same frame: the language, the session's CSRF token, the flash message
the open-case count in the menu, and for admins the count of notices that did not go out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from host.dashboard.accounts import ROLES, Accounts, Session
from host.dashboard.audit import Audit
from host.dashboard.board import Desk
from host.dashboard.formatting import open_cases
from host.dashboard.gate import (
    FLASH_COOKIE,
    LANG_COOKIE,
    LOGIN_COOKIE,
    NotFound,
    Visit,
    flash_redirect,
    here,
    read_flash,
)
from host.dashboard.messages import LANGS, Messages, messages
from host.dashboard.settings import DashboardConfig
from host.store import DEAD, Household, Store, StoreError


class Assignee(NamedTuple):
    """A person the assign form offers: the account name, and how the list shows it."""

    name: str
    label: str


class Resender(Protocol):
    """The live notifier as the dashboard sees it (host.notify.Dispatcher)."""

    def retry(self, key: str) -> bool:
        """Hand the dead letter `key` back to its channel; False when it cannot."""
        ...


class Site:
    """The store, the desk, the accounts, the audit log, the templates; and the frame."""

    def __init__(self, store: Store, desk: Desk, settings: DashboardConfig, notify_email,
                 clock: Callable[[], float], accounts: Accounts | None,
                 notifier: Resender | None = None) -> None:
        self.store = store
        self.desk = desk
        self.settings = settings
        self.notify_email = notify_email
        # None, or a notifier that cannot retry (a test's), and the page offers no retry.
        self.notifier = notifier if callable(getattr(notifier, "retry", None)) else None
        self.clock = clock
        self.accounts = accounts or Accounts(store, settings, clock)
        self.audit = Audit(store, clock)
        self.env = Environment(loader=PackageLoader("host.dashboard", "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True,
                               auto_reload=False)

    def visit(self, session: Session) -> Visit:
        """This request by the session's person, in their language, at the clock's now."""
        return Visit(session, messages(session.lang), self.clock())

    # -- rendering --------------------------------------------------------------------------

    def render(self, request: Request, visit: Visit | None, template: str, status: int = 200,
               **values: object) -> HTMLResponse:
        m = visit.m if visit else self.login_lang(request)
        flash = read_flash(request)
        values.update(
            _=m, lang=m.lang, langs=LANGS, visit=visit, flash=flash,
            user=visit.session.user if visit else None,
            # Without a session, the login form's token (the language switch rides on it).
            csrf=visit.session.csrf if visit else values.get(
                "csrf", request.cookies.get(LOGIN_COOKIE, "")),
            here=here(request),
            path=request.url.path,
        )
        if visit is not None and "open_cases" not in values:
            values["open_cases"] = open_cases(self.desk.rows())
        if visit is not None and visit.admin and "dead_letters" not in values:
            values["dead_letters"] = len(self.store.notifications(DEAD))
        html = self.env.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def error(self, request: Request, visit: Visit | None, status: int, key: str = "",
              text: str = "", **values: object) -> HTMLResponse:
        """The error page: `text` as given, or the message `key` in the visitor's language."""
        m = visit.m if visit else self.login_lang(request)
        message = text or m(key, **values)
        return self.render(request, visit, "error.html", status, status_code=status,
                           message=message)

    def login_lang(self, request: Request) -> Messages:
        """The language before there is a session: the cookie's, else the configured one."""
        lang = request.cookies.get(LANG_COOKIE)
        return messages(lang if lang in LANGS else self.settings.default_lang)

    def back(self, url: str, kind: str, text: str) -> RedirectResponse:
        """303 to url with a flash message for the page there."""
        return flash_redirect(url, kind, text, self.settings.secure_cookies)

    # -- what several pages look up ---------------------------------------------------------

    def household(self, hid: str, m: Messages) -> Household:
        """The stored household, or NotFound (a 404 page naming the id)."""
        try:
            return self.store.household(hid)
        except StoreError:
            raise NotFound(m("error.unknown_household", id=hid)) from None

    def assignees(self) -> list[Assignee]:
        """Who a case may be given to: caseworkers and admins whose account is not disabled."""
        return [Assignee(u.name, u.name if not u.display or u.display == u.name
                         else f"{u.display} ({u.name})")
                for u in self.accounts.users() if u.role in ROLES and not u.disabled]


class Handlers:
    """A page module's handlers: they all work over the one Site."""

    def __init__(self, site: Site) -> None:
        self.site = site
