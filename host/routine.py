"""A household's routine: how long a gap without activity is normal for the hour it starts.

For each local start hour and day type (weekday, weekend) the routine keeps the sufficient
statistics of log(gap) for gaps of an hour or more, and a small histogram of how many gaps
reached each length. Two estimates of "how often would a gap this long start around this
hour" are combined, and the larger (the more forgiving) wins:

- a log-normal model of this household's gaps, blended with a population prior worth
  `prior_days` days, which extrapolates into the tail that a few weeks cannot show;
- the plain count of such gaps seen, per day known, so a household that does go out for
  eight hours now and then is not alarmed for it.

Both are rates per day, which is what an alarm states: "a gap that long starting around this
hour is expected on fewer than 1 day in 200". Memory is about 2 KB per household.
"""

from __future__ import annotations

import math
import statistics
from array import array
from bisect import bisect_right
from statistics import NormalDist

from host.config import EngineConfig

# Gap lengths (hours) the histogram counts as "reached". Below 2 h nothing alarms anyway.
EDGES_H: tuple[float, ...] = (2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20)
EDGES_S: tuple[float, ...] = tuple(e * 3600 for e in EDGES_H)
NB = len(EDGES_H)
BUCKETS = 48  # 24 local start hours x (weekday, weekend)
# Halve the history of a day type once it holds this many days, so a routine that changes
# (illness, decline, a new job) is learned within months rather than never.
HALVE_AT_DAYS = 180

_NORMAL = NormalDist()
# What _NORMAL.inv_cdf(q) returns for 0 < q < 1, without its Python frame (the function it
# calls, C in CPython): a threshold is worked out for every silence scheduled.
_inv_cdf = getattr(statistics, "_normal_dist_inv_cdf", lambda q, mu, sigma: _NORMAL.inv_cdf(q))
_NAN_CACHE = array("f", [math.nan] * (2 * BUCKETS))
_WAKE = 3 * BUCKETS  # where the morning sums start in Routine.sums


def bucket_of(hour: int, weekend: bool) -> int:
    return hour + 24 if weekend else hour


# Per bucket: (the bucket an hour before, the bucket an hour after, local hour, day type), the
# window a bucket is judged on; looked up rather than worked out on every judgement.
_AROUND: tuple[tuple[int, int, int, int], ...] = tuple(
    (dt * 24 + (hour - 1) % 24, dt * 24 + (hour + 1) % 24, hour, dt)
    for dt in (0, 1) for hour in range(24))


def _last_reached(hist: array, i0: int, i1: int, i2: int, below: int, least: float) -> int:
    """The highest edge k < below that at least `least` gaps of the window (the histogram
    rows at i0, i1, i2) reached, or -1.

    A binary search, where a scan down from the top would do the same work up to 16 times
    (this runs every time a silence is scheduled): a row never counts more gaps at a higher
    edge than at a lower one, since learn_gap counts a gap at every edge up to its length
    (the 255 cap and _halve's halving keep that order), so the edges reached often enough are
    a prefix of each window.
    """
    lo, hi = -1, below  # the answer is in [lo, hi): hist at lo is enough, at hi not
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if hist[i0 + mid] + hist[i1 + mid] + hist[i2 + mid] >= least:
            lo = mid
        else:
            hi = mid
    return lo


def _gap_s(p: float, mu: float, sigma: float, k: int, cfg: EngineConfig,
           cap_h: float = math.inf) -> float:
    """The threshold (seconds) for a tail that is p gaps of this window: the longer of what
    the log-normal model allows (at most cap_h) and the edge past the last one reached often
    enough (k).

    Only the model's extrapolation is capped: gaps this household really has are never judged
    improbable, or a bulb that daylight leaves unused until evening would be knocked every
    afternoon (the engine's ceiling still bounds the result)."""
    # p >= 1: gaps here are so frequent that any length is expected daily.
    if p >= 1:
        model_h = cfg.learn_gap_h
    else:
        q = 1 - p
        model_h = math.exp(mu + sigma * (_inv_cdf(q, 0.0, 1.0) if 0.0 < q < 1.0
                                         else _NORMAL.inv_cdf(q)))  # raises, as it did
    if model_h > cap_h:
        model_h = cap_h
    seen_h = 0.0 if k < 0 else (EDGES_H[k + 1] if k + 1 < NB else EDGES_H[-1] * 1.2)
    return (seen_h if seen_h > model_h else model_h) * 3600  # max(model_h, seen_h)


