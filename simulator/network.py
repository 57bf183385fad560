"""The bulb and its network: what the host hears of the switch presses, and when.

Faults do not depend on what anyone does, so they are drawn as a plan (per household: Wi-Fi
outages and blinks, bulb failure, reboots; per neighbourhood: power cuts; for the whole fleet:
broker outages, each from its own random stream derived from the seed, so shards agree). The
firmware's answer to them is a pure function, `hear`, from the presses and the faults to the
host's inputs, following docs/protocol.md:

- switched bulb: an `on`/`off` per press. While the link is down the lamp still follows the
  switch and events queue on flash (at most 200, the oldest dropped), delivered on reconnect
  with their original timestamps; with no power (a cut, a dead bulb) nothing is recorded. The
  broker publishes the last will (`offline`) 90 s after the link drops, unless the broker is
  what failed; reconnecting publishes `online` (a new boot number after a power-on).
- mains bulb (powered through the wall switch): `online` when switched on (once connected),
  `offline` when switched off (the will, 90 s later, dated by the host at the switch-off).
- clocks drift a little between NTP syncs (every 6 h while connected, none while the link is
  down), so late events carry slightly wrong timestamps, as real ones do.

Heartbeats: the engine only uses them to see a silent bulb (3 missed). Feeding 288 a day to
every rule would cost more than the residents' own events, so the simulated fleet announces
the protocol's longest interval (`heartbeat_s`, 3600 s by default) and the engine is given
one heartbeat just within every 3 intervals (a healthy bulb never looks silent) and the last
one really sent before every outage, so a silence without a last will (a broker outage) is
noticed exactly when it would be with every heartbeat: 3 intervals after the last one sent.
About 8 a day instead of 24 (or 288 at the firmware's default 300 s); only the engine's
rules get them.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from host.events import HEARTBEAT, MAINS, OFF, OFFLINE, ON, ONLINE, SWITCHED, Event

DAY = 86400.0
HOUR = 3600.0
YEAR_S = 365.25 * DAY
WILL_S = 90.0  # the broker fires the last will after 1.5 x the 60 s keepalive
QUEUE_MAX = 200  # firmware/config.example.json queue.max
SYNC_S = 6 * HOUR  # NTP at least every 6 hours (protocol section 4)
KNOCK_ACK_S = 60.0
_HEARTBEAT_MARGIN_S = 60.0  # fed heartbeats come this much inside the 3-interval limit

# Causes of an outage. Unpowered ones lose presses; the others queue them.
WIFI, BLINK, BROKER, POWER, FAILED, REBOOT = (
    "wifi", "blink", "broker", "power", "failed", "reboot")
UNPOWERED = frozenset({POWER, FAILED})
PERIOD_KIND = {WIFI: "wifi_outage", BROKER: "broker_outage", POWER: "power_cut",
               FAILED: "bulb_failure"}  # what records.Period calls them (blinks, reboots: none)


@dataclass(frozen=True, slots=True)
class NetworkRates:
    heartbeat_s: int
    mains: float
    wifi_outages_per_year: float
    wifi_outage_hours: float
    wifi_long: float
    wifi_long_days: float
    wifi_blinks_per_year: float
    broker_outages_per_year: float
    broker_outage_hours: float
    power_cuts_per_year: float
    power_cut_hours: float
    bulb_failures_per_year: float
    repair_days: float
    reboots_per_year: float
    clock_drift_ppm: float

    def __post_init__(self) -> None:
        if not 10 <= self.heartbeat_s <= 3600:
            raise ValueError("heartbeat_s must be 10 .. 3600 (protocol section 6.3)")
        for name in ("mains", "wifi_long"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a share, 0 to 1")
        for name in ("wifi_outage_hours", "wifi_long_days", "broker_outage_hours",
                     "power_cut_hours", "repair_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("wifi_outages_per_year", "wifi_blinks_per_year", "broker_outages_per_year",
                     "power_cuts_per_year", "bulb_failures_per_year", "reboots_per_year",
                     "clock_drift_ppm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


class Outage(NamedTuple):
    start: float
    end: float
    cause: str


def _poisson_times(rng: random.Random, per_year: float, start: float, end: float) -> list[float]:
    out: list[float] = []
    if per_year <= 0:
        return out
    t = start
    while True:
        t += rng.expovariate(per_year / YEAR_S)
        if t >= end:
            return out
        out.append(t)


def household_faults(rates: NetworkRates, rng: random.Random, start: float,
                     end: float) -> list[Outage]:
    """This bulb's own troubles: Wi-Fi outages and blinks, failure, reboots."""
    out = []
    for t in _poisson_times(rng, rates.wifi_outages_per_year, start, end):
        if rng.random() < rates.wifi_long:
            length = rates.wifi_long_days * DAY * rng.lognormvariate(0, 0.5)
        else:
            length = rates.wifi_outage_hours * HOUR * rng.lognormvariate(0, 1.0)
        out.append(Outage(t, t + max(length, 2 * WILL_S), WIFI))
    for t in _poisson_times(rng, rates.wifi_blinks_per_year, start, end):
        out.append(Outage(t, t + rng.uniform(5, WILL_S - 5), BLINK))
    for t in _poisson_times(rng, rates.bulb_failures_per_year, start, end)[:1]:
        out.append(Outage(t, t + rates.repair_days * DAY * rng.lognormvariate(0, 0.4), FAILED))
    for t in _poisson_times(rng, rates.reboots_per_year, start, end):
        out.append(Outage(t, t + rng.uniform(5, 15), REBOOT))
    out.sort()
    return out


