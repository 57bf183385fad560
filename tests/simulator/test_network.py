"""The simulated bulb's firmware, as docs/protocol.md says: what the host hears, and when."""

from __future__ import annotations

import random
from itertools import pairwise

from host.config import EngineConfig
from host.engine import Engine
from host.events import HEARTBEAT, MAINS, OFF, OFFLINE, ON, ONLINE, SWITCHED
from simulator import scenario as scenarios
from simulator.drive import Driver
from simulator.network import (
    BLINK,
    BROKER,
    POWER,
    QUEUE_MAX,
    WIFI,
    WILL_S,
    Bulb,
    Outage,
    hear,
)
from tests.simulator.worlds import SEOUL

T0 = 1_767_538_800.0  # 2026-01-05 00:00 Seoul
H = 3600.0
RATES = scenarios.load(None).network


def bulb(mode: str = SWITCHED, every: float = 1800, until: float = 3 * 86400) -> Bulb:
    """A bulb whose switch is used every `every` seconds, on for a minute."""
    b = Bulb("bulb-0001", mode)
    t = T0 + 600
    while t < T0 + until:
        b.press(t, True)
        b.press(t + 60, False)
        t += every
    return b


def heard(b: Bulb, faults: list[Outage], days: float = 3):
    return hear(b, "hh", faults, T0, T0 + days * 86400, RATES, random.Random(1))


def kinds(events, lo=-1e18, hi=1e18) -> list[str]:
    return [e.kind for at, e in events if lo <= at < hi]


def test_no_fault_every_press_on_time_and_heartbeats_keep_the_bulb_alive():
    h = heard(bulb(), [])
    presses = [(at, e) for at, e in h.events if e.kind in (ON, OFF)]
    assert len(presses) == 2 * 144
    assert all(abs(at - e.time) < 1 for at, e in presses)  # drift: well under a second
    beats = [at for at, e in h.events if e.kind == HEARTBEAT]
    gaps = [b - a for a, b in pairwise([T0, *beats])]
    assert max(gaps) < 3 * RATES.heartbeat_s  # never three intervals without one
    assert [at for at, _ in h.events] == sorted(at for at, _ in h.events)
    # Fed to the engine, the bulb never looks silent: no device case at all.
    engine = Engine(EngineConfig(), tz_of=lambda _: SEOUL)
    driver = Driver(engine, "hh")
    driver.actions = []
    driver.run(h.events, T0 + 3 * 86400)
    assert not [a for a in driver.actions if type(a).__name__ == "CaseOpened"]


def test_wifi_outage_will_then_queued_events_with_their_own_time():
    start, end = T0 + 86400, T0 + 86400 + 5 * H
    h = heard(bulb(), [Outage(start, end, WIFI)])
    will = [(at, e) for at, e in h.events if e.kind == OFFLINE]
    assert [at for at, _ in will] == [start + WILL_S]
    back = next(at for at, e in h.events if e.kind == ONLINE and at > start)
    assert end < back <= end + 120  # the reconnect backoff
    assert next(e for at, e in h.events if e.kind == ONLINE and at > start).detail[2] == 1
    queued = [(at, e) for at, e in h.events if start <= e.time < end and e.kind in (ON, OFF)]
    assert len(queued) == 20 and all(at == back for at, _ in queued)
    assert kinds(h.events, start + WILL_S + 1, back) == []  # nothing heard while down
    assert not h.link.reachable(start + H) and h.link.reachable(back + 1)
    assert h.periods == [(start, end, "wifi_outage")]


def test_blink_shorter_than_the_keepalive_leaves_no_will():
    start = T0 + 86400 + 590  # a press at +600 falls inside
    h = heard(bulb(), [Outage(start, start + 30, BLINK)])
    assert OFFLINE not in kinds(h.events)
    late = [(at, e) for at, e in h.events if e.kind == ON and start <= e.time < start + 30]
    assert late and late[0][0] > late[0][1].time  # a little late, not lost
    assert h.periods == []


def test_power_cut_loses_presses_and_boots_anew():
    start, end = T0 + 86400, T0 + 86400 + 3 * H
    h = heard(bulb(), [Outage(start, end, POWER)])
    assert kinds(h.events, start, end + 150).count(OFFLINE) == 1
    assert [e for _, e in h.events if start <= e.time < end and e.kind in (ON, OFF)] == []
    online = [e for at, e in h.events if e.kind == ONLINE]
    assert [e.detail[2] for e in online] == [1, 2]  # a new boot number after the power-on


