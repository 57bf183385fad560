"""Read an event-log CSV (`time,household,event`) into engine Events, keeping bad rows out.

A recorded log is messy: hand edits, merged exports, clocks set wrong. A bad row must not cost
the rest of the log, so each one becomes a LogProblem (file, line, reason, message) and reading
goes on; only a file that cannot be read at all raises LogBroken. The reader never reads a clock:
the caller says what "now" is, so rows from the future can be told apart.
"""

from __future__ import annotations

import csv
import os
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TextIO

from host.events import ACTIVITY, EARLIEST, OFF, ON, Event

COLUMNS = ("time", "household", "event")
LOG_KINDS = (ON, OFF, ACTIVITY)  # what a recorded log may hold: the resident's own events
_KIND_CODE = {kind: i for i, kind in enumerate(LOG_KINDS)}

# Why a row was skipped: the keys of the summary's counts.
MALFORMED = "malformed"  # not CSV, not UTF-8 text, or an empty field
COLUMN_COUNT = "column_count"  # a missing or an extra column
BAD_TIME = "bad_time"  # not an ISO 8601 time
NO_OFFSET = "no_offset"  # an ISO time without its UTC offset: ambiguous, so not guessed
UNKNOWN_KIND = "unknown_kind"  # event is not on/off/activity
BACKWARDS = "backwards"  # earlier than this household's previous event in the file
FUTURE = "future"  # later than the caller's "now"
DUPLICATE = "duplicate"  # the same household, instant and event as a row already taken
PROBLEM_REASONS = (
    MALFORMED,
    COLUMN_COUNT,
    BAD_TIME,
    NO_OFFSET,
    UNKNOWN_KIND,
    BACKWARDS,
    FUTURE,
    DUPLICATE,
)

_SNIFF_BYTES = 8192


class LogBroken(Exception):
    """The whole file is unusable (missing, empty, binary, no header). Other files still run."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class LogProblem:
    """One skipped row: where it is, which rule it broke, and words for the person who fixes it."""

    path: str
    line: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class _Household:
    """What the reader remembers per household to judge the next row."""

    offset: timedelta
    times: array = field(default_factory=lambda: array("d"))
    kinds: array = field(default_factory=lambda: array("b"))
    lines: array = field(default_factory=lambda: array("l"))
    offsets: set = field(default_factory=set)


class LogReader:
    """Iterate to get Events in file order; problems and offsets fill in as rows are read.

    Opening checks the file as a whole and raises LogBroken; after that, iteration never raises
    for bad content.
    """

    def __init__(self, path: str | os.PathLike, now: float) -> None:
        self.path = os.fspath(path)
        self.now = now
        self.problems: list[LogProblem] = []
        self._households: dict[str, _Household] = {}
        _check_text(self.path)
        with _open_text(self.path) as f:
            self._order = self._read_header(f.readline())

    # -- what the caller reads after iterating

    def offsets(self) -> dict[str, timezone]:
        """Each household's UTC offset as its first good row states it."""
        return {h: timezone(s.offset) for h, s in self._households.items()}

    def mixed_offsets(self) -> dict[str, list[timedelta]]:
        """Households whose rows carry more than one offset (a DST change, or merged logs)."""
        return {h: sorted(s.offsets) for h, s in self._households.items() if len(s.offsets) > 1}

    # -- reading

    def __iter__(self) -> Iterator[Event]:
        number = 1
        try:
            with _open_text(self.path) as f:
                f.readline()  # the header, checked when the reader was made
                for number, raw in enumerate(f, start=2):
                    event = self._row(number, raw)
                    if event is not None:
                        yield event
        except OSError as exc:  # the disk, not the content: the file as a whole is lost
            raise LogBroken(self.path, f"cannot be read after line {number} "
                            f"({exc.strerror or exc})") from None

    def _read_header(self, line: str) -> tuple[int, int, int]:
        if not line.strip():
            raise LogBroken(self.path, "no header: the first line is blank; expected "
                            "'time,household,event'")
        try:
            names = [n.strip().lower() for n in next(csv.reader([line], strict=True))]
        except csv.Error as exc:
            raise LogBroken(self.path, f"no header: line 1 is not CSV ({exc})") from None
        if sorted(names) != sorted(COLUMNS):
            raise LogBroken(
                self.path,
                f"no header: line 1 is {line.strip()[:80]!r}; expected 'time,household,event'",
            )
        return tuple(names.index(c) for c in COLUMNS)  # type: ignore[return-value]

    def _skip(self, line: int, reason: str, message: str) -> None:
        self.problems.append(LogProblem(self.path, line, reason, message + "; row skipped"))

    def _row(self, line: int, raw: str) -> Event | None:
        if not raw.strip():
            return None  # a blank line holds no claim about anyone
        if "\ufffd" in raw or "\x00" in raw:
            self._skip(line, MALFORMED, "not UTF-8 text")
            return None
        try:
            fields = next(csv.reader([raw], strict=True))
        except csv.Error as exc:
            self._skip(line, MALFORMED, f"not a CSV row ({exc})")
            return None
        if len(fields) != len(COLUMNS):
            what = "missing" if len(fields) < len(COLUMNS) else "extra"
            self._skip(line, COLUMN_COUNT, f"{len(fields)} columns ({what}), expected 3: "
                       "time,household,event")
            return None
        text, household, kind = (fields[i].strip() for i in self._order)
        if not household:
            self._skip(line, MALFORMED, "household is empty")
            return None
        when = self._time(line, text)
        if when is None:
            return None
        kind = kind.lower()
        if kind not in _KIND_CODE:
            self._skip(line, UNKNOWN_KIND, f"unknown event {kind!r}, expected one of "
                       + "/".join(LOG_KINDS))
            return None
        seconds = when.timestamp()
        if seconds > self.now:
            now = datetime.fromtimestamp(self.now, when.tzinfo).isoformat(timespec="seconds")
            self._skip(line, FUTURE, f"time {text} is in the future (now is {now})")
            return None
        return self._accept(line, household, kind, seconds, when.utcoffset(), text)

    def _time(self, line: int, text: str) -> datetime | None:
        try:
            when = datetime.fromisoformat(text)
        except ValueError as exc:
            self._skip(line, BAD_TIME, f"time {text!r} is not ISO 8601 ({exc})")
            return None
        if when.utcoffset() is None:
            self._skip(line, NO_OFFSET, f"time {text!r} has no UTC offset (write it like "
                       "2024-05-01T09:30:00+09:00)")
            return None
        try:
            seconds = when.timestamp()
        except (OverflowError, ValueError, OSError) as exc:
            self._skip(line, BAD_TIME, f"time {text!r} cannot be placed on the clock ({exc})")
            return None
        if seconds < EARLIEST:
            self._skip(line, BAD_TIME, f"time {text!r} is before 2000: not a real recording")
            return None
        return when

    def _accept(self, line: int, household: str, kind: str, seconds: float,
                offset: timedelta | None, text: str) -> Event | None:
        seen = self._households.get(household)
        if seen is None:
            seen = self._households[household] = _Household(offset or timedelta(0))
        code = _KIND_CODE[kind]
        lo = bisect_left(seen.times, seconds)
        hi = bisect_right(seen.times, seconds, lo)
        for i in range(lo, hi):
            if seen.kinds[i] == code:
                self._skip(line, DUPLICATE, f"duplicate of line {seen.lines[i]} "
                           f"({text}, {household}, {kind})")
                return None
        if hi < len(seen.times):
            last = len(seen.times) - 1
            self._skip(line, BACKWARDS, f"time {text} is earlier than household {household!r}'s "
                       f"previous event on line {seen.lines[last]}")
            return None
        seen.times.append(seconds)
        seen.kinds.append(code)
        seen.lines.append(line)
        seen.offsets.add(offset)
        return Event(household, seconds, kind)


