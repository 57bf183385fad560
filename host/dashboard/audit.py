"""The audit log: who saw and did what on the dashboard, newest first, viewable by admins.

Accounts records logins, failures, lockouts and logouts itself, and store.assign_case records
the assignment in the same transaction; the pages record what people view and do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from host.store import AuditEntry, Store

__all__ = ["Audit", "AuditEntry"]


class Audit:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def record(self, actor: str, action: str, target: str = "", **detail: object) -> None:
        """Append an entry now. Detail values that JSON cannot hold are kept as their str()."""
        plain = json.loads(json.dumps(detail, default=str, ensure_ascii=False))
        self.store.add_audit(
            AuditEntry(None, self.clock(), str(actor), action, str(target or ""), plain)
        )

    def entries(
        self,
        limit: int = 200,
        before_id: int | None = None,
        actor: str | None = None,
        target: str | None = None,
    ) -> list[AuditEntry]:
        """A page of the log, newest first: pass the last entry's id as before_id for the next.
        target: only entries whose target contains it (a case id finds its refusals too)."""
        return self.store.audit_entries(limit, before_id, actor, target)
