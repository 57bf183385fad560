"""The admins' view of notices that did not go out (/admin/notifications), and their retry.

When a webhook (the SMS or call service) or the mail server keeps failing, an alarm's notice
ends as a dead letter in the store (host/notify/dispatch.py) that only the logs and a metric
would otherwise show. This page lists the dead letters, newest first, then the notices still
in the outbox being retried; an admin can hand a dead letter back to its channel once the
receiver works again. The retry goes through the live notifier (`Site.notifier`): the page
never sends anything itself and never touches a row the notifier's workers own.

The Gate lets only admins in (the route table marks them); these handlers assume it.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from host.dashboard.formatting import PAGE_TZ, clock_text, household_href
from host.dashboard.gate import BadInput, NotFound, Visit
from host.dashboard.messages import Messages
from host.dashboard.site import Handlers
from host.store import DEAD, PENDING, Notification, StoreError

PATH = "/admin/notifications"


class NotificationsPage(Handlers):
    """GET /admin/notifications, POST /admin/notifications/{key}/retry."""

    def notifications(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m = self.site, visit.m
        page = _page(request, m)
        dead = site.store.notifications(DEAD)[::-1]  # the store gives oldest first
        pending = site.store.notifications(PENDING)[::-1]
        rows = dead + pending
        size = site.settings.page_size
        pages = max(1, -(-len(rows) // size))
        page = min(page, pages)
        shown = rows[(page - 1) * size: page * size]
        site.audit.record(visit.actor, "view_notifications", "", page=page, dead=len(dead),
                          pending=len(pending))
        names: dict[str, str] = {}
        return site.render(
            request, visit, "notifications.html",
            rows=[self._row(n, names, m) for n in shown], dead_count=len(dead),
            pending_count=len(pending), page=page, pages=pages,
            page_url=lambda p: PATH + (f"?page={p}" if p != 1 else ""),
            can_retry=site.notifier is not None, dead_letters=len(dead))

    def _row(self, n: Notification, names: dict[str, str], m: Messages) -> dict:
        if n.household not in names:
            try:
                names[n.household] = self.site.store.household(n.household).name
            except StoreError:
                names[n.household] = ""
        return {"key": n.key, "state": n.state, "state_word": m.word("notice_state", n.state),
                "channel": n.channel, "household": n.household,
                "household_name": names[n.household], "href": household_href(n.household),
                "case": n.case_id or "", "kind": m.word("notice_kind", n.kind),
                "created": clock_text(n.created_at, PAGE_TZ, "%Y-%m-%d %H:%M:%S"),
                "updated": clock_text(n.updated_at, PAGE_TZ, "%Y-%m-%d %H:%M:%S"),
                "attempts": n.attempts, "error": n.last_error,
                "retry_url": f"{PATH}/{quote(n.key, safe='')}/retry"}

    def retry(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """Hand a dead letter back to its channel through the live notifier."""
        site, m = self.site, visit.m
        key = request.path_params["key"]
        row = next((n for n in site.store.notifications() if n.key == key), None)
        if row is None:
            raise NotFound(m("error.unknown_notification", id=key))
        notifier = site.notifier
        if notifier is None:
            return site.back(PATH, "error", m("flash.retry_no_notifier"))
        if row.state != DEAD:
            return site.back(PATH, "error", m("flash.retry_not_dead",
                                              state=m.word("notice_state", row.state)))
        if not notifier.retry(key):
            channels = {c.name for c in getattr(notifier, "channels", [])}
            site.audit.record(visit.actor, "notification_retry", key, channel=row.channel,
                              household=row.household, handed_back=False)
            why = ("flash.retry_no_channel" if channels and row.channel not in channels
                   else "flash.retry_refused")
            return site.back(PATH, "error", m(why, channel=row.channel))
        site.audit.record(visit.actor, "notification_retry", key, channel=row.channel,
                          household=row.household, case=row.case_id or "", handed_back=True)
        return site.back(PATH, "ok", m("flash.retried", channel=row.channel,
                                       kind=m.word("notice_kind", row.kind),
                                       household=row.household))


def _page(request: Request, m: Messages) -> int:
    raw = request.query_params.get("page")
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise BadInput(m("error.bad_param", name="page", value=repr(raw)[:40],
                         expected=m("error.expected_page")))
    return int(raw)