@lru_cache(maxsize=8)
def broker_outages(rates: NetworkRates, seed: int, start: float, end: float) -> tuple[
        Outage, ...]:
    """The broker (or the host's link to it) down for the whole fleet at once."""
    rng = random.Random(f"{seed}/broker")
    return tuple(Outage(t, t + rates.broker_outage_hours * HOUR * rng.lognormvariate(0, 0.8),
                        BROKER)
                 for t in _poisson_times(rng, rates.broker_outages_per_year, start, end))


@lru_cache(maxsize=256)
def power_cuts(rates: NetworkRates, seed: int, neighbourhood: int, start: float,
               end: float) -> tuple[Outage, ...]:
    """Power cuts of one neighbourhood: every household in it loses power together."""
    rng = random.Random(f"{seed}/power/{neighbourhood}")
    return tuple(Outage(t, t + rates.power_cut_hours * HOUR * rng.lognormvariate(0, 0.7), POWER)
                 for t in _poisson_times(rng, rates.power_cuts_per_year, start, end))


class Bulb:
    """The bulb as the resident's switch sees it: presses in time order, taken back on a
    collapse (resident.Switch)."""

    __slots__ = ("device", "mode", "presses")

    def __init__(self, device: str, mode: str) -> None:
        self.device = device
        self.mode = mode
        self.presses: list[tuple[float, bool]] = []

    def press(self, t: float, on: bool) -> None:
        self.presses.append((t, on))

    def retract_after(self, t: float) -> bool:
        presses = self.presses
        while presses and presses[-1][0] > t:
            presses.pop()
        return bool(presses) and presses[-1][1]


class Span(NamedTuple):
    """The link down from `start`; back at `back` (the reconnect). Causes merged."""

    start: float
    end: float  # when the last cause cleared
    back: float  # when the bulb is connected again
    causes: frozenset
    unpowered: tuple[tuple[float, float], ...]  # sub-intervals with no power


class Link:
    """When the host could reach the bulb: for knocks (an ack within 60 s, or knock_failed)."""

    def __init__(self, down: list[tuple[float, float]], up: list[tuple[float, float]] | None
                 ) -> None:
        self._down = down  # switched: (start, back) of each span
        self._up = up  # mains: (connected, switched off) of each powered period

    def reachable(self, t: float) -> bool:
        if self._up is not None:
            i = bisect_right(self._up, (t, math.inf)) - 1
            return i >= 0 and t <= self._up[i][1] - KNOCK_ACK_S / 2
        i = bisect_right(self._down, (t, math.inf)) - 1
        return i < 0 or self._down[i][1] <= t + KNOCK_ACK_S / 2


