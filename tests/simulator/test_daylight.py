"""Sunrise and sunset at Korean latitudes, against the published almanac."""

from __future__ import annotations

from datetime import date

import pytest

from simulator.daylight import sun_hours

SEOUL = (37.5665, 126.978)
BUSAN = (35.1796, 129.0756)


def hm(text: str) -> float:
    h, m = text.split(":")
    return int(h) + int(m) / 60


# Seoul's almanac times (KASI), local time (UTC+9).
@pytest.mark.parametrize(("day", "rise", "set_"), [
    (date(2026, 6, 21), "05:11", "19:57"),
    (date(2026, 12, 22), "07:43", "17:18"),
    (date(2026, 3, 20), "06:36", "18:44"),
])
def test_seoul_within_three_minutes_of_the_almanac(day, rise, set_):
    sunrise, sunset = sun_hours(day, *SEOUL, 9.0)
    assert sunrise == pytest.approx(hm(rise), abs=3 / 60)
    assert sunset == pytest.approx(hm(set_), abs=3 / 60)


def test_further_south_and_east_busan_sees_the_sun_earlier_and_the_seasons_milder():
    eq_seoul, eq_busan = (sun_hours(date(2026, 3, 20), *p, 9.0) for p in (SEOUL, BUSAN))
    shift = (BUSAN[1] - SEOUL[1]) * 4 / 60  # four minutes of clock per degree east
    assert eq_seoul[0] - eq_busan[0] == pytest.approx(shift, abs=2 / 60)
    for month, longer in ((6, False), (12, True)):
        seoul, busan = (sun_hours(date(2026, month, 21), *p, 9.0) for p in (SEOUL, BUSAN))
        assert ((busan[1] - busan[0]) > (seoul[1] - seoul[0])) == longer


def test_days_lengthen_to_midsummer_and_shorten_after():
    lengths = [sun_hours(date(2026, m, 21), *SEOUL, 9.0) for m in range(1, 13)]
    days = [s - r for r, s in lengths]
    assert days.index(max(days)) == 5 and days.index(min(days)) == 11
    assert 9.5 < min(days) < 10 and 14.5 < max(days) < 15
