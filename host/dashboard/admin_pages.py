"""The admins' pages: the audit log (/admin/audit) and the accounts (/admin/users, unlock).

The Gate lets only admins in (the route table marks them); these handlers assume it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from host.dashboard.formatting import PAGE_TZ, audit_detail, clock_text
from host.dashboard.gate import BadInput, Visit, text
from host.dashboard.site import Handlers


class AdminPages(Handlers):
    """GET /admin/audit, GET /admin/users, POST /admin/users/unlock."""

    def audit_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site, m = self.site, visit.m
        actor = (request.query_params.get("actor") or "").strip()[:64] or None
        target = (request.query_params.get("target") or "").strip()[:100] or None
        raw = request.query_params.get("before")
        before = None
        if raw:
            if not raw.isdigit():
                raise BadInput(m("error.bad_param", name="before", value=repr(raw)[:40],
                                 expected=m("error.expected_id")))
            before = int(raw)
        size = site.settings.page_size
        entries = site.audit.entries(size, before, actor, target)
        site.audit.record(visit.actor, "view_audit", actor or "",
                          **({"target_filter": target} if target else {}))
        shown = [{"id": e.id, "at": clock_text(e.at, PAGE_TZ, "%Y-%m-%d %H:%M:%S"),
                  "actor": e.actor, "action": e.action,
                  "action_word": m.word("audit_action", e.action), "target": e.target,
                  "detail": audit_detail(e.action, e.detail, m)} for e in entries]
        filters = {k: v for k, v in (("actor", actor), ("target", target)) if v}
        older = None
        if len(entries) == size:
            older = "/admin/audit?" + urlencode({"before": entries[-1].id, **filters})
        return site.render(request, visit, "audit.html", entries=shown, actor=actor or "",
                           target=target or "", older=older, paged=before is not None,
                           newest="/admin/audit" + (f"?{urlencode(filters)}" if filters else ""))

    def users_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site = self.site
        site.audit.record(visit.actor, "view_users")
        users = [{"u": u, "created": clock_text(u.created_at, PAGE_TZ, "%Y-%m-%d"),
                  "locked": clock_text(u.locked_until, PAGE_TZ) if u.locked_until else ""}
                 for u in site.accounts.users()]
        return site.render(request, visit, "users.html", users=users)

    def unlock(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        site = self.site
        name = text(form, "name")
        try:
            site.accounts.unlock(name)
        except ValueError as e:
            return site.back("/admin/users", "error", str(e))
        site.audit.record(visit.actor, "unlock", name)
        return site.back("/admin/users", "ok", visit.m("flash.unlocked", user=name))
