"""Heartbeat figures: what the host needs to tell a quiet home from a broken bulb."""

import gc

import machine
import messages

_CAUSES = {
    getattr(machine, "PWRON_RESET", 1): "power_on",
    getattr(machine, "HARD_RESET", 2): "hard",
    getattr(machine, "WDT_RESET", 3): "wdt",
    getattr(machine, "DEEPSLEEP_RESET", 4): "deepsleep",
    getattr(machine, "SOFT_RESET", 5): "soft",
}


def reset_cause():
    try:
        return _CAUSES.get(machine.reset_cause(), "hard")
    except (AttributeError, OSError):
        return "hard"


class Heap:
    """Lowest free heap seen right after a collection: the real headroom of the firmware."""

    def __init__(self):
        gc.collect()
        self.min_free = gc.mem_free()

    def collect(self):
        gc.collect()
        free = gc.mem_free()
        if free < self.min_free:
            self.min_free = free
        return free


def rssi(wlan):
    try:
        return int(wlan.status("rssi"))
    except (AttributeError, OSError, ValueError, TypeError):
        return 0


def heartbeat(bulb):
    clock = bulb.clock
    up = clock.uptime_ms()
    wlan = bulb.link.wlan if bulb.link is not None else None
    return messages.heartbeat(
        bulb.device, bulb.boot, clock.at(up), up, rssi(wlan) if wlan else 0, gc.mem_free(),
        len(bulb.journal), bulb.journal.drops, bulb.rc, bulb.fw, 1 if bulb.lamp.on else 0,
        bulb.heap.min_free)
