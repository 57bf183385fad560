"""The engine's tunables, with the defaults a deployment starts from.

Everything the alarm logic weighs lives here, so a simulation can sweep one figure and a
caseworker can read what a household is held to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Population prior: for a gap of an hour or more that starts at this local hour, its typical
# (median) length in hours. Round values, informed by the three public single-resident
# bathroom logs in shared/datasets (gaps of an hour or more: medians of 2 to 3 h by day, 4 to 9
# h from the evening into the night, and many daytime gaps of 5 h and more when the resident
# is out). It is deliberately broad: a household's own history tightens it within weeks,
# and the simulator is where it should be calibrated properly.
PRIOR_MEDIAN_GAP_H: tuple[float, ...] = (
    7.0, 6.0, 5.0, 4.5, 4.0, 3.0,  # 00-05: after a night visit, until morning
    2.5, 2.5, 3.0, 3.0, 3.0, 3.0,  # 06-11
    3.0, 3.0, 3.0, 3.0, 3.0, 3.0,  # 12-17: out for the afternoon is common
    3.5, 3.5, 4.0, 5.0, 7.0, 7.5,  # 18-23: the evening runs into the night
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EngineConfig:
    # Tail rates, in expected occurrences per day: a gap this long starting around this hour
    # is expected on fewer than 1 day in 1/rate. Watch is informational, knock asks the
    # resident, urgent knocks even in quiet hours.
    tail_watch: float = 1 / 20
    tail_knock: float = 1 / 200
    tail_urgent: float = 1 / 2000

    # Floor of the learned knock threshold; cap on what its model extrapolates (gaps the
    # household really has go up to the ceiling); the absolute ceiling from the last sign of
    # life to a person being alarmed, which nothing outside away mode exceeds.
    min_gap_h: float = 2.0
    max_gap_h: float = 16.0
    ceiling_h: float = 24.0

    # Gaps shorter than this are ordinary life and are not learned (keeps the hot path cheap).
    learn_gap_h: float = 1.0
    # How strongly the population prior counts, in days of own history it is worth.
    prior_days: float = 5.0
    prior_gaps_per_day: float = 1.2  # gaps of >= learn_gap_h starting in a 3-hour window
    prior_sigma: float = 0.6  # spread of log(gap hours) around the prior median
    min_sigma: float = 0.2  # never trust a household's routine more than this
    prior_median_gap_h: tuple[float, ...] = field(default=PRIOR_MEDIAN_GAP_H)

    # Missed morning: the first sign of life after 04:00 local is learned per day type; once
    # `morning_min_days` mornings are known, no sign of life by the usual time plus
    # max(morning_sigmas x spread, morning_margin_min) knocks (by 13:00 at the latest).
    morning_start_h: int = 4
    morning_latest_h: int = 13
    morning_min_days: int = 7
    morning_sigmas: float = 3.0
    morning_margin_min: float = 45.0
    morning_min_sigma_min: float = 20.0
    # ... and only where a morning without a sign of life is rare: a living-room bulb that
    # summer mornings do not need would otherwise knock on every bright morning.
    morning_max_skip: float = 0.1

    # Knock: how long the resident has to answer; no knocks in quiet hours (local) unless
    # the case is urgent.
    knock_timeout_min: float = 15.0
    quiet_start_h: int = 22
    quiet_end_h: int = 7

    # A backlog: an input more than `late_s` behind the clock (a bulb flushing what it queued
    # while offline), or a switched bulb coming back online, holds every judgement until
    # `backlog_grace_s` pass without more of it, so a queued `on` is not judged before the
    # `off` right behind it, nor an old silence before the presses that ended it.
    late_s: float = 30.0
    backlog_grace_s: float = 60.0

    # Notifications repeat until a person acknowledges.
    renotify_min: float = 30.0

    # Stuck on: the light on far longer than this household ever keeps it on.
    stuck_factor: float = 2.0
    stuck_min_h: float = 1.0
    stuck_max_h: float = 12.0
    stuck_prior_longest_h: float = 1.0  # used until stuck_min_periods on-periods are known
    stuck_min_periods: int = 20

    # SOS: this many switch changes within the window raise an alarm at once. A mains bulb
    # boots on every power-on, so it gets a wider window.
    sos_toggles: int = 5
    sos_window_s: float = 10.0
    sos_window_mains_s: float = 90.0

    # Device health: offline after this many heartbeats missed.
    heartbeat_s: float = 300.0
    missed_heartbeats: int = 3

    # Inputs stamped further than this ahead of the engine's clock are refused.
    future_tolerance_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.tail_urgent <= self.tail_knock <= self.tail_watch < 1:
            raise ValueError("need 0 < tail_urgent <= tail_knock <= tail_watch < 1")
        if not 0 < self.min_gap_h <= self.max_gap_h <= self.ceiling_h:
            raise ValueError("need 0 < min_gap_h <= max_gap_h <= ceiling_h")
        if self.knock_timeout_min * 60 >= self.min_gap_h * 3600:
            raise ValueError("knock_timeout_min must be shorter than min_gap_h")
        if len(self.prior_median_gap_h) != 24:
            raise ValueError("prior_median_gap_h needs one value per hour (24)")
        if self.sos_toggles < 2:
            raise ValueError("sos_toggles must be at least 2")
        positive = ("prior_days", "prior_gaps_per_day", "prior_sigma", "min_sigma",
                    "heartbeat_s", "renotify_min", "stuck_factor", "learn_gap_h", "late_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.morning_max_skip < 1:
            raise ValueError("need 0 <= morning_max_skip < 1")
        if not self.backlog_grace_s >= 0:
            raise ValueError("backlog_grace_s must not be negative")
        if not 0 <= self.morning_start_h < self.morning_latest_h <= 24:
            raise ValueError("need 0 <= morning_start_h < morning_latest_h <= 24")
