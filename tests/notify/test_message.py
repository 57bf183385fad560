"""The words of a notice: which actions make one, and what a person reads, in Korean or English."""

from __future__ import annotations

import json

import pytest

from host import decisions as d
from host.events import DEVICE_RECOVERED
from host.notify.message import payload
from host.notify.notice import notice_of
from tests.notify.conftest import T0

GAP = 7 * 3600 + 600
REASON = d.Reason(d.INACTIVITY, since=T0 - GAP, gap=GAP, one_in_days=250.0, days_known=30)


def alarm(repeat: int = 0, reason: d.Reason = REASON) -> d.Notify:
    return d.Notify("h1", T0, "h1#3", "caseworker", True, repeat, reason)


def test_only_notices_and_resolutions_make_a_notice():
    actions = [
        d.CaseOpened("h1", T0, "h1#3", d.WELFARE, REASON),
        d.Knock("h1", T0, "h1#3", T0 + 900, False, REASON),
        d.Alarm("h1", T0, "h1#3", REASON),  # always comes with a Notify
        d.StatusChanged("h1", T0, d.ALARM, REASON),
        d.CaseChanged("h1", T0, "h1#3", d.CASE_ACKNOWLEDGED, "cw-lee"),
        d.Rejected("h1", T0, "on", "future"),
    ]
    assert [notice_of(a) for a in actions] == [None] * len(actions)
    kinds = [notice_of(a).kind for a in (
        alarm(), alarm(repeat=2),
        d.Notify("h1", T0, "h1#4", "maintenance", False, 0, REASON),
        d.CaseResolved("h1", T0, "h1#4", DEVICE_RECOVERED),
    )]
    assert kinds == ["alarm", "reminder", "device_fault", "resolved"]
    assert notice_of(alarm()).id == notice_of(alarm()).id  # stable: the idempotency key
    assert notice_of(alarm()).id != notice_of(alarm(repeat=1)).id


def test_a_korean_alarm_says_who_why_and_when_in_seoul_time():
    p = payload(notice_of(alarm()), "김말순", "Asia/Seoul")
    assert p["subject"] == "[안부] 긴급: 김말순 님 안부 확인이 필요합니다"
    assert p["text"].splitlines() == [
        "김말순 님 (가구 h1)의 안부를 확인해 주세요.",
        "사유: 11-24 17:50 이후 7시간 10분 동안 활동이 없습니다; 이 가구에서 이 시간대에 시작해 "
        "이만큼 긴 공백은 250일에 한 번 미만입니다 (평일 30일의 기록).",
        "시각: 2025-11-25 01:00 (Asia/Seoul)",
        "사례: h1#3",
        "사례를 맡으면 대시보드에서 '확인'을 눌러 주세요. 누군가 맡을 때까지 다시 알립니다.",
    ]
    assert p["short"] == "[안부] 긴급 김말순(h1): 7시간 10분 활동 없음 01:00"
    assert json.loads(json.dumps(p)) == p  # what goes into the store and over the wire


def test_english_reminder_with_a_dashboard_link_in_another_time_zone():
    link = "https://anbu.example.org/cases/{case_id}?h={household}"
    p = payload(notice_of(alarm(repeat=2)), "Kim Mal-soon", "Europe/London", "en", link)
    assert p["subject"] == "[anbu] Reminder 2: check on Kim Mal-soon"
    assert "Time: 2025-11-24 16:00 (Europe/London)" in p["text"]
    assert "Why: no activity for 7 h 10 m since 08:50; for this household" in p["text"]
    assert p["link"] == "https://anbu.example.org/cases/h1%233?h=h1"  # '#' would cut the URL
    assert p["text"].endswith(f"Open: {p['link']}\n")
    assert p["short"] == "[anbu] REMINDER 2 Kim Mal-soon(h1): no activity for 7 h 10 m 16:00"


@pytest.mark.parametrize(
    ("reason", "ko", "en"),
    [
        (d.Reason(d.SOS, T0, 0.0), "SOS 신호", "SOS signal"),
        (d.Reason(d.STUCK_ON, T0 - 5 * 3600, 5 * 3600.0), "조명 5시간 켜짐", "light on for 5 h"),
        (d.Reason(d.NO_MORNING, T0 - 9 * 3600, 9 * 3600.0, None, 21, "usual 07:01"),
         "아침 활동 없음", "no sign of life this morning"),
        (d.Reason(d.UNWATCHED, T0 - 86400, 86400.0), "24시간 활동 없음", "no activity for 24 h"),
    ],
)
def test_the_sms_line_names_the_reason(reason, ko, en):
    notice = notice_of(alarm(reason=reason))
    assert ko in payload(notice, "김말순", "Asia/Seoul")["short"]
    assert en in payload(notice, "Kim", "Asia/Seoul", "en")["short"]


def test_device_fault_and_resolution():
    reason = d.Reason(d.DEVICE_OFFLINE, T0 - 900, 900.0, None, 0, "device bulb-0001 missed 3 "
                      "heartbeats")
    fault = payload(notice_of(d.Notify("h1", T0, "h1#4", "maintenance", False, 0, reason)),
                    "김말순", "Asia/Seoul")
    assert fault["subject"] == "[안부] 기기 점검: 김말순 님 댁"
    assert "사유: 00:45 이후 기기 응답이 없습니다 (device bulb-0001 missed 3 heartbeats)." in \
        fault["text"]
    assert fault["urgent"] is False and fault["audience"] == "maintenance"
    done = notice_of(d.CaseResolved("h1", T0 + 60, "h1#4", DEVICE_RECOVERED, None,
                                    "device back online"))
    p = payload(done._replace(audience="maintenance"), "김말순", "Asia/Seoul")
    assert p["subject"] == "[안부] 해결: 김말순 님, 기기가 다시 연결되었습니다"
    assert "메모: device back online" in p["text"]
    assert p["short"] == "[안부] 해결 김말순(h1): 기기가 다시 연결되었습니다 01:01"


def test_an_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        payload(notice_of(alarm()), "김말순", "Asia/Seoul", "fr")
