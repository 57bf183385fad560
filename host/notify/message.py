"""The words of a notice: who, where, why and when, in Korean by default or English.

`payload` is everything a channel sends, built once when the notice is made: the facts (ids,
UTC time, the reason as data) for machines, and the subject, the text and a one-line `short`
(for SMS) for people, with the household's local time. It is stored with the outbox row, so a
notice resent after a restart reads exactly as the first attempt did.
"""

from __future__ import annotations

from datetime import tzinfo
from urllib.parse import quote
from zoneinfo import ZoneInfo

from host import decisions as d
from host import events as ev
from host.explain import LANGS, describe, duration
from host.localtime import local_time
from host.notify.notice import ALARM, DEVICE_FAULT, REMINDER, RESOLVED, Notice

PAYLOAD_VERSION = 1

_OUTCOMES = {
    ev.RESIDENT_ANSWERED: ("본인이 응답했습니다", "the resident answered"),
    ev.RESIDENT_FINE: ("본인은 무사합니다", "the resident is fine"),
    ev.NEEDED_HELP: ("도움이 필요했습니다", "the resident needed help"),
    ev.HOSPITAL: ("병원으로 옮겨졌습니다", "the resident was taken to hospital"),
    ev.DECEASED: ("돌아가셨습니다", "the resident has died"),
    ev.FALSE_ALARM: ("오경보였습니다", "it was a false alarm"),
    ev.DEVICE_FAULT: ("기기 고장이었습니다", "it was a device fault"),
    ev.DEVICE_RECOVERED: ("기기가 다시 연결되었습니다", "the device is back online"),
}


def payload(notice: Notice, name: str, tz: str, lang: str = "ko",
            link: str | None = None) -> dict:
    """The notice as JSON-able data: facts plus words in `lang`, times local to `tz`."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {LANGS}")
    zone = ZoneInfo(tz)
    reason = notice.reason
    why = describe(reason, zone, lang) if reason is not None else ""
    data = {
        "version": PAYLOAD_VERSION,
        "id": notice.id,
        "kind": notice.kind,
        "time": notice.time,
        "local_time": local_time(notice.time, zone),
        "tz": tz,
        "household_id": notice.household,
        "household_name": name,
        "case_id": notice.case_id,
        "audience": notice.audience,
        "urgent": notice.urgent,
        "repeat": notice.repeat,
        "reason": reason._asdict() if reason is not None else None,
        "reason_text": why,
        "outcome": notice.outcome,
        "actor": notice.actor,
        "note": notice.note,
        "link": case_link(link, notice) if link else None,
        "lang": lang,
    }
    data["subject"], data["text"], data["short"] = _words(notice, name, zone, why, lang,
                                                          data["link"])
    return data


def case_link(template: str, notice: Notice) -> str:
    """The dashboard address of the case; ids are quoted (a case id holds '#')."""
    return template.format(case_id=quote(notice.case_id, safe=""),
                           household=quote(notice.household, safe=""))


def _words(notice: Notice, name: str, tz: tzinfo, why: str, lang: str,
           link: str | None) -> tuple[str, str, str]:
    ko = lang == "ko"
    hid, case, kind = notice.household, notice.case_id, notice.kind
    at = local_time(notice.time, tz)
    hhmm = local_time(notice.time, tz, "%H:%M")
    when = f"{'시각' if ko else 'Time'}: {at} ({tz})"
    case_line = f"{'사례' if ko else 'Case'}: {case}"
    if kind in (ALARM, REMINDER):
        title = ("긴급" if kind == ALARM else f"재알림 {notice.repeat}") if ko else (
            "Alarm" if kind == ALARM else f"Reminder {notice.repeat}")
        subject = (f"[안부] {title}: {name} 님 안부 확인이 필요합니다" if ko
                   else f"[anbu] {title}: check on {name}")
        lines = [
            f"{name} 님 (가구 {hid})의 안부를 확인해 주세요." if ko
            else f"Please check on {name} (household {hid}).",
            f"{'사유' if ko else 'Why'}: {why}.",
            when,
            case_line,
            "사례를 맡으면 대시보드에서 '확인'을 눌러 주세요. 누군가 맡을 때까지 다시 알립니다."
            if ko else
            "Acknowledge the case on the dashboard when you take it; until someone does, "
            "this notice is repeated.",
        ]
        short_title = title if ko else title.upper()
    elif kind == DEVICE_FAULT:
        subject = f"[안부] 기기 점검: {name} 님 댁" if ko else f"[anbu] Device check: {name}"
        lines = [
            f"{name} 님 댁 (가구 {hid})의 기기를 점검해 주세요." if ko
            else f"Please check the device at {name}'s home (household {hid}).",
            f"{'사유' if ko else 'Why'}: {why}.",
            when,
            case_line,
            "기기가 응답하지 않는 동안에는 이 가구를 제대로 지켜볼 수 없습니다." if ko
            else "While the device is silent the household cannot be fully watched.",
        ]
        short_title = "기기 점검" if ko else "DEVICE"
    elif kind == RESOLVED:
        ko_words, en_words = _OUTCOMES.get(notice.outcome or "", (notice.outcome,) * 2)
        outcome = ko_words if ko else en_words
        subject = (f"[안부] 해결: {name} 님, {outcome}" if ko
                   else f"[anbu] Resolved: {name}, {outcome}")
        lines = [
            f"{name} 님 (가구 {hid})의 사례가 해결되었습니다: {outcome}." if ko
            else f"The case of {name} (household {hid}) is resolved: {outcome}.",
            when,
            case_line,
        ]
        if notice.note:
            lines.append(f"{'메모' if ko else 'Note'}: {notice.note}")
        short_title = "해결" if ko else "RESOLVED"
    else:
        raise ValueError(f"notice {notice.id}: unknown kind {kind!r}")
    if link:
        lines.append(f"{'바로 가기' if ko else 'Open'}: {link}")
    phrase = _phrase(notice, lang)
    short = f"[{'안부' if ko else 'anbu'}] {short_title} {name}({hid}): {phrase} {hhmm}"
    return subject, "\n".join(lines) + "\n", short


def _phrase(notice: Notice, lang: str) -> str:
    """A few words for the SMS line."""
    ko = lang == "ko"
    reason = notice.reason
    if notice.kind == RESOLVED or reason is None:
        words = _OUTCOMES.get(notice.outcome or "")
        return (words[0] if ko else words[1]) if words else str(notice.outcome)
    gap = duration(reason.gap, lang)
    code = reason.code
    if code in (d.INACTIVITY, d.KNOCK_UNDELIVERED, d.UNWATCHED):
        return f"{gap} 활동 없음" if ko else f"no activity for {gap}"
    if code == d.NO_MORNING:
        return "아침 활동 없음" if ko else "no sign of life this morning"
    if code == d.STUCK_ON:
        return f"조명 {gap} 켜짐" if ko else f"light on for {gap}"
    if code == d.SOS:
        return "SOS 신호" if ko else "SOS signal"
    if code == d.DEVICE_OFFLINE:
        return "기기 응답 없음" if ko else "device silent"
    return code
