"""Wi-Fi and MQTT (umqtt.simple) with the care the library leaves to its user.

- every socket operation is bounded (netio) and keeps the switch served while it waits;
- pings on its own schedule and drops a link whose broker stopped answering;
- events are sent one at a time, QoS 1, from the flash queue, and only leave it on PUBACK:
  a lost PUBACK means the same (b, s) is sent again after the reconnect (never a new id);
- reconnects with exponential backoff and jitter, resubscribes, re-announces online;
- a retained last will says offline when the bulb vanishes.
"""

import sys
from random import getrandbits
from time import ticks_add, ticks_diff, ticks_ms

import messages
import netio
import network
import umqtt.simple as mqtt

MAX_INBOX = 8  # commands waiting for the main loop; more are refused until it catches up
MAX_PER_TICK = 8  # events sent per loop pass, so the loop stays brisk after an outage


class Link:
    def __init__(self, cfg, device, boot, service, journal, render, hb_payload, online):
        self.cfg = cfg
        self.device = device
        self.boot = boot
        self.journal = journal
        self.render = render  # (boot, seq, stored payload) -> (payload to send, drops in q)
        self.hb_payload = hb_payload
        self.online_payload = online
        self.t_evt = messages.topic(device, "evt")
        self.t_hb = messages.topic(device, "hb")
        self.t_status = messages.topic(device, "status")
        self.t_cmd = messages.topic(device, "cmd")
        self.t_ack = messages.topic(device, "ack")
        self.timeout_ms = cfg["net.timeout_ms"]
        self.keepalive = cfg["broker.keepalive"]
        self.hb_ms = cfg["hb"] * 1000
        self.sockets = netio.Sockets(self.timeout_ms, service)
        mqtt.socket = self.sockets  # see netio: bounded, switch-serving sockets
        self.tls = None
        if cfg["broker.tls"]:
            self.tls = netio.Tls(cfg["broker.host"], cfg["broker.ca"], self.timeout_ms)
        # One client for the life of the link: each connect() opens a fresh socket, and not
        # building a client per attempt spares the heap churn of a long outage.
        c = mqtt.MQTTClient(device, cfg["broker.host"], cfg["broker.port"], cfg["broker.user"],
                            cfg["broker.password"], self.keepalive, self.tls or False)
        if self.tls is not None and hasattr(c, "ssl_params"):
            sys.modules["ussl"] = self.tls  # 1.3.x imports ussl inside connect()
        c.set_callback(self._on_msg)
        c.set_last_will(self.t_status, messages.offline(device, boot), True, 1)
        self.mqtt = c
        self.wlan = network.WLAN(network.STA_IF)
        self.wlan.active(True)
        self._wifi_try = None
        self.client = None
        self.conn = None
        self.attempts = 0
        self.retry_at = ticks_ms()
        self.ping_at = None
        self.ping_rx = 0
        self.hb_at = None
        self.inbox = []
        self.outbox = []  # acks waiting for the link (RAM only: the host retries a lost one)
        self.refused_cmds = 0
        self.connects = 0
        self.sent = 0
        self.last_error = None

    # ---- Wi-Fi ----
    def _wifi(self, now):
        if self.wlan.isconnected():
            return True
        if self._wifi_try is None or ticks_diff(now, self._wifi_try) > 15000:
            self._wifi_try = now
            try:
                self.wlan.connect(self.cfg["wifi.ssid"], self.cfg["wifi.password"])
            except OSError as e:
                print("link: wifi connect: %s" % e)
        return False

    @property
    def up(self):
        return self.client is not None

    def tick(self, now, events=True):
        """One bounded step: connect when due, else serve the session (and send events)."""
        if not self._wifi(now):
            if self.client is not None:
                self._drop("wifi lost")
            return
        if self.client is None:
            if ticks_diff(now, self.retry_at) >= 0:
                self._connect()
            return
        try:
            self._serve(now, events)
        except Exception as e:  # any failure of the session means: reconnect
            self._drop(e)

    # ---- session ----
    def _connect(self):
        cfg = self.cfg
        c = self.mqtt
        self.client = c
        try:
            c.connect(False)  # persistent session: commands sent while away still arrive
            self.conn = self.sockets.last
            c.subscribe(self.t_cmd, 1)
            c.publish(self.t_status, self.online_payload(), True, 1)
        except Exception as e:
            if self.attempts % 4 == 3:
                self.sockets.forget()  # look the name up again, but not on every try: DNS blocks
            self._drop(e)
            return
        self.connects += 1
        self.attempts = 0
        self.ping_at = None
        self.hb_at = ticks_ms()  # first heartbeat right away
        print("link: connected to %s:%d" % (cfg["broker.host"], cfg["broker.port"]))

    def _drop(self, why):
        was_up = self.client is not None
        if was_up:
            self.last_error = str(why)
            try:
                if self.sockets.last is not None:
                    self.sockets.last.close()
            except Exception:
                pass
        self.client = None
        self.conn = None
        self.sockets.last = None
        lo, hi = self.cfg["net.backoff_min_ms"], self.cfg["net.backoff_max_ms"]
        span = min(hi, lo << min(self.attempts, 20))
        self.attempts += 1
        # "equal jitter": half fixed, half random, so a street of bulbs does not stampede
        wait = span // 2 + (getrandbits(16) * (span - span // 2) >> 16)
        self.retry_at = ticks_add(ticks_ms(), wait)
        if was_up:
            print("link: down (%r), retry in %d ms" % (why, wait))

    def _on_msg(self, topic, msg):
        # Runs inside umqtt's read paths: only queue, never publish from here.
        if len(self.inbox) < MAX_INBOX:
            self.inbox.append(msg)
        else:
            self.refused_cmds += 1

    def _serve(self, now, events):
        c, conn = self.client, self.conn
        for _ in range(4):  # incoming: commands, PINGRESP
            before = conn.rx
            op = c.check_msg()
            if conn.rx == before:
                break
            if op is not None and op & 0xF0 != 0x30:
                raise OSError("unexpected packet 0x%02x" % op)
        while self.outbox:
            c.publish(self.t_ack, self.outbox[0], False, 1)
            self.outbox.pop(0)
        for _ in range(MAX_PER_TICK if events else 0):
            head = self.journal.head()
            if head is None:
                break
            payload, drops = self.render(head[0], head[1], head[2])
            c.publish(self.t_evt, payload, False, 1)  # returns on PUBACK, else raises
            self.journal.ack(head[0], head[1], drops)
            self.sent += 1
        now = ticks_ms()
        if ticks_diff(now, self.hb_at) >= 0:
            c.publish(self.t_hb, self.hb_payload(), False, 0)
            self.hb_at = ticks_add(now, self.hb_ms)
        half = self.keepalive * 500
        if self.ping_at is None:
            if ticks_diff(now, conn.tx_ms) >= half or ticks_diff(now, conn.rx_ms) >= half:
                c.ping()
                self.ping_at = now
                self.ping_rx = conn.rx
        elif conn.rx != self.ping_rx:
            self.ping_at = None  # the broker answered (PINGRESP or anything else)
        elif ticks_diff(now, self.ping_at) > self.timeout_ms:
            raise OSError("no PINGRESP within %d ms" % self.timeout_ms)

    def ack(self, payload):
        if len(self.outbox) < MAX_INBOX:
            self.outbox.append(payload)

    def goodbye(self):
        """Orderly stop: say offline ourselves (the will only fires on a broken link)."""
        if self.client is None:
            return
        try:
            self.client.publish(self.t_status, messages.offline(self.device, self.boot), True, 1)
            self.client.disconnect()
        except Exception:
            pass
        self.client = None
