"""Today's welfare-check rules, to compare the engine with on the same logs.

They are what services run now: a smart plug that alerts after a fixed silence (24 or 36 hours),
and a bulb that checks once a day at 09:00 whether it was switched since 09:00 the day before.
Pure like the engine, with the same handle/tick calls, so one replay driver runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from typing import NamedTuple

from host.decisions import Decision
from host.events import RESIDENT_KINDS, Event
from host.explain import duration
from host.localtime import local_time

FIXED_24H = "fixed-24h"
FIXED_36H = "fixed-36h"
DAILY_WINDOW = "daily-window"
_decision = tuple.__new__  # builds a Decision faster than NamedTuple's own __new__ (as the engine)


class BaselineAlarm(NamedTuple):
    """A baseline rule's alarm: when, which rule, and the facts its reason is made of."""

    household: str
    time: float
    rule: str
    since: float  # last resident event before the alarm (or the start of the empty window)
    window_start: float | None = None  # daily-window: the 09:00 the empty window began


class FixedSilence:
    """No resident event for `hours` -> one alarm at last event + hours, one per silent stretch."""

    def __init__(self, hours: float, name: str | None = None) -> None:
        self.name = name or f"fixed-{hours:g}h"
        self.limit = hours * 3600.0
        self._last: dict[str, float] = {}
        self._alarmed: set[str] = set()

    def handle(self, event: Event, now: float) -> Decision:
        household = event.household
        last = self._last.get(household)
        # _due's test, before calling it: an event nearly never comes due an alarm.
        actions = ([] if last is None or now < last + self.limit
                   or household in self._alarmed else self._due(household, now))
        if event.kind in RESIDENT_KINDS:
            t = event.time
            if last is None or not last > t:  # max(t, last), which keeps t when they tie
                last = self._last[household] = t
            self._alarmed.discard(household)
            return _decision(Decision, (actions, last + self.limit))  # = self._wake_at
        return _decision(Decision, (actions, self._wake_at(household)))

    def tick(self, household: str, now: float) -> Decision:
        return _decision(Decision, (self._due(household, now), self._wake_at(household)))

    def _due(self, household: str, now: float) -> list:
        last = self._last.get(household)
        if last is None or household in self._alarmed or now < last + self.limit:
            return []
        self._alarmed.add(household)
        return [BaselineAlarm(household, last + self.limit, self.name, last)]

    def _wake_at(self, household: str) -> float | None:
        last = self._last.get(household)
        if last is None or household in self._alarmed:
            return None
        return last + self.limit


class DailyWindow:
    """Checked once a day at `check` local time: no event since the previous check -> alarm.

    Every empty day alarms: the rule has no memory beyond its window, as in the service it
    models (a bulb that emails when it was not switched between 09:00 and 08:59 the next day).
    A household is watched from its first event on.
    """

    name = DAILY_WINDOW

    def __init__(self, tz_of: Callable[[str], tzinfo], check: time = time(9, 0)) -> None:
        self.tz_of = tz_of
        self.check = check
        self._last: dict[str, float] = {}
        self._next_check: dict[str, float] = {}
        # The check before the next one, where _due worked the next one out from it: checks
        # come a day apart, so the window that ends at a check begins at the one before.
        self._window_start: dict[str, float] = {}

    def handle(self, event: Event, now: float) -> Decision:
        household = event.household
        due = self._next_check.get(household)
        actions = []
        if due is not None and due <= now:  # _due's test, before calling it: seldom true
            actions = self._due(household, now)
            due = self._next_check.get(household)
        if event.kind in RESIDENT_KINDS:
            t = event.time
            if due is None:
                due = self._next_check[household] = self._check_after(household, t)
            last = self._last.get(household)
            if last is None or not last > t:  # max(t, last), which keeps t when they tie
                self._last[household] = t
            return _decision(Decision, (actions, due))
        return _decision(Decision, (actions, self._next_check.get(household)))

    def tick(self, household: str, now: float) -> Decision:
        return _decision(Decision, (self._due(household, now), self._next_check.get(household)))

    def _due(self, household: str, now: float) -> list:
        actions = []
        due = self._next_check.get(household)
        while due is not None and due <= now:
            start = self._window_start.get(household)
            if start is None:
                start = self._check_before(household, due)
            last = self._last[household]
            if last < start:
                actions.append(BaselineAlarm(household, due, self.name, last, start))
            self._window_start[household] = due
            due = self._check_after(household, due)
        if due is not None:
            self._next_check[household] = due
        return actions

    def _check_after(self, household: str, t: float) -> float:
        """The first check time strictly after t, in the household's local time."""
        tz = self.tz_of(household)
        day = datetime.fromtimestamp(t, tz).date()
        while True:
            at = datetime.combine(day, self.check, tzinfo=tz).timestamp()
            if at > t:
                return at
            day += timedelta(days=1)

    def _check_before(self, household: str, t: float) -> float:
        """The check time before t: where the window that ends at check t began."""
        tz = self.tz_of(household)
        day = datetime.fromtimestamp(t, tz).date()
        while True:
            at = datetime.combine(day, self.check, tzinfo=tz).timestamp()
            if at < t:
                return at
            day -= timedelta(days=1)


BASELINES = (FIXED_24H, DAILY_WINDOW, FIXED_36H)


def make_baseline(name: str, tz_of: Callable[[str], tzinfo]) -> FixedSilence | DailyWindow:
    if name == FIXED_24H:
        return FixedSilence(24, FIXED_24H)
    if name == FIXED_36H:
        return FixedSilence(36, FIXED_36H)
    if name == DAILY_WINDOW:
        return DailyWindow(tz_of)
    raise ValueError(f"unknown baseline rule {name!r}; known: {', '.join(BASELINES)}")


def describe(alarm: BaselineAlarm, tz: tzinfo, lang: str = "en") -> str:
    """Words for a caseworker, in the household's local time."""
    if alarm.window_start is not None:
        start = local_time(alarm.window_start, tz)
        end = local_time(alarm.time - 60, tz)
        last = local_time(alarm.since, tz)
        if lang == "ko":
            return (f"{start}부터 {end}까지 스위치·활동 없음 "
                    f"(마지막 {last}; 매일 {local_time(alarm.time, tz)[11:]} 점검)")
        return (f"no switch or activity from {start} to {end} (last {last}; "
                f"checked daily at {local_time(alarm.time, tz)[11:]})")
    gap = duration(alarm.time - alarm.since, lang)
    since = local_time(alarm.since, tz)
    if lang == "ko":
        return f"{since} 이후 {gap} 동안 스위치·활동 없음 ({alarm.rule})"
    return f"no switch or activity for {gap} since {since} ({alarm.rule})"