def _check_text(path: str) -> None:
    """Make sure the file is there and is text: a clear LogBroken instead of a crash."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise LogBroken(path, "no such file") from None
    except IsADirectoryError:
        raise LogBroken(path, "is a directory, not a CSV file") from None
    except OSError as exc:
        raise LogBroken(path, f"cannot be read ({exc.strerror or exc})") from None
    if not head.strip():
        raise LogBroken(path, "is empty; expected a header 'time,household,event' and rows")
    if _looks_binary(head, final=len(head) < _SNIFF_BYTES):
        raise LogBroken(path, "is not a text CSV file (binary data, or not UTF-8)")


def _open_text(path: str) -> TextIO:
    # Undecodable bytes become U+FFFD, and the row holding them is skipped as malformed.
    try:
        return open(path, encoding="utf-8-sig", errors="replace", newline="")
    except OSError as exc:  # removed or locked since it was checked
        raise LogBroken(path, f"cannot be read ({exc.strerror or exc})") from None


def _looks_binary(head: bytes, final: bool) -> bool:
    """NUL bytes, or many bytes that are not UTF-8 text: garbage, not a log with a bad line."""
    if b"\x00" in head:
        return True
    if not final:
        head = head[:-3]  # the sniffed chunk may end inside a multi-byte character
    text = head.decode("utf-8", errors="replace")
    bad = sum(1 for c in text if c == "\ufffd" or (c < " " and c not in "\t\r\n"))
    return bad > max(2, len(text) // 20)


@dataclass
class EventLog:
    """A whole log read at once, events sorted by time (the replay needs one time order)."""

    path: str
    events: list[Event]
    problems: list[LogProblem]
    offsets: dict[str, timezone]
    mixed_offsets: dict[str, list[timedelta]]

    def counts(self) -> Counter:
        return reason_counts(self.problems)

    def households(self) -> list[str]:
        return sorted(self.offsets)


def reason_counts(problems: list[LogProblem]) -> Counter:
    """How many problems of each reason: the summary every report of bad rows shows."""
    return Counter(p.reason for p in problems)


def read_log(path: str | os.PathLike, now: float) -> EventLog:
    """Read one log; raises LogBroken only when the file as a whole is unusable."""
    reader = LogReader(path, now)
    events = list(reader)
    events.sort(key=lambda e: e.time)  # stable: a household's own order is kept
    return EventLog(reader.path, events, reader.problems, reader.offsets(),
                    reader.mixed_offsets())
