"""Stored values as the words and shades a page prints, so the templates only print.

Pure functions of their arguments (no store, no request): times in the household's local time,
durations, the households-page line, the heatmap and routine shading, each bulb's telemetry,
timeline and audit-log details, and the engine's reasons in words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from host import decisions as d
from host import events as ev
from host.dashboard.board import HouseholdRow
from host.dashboard.messages import Messages
from host.decisions import Reason
from host.explain import describe
from host.store import DEFAULT_TZ

PAGE_TZ = ZoneInfo(DEFAULT_TZ)  # the page chrome's clock; households show their own
# Audit detail values that are instants (UTC seconds): shown in the page's local time.
AUDIT_TIMES = ("until", "at", "since", "locked_until")


# -- times -------------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """A household's zone; the page's own when the name is not one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return PAGE_TZ


def clock_text(t: float | None, tz, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant (UTC seconds) as local time; empty for none or infinity."""
    if t is None or not math.isfinite(t):
        return ""
    return datetime.fromtimestamp(t, tz).strftime(fmt)


def minutes_text(minutes: float | None) -> str:
    """Minutes after midnight as HH:MM; a dash for none."""
    if minutes is None:
        return "–"
    h, mnt = divmod(int(minutes), 60)
    return f"{h:02d}:{mnt:02d}"


# -- the households page's line ----------------------------------------------------------------


class DeviceView(NamedTuple):
    id: str
    state: str  # online / offline / never: the CSS class and the word's key
    word: str
    heard: str


class RowView(NamedTuple):
    """A households-page line as display strings, so the template only prints."""

    id: str
    href: str
    name: str
    status: str
    status_word: str
    since: str
    since_local: str
    last_ago: str
    last_local: str
    devices: tuple[DeviceView, ...]
    case_id: str | None
    case_word: str
    device_case: str | None
    away: str
    why: str  # the open case's reason in a few words, and for how long


def row_view(r: HouseholdRow, m: Messages, now: float, tz: ZoneInfo) -> RowView:
    devices = []
    for dev in r.devices:
        state = "online" if dev.online else ("offline" if dev.last_seen is not None else "never")
        heard = m("device.heard", ago=m.ago(now - dev.last_seen)) if dev.last_seen else ""
        devices.append(DeviceView(dev.id, state, m(f"device.{state}"), heard))
    la, sa = r.last_activity, r.status_at
    away = ""
    if r.away_until is not None:
        away = (m("time.until_back") if math.isinf(r.away_until)
                else clock_text(r.away_until, tz))
    return RowView(
        r.id, household_href(r.id), r.name, r.status,
        m.word("status", r.status),
        m.ago(now - sa) if sa is not None else "", clock_text(sa, tz) if sa else "",
        m.ago(now - la if la is not None else None), clock_text(la, tz) if la else "",
        tuple(devices), r.welfare_case,
        m.word("state", r.welfare_state) if r.welfare_state else "", r.device_case, away,
        _why(r, m, now))


def _why(r: HouseholdRow, m: Messages, now: float) -> str:
    if r.reason_code is None:
        return ""
    words = m.word("reason", r.reason_code)
    if r.reason_since is None or r.reason_code == d.SOS:
        return words
    return m("households.why", reason=words, span=m.span(now - r.reason_since))


def household_href(hid: str) -> str:
    """The household page's URL (an id may hold any character)."""
    return "/households/" + quote(hid, safe="")


def open_cases(rows: Sequence[HouseholdRow]) -> int:
    """The open cases on the board (welfare and device), for the menu's count."""
    return sum((r.welfare_case is not None) + (r.device_case is not None) for r in rows)


# -- the household page's sections -------------------------------------------------------------


def heatmap(history, tz: ZoneInfo, m: Messages) -> dict:
    """28 days x 24 hours; a shade class 0-5 relative to the busiest hour, the count in title."""
    peak = max((n for row in history.heatmap for n in row), default=0)
    rows = []
    for day, counts in zip(history.days, history.heatmap, strict=True):
        label = date(1970, 1, 1) + timedelta(days=day)
        text = f"{label:%m-%d} {m.word('weekday', label.weekday())}"
        cells = [(shade(n, peak), n, m("household.heatmap_cell", day=text, hour=h, n=n))
                 for h, n in enumerate(counts)]
        rows.append({"label": text, "weekend": label.weekday() >= 5, "cells": cells})
    return {"rows": rows, "peak": peak}


def shade(n: float, peak: float) -> int:
    """0 for nothing, else 1-5 by the share of the peak."""
    return 0 if n <= 0 or peak <= 0 else 1 + min(4, int(n * 5 / peak - 1e-9))


def routine(detail, m: Messages) -> dict | None:
    """Today's day type, hour by hour: the usual count, today's, and when a silence knocks."""
    if detail is None:
        return None
    hours = detail.routine_weekend if detail.today_is_weekend else detail.routine_weekday
    peak = max((max(h.usual_events, h.today_events) for h in hours), default=0)
    cells = []
    for h in hours:
        knock = h.knock_after_h
        cells.append({
            "hour": h.hour,
            "usual": f"{h.usual_events:.1f}" if h.usual_events >= 0.05 else "",
            "usual_shade": shade(h.usual_events, peak),
            "today": h.today_events or "", "today_shade": shade(h.today_events, peak),
            "knock": (f"{knock:.1f}" if knock < 10 else f"{knock:.0f}") if knock else "",
            "title": m("household.routine_cell", hour=h.hour, usual=f"{h.usual_events:.1f}",
                       today=h.today_events,
                       knock=m("household.hours", n=f"{knock:.1f}") if knock else "–"),
        })
    return {
        "title": m("household.routine_weekend" if detail.today_is_weekend
                   else "household.routine_weekday"),
        "hours": cells,
        "wake_usual": minutes_text(detail.wake_usual_min),
        "wake_today": minutes_text(detail.wake_today_min),
        "days_known": detail.days_known,
    }


def telemetry(detail, row: HouseholdRow | None, tz: ZoneInfo, now: float,
              m: Messages) -> list[dict]:
    """Each bulb: its health on the board, and its latest heartbeat's fields."""
    beats = {t.device: t for t in detail.telemetry} if detail else {}
    out = []
    for dev in row.devices if row else ():
        beat = beats.pop(dev.id, None)
        out.append(_device_block(dev.id, dev, beat, tz, now, m))
    for dev_id, beat in beats.items():
        out.append(_device_block(dev_id, None, beat, tz, now, m))
    return out


def _device_block(dev_id: str, dev, beat, tz: ZoneInfo, now: float, m: Messages) -> dict:
    state = "never"
    if dev is not None:
        state = "online" if dev.online else ("offline" if dev.last_seen is not None else "never")
    fields = []
    if beat is not None:
        for key, value in sorted(beat.fields.items()):
            fields.append((m.word("telemetry", key), str(value)))
    return {
        "id": dev_id, "state": state, "word": m(f"device.{state}"),
        "mode": (dev.power_mode or "") if dev else "",
        "heard": m("device.heard", ago=m.ago(now - dev.last_seen))
        if dev is not None and dev.last_seen else "",
        "received": m("household.received", time=clock_text(beat.at, tz)) if beat else "",
        "fields": fields,
    }


def away_view(row: HouseholdRow | None, tz: ZoneInfo, now: float, m: Messages) -> dict:
    until = row.away_until if row else None
    shown = ""
    if until is not None:
        shown = m("time.until_back") if math.isinf(until) else clock_text(until, tz)
    return {"on": until is not None, "until": shown}


def event_detail(e, tz: ZoneInfo, m: Messages) -> str:
    """The few words a timeline entry needs beyond its kind (who did it, the outcome)."""
    detail = e.detail
    if e.kind in (ev.ACK, ev.DISPATCH, ev.RESOLVE) and isinstance(detail, list | tuple):
        parts = list(detail) + [None] * 4
        words = [str(parts[0])]
        if parts[1]:
            words.append(m.word("outcome", parts[1]))
        if parts[2]:
            words.append(m("household.by", actor=parts[2]))
        if parts[3]:
            words.append(f"“{parts[3]}”")
        return " · ".join(words)
    if e.kind == ev.AWAY:
        return m("time.until_back") if detail is None else (
            clock_text(detail, tz) if isinstance(detail, int | float) else "")
    if e.kind == ev.KNOCK_FAILED and isinstance(detail, str):
        return detail
    return ""


def reason_text(reason: dict | None, tz: ZoneInfo, m: Messages) -> str:
    """A case's stored reason in the engine's words; the reason code's word if it will not
    parse."""
    if not reason:
        return ""
    try:
        return describe(Reason(**reason), tz, m.lang)
    except (TypeError, ValueError, OverflowError, OSError):
        return m.word("reason", reason.get("code", ""))


# -- the audit log ----------------------------------------------------------------------------


def audit_detail(action: str, detail: dict, m: Messages) -> str:
    """An audit entry's detail as `key: value`, instants in the page's local time; empty
    values left out."""
    parts = []
    for key, value in sorted(detail.items()):
        if key in AUDIT_TIMES and isinstance(value, int | float) and not isinstance(value, bool):
            text = clock_text(value, PAGE_TZ, "%Y-%m-%d %H:%M:%S") or m("time.until_back")
        elif key in AUDIT_TIMES and value is None and action == "away_set":
            text = m("time.until_back")
        elif value is None or value in ("", [], {}):
            continue
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}: {text}")
    return " · ".join(parts)
