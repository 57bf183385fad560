"""Words for a decision, in the caseworker's language and the household's local time.

The engine keeps reasons as facts (host.decisions.Reason); this turns them into the sentence a
caseworker reads in a notification or on the dashboard. Korean is the default.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo

from host import decisions as d
from host.decisions import Reason

LANGS = ("ko", "en")


def duration(seconds: float, lang: str = "ko") -> str:
    """7 h 10 m / 7시간 10분; a whole number of hours without the minutes."""
    minutes = max(int(seconds // 60), 0)
    h, m = divmod(minutes, 60)
    if lang == "ko":
        return (f"{h}시간 {m}분" if m else f"{h}시간") if h else f"{m}분"
    return (f"{h} h {m} m" if m else f"{h} h") if h else f"{m} m"



def _rarity(one_in: float) -> str:
    return "∞" if math.isinf(one_in) else f"{_round_down(one_in):,}"


def _round_down(x: float) -> int:
    """A readable 'fewer than 1 in N': N rounded down, to two significant figures past 1,000."""
    n = int(x)
    if n < 1000:
        return n
    digits = len(str(n)) - 2
    return n // 10**digits * 10**digits


def _when(reason: Reason, tz: tzinfo) -> str:
    """The last sign of life as local HH:MM, with the date when it was not the same day."""
    if not (math.isfinite(reason.since) and math.isfinite(reason.gap)):
        return "?"
    start = datetime.fromtimestamp(reason.since, tz)
    if start.date() == datetime.fromtimestamp(reason.since + reason.gap, tz).date():
        return start.strftime("%H:%M")
    return start.strftime("%m-%d %H:%M")


def describe(reason: Reason, tz: tzinfo, lang: str = "ko") -> str:
    """One or two sentences that say why, with local times."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {LANGS}")
    since = _when(reason, tz)
    gap = duration(reason.gap, lang)
    code = reason.code
    ko = lang == "ko"
    if code in (d.INACTIVITY, d.KNOCK_UNDELIVERED, d.UNWATCHED):
        if ko:
            text = f"{since} 이후 {gap} 동안 활동이 없습니다"
        else:
            text = f"no activity for {gap} since {since}"
        if code == d.UNWATCHED:
            text += (": 기기가 꺼져 있어 지켜볼 수 없습니다" if ko
                     else "; the device is offline, so the household cannot be watched")
        elif reason.one_in_days is not None:
            n = _rarity(reason.one_in_days)
            # The routine is learned per day type, so say which days the figure rests on.
            weekend = datetime.fromtimestamp(reason.since, tz).weekday() >= 5
            n_days = reason.days_known
            if ko:
                basis = f"{'주말' if weekend else '평일'} {n_days}일의 기록"
            elif weekend:
                basis = f"{n_days} weekend day{'' if n_days == 1 else 's'} known"
            else:
                basis = f"{n_days} weekday{'' if n_days == 1 else 's'} known"
            if reason.days_known < 14:
                basis += (", 대부분 일반 인구 기준" if ko else ", mostly the population prior")
            text += (f"; 이 가구에서 이 시간대에 시작해 이만큼 긴 공백은 {n}일에 한 번 미만입니다"
                     f" ({basis})" if ko else
                     f"; for this household a gap that long starting at this hour happened "
                     f"in fewer than 1 in {n} days ({basis})")
    elif code == d.NO_MORNING:
        usual = reason.detail.rsplit(" ", 1)[-1] if reason.detail else "?"
        text = (f"오늘 아침 아직 활동이 없습니다. 평소 {usual}쯤 일어납니다"
                f" ({reason.days_known}일 아침의 기록); 마지막 활동은 {since}, {gap} 전"
                if ko else
                f"no sign of life this morning; usually up by {usual} "
                f"({reason.days_known} morning{'' if reason.days_known == 1 else 's'} known); "
                f"last activity at {since}, {gap} ago")
        return text
    elif code == d.STUCK_ON:
        text = (f"{since}부터 {gap} 동안 조명이 켜져 있습니다" if ko
                else f"the light has been on for {gap} since {since}")
    elif code == d.SOS:
        text = (f"{since}에 스위치로 구조 신호(SOS)를 보냈습니다" if ko
                else f"the switch was used in the SOS pattern at {since}")
    elif code == d.DEVICE_OFFLINE:
        text = (f"{since} 이후 기기 응답이 없습니다" if ko
                else f"the device has been silent since {since}")
    else:
        text = code
    if reason.detail:
        text += f" ({reason.detail})"
    if code == d.KNOCK_UNDELIVERED:
        text += "; 노크를 전달하지 못했습니다" if ko else "; the knock could not be delivered"
    return text
