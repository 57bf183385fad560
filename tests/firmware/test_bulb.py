"""The bulb end to end: the real MicroPython VM runs firmware/ unchanged against a real
Mosquitto; the switch, the lamp and Wi-Fi are the doubles in tests/doubles."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from tests.firmware import rig
from tests.firmware.rig import DEVICE, FULL, wait_until


def events(recorder, since=0):
    return [e for e in recorder.decoded("evt", since) if e.d == DEVICE]


def keys(evts):
    return [(e.b, e.s) for e in evts]


def first_copies(evts):
    """Events in arrival order without QoS 1 repeats; asserts repeats are true copies."""
    seen: dict = {}
    out = []
    for e in evts:
        key = (e.b, e.s)
        if key in seen:
            assert seen[key].k == e.k and seen[key].up == e.up, f"{key} reused for another event"
            continue
        seen[key] = e
        out.append(e)
    return out


def online(recorder, since=0):
    return [m for m in recorder.decoded("status", since) if m.st == "online"]


def start(make_device, broker, recorder, **cfg):
    dev = make_device()
    dev.write_config(rig.config(broker.port, **cfg))
    dev.start()
    recorder.wait(lambda r: online(r), 15, "the bulb's online status")
    recorder.wait(lambda r: [e for e in events(r) if e.k == "boot"], 10, "the boot event")
    return dev


def test_toggles_arrive_in_order_with_sequence_numbers(make_device, broker, recorder):
    dev = start(make_device, broker, recorder)
    boot = events(recorder)[0]
    assert (boot.k, boot.s, boot.sy) == ("boot", 0, 1)
    for i in range(12):
        dev.flip(i % 2 == 0)
        time.sleep(0.08)
    recorder.wait(lambda r: len(first_copies(events(r))) >= 13, 15, "13 events")
    evts = first_copies(events(recorder))
    assert keys(evts) == [(boot.b, s) for s in range(13)]
    assert [e.k for e in evts[1:]] == ["on", "off"] * 6
    assert all(e.sy == 1 and e.t is not None for e in evts)
    times = [e.t for e in evts]
    assert times == sorted(times)
    assert abs(times[-1] - time.time()) < 30
    dev.wait_duty(0)  # the last flip was "off"
    status = online(recorder)[-1]
    assert (status.b, status.pm, status.hb) == (boot.b, "switched", 10)
    hb = recorder.wait(lambda r: r.decoded("hb"), 15, "a heartbeat")[-1]
    assert hb.rc == "power_on" and hb.fw == "0.1.0" and hb.drop == 0 and hb.heap > 0


def down_rounds(dev) -> int:
    return dev.log().count("link: down")


def test_broker_outage_every_event_arrives_in_order(make_device, broker, recorder):
    """The broker is stopped while the switch is used, then restarted on the same port.

    The issue asks for ten minutes; 20 s keeps the point in the everyday suite: the queue
    outlives an outage long enough for several failed reconnects with backoff (counted below).
    ANBU_OUTAGE_S=600 runs the literal ten minutes (docs/firmware.md has the result).
    """
    outage = float(os.environ.get("ANBU_OUTAGE_S", "20"))
    dev = start(make_device, broker, recorder)
    b = events(recorder)[0].b
    broker.stop()
    flips = 16 if outage <= 60 else 2 * int(outage // 20)
    for i in range(flips):
        on = i % 2 == 0
        dev.flip(on)
        dev.wait_duty(FULL if on else 0, 3)  # the lamp follows with the broker gone
        time.sleep(outage / flips)
    rounds = down_rounds(dev)
    assert rounds >= 4, f"only {rounds} reconnect rounds during the outage:\n{dev.log()}"
    # Exponential backoff with equal jitter: try k waits within [span/2, span] of
    # span = min(max, min << k) (250 ms .. 4 s here), and the capped waits are not all alike
    # (each is one of ~2000 values, so two equal ones by chance are allowed).
    waits = [int(w) for w in re.findall(r"retry in (\d+) ms", dev.log())]
    assert len(waits) == rounds
    for k, w in enumerate(waits):
        span = min(4000, 250 << k)
        assert span // 2 <= w <= span, f"try {k}: waited {w} ms, span {span}: {waits}"
    capped = waits[5:]
    assert len(capped) >= 2 and len(set(capped)) > 1, f"no jitter: {waits}"
    broker.start()
    recorder.wait(lambda r: len(first_copies(events(r))) >= flips + 1, 30, "all events")
    evts = events(recorder)
    unique = first_copies(evts)  # also checks each repeat is a copy of its first (QoS 1)
    assert keys(unique) == [(b, s) for s in range(flips + 1)]
    assert [e.k for e in unique[1:]] == ["on", "off"] * (flips // 2)
    assert all(e.sy == 1 for e in unique)
    # A repeat needs a lost PUBACK, at most one per connection the bulb made.
    assert len(evts) - len(unique) <= dev.log().count("link: connected")
    hb = recorder.wait(lambda r: r.decoded("hb"), 15, "a heartbeat after the outage")[-1]
    assert hb.drop == 0 and hb.q <= flips  # q: queue depth when it was sent (still draining)


def test_sigkill_during_queue_writes_loses_and_repeats_nothing(make_device, broker, recorder):
    """Power cut (SIGKILL) in the middle of a burst of toggles, three times over."""
    dev = start(make_device, broker, recorder)
    journal = dev.flash / "queue.log"
    acked_before: set = set()
    for round_ in range(3):
        for i in range(12 + 5 * round_):
            dev.flip(i % 2 == 0)
            time.sleep(0.03)
        dev.kill()
        lines = rig.journal_lines(journal)
        stored = {tuple(map(int, x.split(" ")[1:3])) for x in lines if x.startswith("E ")}
        acked = {tuple(map(int, x.split(" ")[1:3])) for x in lines if x.startswith("A ")}
        acked_before |= acked
        time.sleep(0.3)  # let in-flight deliveries land before the mark
        mark = recorder.mark()
        dev.start()
        boot_b = max(b for b, _ in stored) + 1
        recorder.wait(
            lambda r, bb=boot_b: any(e.b == bb and e.k == "boot" for e in events(r)),
            15, "the next boot")
        recorder.wait(
            lambda r, st=stored: st <= {(e.b, e.s) for e in events(r)},
            20, "every stored event")
        resent = {(e.b, e.s) for e in events(recorder, mark)}
        assert not resent & acked_before, "an event the broker had acked was sent again"
    evts = first_copies(events(recorder))
    for b in {e.b for e in evts}:
        seqs = [e.s for e in evts if e.b == b]
        assert seqs == list(range(len(seqs))), f"boot {b}: gap or disorder in {seqs}"
    assert [e.b for e in evts] == sorted(e.b for e in evts)


def test_power_cut_in_the_middle_of_a_write(make_device, broker, recorder):
    """A cut that leaves half a line on flash: the queue stays usable and loses nothing else."""
    dev = start(make_device, broker, recorder)
    broker.stop()
    for i in range(4):
        dev.flip(i % 2 == 0)
        time.sleep(0.05)
    dev.wait_duty(0)
    dev.kill()
    journal = dev.flash / "queue.log"
    stored = [x for x in rig.journal_lines(journal) if x.startswith("E ")]
    assert len(stored) == 5
    with open(journal, "ab") as f:
        f.write(b'1a2b3c4d E 0 5 {"v":1,"d":"bulb-00')  # the torn tail
    broker.start()
    dev.start()
    recorder.wait(lambda r: len(first_copies(events(r))) >= 6, 20, "the stored events and a boot")
    evts = first_copies(events(recorder))
    assert keys(evts) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]
    assert all(x.startswith(("C ", "E ", "A ")) for x in rig.journal_lines(journal))
    assert b"bulb-00\n" not in journal.read_bytes()


def test_knock_pulses_the_lamp_and_a_toggle_answers_it(make_device, broker, recorder):
    dev = start(make_device, broker, recorder)
    dev.wait_duty(0)
    t0 = time.monotonic()
    recorder.command({"v": 1, "id": "c-k1", "c": "knock", "dur": 60})
    ack = recorder.wait(lambda r: [a for a in r.decoded("ack") if a.id == "c-k1"], 10, "ack")
    assert ack[0].ok == 1 and ack[0].sy == 1
    time.sleep(3.3)  # more than one period of the pattern
    duties = [d for _, d in dev.duty_history(t0)]
    assert max(duties) > FULL // 8, f"no visible pulse: {max(duties)}"
    rises = sum(1 for a, b2, c in zip(duties, duties[1:], duties[2:], strict=False) if a < b2 >= c)
    assert rises >= 2, f"expected the breathing pattern, saw {rises} peaks"
    dev.flip(True)
    answer = recorder.wait(
        lambda r: [e for e in events(r) if e.a == "c-k1"], 10, "the answering event")
    assert answer[0].k == "on"
    dev.wait_duty(FULL)
    settled = time.monotonic() + 0.5
    time.sleep(1.5)
    assert {d for _, d in dev.duty_history(settled)} <= {FULL}, "still pulsing after the answer"
    # The same command again (a QoS 1 redelivery): acked again, not run again.
    recorder.command({"v": 1, "id": "c-k1", "c": "knock", "dur": 60})
    recorder.wait(
        lambda r: len([a for a in r.decoded("ack") if a.id == "c-k1"]) == 2, 10, "second ack")
    time.sleep(1.5)
    assert dev.duty == FULL and {d for _, d in dev.duty_history(settled)} <= {FULL}
    # A toggle now answers nothing: the knock is over.
    dev.flip(False)
    recorder.wait(lambda r: events(r)[-1].k == "off", 10, "the off event")
    assert events(recorder)[-1].a is None


def test_bad_commands_are_refused_with_a_reason(make_device, broker, recorder):
    dev = start(make_device, broker, recorder)
    recorder.command({"v": 1, "id": "c-x1", "c": "dance"})
    recorder.command({"v": 1, "id": "c-x2", "c": "knock", "dur": 5})
    recorder.command({"v": 2, "id": "c-x3", "c": "ping"})
    recorder.command({"v": 1, "id": "bad id with spaces", "c": "ping"})  # no usable id: dropped
    recorder.command({"v": 1, "id": "c-x4", "c": "ping"})
    acks = recorder.wait(
        lambda r: (a := r.decoded("ack")) and any(x.id == "c-x4" for x in a) and a, 10, "acks")
    got = {a.id: (a.ok, a.err) for a in acks}
    assert got == {
        "c-x1": (0, "unknown command"),
        "c-x2": (0, "dur must be 10..3600"),
        "c-x3": (0, "version"),
        "c-x4": (1, None),
    }
    assert "command dropped (schema)" in dev.log()


def test_lamp_follows_the_switch_while_wifi_and_broker_are_down(make_device, broker, recorder):
    dev = start(make_device, broker, recorder)
    b = events(recorder)[0].b
    dev.wifi(False)
    broker.stop()
    for i in range(10):
        on = i % 2 == 0
        dev.flip(on)
        dev.wait_duty(FULL if on else 0, 2)
        time.sleep(0.2)
    # The loop never stalled long enough for the watchdog (8 s), not even once.
    assert 0 < dev.wdt_worst < 1000, f"longest gap between watchdog feeds {dev.wdt_worst} ms"
    # The broker comes back without its memory: the bulb's subscription is gone with it.
    (broker.dir / "mosquitto.db").unlink(missing_ok=True)
    recorder.connected.clear()
    broker.start()
    assert recorder.connected.wait(10), "the recorder did not reconnect"
    dev.wifi(True)
    recorder.wait(lambda r: len(first_copies(events(r))) >= 11, 30, "the queued events")
    assert keys(first_copies(events(recorder))) == [(b, s) for s in range(11)]
    recorder.command({"v": 1, "id": "c-r1", "c": "ping"})
    recorder.wait(lambda r: [a for a in r.decoded("ack") if a.id == "c-r1"], 10,
                  "the ack of a command sent after the reconnect (resubscribed)")


def test_events_before_the_first_ntp_sync_get_their_utc_time_later(
        make_device, broker, recorder):
    dev = make_device()
    # a long NTP timeout: had the query blocked, the loop would stall for all of it
    dev.write_config(rig.config(broker.port, ntp={"timeout_ms": 1000}))
    broker.stop()
    rig.ntp_server().answering = False
    dev.start()  # no time yet: the boot event and toggles carry uptime
    dev.wait_duty(0)
    flipped = []
    for i in range(4):
        dev.flip(i % 2 == 0)
        flipped.append(time.time())
        time.sleep(0.3)
    time.sleep(1)
    assert "clock: synced" not in dev.log()
    assert "clock: NTP failed (no answer in 1000 ms)" in dev.log()
    assert 0 < dev.wdt_worst < 400, f"the loop stalled {dev.wdt_worst} ms waiting for NTP"
    dev.ntp(True)  # the clock retries with backoff (10 s after two failures)
    wait_until(lambda: "clock: synced" in dev.log(), 30, "the NTP sync")
    broker.start()
    recorder.wait(lambda r: len(first_copies(events(r))) >= 5, 30, "the queued events")
    evts = first_copies(events(recorder))
    assert len(evts) == 5 and all(e.sy == 1 and e.t is not None for e in evts), evts
    for e, at in zip(evts[1:], flipped, strict=True):
        # flipped at `at` by this process; debounce (20 ms) and the VM's pass come after
        assert -0.02 < e.t - at < 0.15, f"event {e.s}: t {e.t} but flipped at {at:.3f}"
    gaps = [b.t - a.t for a, b in zip(evts[1:], evts[2:], strict=False)]
    real = [b - a for a, b in zip(flipped, flipped[1:], strict=False)]
    assert all(abs(g - r) < 0.1 for g, r in zip(gaps, real, strict=True)), (gaps, real, evts)


def test_broken_config_still_gives_a_working_lamp(make_device):
    dev = make_device()
    dev.write_config('{"device": "Bulb 1", "broker": {"port": "x"}')
    dev.start()
    dev.wait_duty(0)
    dev.flip(True)
    dev.wait_duty(FULL)
    dev.flip(False)
    dev.wait_duty(0)
    log = dev.log()
    assert "config: config.json is not valid JSON" in log
    assert "running as a plain lamp" in log
    lines = rig.journal_lines(dev.flash / "queue.log")
    assert [x.split(" ")[2] for x in lines if x.startswith("E ")] == ["0", "1", "2"]


def test_invalid_settings_are_named_and_replaced(make_device, broker, recorder):
    cfg = rig.config(broker.port, hb=5, lamp={"gamma": "steep"})
    dev = make_device()
    dev.write_config(cfg)
    dev.start()
    recorder.wait(lambda r: online(r), 15, "online")
    assert online(recorder)[-1].hb == 300
    log = dev.log()
    assert "config: hb: expected 10..3600, got 5; using the default 300" in log
    assert "config: lamp.gamma: expected float, got str; using the default 2.2" in log


def test_mains_mode_boot_is_the_light_coming_on(make_device, broker, recorder):
    dev = make_device()
    dev.write_config(rig.config(broker.port, power_mode="mains"))
    dev.start()
    dev.wait_duty(FULL)
    recorder.wait(lambda r: online(r), 15, "online")
    assert online(recorder)[-1].pm == "mains"
    boot = recorder.wait(lambda r: events(r), 10, "the boot event")[0]
    assert boot.k == "boot"
    dev.stop()  # SIGTERM: the link drops without a goodbye, the broker sends the will
    offline = recorder.wait(
        lambda r: [m for m in r.decoded("status") if m.st == "offline"], 15, "the last will")
    assert offline[-1].b == boot.b


def test_whole_scenario_under_a_64k_heap(make_device, broker, recorder, mpy_path):
    """In order, outage, knock and answer with `-X heapsize=64K`, from mpy-cross output."""
    dev = make_device(path=mpy_path, heap="64K")
    dev.write_config(rig.config(broker.port))
    dev.start()
    recorder.wait(lambda r: online(r), 15, "online")
    b = recorder.wait(lambda r: events(r), 10, "boot")[0].b
    for i in range(6):
        dev.flip(i % 2 == 0)
        time.sleep(0.08)
    broker.stop()
    for i in range(6):
        dev.flip(i % 2 == 0)
        time.sleep(1)
    broker.start()
    recorder.wait(lambda r: len(first_copies(events(r))) >= 13, 30, "13 events")
    recorder.command({"v": 1, "id": "c-h1", "c": "knock", "dur": 30})
    recorder.wait(lambda r: [a for a in r.decoded("ack") if a.id == "c-h1"], 10, "ack")
    time.sleep(1.5)
    dev.flip(True)
    recorder.wait(lambda r: [e for e in events(r) if e.a == "c-h1"], 10, "the answer")
    mark = recorder.mark()
    hb = recorder.wait(lambda r: r.decoded("hb", mark), 15, "a heartbeat")[-1]
    dev.alive()
    assert "MemoryError" not in dev.log()
    assert keys(first_copies(events(recorder))) == [(b, s) for s in range(14)]
    print(f"\n64K heap: lowest free after a collection {hb.hmin} bytes; free now {hb.heap}")
    assert hb.hmin > 0


def test_tls_with_a_pinned_ca(make_device, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: it makes the test certificates")
    cert, key = rig.make_cert(tmp_path / "pki")
    other, _ = rig.make_cert(tmp_path / "pki", "stranger")
    broker = rig.Broker(tmp_path / "tls-broker")
    broker.use_tls(cert, key)
    broker.start()
    recorder = rig.Recorder(broker.port, ca=cert)
    try:
        cfg = rig.config(broker.port, broker={
            "host": "localhost", "port": broker.port, "tls": True, "ca": "ca.pem",
            "keepalive": 10})
        dev = make_device()
        dev.write_config(cfg)
        shutil.copy(cert, dev.flash / "ca.pem")
        dev.start()
        recorder.wait(lambda r: online(r), 20, "online over TLS")
        dev.flip(True)
        recorder.wait(lambda r: [e for e in events(r) if e.k == "on"], 10, "an event over TLS")
        # A bulb that trusts another CA refuses this broker and keeps trying.
        rogue = make_device("rogue")
        rogue.write_config({**cfg, "device": "bulb-0002"})
        shutil.copy(other, rogue.flash / "ca.pem")
        rogue.start()
        wait_until(lambda: rogue.log().count("link: down") >= 2, 20, "refused handshakes")
        assert not [m for m in recorder.decoded("status") if m.d == "bulb-0002"]
    finally:
        recorder.close()
        broker.stop()


def test_missing_ca_file_gives_a_lamp_not_a_boot_loop(make_device, broker):
    dev = make_device()
    dev.write_config(rig.config(broker.port, broker={
        "host": "localhost", "port": broker.port, "tls": True, "ca": "nowhere.pem"}))
    dev.start()
    dev.flip(True)
    dev.wait_duty(FULL)
    dev.alive()
    assert "link: cannot start" in dev.log() and "plain lamp" in dev.log()


def test_sync_command_is_acked_after_the_ntp_answer(make_device, broker, recorder):
    dev = start(make_device, broker, recorder, ntp={"timeout_ms": 1000})
    asked = rig.ntp_server().queries
    recorder.command({"v": 1, "id": "c-s1", "c": "sync"})
    ok = recorder.wait(lambda r: [a for a in r.decoded("ack") if a.id == "c-s1"], 10, "ack")
    assert (ok[0].ok, ok[0].sy) == (1, 1) and rig.ntp_server().queries > asked
    rig.ntp_server().answering = False
    t0 = time.monotonic()
    recorder.command({"v": 1, "id": "c-s2", "c": "sync"})
    failed = recorder.wait(lambda r: [a for a in r.decoded("ack") if a.id == "c-s2"], 10, "ack")
    assert (failed[0].ok, failed[0].err) == (0, "ntp failed")
    assert time.monotonic() - t0 >= 0.9  # acked after the attempt, not before
    dev.flip(True)  # the clock keeps its last good time
    on = recorder.wait(lambda r: [e for e in events(r) if e.k == "on"], 10, "the on event")
    assert on[0].sy == 1 and abs(on[0].t - time.time()) < 5
    assert 0 < dev.wdt_worst < 400, f"the loop stalled {dev.wdt_worst} ms waiting for NTP"