class Routine:
    """Learned gap statistics of one household. Mutated in place by the engine."""

    __slots__ = ("sums", "hist", "days", "on_periods", "longest_on", "cache", "morning")

    def __init__(self) -> None:
        # Per bucket b: sums[3b] gaps >= learn_gap_h, sums[3b+1] sum of ln(gap hours),
        # sums[3b+2] sum of squares; then (count, sum, sum of squares) of the first sign of
        # life each morning, in minutes after the morning starts, for weekdays and weekends.
        # One array, not several: each costs a 64-byte header.
        self.sums = array("f", bytes(4 * (3 * BUCKETS + 6)))
        # Gaps that reached EDGES_H[k]; bytes, since halving keeps a count under 255.
        self.hist = array("B", bytes(BUCKETS * NB))
        self.days = [0, 0]  # days with activity seen: weekday, weekend
        self.on_periods = 0
        self.longest_on = 0.0
        # The engine's clamped (knock, urgent) gap per bucket; NaN until worked out. Gaps
        # learned during a day count from the next local day on (daily for the first four
        # weeks, then weekly, then every two weeks from the ninth week): thresholds stay cheap
        # to look up on every event.
        self.cache = array("f", _NAN_CACHE)
        # The engine's missed-morning time for one morning, (start of that morning, due or
        # inf): it depends only on the wake sums and the days known, so learn_wake,
        # learn_day and _halve clear it. Worked out a few times a day otherwise, for every
        # silence scheduled.
        self.morning: tuple[float, float] | None = None

    # -- learning ---------------------------------------------------------------------------

    def learn_gap(self, bucket: int, gap_s: float) -> None:
        """Record a closed gap of gap_s seconds that started in this bucket."""
        lg = math.log(gap_s / 3600)
        sums = self.sums
        sums[3 * bucket] += 1
        sums[3 * bucket + 1] += lg
        sums[3 * bucket + 2] += lg * lg
        hist = self.hist
        # Every edge the gap reached: the edges up to where gap_s would be inserted after them.
        first = bucket * NB
        if hist[first] < 255:
            # A row never counts more at a higher edge (see _last_reached): none is at the cap.
            for i in range(first, first + bisect_right(EDGES_S, gap_s)):
                hist[i] += 1
        else:
            for i in range(first, first + bisect_right(EDGES_S, gap_s)):
                if hist[i] < 255:
                    hist[i] += 1

    def learn_day(self, weekend: bool) -> None:
        dt = 1 if weekend else 0
        self.days[dt] += 1
        self.morning = None
        if self.days[dt] >= HALVE_AT_DAYS:
            self._halve(dt)
        total = self.days[0] + self.days[1]
        if total > 28 and total % (7 if total < 56 else 14):
            # Past four weeks one more day barely moves a rate: refresh weekly, and past
            # eight weeks every two weeks (a quarter more history at most, as at four weeks).
            return
        self.cache = array("f", _NAN_CACHE)

    def refresh(self) -> None:
        """Forget cached thresholds, so the next judgement reads every gap learned so far."""
        self.cache = array("f", _NAN_CACHE)

    def learn_wake(self, weekend: bool, minutes: float) -> None:
        i = _WAKE + (3 if weekend else 0)
        sums = self.sums
        self.morning = None
        sums[i] += 1
        sums[i + 1] += minutes
        sums[i + 2] += minutes * minutes

    def wake(self, weekend: bool, min_days: int) -> tuple[float, float, int, int] | None:
        """(mean, spread, mornings, days) of the first sign of life, in minutes after the
        morning starts, and of how many days with activity those mornings were learned from
        (a day whose first sign came after the morning has none): this day type's own once
        it has min_days mornings, else both pooled, else None (too few mornings to say when
        this resident is usually up)."""
        sums = self.sums
        i = _WAKE + (3 if weekend else 0)
        n, s1, s2 = sums[i], sums[i + 1], sums[i + 2]
        days = self.days[1 if weekend else 0]
        if n < min_days:
            n, s1, s2 = (sums[_WAKE] + sums[_WAKE + 3], sums[_WAKE + 1] + sums[_WAKE + 4],
                         sums[_WAKE + 2] + sums[_WAKE + 5])
            days = self.days[0] + self.days[1]
            if n < min_days:
                return None
        mean = s1 / n
        return mean, math.sqrt(max(s2 / n - mean * mean, 0.0)), int(n), days

    def learn_on_period(self, seconds: float) -> None:
        self.on_periods += 1
        if seconds > self.longest_on:
            self.longest_on = seconds

    def _halve(self, dt: int) -> None:
        self.morning = None
        self.days[dt] //= 2
        for i in range(_WAKE + 3 * dt, _WAKE + 3 * dt + 3):
            self.sums[i] /= 2
        for b in range(dt * 24, dt * 24 + 24):
            for i in range(3 * b, 3 * b + 3):
                self.sums[i] /= 2
            for k in range(b * NB, b * NB + NB):
                self.hist[k] //= 2

    # -- judging ----------------------------------------------------------------------------

    def days_known(self, weekend: bool) -> int:
        return self.days[1 if weekend else 0]

    def _window(self, bucket: int, cfg: EngineConfig) -> tuple[float, float, float, float]:
        """(gaps per day, mu, sigma, days) for gaps starting within an hour of this bucket."""
        before, after, hour, dt = _AROUND[bucket]
        sums = self.sums
        a, b, c = 3 * before, 3 * bucket, 3 * after
        n = sums[a] + sums[b] + sums[c]
        s1 = sums[a + 1] + sums[b + 1] + sums[c + 1]
        s2 = sums[a + 2] + sums[b + 2] + sums[c + 2]
        days = self.days[dt]
        n0 = cfg.prior_days * cfg.prior_gaps_per_day
        mu0 = math.log(cfg.prior_median_gap_h[hour])
        sd0 = cfg.prior_sigma
        total = n + n0
        mu = (s1 + n0 * mu0) / total
        var = (s2 + n0 * (sd0 * sd0 + mu0 * mu0)) / total - mu * mu
        # max(math.sqrt(max(var, 0.0)), cfg.min_sigma), as max does it (the first argument
        # unless the other is greater), without its two calls: asked for every silence.
        sigma = math.sqrt(0.0 if var < 0.0 else var)
        if cfg.min_sigma > sigma:
            sigma = cfg.min_sigma
        per_day = total / (days + cfg.prior_days)
        return per_day, mu, sigma, days

    def _reached(self, bucket: int, k: int) -> int:
        """Gaps that reached EDGES_H[k], starting within an hour of this bucket."""
        dt, hour = divmod(bucket, 24)
        hist = self.hist
        return (hist[(dt * 24 + (hour - 1) % 24) * NB + k] + hist[bucket * NB + k]
                + hist[(dt * 24 + (hour + 1) % 24) * NB + k])

    def rate(self, bucket: int, gap_s: float, cfg: EngineConfig) -> float:
        """Expected days per day on which a gap >= gap_s starts around this bucket's hour."""
        per_day, mu, sigma, days = self._window(bucket, cfg)
        g_h = max(gap_s / 3600, 1e-6)
        model = per_day * (1 - _NORMAL.cdf((math.log(g_h) - mu) / sigma))
        seen = 0
        for k in range(NB - 1, -1, -1):
            if gap_s >= EDGES_S[k]:
                seen = self._reached(bucket, k)
                break
        return max(model, seen / (days + cfg.prior_days))

    def threshold(self, bucket: int, tail: float, cfg: EngineConfig) -> float:
        """Shortest gap (seconds) whose rate is below `tail`; not clamped.

        thresholds() for one tail, spelled out: the engine asks this for every silence it
        schedules (the watch threshold), and with one tail the edge found for the least tail
        is already the one for this tail.
        """
        per_day, mu, sigma, days = self._window(bucket, cfg)
        before, after, _, _ = _AROUND[bucket]
        k = _last_reached(self.hist, before * NB, bucket * NB, after * NB, NB,
                          tail * (days + cfg.prior_days))
        return _gap_s(tail / per_day, mu, sigma, k, cfg)

    def thresholds(self, bucket: int, tails: tuple[float, ...], cfg: EngineConfig,
                   caps_h: tuple[float, ...] | None = None) -> list:
        """threshold() for several tails at once, sharing the window's sums; caps_h, one per
        tail, caps what the model extrapolates (not the gaps seen)."""
        per_day, mu, sigma, days = self._window(bucket, cfg)
        before, after, _, _ = _AROUND[bucket]
        hist = self.hist
        i0 = before * NB
        i1 = bucket * NB
        i2 = after * NB
        denom = days + cfg.prior_days
        # The highest edge gaps in this window reached often enough to matter for any tail.
        top = _last_reached(hist, i0, i1, i2, NB, min(tails) * denom)
        out = []
        for i, tail in enumerate(tails):
            # The first edge at or beyond which the gaps actually seen are rare enough.
            allowed = tail * denom
            k = top
            if k >= 0 and hist[i0 + k] + hist[i1 + k] + hist[i2 + k] < allowed:
                k = _last_reached(hist, i0, i1, i2, k, allowed)
            out.append(_gap_s(tail / per_day, mu, sigma, k, cfg,
                              math.inf if caps_h is None else caps_h[i]))
        return out

    def stuck_threshold(self, cfg: EngineConfig) -> float:
        """How long the light may stay on before it looks like someone cannot turn it off."""
        longest = self.longest_on
        if self.on_periods < cfg.stuck_min_periods:
            longest = max(longest, cfg.stuck_prior_longest_h * 3600)
        return min(max(cfg.stuck_factor * longest, cfg.stuck_min_h * 3600), cfg.stuck_max_h * 3600)
