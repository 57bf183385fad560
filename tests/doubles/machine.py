"""Double of MicroPython's `machine` for the unix VM (Pin with IRQ, PWM, WDT, reset_cause,
unique_id), with the control channel to pytest: it connects to 127.0.0.1:$ANBU_CTL when set.
In: `pin N V`, `wifi V`, `rssi V`. Out: `duty N V` on every PWM change, `wdt MS` on
each new longest gap between watchdog feeds. Kept small: under `-X heapsize=64K` every byte
of a double is a byte the firmware does not get, while on an ESP32 these are C modules.
"""

import os
import socket
import sys
import time

import micropython

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
pins = {}  # pin id -> level set by the test
# Wi-Fi starts as $ANBU_WIFI says (default up), then follows the test.
state = {"wifi": int(os.getenv("ANBU_WIFI") or 1), "rssi": -61}
_irqs = {}  # pin id -> Pin with a handler
_ch = [None, b""]  # socket, partial line


def send(line):
    s = _ch[0]
    if s is not None:
        data = (line + "\n").encode()
        while data:
            n = s.write(data)
            data = data[n:] if n else data


def pump():
    """Apply what the test sent; every double calls it, as hardware changes at any time."""
    s = _ch[0]
    if s is None:
        return
    while True:
        chunk = s.read(128)
        if chunk == b"":
            raise SystemExit("machine double: the test closed the control channel")
        if not chunk:
            return
        _ch[1] += chunk
        while b"\n" in _ch[1]:
            line, _, _ch[1] = _ch[1].partition(b"\n")
            k, v = line.split(b" ", 1)
            k = k.decode()
            if k == "pin":
                n, v = v.split(b" ")
                n, v = int(n), int(v)
                old, pins[n] = pins.get(n), v
                pin = _irqs.get(n)
                if pin is not None and old != v and pin._trig & (1 if v else 2):
                    micropython.schedule(pin._handler, pin)  # a soft IRQ, as on ESP32
            else:
                state[k] = int(v)


def reset_cause():
    return int(os.getenv("ANBU_RESET_CAUSE") or PWRON_RESET)


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


def reset():
    sys.exit(76)


class Pin:
    IN, OUT, PULL_UP, PULL_DOWN, IRQ_RISING, IRQ_FALLING = 1, 3, 1, 2, 1, 2

    def __init__(self, id, mode=-1, pull=-1, value=0):
        self.id, self.mode, self._out = id, mode, value
        if mode == 1 and id not in pins:
            pins[id] = 1 if pull == 1 else 0

    def value(self, v=None):
        pump()
        if v is None:
            return pins.get(self.id, 0) if self.mode == 1 else self._out
        self._out = 1 if v else 0

    __call__ = value

    def irq(self, handler=None, trigger=3, hard=False):
        self._handler, self._trig = handler, trigger
        _irqs[self.id] = self


class PWM:
    def __init__(self, pin, freq=5000, duty_u16=0):
        self.pin, self._duty = pin, -1
        self.duty_u16(duty_u16)

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        if not 0 <= d <= 65535:
            raise ValueError("duty must be 0..65535")
        if d != self._duty:
            self._duty = d
            send("duty %d %d" % (self.pin.id, d))


class WDT:
    """A feed later than the timeout ends the VM with exit code 75, as the chip would reset."""

    def __init__(self, id=0, timeout=5000):
        self.timeout, self.last, self.worst = timeout, time.ticks_ms(), 0

    def feed(self):
        pump()
        now = time.ticks_ms()
        gap, self.last = time.ticks_diff(now, self.last), now
        if gap > self.worst:
            self.worst = gap
            send("wdt %d" % gap)
        if gap > self.timeout:
            print("machine.WDT: not fed for %d ms (timeout %d): reset" % (gap, self.timeout))
            sys.exit(75)


if os.getenv("ANBU_CTL"):  # the control channel, opened at import (no function: heap is dear)
    _ch[0] = socket.socket()
    _ch[0].connect(socket.getaddrinfo("127.0.0.1", int(os.getenv("ANBU_CTL")))[0][-1])
    _ch[0].setblocking(False)
    send("hello")