class Heard(NamedTuple):
    """What the host hears of one bulb: (delivered at, Event) in delivery order."""

    events: list[tuple[float, Event]]
    link: Link
    periods: list[tuple[float, float, str]]  # (start, end, Period kind) for the records


def hear(bulb: Bulb, household: str, faults: list[Outage], start: float, end: float,
         rates: NetworkRates, rng: random.Random) -> Heard:
    """The host's inputs from this bulb over [start, end), given its faults (sorted)."""
    faults = [f for f in faults if f.start < end]
    periods = [(f.start, min(f.end, end), PERIOD_KIND[f.cause]) for f in faults
               if f.cause in PERIOD_KIND]
    if bulb.mode == MAINS:
        events, link = _hear_mains(bulb, household, faults, start, end, rates, rng)
    else:
        events, link = _hear_switched(bulb, household, faults, start, end, rates, rng)
    return Heard(events, link, periods)


def _spans(faults: list[Outage], rng: random.Random) -> list[Span]:
    """Outages merged into spans of a down link, each with its reconnect time."""
    spans: list[Span] = []
    for f in faults:
        if f.cause == REBOOT:
            continue
        if spans and f.start <= spans[-1].end:
            s = spans[-1]
            unpowered = s.unpowered + (((f.start, f.end),) if f.cause in UNPOWERED else ())
            spans[-1] = Span(s.start, max(s.end, f.end), 0.0, s.causes | {f.cause}, unpowered)
        else:
            unpowered = ((f.start, f.end),) if f.cause in UNPOWERED else ()
            spans.append(Span(f.start, f.end, 0.0, frozenset({f.cause}), unpowered))
    out = []
    for s in spans:
        if s.unpowered:
            delay = rng.uniform(20, 150)  # boot, then the router may still be booting too
        elif s.causes == {BLINK}:
            delay = rng.uniform(1, 10)
        else:
            delay = rng.uniform(1, 120)  # the firmware's reconnect backoff, 1 s to 2 min
        out.append(s._replace(back=s.end + delay))
    return out


def _hear_switched(bulb: Bulb, household: str, faults: list[Outage], start: float, end: float,
                   rates: NetworkRates, rng: random.Random) -> tuple[list, Link]:
    device, hb = bulb.device, float(rates.heartbeat_s)
    spans = _spans(faults, rng)
    reboots = [f.start for f in faults if f.cause == REBOOT
               and not any(x.start <= f.start < x.back for x in spans)]
    brokers = [(f.start, f.end) for f in faults if f.cause == BROKER]
    drift = rng.gauss(0, rates.clock_drift_ppm) * 1e-6
    boot = 1
    out: list[tuple[float, Event]] = []
    up = start - rng.uniform(0, hb)  # it has been online since before the window
    out.append((start, _event(household, start, ONLINE, device, (SWITCHED, hb, boot))))
    presses = bulb.presses
    i, n = 0, len(presses)
    edges = [(s.start, s) for s in spans] + [(t, None) for t in reboots]
    edges.sort(key=lambda x: x[0])
    for at, span in [*edges, (end, None)]:
        stop = min(at, end)
        _heartbeats(out, household, device, up, stop, hb, start)
        while i < n and presses[i][0] < stop:  # connected: delivered at once
            t, on = presses[i]
            if t >= start:
                stamped = t + drift * (t % SYNC_S)
                # _event, inline: a press is most of what the world makes
                out.append((t, _new(Event, (household, stamped, ON if on else OFF, device,
                                            None))))
            i += 1
        if at >= end:
            break
        if span is None:  # a reboot: back within seconds with a new boot number
            boot += 1
            up = at + rng.uniform(5, 15)
            out.append((up, _event(household, up, ONLINE, device, (SWITCHED, hb, boot))))
            continue
        if BROKER not in span.causes and span.end - span.start > WILL_S:
            will = span.start + WILL_S
            if not any(a <= will < b for a, b in brokers):
                out.append((will, _event(household, will, OFFLINE, device)))
        queue: list[tuple[float, bool]] = []
        synced = span.start - span.start % SYNC_S
        while i < n and presses[i][0] < span.back:
            t, on = presses[i]
            if not any(a <= t < b for a, b in span.unpowered):
                queue.append((t + drift * (t - synced), on))
            i += 1
        if span.unpowered:
            boot += 1
        back = span.back
        if back >= end:
            break
        out.append((back, _event(household, back, ONLINE, device, (SWITCHED, hb, boot))))
        for stamped, on in queue[-QUEUE_MAX:]:
            out.append((back, _event(household, stamped, ON if on else OFF, device)))
        up = back
    out.sort(key=_delivered)  # itemgetter(0): the arrival time, in C
    return out, Link([(s.start, s.back) for s in spans], None)


