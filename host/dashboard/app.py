"""The caseworkers' dashboard: Starlette routes over the store and the Desk (docs/dashboard.md).

Server-rendered pages (Jinja2, autoescaped) and one small script for the live refresh. Every
page but /login and /static needs a session; every POST carries the session's CSRF token
(the login form a double-submit one); admin pages refuse caseworkers (gate.py). Handlers run in
Starlette's thread pool, because the store and the Desk block (desk.act waits for the service
loop), so one slow action never holds up the other pages.

This module is the factory and the route table only; each page's handlers live in their own
module, what they share in site.py, the words and shades they print in formatting.py.

`anbu serve` mounts `dashboard(...)` at "/" next to /health and /metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from host.dashboard.accounts import Accounts
from host.dashboard.actions import Actions
from host.dashboard.admin_pages import AdminPages
from host.dashboard.alarms_page import AlarmsPage
from host.dashboard.board import Desk
from host.dashboard.gate import Gate, SecurityHeaders
from host.dashboard.household_page import HouseholdPage
from host.dashboard.households_page import HouseholdsPage
from host.dashboard.login import Login
from host.dashboard.notifications_page import NotificationsPage
from host.dashboard.settings import DashboardConfig
from host.dashboard.site import Resender, Site
from host.dashboard.summary_page import SummaryPage
from host.store import Store

STATIC = Path(__file__).with_name("static")


def dashboard(store: Store, desk: Desk, settings: DashboardConfig, notify_email=None,
              clock: Callable[[], float] = time.time,
              accounts: Accounts | None = None,
              notifier: Resender | None = None) -> Starlette:
    """The dashboard application. `notify_email`: the SMTP channel the summary goes out on
    (summary.smtp_channel(cfg.notify)), None when no mail server is configured. `accounts`
    may be given (tests use a cheaper password hasher); by default one is made over `store`.
    `notifier`: the live notifier (host.notify.Dispatcher), through which admins hand dead
    letters back to their channel; None, and the notifications page can only show them."""
    site = Site(store, desk, settings, notify_email, clock, accounts, notifier)
    gate = Gate(site)
    login = Login(site)
    households = HouseholdsPage(site)
    alarms = AlarmsPage(site)
    household = HouseholdPage(site)
    actions = Actions(site)
    summary = SummaryPage(site)
    admin = AdminPages(site)
    notices = NotificationsPage(site)
    page, public = gate.page, gate.public
    routes = [
        Route("/login", public(login.login_page), methods=["GET", "POST"]),
        Route("/logout", public(login.logout), methods=["POST"]),
        Route("/lang", public(login.set_lang), methods=["POST"]),
        Route("/", page(households.households), methods=["GET"]),
        Route("/alarms", page(alarms.alarms), methods=["GET"]),
        Route("/cases/{case_id}/{action}", page(actions.case_action), methods=["POST"]),
        Route("/households/{household_id}", page(household.household), methods=["GET"]),
        Route("/households/{household_id}/away", page(actions.away_set), methods=["POST"]),
        Route("/households/{household_id}/away/end", page(actions.away_end),
              methods=["POST"]),
        Route("/summary", page(summary.summary_page), methods=["GET"]),
        Route("/summary/email", page(summary.summary_email, admin=True), methods=["POST"]),
        Route("/admin/audit", page(admin.audit_page, admin=True), methods=["GET"]),
        Route("/admin/users", page(admin.users_page, admin=True), methods=["GET"]),
        Route("/admin/users/unlock", page(admin.unlock, admin=True), methods=["POST"]),
        Route("/admin/notifications", page(notices.notifications, admin=True),
              methods=["GET"]),
        # A key is "<notice id>:<channel name>", and a channel's name may hold a slash.
        Route("/admin/notifications/{key:path}/retry", page(notices.retry, admin=True),
              methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


__all__ = ["dashboard"]
