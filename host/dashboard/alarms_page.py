"""The alarm queue (/alarms): every open case, the ones waiting for a person first.

Each line has the reason in words and the buttons of the case's next steps; the buttons post
to the Actions.
"""

from __future__ import annotations

import contextlib

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from host import case as ladder
from host import decisions as d
from host.dashboard.actions import PERSON_OUTCOMES
from host.dashboard.formatting import clock_text, household_href, reason_text, zone
from host.dashboard.gate import Visit
from host.dashboard.site import Handlers
from host.store import DEFAULT_TZ, StoreError

# The alarm queue: what needs a person first.
QUEUE_ORDER = {d.CASE_ALARM: 0, d.CASE_KNOCK: 1, d.CASE_OPEN: 2, d.CASE_ACKNOWLEDGED: 3,
               d.CASE_DISPATCHED: 4}


class AlarmsPage(Handlers):
    """GET /alarms."""

    def alarms(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m, now = self.site, visit.m, visit.now
        cases = site.store.cases(open_only=True)
        cases.sort(key=lambda c: (QUEUE_ORDER.get(c.state, 9), c.opened_at, c.id))
        homes = self._homes({c.household for c in cases})
        assigned = site.store.assignments([c.id for c in cases])
        rows = []
        for c in cases:
            home = homes.get(c.household)
            tz = zone(home.tz if home else DEFAULT_TZ)
            rows.append({
                "case": c, "household_name": home.name if home else c.household,
                "href": household_href(c.household),
                "kind_word": m.word("casekind", c.kind), "state_word": m.word("state", c.state),
                "reason": reason_text(c.reason, tz, m), "age": m.span(now - c.opened_at),
                "opened": m("alarms.opened", time=clock_text(c.opened_at, tz)),
                "assignee": assigned.get(c.id),
                "can_ack": ladder.next_state(c.state, ladder.ACKNOWLEDGE) is not None,
                "can_dispatch": ladder.next_state(c.state, ladder.DISPATCH) is not None,
            })
        site.audit.record(visit.actor, "view_alarms", "", cases=len(rows))
        return site.render(request, visit, "alarms.html", rows=rows, users=site.assignees(),
                           outcomes=PERSON_OUTCOMES, open_cases=len(rows))

    def _homes(self, ids: set[str]) -> dict:
        """The store's households by id, for the few a page names."""
        homes = {}
        for hid in ids:
            with contextlib.suppress(StoreError):  # gone since: the page shows the id
                homes[hid] = self.site.store.household(hid)
        return homes
