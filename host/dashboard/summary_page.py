"""The daily summary page (/summary?date=...) and its e-mail button (admins).

The summary itself is computed and worded in summary.py, shared with the scheduled e-mail;
this module only picks the day, shows it, and sends it when asked.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from host.dashboard import summary as daily
from host.dashboard.formatting import PAGE_TZ, open_cases
from host.dashboard.gate import BadInput, Visit, text
from host.dashboard.messages import Messages
from host.dashboard.site import Handlers


class SummaryPage(Handlers):
    """GET /summary and POST /summary/email."""

    def summary_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m = self.site, visit.m
        day = _day_param(request.query_params.get("date"), visit.now, m)
        rows = site.desk.rows()
        summary = daily.daily_summary(site.store, rows, day, PAGE_TZ, now=visit.now)
        site.audit.record(visit.actor, "view_summary", day.isoformat())
        return site.render(
            request, visit, "summary.html", s=summary, view=daily.summary_view(summary, m),
            day=day.isoformat(), prev=(day - timedelta(days=1)).isoformat(),
            next=(day + timedelta(days=1)).isoformat(), open_cases=open_cases(rows),
            mail_to=", ".join(site.settings.summary_to),
            can_mail=bool(site.settings.summary_to) and site.notify_email is not None)

    def summary_email(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m = self.site, visit.m
        settings = site.settings
        day = _day_param(text(form, "date") or None, visit.now, m)
        back = "/summary?" + urlencode({"date": day.isoformat()})
        if site.notify_email is None:
            return site.back(back, "error", m("flash.summary_no_smtp"))
        if not settings.summary_to:
            return site.back(back, "error", m("flash.summary_no_to"))
        summary = daily.daily_summary(site.store, site.desk.rows(), day, PAGE_TZ,
                                      now=visit.now)
        try:
            daily.email_summary(summary, site.notify_email, settings.summary_to,
                                settings.summary_from, m.lang)
        except Exception as e:  # DeliveryError, OSError: say why, never a 500
            site.audit.record(visit.actor, "summary_emailed", day.isoformat(), result="failed",
                              why=str(e))
            return site.back(back, "error", m("flash.summary_failed", why=str(e)))
        to = ", ".join(settings.summary_to)
        site.audit.record(visit.actor, "summary_emailed", day.isoformat(), result="sent",
                          to=list(settings.summary_to))
        return site.back(back, "ok", m("flash.summary_sent", day=day.isoformat(), to=to))


def _day_param(raw: str | None, now: float, m: Messages) -> date:
    if not raw:
        return datetime.fromtimestamp(now, PAGE_TZ).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadInput(m("error.bad_param", name="date", value=repr(raw)[:40],
                         expected=m("error.expected_date"))) from None
