"""Fixtures for the device and broker tools: virtual bulbs (the VM behind socat), a store with
households, a Mosquitto running on the files `anbu broker config` writes, MQTT clients that log
in, and the flashed firmware booted in a fresh VM with the test doubles (tests/firmware/rig)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from host import cli, protocol
from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.firmware.conftest import umqtt_dir  # noqa: F401  (the same pinned umqtt.simple)
from tools.broker_config import Tls, write_broker_config
from tools.virtual_bulb import VirtualBulb

HOST_USER = "anbu-host-test"
HOST_PASSWORD = "correct-horse-battery"
RUN_AS = "root" if os.geteuid() == 0 else None  # as root, mosquitto would switch users


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    """rig.Device starts `micropython` by name: the venv's, also when pytest runs outside it."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def bulbs(tmp_path: Path):
    """make(name, program=None, path=()) -> a started VirtualBulb; all stopped at teardown."""
    made: list[VirtualBulb] = []

    def make(name: str = "bulb", program: str | None = None, path: tuple = ()) -> VirtualBulb:
        vb = VirtualBulb(tmp_path / name, program, path)
        made.append(vb)
        vb.start()
        return vb

    yield make
    for vb in made:
        vb.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store file with two households and no bulbs."""
    path = tmp_path / "anbu.db"
    with SqliteStore(path) as store:
        store.add_household("h1", "Kim Mal-soon")
        store.add_household("h2", "Park Young-ho")
    return path


@dataclass
class Ran:
    rc: int
    out: str
    err: str


def anbu(capsys: pytest.CaptureFixture, *argv: str) -> Ran:
    """`anbu ...` in this process (its mpremote children are real processes)."""
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Ran(rc, captured.out, captured.err)


def anbu_process(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "host.cli", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=rig.ROOT)


def site_settings(folder: Path, **over) -> Path:
    """A settings file as a flashing station keeps one: fast timings for the test, local NTP."""
    data = {
        "pins": {"switch": rig.SWITCH_PIN, "lamp": rig.LAMP_PIN, "switch_active_low": True},
        "hb": 10,
        "broker": {"keepalive": 10},
        "net": {"timeout_ms": 1000, "backoff_min_ms": 250, "backoff_max_ms": 2000},
        "ntp": {"host": "127.0.0.1", "port": rig.ntp_server().port, "timeout_ms": 200},
        **over,
    }
    path = folder / "site.json"
    path.write_text(json.dumps(data))
    return path


def provision_args(device: str, db: Path, broker_host: str, broker_port: int, settings: Path,
                   household: str = "h1") -> list[str]:
    return ["--db", db, "--household", household, "--device-id", device,
            "--wifi-ssid", "home-ap", "--wifi-password", "wifi-secret",
            "--broker-host", broker_host, "--broker-port", broker_port, "--settings", settings]


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a broker certificate it signed for localhost: (ca, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "broker.pem", folder / "broker.key", folder / "broker.csr"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=anbu test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


@pytest.fixture
def start_broker(tmp_path: Path):
    """start(devices, tls=None, name="broker") -> a running Mosquitto on the generated files."""
    started: list[rig.Broker] = []

    def start(devices, tls: Tls | None = None, name: str = "broker", port: int | None = None,
              conf: Path | None = None, **kw) -> rig.Broker:
        """`conf`: a mosquitto.conf written already (by the CLI), listening on `port`."""
        broker = rig.Broker(tmp_path / name)  # its own conf is replaced by ours below
        port = port or rig.free_port()
        if conf is None:
            conf = write_broker_config(
                tmp_path / f"{name}-conf", devices, HOST_USER, HOST_PASSWORD, port=port,
                bind="127.0.0.1", tls=tls, data_dir=broker.dir / "data",
                log_dest=f"file {broker.dir}/mosquitto.log", run_as=RUN_AS, **kw).conf
        broker.conf, broker.port = conf, port
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


class Client:
    """One MQTT login (paho): what it was told at CONNECT and every message it received."""

    def __init__(self, port: int, user: str | None, password: str | None,
                 client_id: str = "", ca: Path | None = None, clean: bool = False,
                 subscribe: list | None = None) -> None:
        self.connacks: list = []
        self.msgs: list[tuple[str, bytes]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or user,
                                  clean_session=clean, protocol=mqtt.MQTTv311)
        if user is not None:
            self.client.username_pw_set(user, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.subscribe = subscribe or []
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.disconnects = 0
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.connect("localhost" if ca else "127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self.cond:
            self.connacks.append(reason_code)
            self.cond.notify_all()
        if not reason_code.is_failure and self.subscribe:
            client.subscribe(self.subscribe)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.disconnects += 1

    def _on_message(self, client, userdata, msg) -> None:
        with self.cond:
            self.msgs.append((msg.topic, bytes(msg.payload)))
            self.cond.notify_all()

    def wait(self, pred: Callable[[Client], object], timeout: float, what: str):
        return rig.wait_until(lambda: pred(self), timeout, what, 0.02)

    def accepted(self, timeout: float = 10) -> bool:
        """True once CONNACK said yes, False once it said no."""
        self.wait(lambda c: c.connacks, timeout, "a CONNACK")
        return not self.connacks[0].is_failure

    def topics(self) -> list[str]:
        with self.cond:
            return [t for t, _ in self.msgs]

    def decoded(self, channel: str) -> list:
        with self.cond:
            msgs = list(self.msgs)
        return [protocol.decode(t, p) for t, p in msgs if p and t.endswith("/" + channel)]

    def close(self) -> None:
        self.client.disconnect()  # first: it wakes the network thread, which then ends at once
        self.client.loop_stop()


@pytest.fixture
def clients():
    """connect(port, user, password, ...) -> Client; all closed at teardown."""
    made: list[Client] = []

    def connect(*args, **kw) -> Client:
        c = Client(*args, **kw)
        made.append(c)
        return c

    yield connect
    for c in made:
        c.close()


def host_client(connect, port: int, ca: Path | None = None) -> Client:
    """The host's login: a persistent session on every device topic, as anbu serve will have."""
    host = connect(port, HOST_USER, HOST_PASSWORD, ca=ca, subscribe=protocol.HOST_SUBSCRIPTIONS)
    assert host.accepted(), "the host's login was refused"
    return host


@pytest.fixture
def boot():
    """boot(flash) -> the flashed files running in a fresh VM with the hardware doubles."""
    made: list[rig.Device] = []

    def start(flash: Path) -> rig.Device:
        rig.ntp_server().answering = True
        device = rig.Device(flash, [rig.DOUBLES, flash / "lib", flash])
        made.append(device)
        device.start()
        return device

    yield start
    for device in made:
        device.stop()
