"""The alarm engine: events and a time in, decisions out. No clock, socket or file in here.

The live host, the simulator and the backtest all call `Engine.handle` for each input and
`Engine.tick` when the time a Decision asked to be woken at has come. Both return the actions
to carry out and the next wake time. State lives in one HouseholdState per household, mutated
only here, so replaying the same inputs again changes nothing (older or equal timestamps are
recognised and do not move anything forward).

The ladder for a quiet household: fine -> watch (a gap that is unusual for this hour) -> knock
(the gap is improbable, or the morning's first sign of life is long overdue: pulse the bulb and
wait for a toggle) -> alarm (nobody answered: notify, and again every renotify_min until a
person acknowledges) -> dispatched -> resolved. SOS skips straight to alarm; a light stuck on
knocks even in quiet hours; a device that falls silent opens a device case, and a household
nobody can watch is still alarmed within the ceiling. docs/engine.md says why each rule is so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import tzinfo
from zoneinfo import ZoneInfo

from host import case as ladder
from host import decisions as d
from host import events as ev
from host.bulbs import BulbInputs
from host.case import Case
from host.config import EngineConfig
from host.decisions import Decision, Reason
from host.household import NEVER, DeviceState, HouseholdState
from host.localtime import LocalClock
from host.people import PeopleInputs
from host.routine import BUCKETS, bucket_of

SEOUL = ZoneInfo("Asia/Seoul")
EARLIEST = ev.EARLIEST

_RESIDENT = ev.RESIDENT_KINDS
_REAL = (int, float)  # the types _refuse takes for a time
_ON_BIT, _OFF_BIT = 1, 2  # which light changes were applied at exactly light_t
_decision = tuple.__new__  # builds a Decision faster than NamedTuple's own __new__


class Engine(BulbInputs, PeopleInputs):
    """Holds every household's state and turns inputs into decisions."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        tz_of: Callable[[str], tzinfo] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self._tz_of = tz_of or (lambda household: SEOUL)
        self._clocks: dict[object, LocalClock] = {}
        self._states: dict[str, HouseholdState] = {}
        cfg = self.config
        self._min_gap = cfg.min_gap_h * 3600
        self._half_floor = self._min_gap / 2  # the plan's lower bound on a silence
        self._morning_start_s = cfg.morning_start_h * 3600
        # Routine.stuck_threshold's terms, for _plan
        self._stuck_min_periods = cfg.stuck_min_periods
        self._stuck_prior = cfg.stuck_prior_longest_h * 3600
        self._stuck_factor = cfg.stuck_factor
        self._stuck_min = cfg.stuck_min_h * 3600
        self._stuck_max = cfg.stuck_max_h * 3600
        self._knock_s = cfg.knock_timeout_min * 60
        self._learn_s = cfg.learn_gap_h * 3600
        self._ceiling = cfg.ceiling_h * 3600
        self._future = cfg.future_tolerance_s
        self._late = cfg.late_s
        self._grace = cfg.backlog_grace_s
        self._sos_n = cfg.sos_toggles
        self._sos_widest = max(cfg.sos_window_s, cfg.sos_window_mains_s)
        self._quiet_hours = tuple(_quiet(hour, cfg) for hour in range(24))  # _quiet, looked up

    # -- public -----------------------------------------------------------------------------

    def state(self, household: str) -> HouseholdState | None:
        return self._states.get(household)

    def households(self) -> Iterable[str]:
        return self._states.keys()

    def knock_after(self, household: str) -> list[float] | None:
        """Seconds of quiet after which a silence starting in each routine bucket (local hour,
        weekday then weekend: routine.bucket_of) knocks: the routine as the engine applies it,
        for people to read next to the day's activity. None for a household never heard of."""
        st = self._states.get(household)
        if st is None:
            return None
        return [self._gaps(st, bucket)[0] for bucket in range(BUCKETS)]

    def restore(self, state: HouseholdState) -> None:
        """Take back a household's state saved earlier: the live host's restart (host.serve.state).

        The engine is deterministic, so a saved state plus the inputs given since rebuilds it
        exactly; what a caller restores replaces whatever the engine held for that household.
        """
        self._states[state.id] = state

    def handle(self, event: ev.Event, now: float) -> Decision:
        """Take one input at engine time `now` (the event's own time may be earlier)."""
        household, t, kind, device, _ = event
        try:  # the common case in one test; anything odd (even unhashable) goes to _refuse
            st = self._states.get(household)
            usual = st is not None and kind in _RESIDENT and EARLIEST <= t <= now + self._future
        except TypeError:
            st, usual = None, False
        out: list = []
        if usual:  # a resident's input for a known household: most inputs, in one step
            self._resident(st, t, kind, device, now, out)  # type: ignore[arg-type]
            return self._settle(st, now, out)  # type: ignore[arg-type]
        if (st is not None and type(kind) is str and kind == ev.HEARTBEAT
                and type(device) is str and device and type(household) is str
                and type(t) in _REAL and type(now) in _REAL and math.isfinite(now)
                and EARLIEST <= t <= now + self._future):
            # A plain heartbeat, a bulb's most common input: every check of _refuse
            # holds (the household is known, so its id is a non-empty string), so it
            # goes straight to its step.
            self._heartbeat(st, device, t, now, out)
            return self._settle(st, now, out)
        why = self._refuse(event, now)
        if why:
            return Decision([d.Rejected(str(household), now, str(kind), why)],
                            st.wake_at if st else None)
        if st is None:
            if kind == ev.LISTENING:
                return Decision([], None)  # no bulb of it was ever heard: nothing to move
            st = self._new_state(household)
        if kind in _RESIDENT:
            self._resident(st, t, kind, device, now, out)
        elif kind in ev.DEVICE_KINDS:
            self._device(st, event, now, out)
        elif kind in ev.PEOPLE_KINDS:
            self._people(st, event, now, out)
        elif kind == ev.LISTENING:
            # It moves deadlines and judges nothing: the host says it as it reconnects, before
            # the backlog is in, when nothing may be judged yet (host.serve.service).
            self._listening(st, t)
            at, _ = self._plan(st)
            wake = at if at < NEVER else None
            if wake is not None and wake < st.hold_until:
                wake = st.hold_until
            st.wake_at = wake
            return Decision(out, wake)
        else:
            self._knock_failed(st, event, now, out)
        return self._settle(st, now, out)

    def tick(self, household: str, now: float) -> Decision:
        """Run whatever has come due for this household by `now`."""
        st = self._states.get(household) if type(household) is str else None
        if st is None:
            return Decision([], None)
        if not math.isfinite(now):
            return Decision([d.Rejected(household, 0.0, "tick", f"clock {now!r}")], st.wake_at)
        return self._settle(st, now, [])

    # -- refusing bad input -----------------------------------------------------------------

    def _refuse(self, event: ev.Event, now: float) -> str:
        """Why this input cannot be taken, or "" when it can."""
        household, t, kind = event.household, event.time, event.kind
        if type(household) is not str or not household:
            return f"household must be a non-empty string, not {household!r}"
        if type(kind) is not str or kind not in ev.ALL_KINDS:
            return f"unknown event kind {kind!r}"
        if type(now) not in (int, float) or not math.isfinite(now):
            return f"engine clock {now!r} is not a finite time"
        if type(t) not in (int, float) or not math.isfinite(t):
            return f"time {t!r} is not a finite number of UTC seconds"
        if t < EARLIEST:
            return f"time {t!r} is before 2000: the device's clock was never set"
        if t > now + self._future:
            return f"time {t!r} is ahead of the clock {now}"
        known = household in self._states
        if not known and kind in ev.PEOPLE_KINDS - {ev.AWAY}:
            return f"unknown household {household!r}"
        if not known and kind in (ev.OFFLINE, ev.HEARTBEAT, ev.KNOCK_FAILED):
            return f"household {household!r} has no device online"
        if kind in ev.DEVICE_KINDS and (type(event.device) is not str or not event.device):
            return "a device input must name its device"
        if kind == ev.LISTENING and event.device is not None:
            return "listening is about the whole household: it names no device"
        return ""

    # -- state ------------------------------------------------------------------------------

    def _new_state(self, household: str) -> HouseholdState:
        tz = self._tz_of(household)
        clock = self._clocks.get(tz)
        if clock is None:
            clock = self._clocks[tz] = LocalClock(tz)
        st = self._states[household] = HouseholdState(household, clock)
        return st

    def _settle(self, st: HouseholdState, now: float, out: list) -> Decision:
        """Carry out every step due by now, then work out the next wake time and status."""
        if (st.watch_at is None and st.welfare is None and st.away_until is None
                and st.stuck_from == NEVER and not (st.watching or st.blind or st.retired)
                and st.last > -NEVER):
            # Most inputs leave a household here: nothing open, no light on, a silence not yet
            # worked out. _plan's answer for it, without the call: the next step is the
            # silence reaching half the floor, or a bulb's heartbeat deadline before that.
            since = st.last if st.last > st.alive_at else st.alive_at
            at = since + self._half_floor
            step = self._inactivity
            if not at < st.device_due:
                at, step = st.device_due, self._devices_silent
        else:
            at, step = self._plan(st)
        if at <= now and now >= st.hold_until:
            for _ in range(64):  # each step moves the household on; the bound guards bugs
                step(st, now, out)
                at, step = self._plan(st)
                if at > now:
                    break
            else:  # pragma: no cover - would mean a step that does not advance
                raise RuntimeError(f"household {st.id}: plan does not advance at {now}")
        if st.welfare is None and st.away_until is None and st.device_case is None:
            status, reason = (d.WATCH if st.watching else d.FINE), None  # the common case
        else:
            status, reason = self._status(st)
        if status != st.status:
            st.status = status
            out.append(d.StatusChanged(st.id, now, status, reason))
        wake = at if at < NEVER else None
        if wake is not None and wake < st.hold_until:
            wake = st.hold_until
        st.wake_at = wake
        return _decision(Decision, (out, wake))  # tuple.__new__: NamedTuple's own is slow

    def _status(self, st: HouseholdState) -> tuple[str, Reason | None]:
        case = st.welfare
        if case is not None:
            return (d.KNOCK if case.state == d.CASE_KNOCK else d.ALARM), case.reason
        if st.away_until is not None:
            return d.AWAY, None
        if st.device_case is not None:
            return d.DEVICE_FAULT, st.device_case.reason
        if st.watching:
            return d.WATCH, None
        return d.FINE, None

    # -- planning: what happens next, and when ----------------------------------------------

    def _plan(self, st: HouseholdState) -> tuple[float, Callable]:
        """The next step and its time. Cheap on purpose: it runs after every input.

        Until the gap since the last sign of life reaches half the floor, the exact watch and
        knock times are not worked out; the plan names that moment instead (a lower bound),
        and `_inactivity` computes them then.
        """
        at: float = st.device_due
        step: Callable = self._devices_silent
        case = st.welfare
        if case is not None:
            if case.state == d.CASE_KNOCK:
                if case.knock_until < at:
                    at, step = case.knock_until, self._knock_timeout
                return at, step
            if not case.activity_seen:
                if case.state == d.CASE_ALARM:
                    due = case.notified_at + self.config.renotify_min * 60
                    if due < at:
                        at, step = due, self._renotify
                return at, step
            # The resident was active after the alarm and nobody has closed the case yet:
            # watch the new silence as usual; it raises the open case again if it comes.
        if st.away_until is not None:
            if st.away_until < at:
                at, step = st.away_until, self._away_over
            return at, step
        if st.retired or (st.last == -NEVER and st.alive_at == -NEVER):
            return at, step
        since = st.last if st.last > st.alive_at else st.alive_at  # st.since, inline: hot path
        if st.blind:
            due = since + self._ceiling
            if due < at:
                at, step = due, self._unwatched
            return at, step
        if st.stuck_from < NEVER:
            base = st.stuck_from if st.stuck_from > st.stuck_reset else st.stuck_reset
            # Routine.stuck_threshold, inline (the same max and min): asked on every input
            # while a light is on.
            routine = st.routine
            longest = routine.longest_on
            if routine.on_periods < self._stuck_min_periods and self._stuck_prior > longest:
                longest = self._stuck_prior
            stuck = self._stuck_factor * longest
            if self._stuck_min > stuck:
                stuck = self._stuck_min
            if self._stuck_max < stuck:
                stuck = self._stuck_max
            due = base + stuck
            if due < at:
                at, step = due, self._stuck_on
        if not st.watching:
            if st.watch_at is None:
                due = since + self._half_floor
                return (due, self._inactivity) if due < at else (at, step)
            if st.watch_at < at:
                at, step = st.watch_at, self._watch
        elif st.knock_at is not None and st.knock_at < at:
            at, step = st.knock_at, self._knock
        return at, step

    def _gaps(self, st: HouseholdState, bucket: int) -> tuple[float, float]:
        """(knock gap, urgent gap) in seconds for gaps starting in this bucket, clamped."""
        cache = st.routine.cache
        knock = cache[2 * bucket]
        if knock != knock:  # NaN: learning changed this window since it was worked out
            cfg = self.config
            # The knock's model is capped at max_gap_h; the gaps seen and the urgent level
            # are bounded by the ceiling only.
            knock, urgent = st.routine.thresholds(bucket, (cfg.tail_knock, cfg.tail_urgent), cfg,
                                                  (cfg.max_gap_h, math.inf))
            knock = min(max(knock, self._min_gap), self._ceiling - self._knock_s)
            urgent = min(max(urgent, knock), self._ceiling - self._knock_s)
            # Whole seconds, rounded up: float32 holds them exactly, and a knock never comes
            # a hair before the stated rarity.
            knock, urgent = math.ceil(knock), math.ceil(urgent)
            cache[2 * bucket] = knock
            cache[2 * bucket + 1] = urgent
            return knock, urgent
        return knock, cache[2 * bucket + 1]

    def _sign_of_life(self, st: HouseholdState, at: float, bucket: int) -> None:
        """The last sign of life moved to `at`: forget the old schedule, raise the floors."""
        cache = st.routine.cache
        knock = cache[2 * bucket]
        if knock == knock:
            urgent = cache[2 * bucket + 1]
        else:
            knock, urgent = self._gaps(st, bucket)
        if at + knock > st.due_raw:
            st.due_raw = at + knock
        if at + urgent > st.due_urgent:
            st.due_urgent = at + urgent
        st.watch_at = None
        st.knock_at = None
        st.watching = False

    def _morning_due(self, st: HouseholdState, since: float) -> float:
        """When a silence from `since` becomes a missed morning, or NEVER when it cannot."""
        start = st.clock.next_local_hour(since, self.config.morning_start_h)
        # Every silence of a day looks to the same next morning: remembered in the routine
        # (see Routine.morning for what clears it), keyed by the morning's start and its type
        # (a time given as an int stays an int).
        memo = st.routine.morning
        if memo is not None and memo[0] == start and type(memo[0]) is type(start):
            due = memo[1]
        else:
            due = self._morning_at(st, start)
            st.routine.morning = (start, due)
        if due == NEVER:
            return NEVER
        return max(due, since + self._min_gap)

    def _morning_at(self, st: HouseholdState, start: float) -> float:
        """When the morning from `start` is missed, before the floor from the silence."""
        cfg = self.config
        clock = st.clock
        wake = st.routine.wake(clock.weekend(start), cfg.morning_min_days)
        if wake is None:
            return NEVER
        mean, spread, mornings, days = wake
        if days - mornings > cfg.morning_max_skip * days:
            return NEVER  # mornings without a sign are common here: their absence says little
        margin = max(cfg.morning_sigmas * max(spread, cfg.morning_min_sigma_min),
                     cfg.morning_margin_min)
        latest = (cfg.morning_latest_h - cfg.morning_start_h) * 60
        due = start + min(mean + margin, latest) * 60
        if self._quiet_hours[clock.hour(due)]:
            due = clock.next_local_hour(due, cfg.quiet_end_h)
        return due

    def _schedule(self, st: HouseholdState) -> None:
        """Work out when the gap since the last sign of life becomes unusual and improbable."""
        cfg = self.config
        last = st.last
        since = last if last > st.alive_at else st.alive_at  # st.since, inline: every silence
        clock = st.clock
        due = st.due_raw
        if self._quiet_hours[clock.hour(due)]:
            due = clock.next_local_hour(due, cfg.quiet_end_h)
        latest = since + self._ceiling - self._knock_s
        knock_at = due  # min(due, st.due_urgent, latest), as min does it, without the call
        if st.due_urgent < knock_at:
            knock_at = st.due_urgent
        if latest < knock_at:
            knock_at = latest
        morning = self._morning_due(st, since)
        st.knock_code = d.INACTIVITY
        if morning < knock_at:
            knock_at = morning
            st.knock_code = d.NO_MORNING
        # The silence starts in the bucket of the last activity, worked out when it came
        # (st.last_bucket), unless someone vouched for the resident later.
        bucket = (st.last_bucket if since == last
                  else bucket_of(clock.hour(since), clock.weekend(since)))
        watch_gap = st.routine.threshold(bucket, cfg.tail_watch, cfg)
        watch_at = since + (self._half_floor if self._half_floor > watch_gap else watch_gap)
        st.watch_at = knock_at if knock_at < watch_at else watch_at  # min(watch_at, knock_at)
        st.knock_at = knock_at
        st.knock_urgent = knock_at < due and st.knock_code == d.INACTIVITY

    def _reason(self, st: HouseholdState, code: str, now: float, since: float) -> Reason:
        gap = now - since
        clock = st.clock
        if code == d.NO_MORNING:
            start = clock.next_local_hour(since, self.config.morning_start_h)
            wake = st.routine.wake(clock.weekend(start), self.config.morning_min_days)
            mean, _, mornings, _ = wake if wake else (0.0, 0.0, 0, 0)
            usual = clock.format(start + mean * 60, "%H:%M")
            return Reason(code, since, gap, None, mornings, f"usually up by {usual}")
        one_in = None
        days = 0
        if code in (d.INACTIVITY, d.UNWATCHED, d.KNOCK_UNDELIVERED):
            weekend = clock.weekend(since)
            bucket = bucket_of(clock.hour(since), weekend)
            rate = st.routine.rate(bucket, gap, self.config)
            one_in = 1 / rate if rate > 0 else NEVER
            days = st.routine.days_known(weekend)
        return Reason(code, since, gap, one_in, days)

    # -- steps: each moves the household one rung ------------------------------------------

    def _inactivity(self, st: HouseholdState, now: float, out: list) -> None:
        self._schedule(st)  # only reached through the plan's lower bound; makes it exact

    def _watch(self, st: HouseholdState, now: float, out: list) -> None:
        st.watching = True

    def _knock(self, st: HouseholdState, now: float, out: list) -> None:
        reason = self._reason(st, st.knock_code, now, st.since)
        self._open_knock(st, now, out, reason, st.knock_urgent)

    def _stuck_on(self, st: HouseholdState, now: float, out: list) -> None:
        base = max(st.stuck_from, st.stuck_reset)
        reason = Reason(d.STUCK_ON, base, now - base, None, 0,
                        f"longest seen {st.routine.longest_on / 3600:.1f} h")
        st.stuck_reset = now  # one case per light left on; a new one only after as long again
        self._open_knock(st, now, out, reason, True)

    def _raise_again(self, st: HouseholdState, case: Case, reason: Reason, now: float,
                     out: list) -> None:
        """A case a person already holds: say it again, with the new reason."""
        state = ladder.next_state(case.state, ladder.ESCALATE)
        if state is None:  # pragma: no cover - every open state may be raised again
            return
        if state != case.state:
            case.state = state
            out.append(d.CaseChanged(st.id, now, case.id, state, None, "raised again"))
        case.reason = reason
        case.activity_seen = False
        case.repeats += 1
        self._gap_moved(st)
        out.append(d.Alarm(st.id, now, case.id, reason))
        self._notify(st, case, now, out)

    def _open_knock(self, st: HouseholdState, now: float, out: list, reason: Reason,
                    urgent: bool) -> None:
        if st.welfare is not None:
            self._raise_again(st, st.welfare, reason, now, out)
            return
        if st.devices and all(dev.mode is not None and not dev.online
                              for dev in st.devices.values()):
            # Every bulb is off (a mains bulb has no power with its light off): nothing can
            # pulse, so nobody can be asked. Say so, and alarm now instead of knocking in vain.
            reason = reason._replace(detail=(reason.detail + "; " if reason.detail else "")
                                     + "no bulb is powered to knock with")
            case = self._open_case(st, d.WELFARE, d.CASE_ALARM, reason, now, out)
            out.append(d.Alarm(st.id, now, case.id, reason))
            self._notify(st, case, now, out)
            return
        case = self._open_case(st, d.WELFARE, d.CASE_KNOCK, reason, now, out)
        case.knock_until = now + self._knock_s
        case.urgent = urgent
        out.append(d.Knock(st.id, now, case.id, case.knock_until, urgent, reason))

    def _knock_timeout(self, st: HouseholdState, now: float, out: list) -> None:
        case = st.welfare
        assert case is not None
        old = case.reason
        case.reason = self._reason(st, old.code, now, old.since)._replace(detail=old.detail)
        self._alarm(st, case, ladder.TIMEOUT, now, out)

    def _alarm(self, st: HouseholdState, case: Case, trigger: str, now: float,
               out: list) -> None:
        state = ladder.next_state(case.state, trigger)
        if state is None:
            return
        case.state = state
        out.append(d.CaseChanged(st.id, now, case.id, state, None, trigger))
        out.append(d.Alarm(st.id, now, case.id, case.reason))
        self._notify(st, case, now, out)

    def _notify(self, st: HouseholdState, case: Case, now: float, out: list) -> None:
        case.notified_at = now
        out.append(d.Notify(st.id, now, case.id, "caseworker", True, case.repeats, case.reason))

    def _renotify(self, st: HouseholdState, now: float, out: list) -> None:
        case = st.welfare
        assert case is not None
        case.repeats += 1
        case.reason = case.reason._replace(gap=now - case.reason.since)
        self._notify(st, case, now, out)

    def _unwatched(self, st: HouseholdState, now: float, out: list) -> None:
        reason = self._reason(st, d.UNWATCHED, now, st.since)
        if st.welfare is not None:
            self._raise_again(st, st.welfare, reason, now, out)
            return
        case = self._open_case(st, d.WELFARE, d.CASE_ALARM, reason, now, out)
        out.append(d.Alarm(st.id, now, case.id, reason))
        self._notify(st, case, now, out)

    def _away_over(self, st: HouseholdState, now: float, out: list) -> None:
        # The expected return has come: watch again, counting from the return, not from the
        # last switch before leaving.
        assert st.away_until is not None
        self._end_away(st, st.away_until)

    def _end_away(self, st: HouseholdState, at: float) -> None:
        st.away_until = None
        st.away_changed_at = max(st.away_changed_at, at)
        self._vouched(st, at)

    def _vouched(self, st: HouseholdState, at: float) -> None:
        """Someone vouched for the resident at `at` (away ended, a case resolved)."""
        if at > st.alive_at:
            moved = at > st.since
            st.alive_at = at
            if moved:
                clock = st.clock
                self._sign_of_life(st, at, bucket_of(clock.hour(at), clock.weekend(at)))
                return
        self._gap_moved(st)

    def _open_case(self, st: HouseholdState, kind: str, state: str, reason: Reason,
                   now: float, out: list) -> Case:
        st.cases_opened += 1
        case = Case(f"{st.id}#{st.cases_opened}", kind, state, reason, now)
        if kind == d.WELFARE:
            st.welfare = case
        else:
            st.device_case = case
        out.append(d.CaseOpened(st.id, now, case.id, kind, reason))
        return case

    def _gap_moved(self, st: HouseholdState) -> None:
        """The last sign of life changed: forget the schedule built on the old one."""
        st.watch_at = None
        st.knock_at = None
        st.watching = False

    # -- inputs -----------------------------------------------------------------------------

    def _resident(self, st: HouseholdState, t: float, kind: str, device: str | None,
                  now: float, out: list) -> None:
        if t < now - self._late:
            st.hold_until = now + self._grace  # a backlog: see EngineConfig.late_s
        last = st.last
        fresh = t > last
        case = st.welfare
        if fresh:
            prev = last if last > st.alive_at else st.alive_at  # st.since, one call less
            moved = t > prev
            clock = st.clock
            local = t + (clock.fixed if clock.fixed is not None else clock.offset(t))
            day = int(local // 86400)
            weekend = (day + 3) % 7 >= 5
            bucket = int(local % 86400 // 3600) + (24 if weekend else 0)
            if last > -NEVER and st.gap_clean:
                gap = t - last
                if self._learn_s <= gap <= self._ceiling:
                    if case is not None and case.state != d.CASE_KNOCK:
                        case.held_gap = (st.last_bucket, gap)  # learned if it was nothing
                    else:
                        st.routine.learn_gap(st.last_bucket, gap)
            tod = local % 86400
            if day != st.morning_day and tod >= self._morning_start_s:
                self._first_morning(st, prev, day, weekend, tod)
            st.last = t
            st.last_bucket = bucket
            st.gap_clean = True
            if day != st.day:
                st.day = day
                st.routine.learn_day(weekend)
            if moved:
                cache = st.routine.cache
                knock = cache[2 * bucket]
                if knock == knock:  # _sign_of_life with its gaps cached: most inputs, inline
                    if t + knock > st.due_raw:
                        st.due_raw = t + knock
                    urgent = cache[2 * bucket + 1]
                    if t + urgent > st.due_urgent:
                        st.due_urgent = t + urgent
                    st.watch_at = None
                    st.knock_at = None
                    st.watching = False
                else:
                    self._sign_of_life(st, t, bucket)
            if st.away_until is not None and t > st.away_changed_at:
                self._end_away(st, t)  # back early: watch again from now
        if kind != ev.ACTIVITY and self._switch(st, t, kind == ev.ON, device, case):
            self._raise_sos(st, t, now, out)
            return
        if case is not None and fresh:
            self._activity_during_case(st, case, t, now, out)

    def _first_morning(self, st: HouseholdState, prev: float, day: int, weekend: bool,
                       tod: float) -> None:
        """The first sign of life this morning: learn when this resident is up."""
        cfg = self.config
        st.morning_day = day
        if tod >= cfg.morning_latest_h * 3600:
            return  # an afternoon is not a morning: nothing to learn, nothing to cap
        # The night's deadlines are carried forward only up to what the missed-morning rule
        # would have knocked at: a later sign of life still never brings a knock forward,
        # and a morning collapse is not judged by the night's long threshold.
        if prev > -NEVER:
            morning = self._morning_due(st, prev)
            if morning < st.due_raw:
                st.due_raw = morning
            if morning < st.due_urgent:
                st.due_urgent = morning
        st.routine.learn_wake(weekend, tod / 60 - cfg.morning_start_h * 60)

    def _switch(self, st: HouseholdState, t: float, on: bool, device: str | None,
                case: Case | None) -> bool:
        """Apply a light change of one bulb; True when it completes the SOS pattern."""
        light: HouseholdState | DeviceState = st
        if device is not None:
            devices = st.devices
            if devices is None:
                devices = st.devices = {}
            bulb = devices.get(device)
            if bulb is None:  # heard of through its switch before it came online
                bulb = devices[device] = DeviceState(None, self.config.heartbeat_s)
            light = bulb
        bit = _ON_BIT if on else _OFF_BIT
        if t > light.light_t:
            seen = 0
        elif t == light.light_t and not light.light_seen & bit:
            seen = light.light_seen  # the same second: a real change unless already applied
        else:
            return False  # older, or a replay of this very change
        if on == light.light_on:
            return False
        if not on and light.light_t > -NEVER:
            if case is not None and case.state != d.CASE_KNOCK:
                case.held_on = t - light.light_t
            else:  # st.routine.learn_on_period, inline: every light switched off
                routine = st.routine
                routine.on_periods += 1
                if t - light.light_t > routine.longest_on:
                    routine.longest_on = t - light.light_t
        light.light_on = on
        light.light_t = t
        light.light_seen = seen | bit
        if light is st and st.devices is None:
            st.stuck_from = t if on else NEVER
        elif light is not st and not st.light_on and len(st.devices) == 1:  # type: ignore[arg-type]
            st.stuck_from = t if on else NEVER  # what lights_changed comes to with one bulb
        else:
            st.lights_changed()  # a press moves no device deadline: devices_changed not needed
        # SOS: the last sos_toggles light changes within the window.
        toggles = st.toggles
        toggles.append(t)
        if len(toggles) > self._sos_n:
            del toggles[0]
        if (len(toggles) == self._sos_n and t - toggles[0] <= self._sos_widest
                and t - toggles[0] <= self._sos_window(st)):
            toggles.clear()
            return True
        return False

    def _sos_window(self, st: HouseholdState) -> float:
        if st.devices and any(dev.mode == ev.MAINS for dev in st.devices.values()):
            return self.config.sos_window_mains_s
        return self.config.sos_window_s

    def _raise_sos(self, st: HouseholdState, t: float, now: float, out: list) -> None:
        reason = Reason(d.SOS, t, 0.0, None, 0,
                        f"{self.config.sos_toggles} switch changes within "
                        f"{self._sos_window(st):.0f} s")
        case = st.welfare
        if case is not None and case.state == d.CASE_KNOCK:
            case.reason = reason
            self._alarm(st, case, ladder.ESCALATE, now, out)
            return
        if case is not None:  # a person already has the case: tell them again, urgently
            self._raise_again(st, case, reason, now, out)
            return
        case = self._open_case(st, d.WELFARE, d.CASE_ALARM, reason, now, out)
        out.append(d.Alarm(st.id, now, case.id, reason))
        self._notify(st, case, now, out)

    def _activity_during_case(self, st: HouseholdState, case: Case, t: float, now: float,
                              out: list) -> None:
        if case.reason.code == d.STUCK_ON:
            st.stuck_reset = max(st.stuck_reset, t)  # they are up: the light on is theirs
        answered = case.state == d.CASE_KNOCK or (
            case.state == d.CASE_ALARM and case.knock_until and
            case.opened_at <= t <= case.knock_until)  # an answer that reached us late
        if answered:
            st.welfare = None
            note = f"switch used at {st.clock.format(t)}"
            if t < case.opened_at:
                note += ", before the knock, reported late"
            out.append(d.CaseResolved(st.id, now, case.id, ev.RESIDENT_ANSWERED, None, note))
            self._learn_held(st, case)
        elif not case.activity_seen:
            # A person was already told; they decide. Stop repeating the alarm, and say so.
            case.activity_seen = True
            out.append(d.CaseChanged(st.id, now, case.id, case.state, None,
                                     f"activity seen at {st.clock.format(t)}"))

    def _learn_held(self, st: HouseholdState, case: Case) -> None:
        """The case was nothing: what ended during it is the household's routine after all."""
        if case.held_gap is not None:
            st.routine.learn_gap(*case.held_gap)
        if case.held_on is not None:
            st.routine.learn_on_period(case.held_on)

    def _knock_failed(self, st: HouseholdState, event: ev.Event, now: float, out: list) -> None:
        case = st.welfare
        if case is None or case.state != d.CASE_KNOCK:
            out.append(d.Rejected(st.id, now, ev.KNOCK_FAILED, "no knock is running"))
            return
        if event.time < case.opened_at or event.detail not in (None, case.id):
            out.append(d.Rejected(st.id, now, ev.KNOCK_FAILED,
                                  f"stale: it is not about the knock of case {case.id}"))
            return
        if case.reason.code == d.INACTIVITY:
            case.reason = case.reason._replace(code=d.KNOCK_UNDELIVERED)
        else:
            case.reason = case.reason._replace(
                detail=(case.reason.detail + "; " if case.reason.detail else "")
                + "the knock could not be delivered")
        self._alarm(st, case, ladder.UNDELIVERED, now, out)



def _nothing(st: HouseholdState, now: float, out: list) -> None:  # pragma: no cover
    pass


def _quiet(hour: int, cfg: EngineConfig) -> bool:
    if cfg.quiet_start_h <= cfg.quiet_end_h:
        return cfg.quiet_start_h <= hour < cfg.quiet_end_h
    return hour >= cfg.quiet_start_h or hour < cfg.quiet_end_h
