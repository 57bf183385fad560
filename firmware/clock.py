"""Uptime that never wraps, and UTC from NTP once the network allows it.

ticks_ms wraps (every ~12 days on ESP32), so uptime is kept as seconds + ms, small ints
only. Until the first sync the time of an event is unknown: events carry their uptime and
are given a UTC time when sent, once the offset is known (same boot only).
"""

import time
from time import ticks_diff, ticks_ms

# Seconds from 1970-01-01 to the port's epoch (2000-01-01 on ports that still use it).
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0


class Clock:
    def __init__(self, ntp_host="pool.ntp.org", timeout_ms=500, resync_s=21600):
        self.host = ntp_host
        self.timeout_ms = timeout_ms
        self.resync_s = resync_s
        self.s = 0
        self.ms = 0
        self._last = ticks_ms()
        self._sync = None  # (epoch s, uptime s, uptime ms) at the last sync
        self.next_try_s = 0
        self.fails = 0

    def tick(self, now):
        d = ticks_diff(now, self._last)
        if d > 0:
            self._last = now
            ms = self.ms + d
            self.s += ms // 1000
            self.ms = ms % 1000

    def uptime_ms(self):
        return self.s * 1000 + self.ms

    @property
    def synced(self):
        return self._sync is not None

    def at(self, up_ms):
        """UTC (seconds, ms) of an uptime of this boot, or None before the first sync."""
        if self._sync is None:
            return None
        es, us, ums = self._sync
        delta = up_ms - us * 1000 - ums
        return es + delta // 1000, delta % 1000

    def now(self):
        return self.at(self.uptime_ms())

    def due(self):
        return self.s >= self.next_try_s

    def sync(self):
        """One NTP query (bounded by timeout_ms); retries back off to resync_s."""
        import ntptime

        ntptime.host = self.host
        ntptime.timeout = self.timeout_ms / 1000
        try:
            secs = ntptime.time()
        except (OSError, IndexError, ValueError) as e:
            self.fails += 1
            self.next_try_s = self.s + min(self.resync_s, 5 << min(self.fails, 10))
            print("clock: NTP failed (%s)" % e)
            return False
        first = self._sync is None
        self._sync = (secs + _EPOCH, self.s, self.ms)
        if first or self.fails:
            print("clock: synced")
        self.fails = 0
        self.next_try_s = self.s + self.resync_s
        return True

    def force(self):
        self.next_try_s = 0
