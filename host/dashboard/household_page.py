"""One household's page (/households/{id}): its status, away mode, heatmap, usual day, case
history, bulbs and last week's events.

The stored parts (history, cases, events) come from the store; the live parts (the board's row,
the routine, telemetry) from the Desk, and the page still shows when the host is too busy to
answer.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from host import case as ladder
from host import events as ev
from host.dashboard.actions import PERSON_OUTCOMES
from host.dashboard.formatting import (
    away_view,
    clock_text,
    event_detail,
    heatmap,
    household_href,
    reason_text,
    routine,
    row_view,
    telemetry,
    zone,
)
from host.dashboard.gate import Visit
from host.dashboard.messages import Messages
from host.dashboard.reading import history_part
from host.dashboard.site import Handlers

TIMELINE_DAYS = 7
TIMELINE_MAX = 300  # rows on the household page; the store keeps every event


class HouseholdPage(Handlers):
    """GET /households/{household_id}."""

    def household(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m, now = self.site, visit.m, visit.now
        hid = request.path_params["household_id"]
        home = site.household(hid, m)
        tz = zone(home.tz)
        busy = False
        try:
            detail = site.desk.detail(hid)
        except KeyError:  # registered, not on the board yet
            detail = None
        except TimeoutError:  # the host's loop is busy: the stored parts still show
            detail, busy = None, True
        row = detail.row if detail else None
        if row is None:
            row = next((r for r in site.desk.rows() if r.id == hid), None)
        history = history_part(site.store, hid, tz, now)
        site.audit.record(visit.actor, "view_household", hid)
        return site.render(
            request, visit, "household.html", home=home, tz_name=home.tz,
            href=household_href(hid),
            row=row_view(row, m, now, tz) if row else None,
            heatmap=heatmap(history, tz, m),
            timeline=self._timeline(hid, tz, now, m),
            routine=routine(detail, m), cases=self._case_history(hid, tz, m),
            telemetry=telemetry(detail, row, tz, now, m),
            away=away_view(row, tz, now, m), outcomes=PERSON_OUTCOMES,
            users=site.assignees(),
            default_return=clock_text(now + 86400, tz, "%Y-%m-%d"), busy=busy,
        )

    def _timeline(self, hid: str, tz: ZoneInfo, now: float, m: Messages) -> dict:
        items = []
        for e in self.site.store.events(hid, now - TIMELINE_DAYS * 86400, now + 1):
            if e.kind != ev.HEARTBEAT:
                items.append(e)
        more = len(items) > TIMELINE_MAX
        shown = items[-TIMELINE_MAX:][::-1]
        return {"more": more, "max": TIMELINE_MAX, "entries": [
            {"time": clock_text(e.time, tz, "%m-%d %H:%M"), "device": e.device or "",
             "kind": e.kind, "word": m.word("kind", e.kind), "detail": event_detail(e, tz, m)}
            for e in shown]}

    def _case_history(self, hid: str, tz: ZoneInfo, m: Messages) -> list[dict]:
        store = self.site.store
        cases = store.cases(hid)
        cases.sort(key=lambda c: (c.opened_at, c.id), reverse=True)
        assigned = store.assignments([c.id for c in cases]) if cases else {}
        out = []
        for c in cases[:50]:
            steps, said = [], reason_text(c.reason, tz, m)
            for h in store.case_history(c.id):
                reason = h.detail.get("reason")
                words = reason_text(reason, tz, m) if isinstance(reason, dict) else ""
                if words == said:
                    words = ""  # said already (on the case, or the step before)
                else:
                    said = words or said
                # A person's note is theirs, shown as written; the engine's is put in words.
                note = h.note if h.actor or not h.note else m.engine_note(h.note)
                steps.append({
                    "time": clock_text(h.time, tz, "%m-%d %H:%M"),
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
                "state_word": m.word("state", c.state), "reason": reason_text(c.reason, tz, m),
                "opened": clock_text(c.opened_at, tz),
                "closed": clock_text(c.closed_at, tz) if c.closed_at else "",
                "outcome": m.word("outcome", c.outcome) if c.outcome else "",
                "assignee": assigned.get(c.id), "steps": steps, "open": c.closed_at is None,
                "can_ack": ladder.next_state(c.state, ladder.ACKNOWLEDGE) is not None,
                "can_dispatch": ladder.next_state(c.state, ladder.DISPATCH) is not None,
            })
        return out