def _heartbeats(out: list, household: str, device: str, up: float, stop: float, hb: float,
                start: float) -> None:
    """What the engine needs of the heartbeats a bulb sends every `hb` s from `up` while
    connected until `stop`: one just within every 3 intervals, then the last real one.

    The engine uses heartbeats only to see a bulb fall silent: 3 x hb after the last one
    heard. Fed this way, a connected bulb never looks silent, and one that falls silent at
    `stop` without a last will is seen at the moment every heartbeat would have shown it.
    """
    if stop <= up:
        return
    last = up + math.floor((stop - up) / hb) * hb  # the last heartbeat really sent
    if last >= stop:
        last -= hb
    step = 3 * hb - _HEARTBEAT_MARGIN_S
    t = up + step
    append = out.append
    while t < last:
        if t >= start:
            append((t, _new(Event, (household, t, HEARTBEAT, device, None))))  # _event, inline
        t += step
    if last > up and last >= start:
        out.append((last, _event(household, last, HEARTBEAT, device)))


def _hear_mains(bulb: Bulb, household: str, faults: list[Outage], start: float, end: float,
                rates: NetworkRates, rng: random.Random) -> tuple[list, Link]:
    """A bulb powered through the wall switch: on is a power-on (online), off its last will."""
    device, hb = bulb.device, float(rates.heartbeat_s)
    spans = _spans(faults, rng)
    brokers = [(f.start, f.end) for f in faults if f.cause == BROKER]
    out: list[tuple[float, Event]] = []
    reachable: list[tuple[float, float]] = []
    boot = 0
    presses = bulb.presses
    lit: float | None = None
    for t, on in [*presses, (end, False)]:
        if on and lit is None:
            lit = t
            continue
        if on or lit is None:
            continue
        # A powered period [lit, t): cut by any no-power interval inside it.
        pieces = [(lit, min(t, end))]
        for s in spans:
            for a, b in s.unpowered:
                pieces = [q for p0, p1 in pieces for q in ((p0, min(p1, a)), (max(p0, b), p1))
                          if q[1] > q[0]]
        lit = None
        for p0, p1 in pieces:
            if p0 < start:
                continue
            boot += 1
            connect = p0 + rng.uniform(3, 8)
            for s in spans:  # no link yet: it connects when the link is back
                if s.start <= connect < s.back:
                    connect = s.back
            if connect >= p1 or connect >= end:
                continue  # off again before it ever got through: the host saw nothing
            out.append((connect, _event(household, connect, ONLINE, device, (MAINS, hb, boot))))
            _heartbeats(out, household, device, connect, p1, hb, start)
            reachable.append((connect, p1))
            will = p1 + WILL_S
            if p1 < end and not any(a <= will < b for a, b in brokers):
                out.append((will, _event(household, p1, OFFLINE, device)))
    out.sort(key=_delivered)  # itemgetter(0): the arrival time, in C
    return out, Link([], reachable)


_delivered = itemgetter(0)  # (delivered at, Event) -> delivered at


def _event(household: str, t: float, kind: str, device: str, detail: object = None) -> Event:
    """Event(...) without NamedTuple's keyword handling: the world makes millions."""
    return _new(Event, (household, t, kind, device, detail))


_new = tuple.__new__
