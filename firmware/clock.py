"""Uptime that never wraps, and UTC from NTP once the network allows it.

ticks_ms wraps (every ~12 days on ESP32), so uptime is kept as seconds + ms, small ints
only. Until the first sync the time of an event is unknown: events carry their uptime and
are given a UTC time when sent, once the offset is known (same boot only).

NTP is a non-blocking SNTP query of our own, not `ntptime`: `ntptime.time()` waits in
`recv` for its whole timeout, and the switch would wait with it. `ask()` sends one UDP
packet, `poll()` (every loop pass) picks the answer up or gives up after timeout_ms.
"""

import socket
import time
from random import getrandbits
from time import ticks_diff, ticks_ms

# Seconds from 1970-01-01 to the port's epoch (2000-01-01 on ports that still use it).
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_NTP_UNIX = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


class Clock:
    def __init__(self, ntp_host="pool.ntp.org", timeout_ms=500, resync_s=21600, port=123):
        self.host = ntp_host
        self.port = port
        self.timeout_ms = timeout_ms
        self.resync_s = resync_s
        self.s = 0
        self.ms = 0
        self._last = ticks_ms()
        self._sync = None  # (epoch s, ms, uptime ms) at the last sync
        self.next_try_s = 0
        self.fails = 0
        self._addr = None  # resolved once: DNS blocks, so it is not asked on every query
        self.asking = None  # the UDP socket of a query in flight
        self._q = bytearray(48)
        self._asked = 0  # ticks_ms when the query went out
        self._asked_up = 0

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
        es, ems, up0 = self._sync
        delta = up_ms - up0 + ems
        return es + delta // 1000, delta % 1000

    def now(self):
        return self.at(self.uptime_ms())

    def due(self):
        return self.asking is None and self.s >= self.next_try_s

    def ask(self):
        """Send one NTP query (unless one is out); poll() reads the answer. False: not sent."""
        if self.asking is not None:
            return True
        s = None
        try:
            if self._addr is None:
                self._addr = socket.getaddrinfo(self.host, self.port)[0][-1]
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            q = self._q
            q[0] = 0x23  # version 4, mode 3 (client)
            for i in range(40, 48):  # a nonce as our transmit time: the answer must echo it
                q[i] = getrandbits(8)
            s.sendto(q, self._addr)
        except (OSError, IndexError) as e:
            if s is not None:
                s.close()
            self._failed(e)
            return False
        self.asking = s
        self._asked = ticks_ms()
        self._asked_up = self.uptime_ms()
        return True

    def poll(self, now):
        """True or False when a query ended in this pass (synced or failed), else None."""
        s = self.asking
        if s is None:
            return None
        try:
            m = s.recv(48)
        except OSError:
            m = None  # nothing yet (EAGAIN), or an ICMP error: both wait for the timeout
        # a stray or forged packet (no echo of our nonce) is ignored like silence
        ok = m and len(m) >= 48 and m[24:32] == self._q[40:48] and m[0] & 7 == 4 and m[1]
        late = ticks_diff(now, self._asked) > self.timeout_ms
        if not (ok or late):
            return None
        s.close()
        self.asking = None
        if not ok:
            self._failed("no answer in %d ms" % self.timeout_ms)
            return False
        secs = (m[40] << 24 | m[41] << 16 | m[42] << 8 | m[43]) - _NTP_UNIX + _EPOCH
        up = self.uptime_ms()
        if self._sync is None or self.fails:
            print("clock: synced")
        # the server read its clock about half way through the round trip
        self._sync = (secs, ((m[44] << 8 | m[45]) * 1000) >> 16,
                      self._asked_up + (up - self._asked_up) // 2)
        self.fails = 0
        self.next_try_s = self.s + self.resync_s
        return True

    def _failed(self, why):
        self.fails += 1
        if self.fails % 3 == 0:
            self._addr = None  # look the name up again now and then (it may have moved)
        self.next_try_s = self.s + min(self.resync_s, 5 << min(self.fails, 10))
        print("clock: NTP failed (%s)" % why)
