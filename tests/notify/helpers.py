"""Small pieces the notification tests share: engine actions, a notifier, a metrics counter."""

from __future__ import annotations

import threading
from collections import Counter

from host import decisions as d
from host.engine import Engine
from host.events import OFF, OFFLINE, ON, ONLINE, SWITCHED, Event
from host.notify import Dispatcher, from_config
from host.store import PENDING, Store
from tests.drive import drive
from tests.firmware.rig import wait_until
from tests.notify.conftest import T0
from tests.notify.receivers import SECRET

# Fast retries: tests wait milliseconds, not minutes.
FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "max_attempts": 3}


class Metrics:
    """The metrics callback the live host wires to Prometheus, as a plain counter."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self._lock = threading.Lock()

    def __call__(self, name: str, label: str) -> None:
        with self._lock:
            self.counts[name, label] += 1


def webhook_notifier(store: Store, url: str, metrics: Metrics | None = None,
                     top: dict | None = None, **webhook) -> Dispatcher:
    table = {"log": False, **FAST, **(top or {}),
             "webhook": {"url": url, "secret_env": "HOOK_SECRET", **webhook}}
    return from_config(table, store, metrics, env={"HOOK_SECRET": SECRET})


def sos(household: str = "h1", at: float = T0, until: float | None = None) -> list:
    """The engine's actions for an SOS (five flicks in 8 s), run on to `until`."""
    flicks = [Event(household, at + 2 * i, ON if i % 2 == 0 else OFF) for i in range(5)]
    return drive(Engine(), flicks, until=at + 60 if until is None else until)


def bulb_gone(household: str = "h1", at: float = T0) -> list:
    """The engine's actions when a bulb's last will arrives: a device case for maintenance."""
    events = [Event(household, at, ONLINE, "bulb-0001", (SWITCHED, 300)),
              Event(household, at + 100, OFFLINE, "bulb-0001")]
    return drive(Engine(), events, until=at + 200)


def notify_all(notifier: Dispatcher, actions: list) -> None:
    for action in actions:
        notifier.notify(action)


def the_notify(actions: list) -> d.Notify:
    (notify,) = [a for a in actions if isinstance(a, d.Notify)]
    return notify


def settled(store: Store, count: int, timeout: float = 10.0) -> list:
    """Wait until `count` notifications exist and none is pending; returns them."""
    def done():
        rows = store.notifications()
        return rows if len(rows) >= count and all(r.state != PENDING for r in rows) else None
    return wait_until(done, timeout, f"{count} notifications sent or dead")
