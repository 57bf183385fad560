"""The daily summary: households watched, cases opened and closed, device faults; by e-mail too.

One function makes the figures (`daily_summary`), one turns them into labelled lines in a
language (`summary_lines`, shared by the page and the mail so they cannot disagree), and one
sends the mail (`email_summary`) over the SMTP server the notify e-mail channel already uses
(host.toml's [notify.email]; `smtp_channel` picks it out). `anbu serve` sends the previous
day's summary at [dashboard] summary_at (`next_summary_at`, `send_previous_day`).

Household counts and statuses come from the board (now); case figures from the store, for the
local day in `tz` (Asia/Seoul by default).
"""

from __future__ import annotations

import copy
import os
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import NamedTuple
from zoneinfo import ZoneInfo

from host import decisions as d
from host.dashboard.board import HouseholdRow
from host.dashboard.messages import Messages, messages
from host.notify.config import settings
from host.store import DEFAULT_TZ, Store

PAGE_TZ = ZoneInfo(DEFAULT_TZ)


class Summary(NamedTuple):
    day: date
    tz: str
    start: float  # UTC seconds of local midnight starting the day
    end: float  # ... and ending it
    households: int  # registered (the board, now)
    watched: int  # not away, with at least one device online (now)
    away: int  # (now)
    statuses: dict[str, int]  # households per status (now)
    opened_welfare: int  # welfare cases opened during the day
    opened_device: int  # device cases opened during the day: the day's device faults
    opened_by_reason: dict[str, int]
    alarms: int  # welfare cases that reached the alarm during the day
    ack_median_s: float | None  # from the alarm to a person's first action, median
    closed: int  # cases closed during the day
    closed_by_outcome: dict[str, int]
    open_at_end: int  # cases still open at the end of the day (or now, for today)
    devices_offline: int  # devices not online (now)
    generated_at: float


def daily_summary(store: Store, desk_rows: Sequence[HouseholdRow], day: date,
                  tz: tzinfo | str = PAGE_TZ, now: float | None = None) -> Summary:
    """The figures for one local day."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    now = time.time() if now is None else now
    start = datetime.combine(day, clock_time(0), zone).timestamp()
    end = datetime.combine(day + timedelta(days=1), clock_time(0), zone).timestamp()
    statuses = dict.fromkeys(d.STATUSES, 0)
    watched = offline = 0
    for r in desk_rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if r.status != d.AWAY and any(dev.online for dev in r.devices):
            watched += 1
        offline += sum(not dev.online for dev in r.devices)
    opened: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    closed = open_at_end = alarms = 0
    ack_delays: list[float] = []
    for c in store.cases():
        if start <= c.opened_at < end:
            opened[c.kind] += 1
            if c.kind == d.WELFARE:
                by_reason[c.reason_code] += 1
        if c.closed_at is not None and start <= c.closed_at < end:
            closed += 1
            by_outcome[c.outcome or "?"] += 1
        if c.opened_at < end and (c.closed_at is None or c.closed_at >= end):
            open_at_end += 1
        overlaps = c.opened_at < end and (c.closed_at is None or c.closed_at >= start)
        if c.kind == d.WELFARE and overlaps:
            delay = _alarm_to_person(store, c.id, start, end)
            if delay is not None:
                alarms += 1
                if delay >= 0:
                    ack_delays.append(delay)
    return Summary(
        day, getattr(zone, "key", str(zone)), start, end, len(desk_rows), watched,
        statuses.get(d.AWAY, 0), statuses, opened[d.WELFARE], opened[d.DEVICE],
        dict(by_reason), alarms, statistics.median(ack_delays) if ack_delays else None,
        closed, dict(by_outcome), open_at_end, offline, now)


def _alarm_to_person(store: Store, case_id: str, start: float, end: float) -> float | None:
    """None when the case did not reach the alarm during the day; else seconds from that alarm
    to a person's first step after it (-1 when nobody has acted yet)."""
    alarm_at = None
    for step in store.case_history(case_id):
        if alarm_at is None:
            if step.detail.get("action") == "alarm" and start <= step.time < end:
                alarm_at = step.time
        elif step.actor is not None:
            return step.time - alarm_at
    return None if alarm_at is None else -1.0


class Line(NamedTuple):
    label: str
    value: str
    parts: tuple[tuple[str, str], ...] = ()  # a breakdown: (label, value)


