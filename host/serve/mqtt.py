"""The host's MQTT session (paho-mqtt 2): QoS 1, a persistent session, and acks only on request.

MQTT 3.1.1 with clean_session=False and a fixed client id (docs/protocol.md section 1), so the
broker keeps the host's messages while it is away. manual_ack=True: paho does not acknowledge a
message when the callback returns; the service acks it after the batch holding it is committed.
A message not acked when the connection (or the process) dies is delivered again.

paho's network loop runs in the service's own thread (`poll`), not in a thread of its own: a
second thread would only queue messages, and handing each one over (a queue, a wake-up byte per
ack, the interpreter lock passed back and forth) cost more than reading them. Each message
carries the number of the connection it came on: after a reconnect the broker may reuse packet
ids, so an ack for a message of an older connection is not sent (the broker delivers that
message again, and the store knows it). Packets to the broker are queued and written together
(paho's hooks for an outside event loop), a batch's acks in one TCP segment where the system
allows it (TCP_CORK).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

from host import protocol as p
from host.serve.config import MqttConfig
from host.serve.ingest import Inbound

log = logging.getLogger("anbu.mqtt")
READ_CHUNK = 65536
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.2, 10.0
_CORK = getattr(socket, "TCP_CORK", None)  # Linux: a batch's acks leave in one segment


class _Client(mqtt.Client):
    """paho reads each packet with three recv calls (type, length, body) after a select; this
    reads what the socket holds in one call and hands it out in the sizes paho asks for.

    _sock_recv is private: it is paho 2.2's only read from the socket; check a new version."""

    _buf: bytes = b""
    _pos = 0
    _buf_sock: object = None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._buf_sock is not self._sock:  # a new connection: nothing of the old one is kept
            self._buf, self._pos, self._buf_sock = b"", 0, self._sock
        if self._pos >= len(self._buf):
            data = super()._sock_recv(READ_CHUNK)
            if len(data) <= bufsize:
                return data
            self._buf, self._pos = data, 0
        start = self._pos
        self._pos = start + bufsize
        return self._buf[start:self._pos]

    def buffered(self) -> bool:
        """Bytes read from the socket that paho has not taken yet."""
        return self._buf_sock is self._sock and self._pos < len(self._buf)


