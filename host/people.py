"""What people tell the engine: acknowledge, dispatch, resolve, away and back.

Mixed into host.engine.Engine, whose steps (_vouched, _learn_held, _gap_moved) it calls. Every
input is checked against the case's ladder (host/case.py) and its age, so a replayed or stale
command cannot move a case it is not about.
"""

from __future__ import annotations

from host import case as ladder
from host import decisions as d
from host import events as ev
from host.case import Case
from host.household import NEVER, HouseholdState

# Outcomes after which the gap or on-period that ended during the case is ordinary life.
_ROUTINE_AFTER_ALL = frozenset({ev.RESIDENT_FINE, ev.FALSE_ALARM})
_PERSON_OUTCOMES = ev.OUTCOMES - {ev.RESIDENT_ANSWERED, ev.DEVICE_RECOVERED}
_TRIGGERS = {ev.ACK: ladder.ACKNOWLEDGE, ev.DISPATCH: ladder.DISPATCH, ev.RESOLVE: ladder.RESOLVE}


class PeopleInputs:
    """ack / dispatch / resolve / away / away_end."""

    def _people(self, st: HouseholdState, event: ev.Event, now: float, out: list) -> None:
        kind = event.kind
        if kind in (ev.AWAY, ev.AWAY_END):
            self._away(st, event, now, out)
            return
        case_id, outcome, actor, note = _case_detail(event.detail)
        case = next((c for c in (st.welfare, st.device_case) if c and c.id == case_id), None)
        if case is None:
            out.append(d.Rejected(st.id, now, kind, f"no open case {case_id!r}"))
            return
        if event.time < case.opened_at:
            out.append(d.Rejected(st.id, now, kind,
                                  f"stamped before case {case_id} opened: a replay?"))
            return
        if kind == ev.RESOLVE and (type(outcome) is not str or outcome not in _PERSON_OUTCOMES):
            out.append(d.Rejected(st.id, now, kind, f"unknown outcome {outcome!r}"))
            return
        state = ladder.next_state(case.state, _TRIGGERS[kind])
        if state is None:
            out.append(d.Rejected(st.id, now, kind, f"case {case_id} is {case.state}"))
            return
        if state != d.CASE_RESOLVED:
            case.state = state
            out.append(d.CaseChanged(st.id, now, case.id, state, actor, note))
            return
        out.append(d.CaseResolved(st.id, now, case.id, outcome, actor, note))
        if case is st.device_case:
            st.device_case = None
            return
        self._close_welfare(st, case, outcome, event.time)

    def _close_welfare(self, st: HouseholdState, case: Case, outcome: str, at: float) -> None:
        st.welfare = None
        if outcome in _ROUTINE_AFTER_ALL:
            self._learn_held(st, case)
        else:
            st.gap_clean = False  # whatever silence is in progress is not routine either
        if outcome == ev.DECEASED:
            st.retired = True
        # A person has looked: count from then, not from the silence that raised the case.
        self._vouched(st, at)
        if outcome == ev.HOSPITAL:  # the home is empty until the resident is back
            st.away_until = NEVER
            st.away_changed_at = at

    def _away(self, st: HouseholdState, event: ev.Event, now: float, out: list) -> None:
        kind, t = event.kind, event.time
        if kind == ev.AWAY:
            until = event.detail
            if until is not None and (type(until) not in (int, float) or not until > t):
                out.append(d.Rejected(st.id, now, kind,
                                      f"away needs an expected return after {t} or None"))
                return
            if t <= st.away_changed_at:
                out.append(d.Rejected(st.id, now, kind, "stale: away changed since"))
                return
            st.away_until = NEVER if until is None else float(until)
            st.away_changed_at = t
            st.gap_clean = False
            self._gap_moved(st)
            case = st.welfare
            if case is not None and case.state == d.CASE_KNOCK:
                # A person just said where the resident is: the knock's question is answered.
                st.welfare = None
                out.append(d.CaseResolved(st.id, now, case.id, ev.RESIDENT_FINE, None,
                                          "away mode set during the knock"))
            return
        if st.away_until is None or t < st.away_changed_at:
            out.append(d.Rejected(st.id, now, kind, "household is not away at that time"))
            return
        self._end_away(st, t)


def _case_detail(detail: object) -> tuple[object, object, str | None, str]:
    """(case id, outcome, actor, note) from a person's input: a case id or a tuple."""
    if isinstance(detail, str):
        return detail, None, None, ""
    if isinstance(detail, tuple) and detail and isinstance(detail[0], str):
        parts = list(detail[:4]) + [None] * (4 - len(detail[:4]))
        actor = parts[2] if isinstance(parts[2], str) else None
        note = parts[3] if isinstance(parts[3], str) else ""
        return parts[0], parts[1], actor, note
    return None, None, None, ""