def summary_lines(s: Summary, m: Messages) -> list[Line]:
    """The summary as labelled lines in one language: the page's table and the mail's text."""
    def counts(group: str, values: Mapping[str, int]) -> tuple[tuple[str, str], ...]:
        return tuple((m.word(group, k), f"{n:,}") for k, n in
                     sorted(values.items(), key=lambda kv: (-kv[1], kv[0])) if n)

    ack = m.span(s.ack_median_s) if s.ack_median_s is not None else m("summary.none")
    statuses = tuple((m.word("status", k), f"{s.statuses.get(k, 0):,}") for k in d.STATUSES)
    return [
        Line(m("summary.households"), f"{s.households:,}"),
        Line(m("summary.watched"), f"{s.watched:,}"),
        Line(m("summary.away"), f"{s.away:,}"),
        Line(m("summary.status_now"), "", statuses),
        Line(m("summary.opened"), f"{s.opened_welfare + s.opened_device:,}",
             ((m("summary.opened_welfare"), f"{s.opened_welfare:,}"),
              (m("summary.opened_device"), f"{s.opened_device:,}"))
             + counts("reason", s.opened_by_reason)),
        Line(m("summary.alarms"), f"{s.alarms:,}"),
        Line(m("summary.ack_median"), ack),
        Line(m("summary.closed"), f"{s.closed:,}", counts("outcome", s.closed_by_outcome)),
        Line(m("summary.open_at_end"), f"{s.open_at_end:,}"),
        Line(m("summary.devices_offline"), f"{s.devices_offline:,}"),
    ]


def summary_view(s: Summary, m: Messages) -> dict:
    """What the page shows besides the lines: the period and when it was made."""
    zone = ZoneInfo(s.tz)
    return {
        "lines": summary_lines(s, m),
        "period": m("summary.period", start=_local(s.start, zone), end=_local(s.end, zone),
                    tz=s.tz),
        "generated": m("summary.generated", time=_local(s.generated_at, zone)),
        "note": m("summary.note_now", tz=s.tz),
    }


def summary_text(s: Summary, lang: str = "ko") -> tuple[str, str]:
    """(subject, plain-text body) of the summary mail."""
    m = messages(lang)
    view = summary_view(s, m)
    out = [m("summary.title") + f" {s.day.isoformat()}", view["period"], ""]
    for line in view["lines"]:
        out.append(f"{line.label}: {line.value}" if line.value else f"{line.label}:")
        out.extend(f"  - {label}: {value}" for label, value in line.parts)
    out += ["", view["note"], view["generated"]]
    return m("summary.subject", day=s.day.isoformat()), "\n".join(out) + "\n"


def email_summary(s: Summary, channel, to: Sequence[str], sender: str,
                  lang: str = "ko") -> None:
    """Send the summary to `to` through the SMTP channel's server (a copy of the channel with
    our sender and recipients: same host, port, TLS and login). Raises
    host.notify.channel.DeliveryError when it did not go out, ValueError without recipients."""
    if not to:
        raise ValueError("the summary has no recipients: set [dashboard] summary_to")
    mail = copy.copy(channel)
    mail.to = list(to)
    mail.sender = sender
    subject, text = summary_text(s, lang)
    payload = {"subject": subject, "text": text, "kind": "summary", "urgent": False,
               "id": f"summary-{s.day.isoformat()}-{secrets.token_hex(4)}"}
    mail.send(payload, 0)


def smtp_channel(notify_table: Mapping | None, env: Mapping[str, str] | None = None):
    """The first e-mail channel of host.toml's [notify] table, or None: the summary's server."""
    for channel in settings(notify_table, os.environ if env is None else env).channels:
        if channel.kind == "email":
            return channel
    return None


def next_summary_at(summary_at: str, now: float, tz: tzinfo = PAGE_TZ) -> float | None:
    """The next UTC instant >= now at which the local clock reads summary_at ("HH:MM");
    None when summary_at is "" (no scheduled summary)."""
    if not summary_at:
        return None
    hour, minute = (int(x) for x in summary_at.split(":"))
    today = datetime.fromtimestamp(now, tz).date()
    for offset in (0, 1, 2):
        at = datetime.combine(today + timedelta(days=offset), clock_time(hour, minute), tz)
        if at.timestamp() >= now:
            return at.timestamp()
    return None  # pragma: no cover - two days on always holds the time


def send_previous_day(store: Store, desk_rows: Sequence[HouseholdRow], channel,
                      to: Sequence[str], sender: str, now: float, lang: str = "ko",
                      tz: tzinfo = PAGE_TZ) -> date:
    """The scheduled send: yesterday's (local) summary; returns the day it covered."""
    day = datetime.fromtimestamp(now, tz).date() - timedelta(days=1)
    email_summary(daily_summary(store, desk_rows, day, tz, now), channel, to, sender, lang)
    return day


def _local(t: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M")
