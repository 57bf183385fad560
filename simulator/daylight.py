"""Sunrise and sunset through the year, so a living-room or bedroom light is used after dark.

NOAA's general solar position formulas (fractional year, equation of time, declination, the
hour angle at a zenith of 90.833 degrees for refraction and the sun's disc): within a couple
of minutes at Korean latitudes, which is far finer than anyone's habit of switching a light on.
No dependency needed for that.
"""

from __future__ import annotations

import math
from datetime import date
from functools import lru_cache

_ZENITH = math.radians(90.833)


@lru_cache(maxsize=4096)
def sun_hours(day: date, latitude: float, longitude: float, utc_offset_h: float) -> tuple[
        float, float]:
    """(sunrise, sunset) as local clock hours (e.g. 5.2, 19.95) on `day` at this place.

    Where the sun does not rise or set that day (polar latitudes) the answer is (12, 12) or
    (0, 24); Korea never comes near that.
    """
    gamma = 2 * math.pi / 365 * (day.timetuple().tm_yday - 1 + 0.5)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
                       - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma))
    decl = (0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma)
            - 0.006758 * math.cos(2 * gamma) + 0.000907 * math.sin(2 * gamma)
            - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma))
    lat = math.radians(latitude)
    cos_ha = math.cos(_ZENITH) / (math.cos(lat) * math.cos(decl)) - math.tan(lat) * math.tan(decl)
    if cos_ha >= 1:
        return 12.0, 12.0  # the sun stays down
    if cos_ha <= -1:
        return 0.0, 24.0  # the sun stays up
    ha = math.degrees(math.acos(cos_ha))
    noon_utc_min = 720 - 4 * longitude - eqtime
    return ((noon_utc_min - 4 * ha) / 60 + utc_offset_h,
            (noon_utc_min + 4 * ha) / 60 + utc_offset_h)
