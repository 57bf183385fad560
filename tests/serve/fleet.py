"""The live host's test parts: bulbs played by paho clients (protocol v1, boot and seq, QoS 1,
persistent sessions, like the firmware), and `anbu serve` run in a thread of the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt

from host import protocol as p
from host.serve.config import ServeConfig, parse
from host.serve.service import Service
from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.firmware.rig import wait_until
from tools.broker_config import hash_password, write_broker_config

HOST_USER = "anbu-host-test"
HOST_PASSWORD = "host-password-for-tests"  # a throw-away broker's; never a real one
PASSWORD_ENV = "ANBU_TEST_MQTT_PASSWORD"


def config(tmp_path: Path, port: int, **tables: dict) -> ServeConfig:
    """A host.toml for a test: its own database, broker port, any free web port, short waits."""
    data: dict = {
        "store": {"path": str(tmp_path / "anbu.db")},
        "mqtt": {"port": port, "client_name": "test"},
        "web": {"port": 0},
        "ingest": {"settle_ms": 100.0, "batch_wait_ms": 1.0},
    }
    for name, table in tables.items():
        data[name] = {**data.get(name, {}), **table}
    return parse(data)


def register(path: Path, households: dict[str, list[tuple[str, str]]]) -> None:
    """Households with their bulbs: {"h1": [("bulb-0001", "switched")]}."""
    with SqliteStore(path) as store:
        for household, bulbs in households.items():
            store.add_household(household, f"resident of {household}", created_at=0.0)
            for device, mode in bulbs:
                store.add_device(device, household, mode, created_at=0.0)


class Host:
    """Service.run in a thread; stopped (and its store closed) on exit."""

    def __init__(self, cfg: ServeConfig, **kw) -> None:
        self.service = Service(cfg, **kw)
        self.thread = threading.Thread(target=self.service.run, name="anbu-serve", daemon=True)

    def __enter__(self) -> Service:
        self.thread.start()
        wait_until(lambda: self.service.started.is_set() or not self.thread.is_alive(), 20,
                   "the host to start")
        assert self.thread.is_alive(), "the host died while starting"
        wait_until(self.service.link.ready.is_set, 20, "the host to subscribe")
        return self.service

    def __exit__(self, *exc) -> None:
        self.service.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the host did not stop"


class FakeBulb:
    """A bulb played by a paho client: what the firmware sends, without the VM."""

    def __init__(self, port: int, device: str, boot: int = 1, mode: str = "switched",
                 hb: int = 300, auto_ack: bool = True, password: str | None = None) -> None:
        self.device, self.boot, self.seq, self.mode, self.hb = device, boot, 0, mode, hb
        self.auto_ack = auto_ack
        self.commands: list[p.CommandMsg] = []
        self.lock = threading.Lock()
        self.qos1_sent = 0  # QoS 1 publishes handed to paho ...
        self.qos1_acked = 0  # ... and PUBACKed by the broker (paho resends across reconnects)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.will_set(p.topic_for(device, p.STATUS), self._offline(), qos=1, retain=True)
        if password is not None:
            self.client.username_pw_set(device, password)
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.05, 0.5)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(p.topic_for(device, p.CMD), qos=1)
        if not subscribed.wait(10):
            raise AssertionError(f"{device} could not subscribe")

    def _offline(self) -> str:
        return json.dumps({"v": 1, "d": self.device, "b": self.boot, "st": "offline"})

    def _publish(self, channel: str, body: dict, retain: bool = False,
                 wait: bool = True) -> mqtt.MQTTMessageInfo:
        payload = json.dumps({"v": 1, "d": self.device, **body}, separators=(",", ":"))
        # Counted before, published after the lock: paho calls _on_publish from its network
        # thread holding its own lock, so holding ours across publish() can deadlock.
        with self.lock:
            self.qos1_sent += p.QOS[channel]
        info = self.client.publish(p.topic_for(self.device, channel), payload,
                                   qos=p.QOS[channel], retain=retain)
        if wait:
            info.wait_for_publish(10)
        return info

    def online(self, t: float | None = None) -> None:
        body = {"b": self.boot, "st": "online", "pm": self.mode, "hb": self.hb, "fw": "test"}
        self._publish(p.STATUS, {**body, **_time(t)}, retain=True)

    def offline(self) -> None:
        self._publish(p.STATUS, {"b": self.boot, "st": "offline"}, retain=True)

    def event(self, kind: str, t: float | None = None, answer: str | None = None,
              wait: bool = True) -> mqtt.MQTTMessageInfo:
        """Publish one evt (the next seq); wait: until the broker has it (PUBACK)."""
        seq = self.seq
        self.seq += 1
        body = {"b": self.boot, "s": seq, "k": kind, **_time(t), "up": 1000 + seq}
        if answer is not None:
            body["a"] = answer
        return self._publish(p.EVT, body, wait=wait)

    def heartbeat(self, t: float | None = None) -> None:
        self._publish(p.HB, {"b": self.boot, **_time(t), "up": 5000})

    def ack(self, cmd_id: str, ok: bool = True, err: str | None = None) -> None:
        body: dict = {"id": cmd_id, "ok": 1 if ok else 0}
        if err:
            body["err"] = err
        self._publish(p.ACK, body)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self.lock:
            self.qos1_acked += 1

    def all_acked(self) -> bool:
        with self.lock:
            return self.qos1_acked >= self.qos1_sent

    def _on_message(self, client, userdata, msg) -> None:
        cmd = p.decode(msg.topic, bytes(msg.payload))
        with self.lock:
            self.commands.append(cmd)
        if self.auto_ack:
            threading.Thread(target=self.ack, args=(cmd.id,), daemon=True).start()

    def received(self, c: str | None = None) -> list[p.CommandMsg]:
        with self.lock:
            return [cmd for cmd in self.commands if c is None or cmd.c == c]

    def wait_command(self, c: str, timeout: float = 10.0) -> p.CommandMsg:
        return wait_until(lambda: (self.received(c) or [None])[-1], timeout, f"a {c} command")

    def close(self) -> None:
        self.client.disconnect()  # first, so the network thread sends it and ends promptly
        self.client.loop_stop()


def _time(t: float | None) -> dict:
    """A synced clock by default, to the millisecond, as the firmware sends it."""
    t = time.time() if t is None else t
    return {"t": round(t, 3), "sy": 1}


def secure_broker(workdir: Path, devices: dict[str, str]) -> rig.Broker:
    """Mosquitto with the fleet's conf from `anbu broker config`: a password per bulb, ACLs,
    persistence and fleet-sized queues. `devices`: device id -> its password."""
    broker = rig.Broker(workdir)  # a free port and the start/stop of the firmware tests
    files = write_broker_config(
        workdir / "conf", [(d, hash_password(pw)) for d, pw in devices.items()], HOST_USER,
        HOST_PASSWORD, port=broker.port, bind="127.0.0.1", data_dir=workdir / "data",
        log_dest=f"file {workdir}/mosquitto.log", run_as="root" if os.geteuid() == 0 else None)
    broker.conf = files.conf
    return broker


def secure(tables: dict) -> dict:
    """host.toml's [mqtt] for a secure_broker: the host's user, its password from the env."""
    mqtt_table = {"client_name": HOST_USER.removeprefix("anbu-host-"), "username": HOST_USER,
                  "password_env": PASSWORD_ENV}
    return {**tables, "mqtt": {**tables.get("mqtt", {}), **mqtt_table}}


def toml(data: dict) -> str:
    """host.toml text for tables of plain values (enough for the tests' configs)."""
    lines = []
    for name, table in data.items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


class HostProcess:
    """`anbu serve` as its own process, as in production: for SIGTERM and SIGKILL."""

    def __init__(self, folder: Path, port: int, **tables: dict) -> None:
        self.folder = folder
        self.web_port = rig.free_port()
        data = {"store": {"path": str(folder / "anbu.db")},
                "mqtt": {"port": port, "client_name": "test"},
                "web": {"port": self.web_port},
                "ingest": {"settle_ms": 200.0}}
        for name, table in tables.items():
            data[name] = {**data.get(name, {}), **table}
        self.config = folder / "host.toml"
        self.config.write_text(toml(data))
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self, ready: bool = True) -> None:
        self.runs += 1
        env = {**os.environ, PASSWORD_ENV: HOST_PASSWORD}
        with open(self.folder / f"host-{self.runs}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "host.cli", "serve", "--config", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=rig.ROOT)
        if ready:
            wait_until(lambda: self.health().get("status") == "ok", 30, "the host to be up")

    def health(self) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the host is not running:\n{self.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())
        except OSError:
            return {}

    def kill(self) -> None:
        """SIGKILL: no goodbye, no saved state, as a crash or a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM, the orderly way; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("the host did not stop on SIGTERM") from None
        return self.proc.returncode

    def log(self) -> str:
        return "\n".join((self.folder / f"host-{i}.log").read_text(errors="replace")
                         for i in range(1, self.runs + 1))
