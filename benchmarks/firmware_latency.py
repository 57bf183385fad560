"""Switch-to-lamp and switch-to-broker latency of the bulb firmware on loopback.

The real MicroPython VM runs firmware/ against a real Mosquitto; the wall switch and the lamp
are the doubles in tests/doubles, driven over their control channel. For each toggle:
- lamp: from the switch change until the lamp's PWM first moves toward the new state
  (includes the 20 ms debounce; the fade to full brightness then takes fade_ms = 250 ms);
- broker: from the switch change until the event reaches a subscriber through the broker.
Also the lamp latency with Wi-Fi and the broker down, and with a broker that hangs
mid-publish (answers CONNECT, never a PUBACK) while NTP never answers. Prints one JSON
object last.

    python3 benchmarks/firmware_latency.py [--quick] [--heap 64K]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.firmware import rig  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(values), 2),
        "p99_ms": round(pct(values, 99), 2),
        "max_ms": round(max(values), 2),
        "n": len(values),
    }


def lamp_moved(dev: rig.Device, since: float, on: bool, timeout: float = 2.0) -> float:
    """ms from `since` until the PWM duty first steps toward the new state."""
    before = dev.duty_history()
    prev = next((d for at, d in reversed(before) if at < since), 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = prev
        for at, duty in dev.duty_history(since):
            if (on and duty > last) or (not on and duty < last):
                return (at - since) * 1000
            last = duty
        time.sleep(0.0005)
    raise RuntimeError(f"the lamp did not follow within {timeout} s:\n{dev.log()[-2000:]}")


def flip_and_time(dev: rig.Device, flips: int) -> list[float]:
    """Flip the switch `flips` times, 0.3 s apart (each fade done), timing the lamp each time."""
    times = []
    for i in range(flips):
        on = i % 2 == 0
        times.append(lamp_moved(dev, dev.flip(on), on))
        time.sleep(0.3)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 toggles instead of 300")
    ap.add_argument("--heap", default=None, help="VM heap cap, e.g. 64K (runs mpy-cross output)")
    args = ap.parse_args()
    n = 30 if args.quick else 300
    umqtt = Path(rig.subprocess.run(
        [str(ROOT / "tools" / "fetch-umqtt")], capture_output=True, text=True, timeout=180,
        check=True).stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = [rig.DOUBLES, umqtt, rig.FIRMWARE]
        if args.heap:
            sources = [(p, p.name) for p in rig.FIRMWARE.glob("*.py")]
            sources += [(p, p.name) for p in rig.DOUBLES.glob("*.py")]
            sources.append((umqtt / "umqtt" / "simple.py", "umqtt/simple.py"))
            rig.compile_mpy(tmp / "mpy", sources)
            path = [tmp / "mpy"]
        broker = rig.Broker(tmp / "broker")
        broker.start()
        recorder = rig.Recorder(broker.port)
        dev = rig.Device(tmp / "flash", path, args.heap)
        try:
            dev.write_config(rig.config(broker.port))
            dev.start()
            recorder.wait(lambda r: r.decoded("evt"), 20, "the boot event")
            lamp, wire = [], []
            for i in range(n):
                on = i % 2 == 0
                t0 = dev.flip(on)
                lamp.append(lamp_moved(dev, t0, on))
                seq = i + 1

                def arrived(r, seq=seq):
                    with r.cond:
                        msgs = list(r.msgs)
                    for topic, payload, _, mono in msgs:
                        if topic.endswith("/evt") and f'"s":{seq},'.encode() in payload:
                            return mono
                    return None

                wire.append((recorder.wait(arrived, 10, f"event {seq}") - t0) * 1000)
                time.sleep(0.3)  # let the 250 ms fade finish: each toggle starts from rest
            dev.wifi(False)
            broker.stop()
            time.sleep(0.5)
            down = flip_and_time(dev, max(10, n // 3))
            dev.alive()
            gap_up_down = dev.wdt_worst
            # A broker that answers CONNECT, then hangs mid-publish, and an NTP server that
            # never answers: the loop keeps serving the switch inside every bounded wait.
            dev.stop()
            stall = rig.StallServer("no_puback")
            rig.ntp_server().answering = False
            try:
                cfg = rig.config(stall.port, ntp={"timeout_ms": 1000})
                dev.write_config(cfg)
                dev.start()
                rig.wait_until(lambda: stall.packets.count(0x30) >= 1, 10, "a stalled publish")
                stalled = flip_and_time(dev, max(10, n // 3))
                dev.alive()
                stall_rounds = dev.log().count("link: down")
            finally:
                stall.close()
                rig.ntp_server().answering = True
            figures = {
                "benchmark": "firmware_latency",
                "toggles": n,
                "heap": args.heap or "default",
                "switch_to_lamp": summary(lamp),
                "switch_to_broker": summary(wire),
                "switch_to_lamp_network_down": summary(down),
                "switch_to_lamp_broker_stalled": summary(stalled),
                "stalled_sessions_dropped": stall_rounds,
                "watchdog_longest_gap_ms": max(gap_up_down, dev.wdt_worst),
                "debounce_ms": 20,
            }
        finally:
            dev.stop()
            recorder.close()
            broker.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