def test_queue_keeps_the_newest_events_when_full():
    start, end = T0 + 3600, T0 + 3 * 86400
    h = heard(bulb(every=600), [Outage(start, end, WIFI)], days=4)
    queued = [e for _, e in h.events if start <= e.time < end and e.kind in (ON, OFF)]
    assert len(queued) == QUEUE_MAX
    pressed = [t for t, _ in bulb(every=600).presses if start <= t < end]
    assert abs(queued[0].time - pressed[-QUEUE_MAX]) < 10  # the oldest were dropped


def test_broker_outage_is_noticed_three_heartbeats_after_the_last_one_heard():
    start, end = T0 + 86400 + 1234, T0 + 86400 + 6 * H
    h = heard(bulb(every=1800), [Outage(start, end, BROKER)])
    assert OFFLINE not in kinds(h.events)  # the broker is what failed: no will
    last = max(at for at, e in h.events if e.kind == HEARTBEAT and at < start)
    assert start - RATES.heartbeat_s < last < start  # the real last one, not a thinned one
    engine = Engine(EngineConfig(), tz_of=lambda _: SEOUL)
    driver = Driver(engine, "hh")
    driver.actions = []
    driver.run(h.events, T0 + 3 * 86400)
    opened = [a for a in driver.actions if type(a).__name__ == "CaseOpened"]
    assert [a.time for a in opened if a.kind == "device"] == [last + 3 * RATES.heartbeat_s]


def test_mains_bulb_is_online_when_on_and_its_will_dates_the_switch_off():
    b = Bulb("bulb-0002", MAINS)
    b.press(T0 + 100, True)
    b.press(T0 + 400, False)
    b.press(T0 + 1000, True)
    b.press(T0 + 1002, False)  # too short to ever connect
    h = heard(b, [])
    assert [(e.kind, e.detail) for _, e in h.events] == [
        (ONLINE, (MAINS, float(RATES.heartbeat_s), 1)), (OFFLINE, None)]
    (on_at, on), (off_at, off) = h.events
    assert T0 + 103 <= on.time == on_at <= T0 + 108
    assert off.time == T0 + 400 and off_at == T0 + 400 + WILL_S
    assert h.link.reachable(T0 + 200) and not h.link.reachable(T0 + 700)


def test_a_host_that_pauses_while_the_broker_is_down_judges_nothing_until_it_is_back():
    # The live host runs no timer while disconnected and waits for the backlog after.
    start, end = T0 + 86400 + 1234, T0 + 86400 + 6 * H
    h = heard(bulb(every=1800), [Outage(start, end, BROKER)])
    engine = Engine(EngineConfig(), tz_of=lambda _: SEOUL)
    driver = Driver(engine, "hh", paused=[(start, end)])
    driver.actions = []
    driver.run(h.events, T0 + 3 * 86400)
    assert not [a for a in driver.actions if start <= a.time < end]
    # It listens again as it reconnects and judges once settled (the heartbeats of the
    # outage were lost, not missed): the bulb reconnects well within three heartbeats, so no
    # device case opens.
    opened = [a for a in driver.actions if type(a).__name__ == "CaseOpened"]
    assert not [a for a in opened if a.kind == "device"]
    back = [at for at, e in h.events if at >= end]
    assert back and back[0] < end + 3 * RATES.heartbeat_s


def test_a_bulb_silent_after_the_host_is_back_is_missed_from_when_it_listens_again():
    # The broker goes down and the bulb with it for good: the host, back, listens from
    # `end` on, so the device case comes three heartbeats after that, not at once.
    start, end = T0 + 86400 + 1234, T0 + 86400 + 6 * H
    h = heard(bulb(every=1800), [Outage(start, end, BROKER)])
    silent = [(at, e) for at, e in h.events if at < start]
    engine = Engine(EngineConfig(), tz_of=lambda _: SEOUL)
    driver = Driver(engine, "hh", paused=[(start, end)])
    driver.actions = []
    driver.run(silent, T0 + 3 * 86400)
    opened = [a for a in driver.actions if type(a).__name__ == "CaseOpened"]
    hb = engine.state("hh").devices["bulb-0001"].heartbeat_s
    assert [a.time for a in opened if a.kind == "device"] == [end + 3 * hb]
