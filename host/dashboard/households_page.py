"""The households page (/): every household at a glance, filtered, searched, sorted, paged.

The page reads only the Desk's board (no store reads per row), so it stays cheap at 10,000
households; its live refresh asks for the rows and the pager alone (?partial=rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from host import decisions as d
from host.dashboard.board import HouseholdRow
from host.dashboard.formatting import PAGE_TZ, clock_text, open_cases, row_view, zone
from host.dashboard.gate import BadInput, Visit
from host.dashboard.messages import Messages
from host.dashboard.site import Handlers

# Most urgent first; the households page's default order, then the longest quiet.
URGENCY = {d.ALARM: 0, d.KNOCK: 1, d.DEVICE_FAULT: 2, d.WATCH: 3, d.AWAY: 4, d.FINE: 5}
SORTS = ("status", "name", "last_activity", "status_at")
SORT_CHOICES = tuple(s for field in SORTS for s in (field, "-" + field))
# The households page never refreshes itself faster than this (static/live.js has the same
# floor); the page says the period it will really use.
LIVE_FLOOR_S = 2.0
_NEVER = -math.inf


class HouseholdsPage(Handlers):
    """GET /: the whole page, or its rows and pager for the live refresh."""

    def households(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site = self.site
        query = _households_query(request, visit.m)
        rows = site.desk.rows()
        view = self._households_view(rows, query, visit)
        if request.query_params.get("partial") == "rows":
            parts = {name: site.env.get_template(f"_households_{name}.html").render(view)
                     for name in ("rows", "pager")}
            return JSONResponse(
                {**parts, "updated": view["updated"], "open_cases": view["open_cases"],
                 "counts": view["counts"], "total": view["total"]},
                headers={"Cache-Control": "no-store"})
        site.audit.record(visit.actor, "view_households", "", page=view["page"],
                          filter=list(query.statuses), sort=query.sort)
        return site.render(request, visit, "households.html", **view)

    def _households_view(self, rows: Sequence[HouseholdRow], query: _Query,
                         visit: Visit) -> dict:
        m, now = visit.m, visit.now
        open_count = open_cases(rows)
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
        size = self.site.settings.page_size
        pages = max(1, -(-len(ordered) // size))
        page = min(query.page, pages)
        shown = ordered[(page - 1) * size: page * size]
        return {
            "_": m, "rows": [row_view(r, m, now, zone(r.tz)) for r in shown],
            "counts": counts, "total": len(ordered),
            "page": page, "pages": pages, "first": (page - 1) * size + 1 if shown else 0,
            "last": (page - 1) * size + len(shown), "query": query,
            "page_url": lambda p: "/?" + query.encode(page=p),
            "statuses": d.STATUSES, "sorts": SORT_CHOICES,
            "updated": m("time.updated", time=clock_text(now, PAGE_TZ, "%H:%M:%S")),
            "refresh_s": live_period(self.site.settings.refresh_s),
            "open_cases": open_count,
        }


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


def live_period(refresh_s: float) -> str:
    """The households page's refresh period in seconds as text, for both the words and the
    script: at least LIVE_FLOOR_S, at most one decimal."""
    return f"{max(LIVE_FLOOR_S, round(float(refresh_s), 1)):.1f}".removesuffix(".0")
