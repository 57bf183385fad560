"""The bulb: wires switch, lamp, queue, clock and link, and runs the main loop.

The switch is served first in every pass and from inside every network wait (netio), and
the lamp is set before anything is written or sent: the light never waits for the network.
"""

import gc
import json
import os
import time
from time import ticks_add, ticks_diff, ticks_ms

import machine
import messages
import telemetry
from clock import Clock
from journal import Journal
from knock import Knock
from lamp import Lamp
from switch import Switch

BOOT_FILE = "boot.num"
SEEN_IDS = 8  # command ids remembered: QoS 1 may deliver a command twice


def next_boot(journal, path=BOOT_FILE):
    """Bump and store the boot number (write .tmp, then rename: a cut leaves the old one)."""
    last = -1
    try:
        with open(path) as f:
            last = int(f.read())
    except (OSError, ValueError):
        pass
    boot = max(last, journal.last_b) + 1
    with open(path + ".tmp", "w") as f:
        f.write("%d" % boot)
    os.rename(path + ".tmp", path)
    return boot


class Bulb:
    def __init__(self, cfg):
        self.cfg = cfg
        self.fw = cfg["fw"]
        self.device = cfg["device"]
        self.wdt = machine.WDT(timeout=cfg["wdt_ms"])
        lamp_pin = machine.Pin(cfg["pins.lamp"], machine.Pin.OUT)
        self.lamp = Lamp(machine.PWM(lamp_pin, freq=cfg["lamp.freq"], duty_u16=0),
                         cfg["lamp.gamma"], cfg["lamp.fade_ms"], cfg["lamp.on_level"])
        self.mains = cfg["power_mode"] == "mains"
        self.switch = None
        if not self.mains:
            low = cfg["pins.switch_active_low"]
            pull = machine.Pin.PULL_UP if low else machine.Pin.PULL_DOWN
            pin = machine.Pin(cfg["pins.switch"], machine.Pin.IN, pull)
            self.switch = Switch(pin, cfg["switch.debounce_ms"], low)
        now = ticks_ms()
        self.lamp.set(True if self.mains else self.switch.state, now)
        self.clock = Clock(cfg["ntp.host"], cfg["ntp.timeout_ms"], cfg["ntp.resync_s"],
                           cfg["ntp.port"])
        self.journal = Journal(cfg["queue.path"], cfg["queue.max"])
        self.boot = next_boot(self.journal)
        self.seq = 0
        self.rc = telemetry.reset_cause()
        self.knock = Knock(cfg["knock.answer_grace_s"])
        self.heap = telemetry.Heap()
        self.seen = []
        self.syncing = []  # ids of `sync` commands waiting for the NTP answer to be acked
        self.bad_cmds = 0
        self.loop_ms = cfg["loop_ms"]
        self._gc_at = now
        self.link = None
        self._event("boot")
        if cfg["online"]:
            from link import Link

            try:
                self.link = Link(cfg, self.device, self.boot, self.service, self.journal,
                                 self.render, self.heartbeat, self.online)
            except (OSError, ValueError, ImportError, AttributeError) as e:
                # e.g. broker.ca missing or unreadable: a lamp that queues beats a boot loop
                print("link: cannot start (%r): running as a plain lamp" % (e,))
        print("bulb: %s boot %d (%s, %s), %d queued" % (
            self.device, self.boot, cfg["power_mode"], self.rc, len(self.journal)))

    # ---- events ----
    def _event(self, kind, answer=None):
        up = self.clock.uptime_ms()
        try:
            payload = messages.event(self.device, self.boot, self.seq, kind, up,
                                     self.clock.at(up), answer)
        except MemoryError:  # a fragmented heap: collect once and try again
            gc.collect()
            payload = messages.event(self.device, self.boot, self.seq, kind, up,
                                     self.clock.at(up), answer)
        self.journal.append(self.boot, self.seq, payload)
        self.seq += 1

    def render(self, b, s, payload):
        """The payload as sent now: UTC filled in once known (this boot), drops in `q`."""
        if b == self.boot and self.clock.synced and '"sy":0' in payload:
            d = json.loads(payload)
            payload = messages.event(self.device, b, s, d["k"], d["up"],
                                     self.clock.at(d["up"]), d.get("a"))
        n = self.journal.unreported
        return messages.with_drops(payload, n), n

    def heartbeat(self):
        return telemetry.heartbeat(self)

    def online(self):
        return messages.online(self.device, self.boot, self.cfg["power_mode"], self.fw,
                               self.cfg["hb"], self.clock.now())

    # ---- the switch path: must stay fast ----
    def service(self):
        now = ticks_ms()
        self.clock.tick(now)
        self.wdt.feed()
        if self.switch is not None:
            on = self.switch.poll(now)
            if on is not None:
                self._switched(on, now)
        self.lamp.tick(now)

    def _switched(self, on, now):
        answer = self.knock.answer(self.clock.s)
        self.lamp.stop_knock(now)
        self.lamp.set(on, now)  # light first, bookkeeping after
        self._event("on" if on else "off", answer)

    # ---- commands ----
    def _commands(self):
        inbox = self.link.inbox
        while inbox:
            msg, err = messages.command(inbox.pop(0))
            cid = msg["id"] if err is None else msg
            if cid is None:
                self.bad_cmds += 1
                print("bulb: command dropped (%s)" % err)
                continue
            done = self._acked(cid)
            if done is not None:  # a QoS 1 redelivery: same answer, not run again
                self.link.ack(done)
                continue
            if cid in self.syncing:
                continue  # a redelivery while its NTP query is out: acked when it ends
            if err is None:
                if msg["c"] == "sync":
                    if self.clock.ask() and len(self.syncing) < SEEN_IDS:
                        self.syncing.append(cid)
                        continue
                    err = "ntp failed"
                else:
                    err = self._run(msg)
            else:
                self.bad_cmds += 1
            self._reply(cid, err)

    def _reply(self, cid, err):
        reply = messages.ack(self.device, cid, self.clock.now(), err)
        self.seen.append((cid, reply))
        if len(self.seen) > SEEN_IDS:
            self.seen.pop(0)
        self.link.ack(reply)

    def _acked(self, cid):
        for done, reply in self.seen:
            if done == cid:
                return reply
        return None

    def _run(self, msg):
        """Carry out one valid command; an error text when it failed."""
        c = msg["c"]
        now = ticks_ms()
        if c == "knock":
            self.knock.start(msg["id"], msg["dur"], self.clock.s)
            self.lamp.knock(now)
        elif c == "knock_stop":
            self.knock.stop()
            self.lamp.stop_knock(now)
        return None

    # ---- loop ----
    def step(self):
        self.service()
        if self.knock.expired(self.clock.s):
            self.lamp.stop_knock(ticks_ms())
        link = self.link
        if link is not None:
            clock = self.clock
            done = clock.poll(ticks_ms())
            if done is not None and self.syncing:
                for cid in self.syncing:
                    self._reply(cid, None if done else "ntp failed")
                self.syncing = []
            if clock.due() and link.wlan.isconnected():
                clock.ask()
            # While the first NTP answer of this boot is on its way, events wait for it:
            # they leave a few ms later with their UTC time instead of sy:0.
            link.tick(ticks_ms(), clock.asking is None or clock.synced)
            if link.inbox:
                self._commands()
        now = ticks_ms()
        if ticks_diff(now, self._gc_at) >= 0:
            self.heap.collect()
            self._gc_at = ticks_add(now, 1000)

    def run(self):
        try:
            while True:
                self.step()
                time.sleep_ms(self.loop_ms)
        finally:
            if self.link is not None:
                self.link.goodbye()
            self.journal.close()


def main(cfg):
    try:
        Bulb(cfg).run()
    except KeyboardInterrupt:
        print("bulb: stopped")
    except Exception as e:
        # Everything worth keeping is on flash: start clean rather than limp on.
        import sys

        sys.print_exception(e)
        time.sleep_ms(1000)
        machine.reset()
