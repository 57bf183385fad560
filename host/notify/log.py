"""The log channel: one structured line (JSON) per notice, on the `anbu.notify` logger.

It is the record that stays on the host whatever the network does; urgent notices are logged
as warnings so an operator's log filter sees them.
"""

from __future__ import annotations

import json
import logging

from host.notify.notice import AUDIENCES
from host.notify.retry import ONCE, Backoff

logger = logging.getLogger("anbu.notify")

_FIELDS = ("id", "kind", "household_id", "household_name", "case_id", "audience", "urgent",
           "repeat", "time", "local_time", "tz", "outcome", "subject", "reason_text", "link")


class LogChannel:
    kind = "log"

    def __init__(self, name: str = "log", audiences: frozenset[str] = frozenset(AUDIENCES),
                 backoff: Backoff = ONCE) -> None:
        self.name = name
        self.audiences = audiences
        self.backoff = backoff

    def send(self, payload: dict, attempt: int) -> str:
        line = {"event": "notification", **{k: payload.get(k) for k in _FIELDS}}
        reason = payload.get("reason")
        line["reason_code"] = reason.get("code") if isinstance(reason, dict) else None
        level = logging.WARNING if payload.get("urgent") else logging.INFO
        logger.log(level, json.dumps(line, ensure_ascii=False))
        return ""
