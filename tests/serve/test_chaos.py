"""Chaos: bulbs keep sending while the host is killed twice and the broker restarted once.

Every event a bulb sent is stored exactly once. The broker runs the fleet's conf from `anbu
broker config` (passwords, ACLs, persistence, fleet-sized queues), and the host stays down each
time until more than 1,000 events (Mosquitto's default queue limit) have queued for it.
"""

from __future__ import annotations

import threading
import time

from host import events as ev
from host.store.sqlite import SqliteStore
from tests.firmware.rig import wait_until
from tests.serve.fleet import FakeBulb, HostProcess, register, secure, secure_broker

BULBS = 16
RATE = 800  # events per second, all bulbs together
OUTAGE = 1100  # events sent while the host is down, each time


class Fleet:
    """Bulbs sending on/off at a steady rate from one thread, not waiting for the broker."""

    def __init__(self, port: int, passwords: dict[str, str]) -> None:
        self.bulbs = [FakeBulb(port, d, password=pw) for d, pw in passwords.items()]
        self.sent = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for bulb in self.bulbs:
            bulb.online()
        start = time.monotonic()
        while not self._stop.is_set():
            bulb = self.bulbs[self.sent % len(self.bulbs)]
            bulb.event("on" if bulb.seq % 2 == 0 else "off", wait=False)
            self.sent += 1
            ahead = start + self.sent / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def wait_sent(self, n: int) -> None:
        wait_until(lambda: self.sent >= n, 60, f"{n} events sent")

    def stop(self) -> set[tuple[str, int, int]]:
        """Stop sending, wait until the broker has every event; what was sent."""
        self._stop.set()
        self.thread.join(10)
        wait_until(lambda: all(b.all_acked() for b in self.bulbs), 60,
                   "the broker to take every event")
        return {(b.device, b.boot, s) for b in self.bulbs for s in range(b.seq)}

    def close(self) -> None:
        for bulb in self.bulbs:
            bulb.close()


def test_every_event_is_stored_exactly_once_through_kills_and_a_broker_restart(tmp_path):
    passwords = {f"bulb-{i:04d}": f"bulb-{i:04d}-password-for-tests" for i in range(BULBS)}
    db = tmp_path / "anbu.db"
    register(db, {f"h{i}": [(f"bulb-{2 * i:04d}", ev.SWITCHED),
                            (f"bulb-{2 * i + 1:04d}", ev.SWITCHED)] for i in range(BULBS // 2)})
    broker = secure_broker(tmp_path / "broker", passwords)
    broker.start()
    # No SOS from bulbs that toggle 50 times a second: the window is shorter than a toggle.
    host = HostProcess(tmp_path, broker.port, **secure({"engine": {"sos_window_s": 0.001}}))
    fleet = None
    try:
        host.start()
        fleet = Fleet(broker.port, passwords)
        fleet.thread.start()
        fleet.wait_sent(RATE)
        host.kill()  # 1: mid-stream
        fleet.wait_sent(fleet.sent + OUTAGE // 2)
        broker.stop()  # the broker restarts while the host is down: the queue must survive
        broker.start()
        fleet.wait_sent(fleet.sent + OUTAGE // 2 + 100)
        host.start()
        fleet.wait_sent(fleet.sent + RATE // 2)  # while it drains the backlog
        host.kill()  # 2
        fleet.wait_sent(fleet.sent + OUTAGE)
        host.start()
        fleet.wait_sent(fleet.sent + RATE // 2)
        sent = fleet.stop()
        with SqliteStore(db) as store:
            def stored() -> list:
                return store._conn.execute(
                    "SELECT device_id, boot, seq FROM events WHERE seq IS NOT NULL").fetchall()

            wait_until(lambda: len(stored()) >= len(sent), 60, "every event to be stored")
            rows = stored()
        assert len(rows) == len(set(rows)) == len(sent)  # once each, none twice
        assert set(rows) == sent
        assert len(sent) > 2 * OUTAGE + 2 * RATE
        assert host.stop() == 0
    finally:
        if fleet is not None:
            fleet.close()
        host.kill()
        broker.stop()
