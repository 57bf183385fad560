"""The host's MQTT session (paho-mqtt 2): QoS 1, a persistent session, and acks only on request.

MQTT 3.1.1 with clean_session=False and a fixed client id (docs/protocol.md section 1), so the
broker keeps the host's messages while it is away. manual_ack=True: paho does not acknowledge a
message when the callback returns; the service acks it after the batch holding it is committed.
A message not acked when the connection (or the process) dies is delivered again.

The network thread only queues what arrives. Each message carries the number of the connection
it came on: after a reconnect the broker may reuse packet ids, so an ack for a message of an
older connection is not sent (the broker delivers that message again, and the store knows it).
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

from host import protocol as p
from host.serve.config import MqttConfig
from host.serve.ingest import Inbound

log = logging.getLogger("anbu.mqtt")


class Link:
    def __init__(self, cfg: MqttConfig, inbox: queue.SimpleQueue,
                 on_ready: Callable[[bool], None] | None = None) -> None:
        self.cfg = cfg
        self.inbox = inbox
        self.on_ready = on_ready  # True once subscribed, False when the connection drops
        self.generation = 0
        self.ready = threading.Event()
        self.stopping = False
        self.session_present = False
        client = self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.max_queued_messages_set(0)  # commands published while away wait, unbounded
        client.reconnect_delay_set(0.2, 10)
        password = cfg.password()
        if cfg.username or password is not None:
            client.username_pw_set(cfg.username or None, password)
        if cfg.ca:
            client.tls_set(ca_certs=cfg.ca, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect in order (the session stays at the broker) and stop the network thread."""
        self.stopping = True
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        self.ready.clear()

    # paho's network thread

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code,
                      extra={"fields": {"event": "mqtt_refused", "reason": str(reason_code)}})
            return
        self.generation += 1
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
        if self.on_ready is not None:
            self.on_ready(False)

    def _on_message(self, client, userdata, msg) -> None:
        self.inbox.put(Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos,
                               bool(msg.retain), time.time(), self.generation))

    # the service's thread

    def ack(self, messages: Iterable[Inbound]) -> int:
        """PUBACK each stored message of the current connection; returns how many."""
        generation, sent = self.generation, 0
        for m in messages:
            if m.qos and m.generation == generation:
                self.client.ack(m.mid, m.qos)
                sent += 1
        return sent

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, not retained; paho keeps it until the broker has it, across reconnects."""
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("could not queue a command to %s: %s", topic, mqtt.error_string(info.rc),
                      extra={"fields": {"event": "publish_failed", "topic": topic}})
