"""Local hour and day of a UTC instant, fast enough for the engine's hot path.

The routine is learned in the household's local time (people wake by the clock on the wall),
while everything is stored in UTC. zoneinfo is exact but slow per call, so offsets are cached
per UTC hour; a zone with one fixed offset (Asia/Seoul since 1988) skips the cache entirely.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

_PROBE_YEARS = range(1990, 2040, 7)


class LocalClock:
    """Converts UTC seconds to local (day number, hour, weekend?) for one time zone."""

    __slots__ = ("tz", "fixed", "_cache")

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.fixed: int | None = _fixed_offset(tz)
        self._cache: dict[int, int] = {}

    def offset(self, t: float) -> int:
        """Seconds to add to UTC to get local wall time at instant t."""
        if self.fixed is not None:
            return self.fixed
        key = int(t // 3600)
        off = self._cache.get(key)
        if off is None:
            delta = datetime.fromtimestamp(key * 3600, self.tz).utcoffset()
            off = int(delta.total_seconds()) if delta is not None else 0
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = off
        return off

    # The methods below read `fixed` themselves rather than call offset(): the engine calls
    # them a few times per input, and a zone with one offset needs no lookup at all.

    def local(self, t: float) -> float:
        """Local wall time as seconds since the local epoch (for day/hour arithmetic)."""
        fixed = self.fixed
        return t + (fixed if fixed is not None else self.offset(t))

    def day(self, t: float) -> int:
        fixed = self.fixed
        return int((t + (fixed if fixed is not None else self.offset(t))) // 86400)

    def hour(self, t: float) -> int:
        fixed = self.fixed
        return int((t + (fixed if fixed is not None else self.offset(t))) % 86400 // 3600)

    def weekend(self, t: float) -> bool:
        # Day 0 of the epoch was a Thursday (weekday 3, Monday being 0).
        return (self.day(t) + 3) % 7 >= 5

    def next_local_hour(self, t: float, hour: int) -> float:
        """The first UTC instant >= t at which the local clock reads hour:00."""
        fixed = self.fixed
        loc = t + (fixed if fixed is not None else self.offset(t))
        start = loc - loc % 86400 + hour * 3600
        if start < loc:
            start += 86400
        if fixed is not None:
            return start - fixed  # what the general case below comes to with one offset
        # Convert back with the offset in force then (exact for fixed zones, and within the
        # hour of a DST change otherwise, which is fine for scheduling a knock).
        guess = start - self.offset(t)
        return guess - (self.offset(guess) - self.offset(t))

    def format(self, t: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return local_time(t, self.tz, fmt)


def local_time(t: float, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC instant as the household's wall clock reads it."""
    return datetime.fromtimestamp(t, tz).strftime(fmt)


def _fixed_offset(tz: tzinfo) -> int | None:
    offsets = set()
    for year in _PROBE_YEARS:
        for month in (1, 7):
            delta = datetime(year, month, 1, tzinfo=UTC).astimezone(tz).utcoffset()
            offsets.add(int(delta.total_seconds()) if delta is not None else 0)
    return offsets.pop() if len(offsets) == 1 else None
