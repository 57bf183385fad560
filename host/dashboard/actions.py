"""What people do from the pages: acknowledge, dispatch, resolve or assign a case; set or end
a household's away mode.

Each is a POST that goes back to the page it came from with a flash line. All but assign are
events given to the engine through the Desk, which may refuse them (the case moved on) or not
answer in time; the line then says so, and the audit log records what became of each.
"""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from host import events as ev
from host.dashboard.formatting import clock_text, household_href, zone
from host.dashboard.gate import Visit, local_path, text
from host.dashboard.site import Handlers
from host.events import Event
from host.store import StoreError

CASE_ACTIONS = {"ack": ev.ACK, "dispatch": ev.DISPATCH, "resolve": ev.RESOLVE}
# The outcomes a person may close a case with.
PERSON_OUTCOMES = (ev.RESIDENT_FINE, ev.NEEDED_HELP, ev.HOSPITAL, ev.DECEASED, ev.FALSE_ALARM,
                   ev.DEVICE_FAULT)
NOTE_MAX = 1000


class Actions(Handlers):
    """POST /cases/{case_id}/{action} and /households/{household_id}/away[/end]."""

    def case_action(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m = self.site, visit.m
        case_id = request.path_params["case_id"]
        action = request.path_params["action"]
        if action not in CASE_ACTIONS and action != "assign":
            return site.error(request, visit, 404, "error.not_found")
        try:
            case = site.store.case(case_id)
        except StoreError:
            return site.error(request, visit, 404, "error.unknown_case", id=case_id)
        back = local_path(text(form, "next")) or "/alarms"
        if case.closed_at is not None:
            site.audit.record(visit.actor, action, case.id, household=case.household,
                              refused="closed")
            return site.back(back, "error", m("flash.case_closed", id=case.id))
        if action == "assign":
            user = text(form, "user")
            if not user:
                return site.back(back, "error", m("flash.no_user"))
            if user not in {a.name for a in site.assignees()}:
                return site.back(back, "error", m("flash.bad_user", user=user[:32]))
            try:
                site.store.assign_case(case.id, user, visit.actor, visit.now)  # audits itself
            except StoreError:  # the account went away since the check
                return site.back(back, "error", m("flash.bad_user", user=user[:32]))
            return site.back(back, "ok", m("flash.assign", id=case.id, user=user))
        outcome, note = None, ""
        if action == "resolve":
            outcome = text(form, "outcome")
            if outcome not in PERSON_OUTCOMES:
                return site.back(back, "error", m("flash.bad_outcome"))
            note = text(form, "note")[:NOTE_MAX]
        event = Event(case.household, visit.now, CASE_ACTIONS[action], None,
                      (case.id, outcome, visit.actor, note))
        return self._act(visit, event, action, case.id, back,
                         m(f"flash.{action}", id=case.id), household=case.household,
                         outcome=outcome)

    def away_set(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        m, now = visit.m, visit.now
        hid = request.path_params["household_id"]
        home = self.site.household(hid, m)
        back = household_href(hid)
        tz = zone(home.tz)
        if text(form, "mode") == "back":
            until = None
        else:
            try:
                local = datetime.strptime(f"{text(form, 'date')} {text(form, 'time')}",
                                          "%Y-%m-%d %H:%M")
            except ValueError:
                return self.site.back(back, "error", m("flash.away_bad_date"))
            until = local.replace(tzinfo=tz).timestamp()
            if until <= now:
                return self.site.back(back, "error", m("flash.away_past"))
        shown = m("time.until_back") if until is None else clock_text(until, tz)
        return self._act(visit, Event(hid, now, ev.AWAY, None, until), "away_set", hid, back,
                         m("flash.away_set", until=shown), until=until)

    def away_end(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        hid = request.path_params["household_id"]
        self.site.household(hid, visit.m)
        return self._act(visit, Event(hid, visit.now, ev.AWAY_END), "away_end", hid,
                         household_href(hid), visit.m("flash.away_end"))

    def _act(self, visit: Visit, event: Event, action: str, target: str, back: str,
             done: str, **detail: object) -> Response:
        """Give a person's input to the engine through the desk; say what became of it."""
        site, m = self.site, visit.m
        try:
            why = site.desk.act(event)
        except TimeoutError:
            site.audit.record(visit.actor, action, target, result="timeout", **detail)
            return site.back(back, "error", m("flash.timeout"))
        if why is not None:
            site.audit.record(visit.actor, action, target, result="refused", why=why, **detail)
            return site.back(back, "error", m("flash.refused", why=m.engine_refusal(why)))
        site.audit.record(visit.actor, action, target, result="done", **detail)
        return site.back(back, "ok", done)