class Link:
    def __init__(self, cfg: MqttConfig, on_ready: Callable[[bool], None] | None = None) -> None:
        self.cfg = cfg
        self.on_ready = on_ready  # True once subscribed, False when the connection drops
        self.generation = 0
        self.ready = threading.Event()
        self.stopping = False
        self.session_present = False
        self.received: list[Inbound] = []  # read from the socket, not yet taken by the service
        self._retry_at = 0.0
        self._retry_s = RECONNECT_MIN_S
        self._started = False
        # Another thread (the dashboard's) wakes the loop early to act at once on a person's
        # request rather than at the end of the loop's wait. Made by start, closed by stop.
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        client = self.client = _Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.max_queued_messages_set(0)  # commands published while away wait, unbounded
        password = cfg.password()
        if cfg.username or password is not None:
            client.username_pw_set(cfg.username or None, password)
        if cfg.ca:
            client.tls_set(ca_certs=cfg.ca, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # paho's hook for an outside event loop: packets are queued, not each written at once;
        # poll, ack and publish write them (a batch's acks in one go).
        client.on_socket_register_write = _nothing

    def start(self) -> None:
        """Connect on the first poll (and again, backing off, whenever the connection drops)."""
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._started = True

    def stop(self) -> None:
        """Disconnect in order (the session stays at the broker)."""
        self.stopping = True
        if self.client.socket() is not None:
            self.client.disconnect()  # written at once; paho closes the socket after it
            self.client.loop_write()
        self.ready.clear()
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()

    def wakeup(self) -> None:
        """Make a poll waiting in this moment return now (safe from any thread)."""
        # OSError: full (a wakeup is pending anyway) or closed (stopping)
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: not started
            self._wake_w.send(b"!")  # type: ignore[union-attr]

    def _woken(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(64):  # type: ignore[union-attr]
                pass

    def _nap(self, seconds: float) -> None:
        """Sleep, unless woken."""
        if self._wake_r is None:
            time.sleep(seconds)
            return
        try:
            readable, _, _ = select.select([self._wake_r], [], [], seconds)
        except (OSError, ValueError):
            return
        if readable:
            self._woken()

    # the service's thread

    def poll(self, timeout: float, limit: int) -> list[Inbound]:
        """Messages the broker sent, at most `limit`, waiting up to `timeout` for the first;
        also keeps the connection alive, writes what is queued and reconnects when it dropped."""
        client = self.client
        sock = client.socket()
        if sock is None:
            if self._started and not self.stopping:
                self._reconnect(timeout)
            elif timeout > 0:
                self._nap(timeout)
            return self.take(limit)
        if not self.received and not client.buffered() and not _pending(sock):
            wlist = [sock] if client.want_write() else []
            try:
                wake = [self._wake_r] if self._wake_r is not None else []
                readable, writable, _ = select.select([sock, *wake], wlist, [], timeout)
            except (OSError, ValueError):
                readable, writable = [sock], []  # paho's read finds out what is wrong
            if writable:
                client.loop_write()
            if wake and wake[0] in readable:
                self._woken()
            if sock not in readable:
                client.loop_misc()
                return self.take(limit)
        while len(self.received) < limit and client.socket() is sock:
            if client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                break
            if not client.buffered() and not _pending(sock) and not _readable(sock):
                break
        if client.socket() is not None:
            if client.want_write():
                client.loop_write()
            client.loop_misc()
        return self.take(limit)

    def take(self, limit: int) -> list[Inbound]:
        """Messages already read, without touching the socket."""
        got = self.received
        if len(got) <= limit:
            self.received = []
            return got
        self.received = got[limit:]
        return got[:limit]

    def _reconnect(self, timeout: float) -> None:
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            self._nap(min(wait, timeout))
            return
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RECONNECT_MAX_S)  # until a CONNACK resets it
        try:
            self.client.reconnect()
        except (OSError, ValueError) as e:
            log.debug("could not connect to the broker: %s", e)

    def ack(self, messages: Iterable[Inbound]) -> int:
        """PUBACK each stored message of the current connection; returns how many."""
        generation, sent, client = self.generation, 0, self.client
        sock = client.socket()
        cork = _CORK is not None and sock is not None and not isinstance(sock, ssl.SSLSocket)
        if cork:
            sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1)
        try:
            for m in messages:
                if m.qos and m.generation == generation:
                    client.ack(m.mid, m.qos)
                    sent += 1
            client.loop_write()
        finally:
            if cork and client.socket() is sock:
                sock.setsockopt(socket.IPPROTO_TCP, _CORK, 0)
        return sent

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, not retained; paho keeps it until the broker has it, across reconnects."""
        info = self.client.publish(topic, payload, qos=1)
        self.client.loop_write()
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("could not queue a command to %s: %s", topic, mqtt.error_string(info.rc),
                      extra={"fields": {"event": "publish_failed", "topic": topic}})

    # paho's callbacks (in poll, so in the service's thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code,
                      extra={"fields": {"event": "mqtt_refused", "reason": str(reason_code)}})
            return
        self.generation += 1
        self._retry_s = RECONNECT_MIN_S
        self.session_present = bool(flags.session_present)
        log.info("connected to %s:%d (session %s)", self.cfg.host, self.cfg.port,
                 "resumed" if self.session_present else "new",
                 extra={"fields": {"event": "mqtt_connected",
                                   "session_present": self.session_present}})
        # Subscribing again is harmless with a resumed session, and needed with a new one.
        client.subscribe(p.HOST_SUBSCRIPTIONS)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("broker refused a subscription: %s", [str(rc) for rc in reason_codes],
                      extra={"fields": {"event": "mqtt_subscribe_refused"}})
            return
        self.ready.set()
        if self.on_ready is not None:
            self.on_ready(True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.ready.is_set()
        self.ready.clear()
        if was:
            log.log(logging.INFO if self.stopping else logging.WARNING,
                    "disconnected from the broker: %s", reason_code,
                    extra={"fields": {"event": "mqtt_disconnected", "reason": str(reason_code)}})
        self._retry_at = time.monotonic() + self._retry_s
        if self.on_ready is not None:
            self.on_ready(False)

    def _on_message(self, client, userdata, msg) -> None:
        self.received.append(Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos,
                                     bool(msg.retain), time.time(), self.generation))


def _pending(sock) -> bool:
    """TLS: bytes decrypted and waiting, which select does not see."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _readable(sock) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _nothing(*args) -> None:
    """poll asks paho whether it has something to write (want_write) instead."""
