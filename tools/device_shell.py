"""Talking to a bulb on a serial port: a quick hello of our own, then mpremote for the work.

The hello (Ctrl-C, Ctrl-B, read the banner) takes a second or two and tells the cases apart
that mpremote reports alike after ten seconds: no such port, a port in use, a device that says
nothing, a device that is not MicroPython. The work then goes through `mpremote connect PORT
resume ...` (no soft reset: the unix VM has none, and on an ESP32 `resume` keeps what the
firmware left in RAM, e.g. the watchdog it started, which the scripts keep fed). Scripts run
on the device print one `@@anbu <json>` line with their answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BAUD = 115200
HELLO_TIMEOUT_S = 3.0
RUN_TIMEOUT_S = 600.0
MARK = "@@anbu "
UNIX = "linux"  # sys.platform of the unix port (the virtual bulb)

# Prepended to every script for a real device: if the firmware ran this boot, its hardware
# watchdog is still armed after Ctrl-C (it cannot be stopped); feed it, or the chip resets in
# wdt_ms while we work. A fresh device has none, and none is started.
KEEPALIVE = """
try:
    if 'cfg' in globals() and 'wdt_ms' in cfg:
        import machine
        machine.WDT(timeout=cfg['wdt_ms']).feed()
except Exception:
    pass
"""

STATE = """
import os, sys, json
def _walk(d, out, depth):
    for e in os.ilistdir(d or '.'):
        p = d + '/' + e[0] if d else e[0]
        if e[1] & 0x4000:
            if depth < 4:
                _walk(p, out, depth + 1)
        elif len(out) < 400:
            try:
                out[p] = os.stat(p)[6]
            except OSError:
                out[p] = -1
def _json(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
def _state():
    files = {}
    _walk('', files, 0)
    free = None
    try:
        v = os.statvfs('.')
        free = v[0] * v[4]
    except (AttributeError, OSError):
        pass
    cfg = _json('config.json')
    if isinstance(cfg, dict):
        w = cfg.get('wifi') if isinstance(cfg.get('wifi'), dict) else {}
        b = cfg.get('broker') if isinstance(cfg.get('broker'), dict) else {}
        q = cfg.get('queue') if isinstance(cfg.get('queue'), dict) else {}
        cfg = {'device': cfg.get('device'), 'power_mode': cfg.get('power_mode'),
               'wifi.ssid': w.get('ssid'), 'broker.host': b.get('host'),
               'broker.port': b.get('port'), 'broker.tls': b.get('tls'),
               'broker.user': b.get('user'), 'queue.path': q.get('path')}
    elif 'config.json' in files:
        cfg = 'unreadable'
    impl = sys.implementation
    return {'platform': sys.platform, 'version': list(impl.version[:3]),
            'machine': getattr(impl, '_machine', ''), 'mpy': getattr(impl, '_mpy', None),
            'free': free, 'files': files, 'config': cfg, 'manifest': _json('flash.json'),
            'boot': _json('boot.num')}
print('@@anbu', json.dumps(_state()))
"""


class DeviceError(Exception):
    """A device problem worth one clear line, not a traceback; the message says what to do."""


def _need_mpremote() -> None:
    """mpremote (and pyserial, which it brings) are in the `dev` extra, not the host's needs."""
    if importlib.util.find_spec("mpremote") is None or importlib.util.find_spec("serial") is None:
        raise DeviceError("mpremote is not installed: pip install -e '.[dev]' (or mpremote)")


@dataclass(frozen=True)
class Port:
    device: str
    description: str


def ports() -> list[Port]:
    """Serial ports on this machine that may have a bulb (what `mpremote devs` lists)."""
    _need_mpremote()
    import serial.tools.list_ports

    return [Port(p.device, p.description or "") for p in
            sorted(serial.tools.list_ports.comports(), key=lambda p: p.device)]


def _looks_like_path(port: str) -> bool:
    return port.startswith("/") or port.startswith(".")


def _no_port(port: str) -> DeviceError:
    found = ", ".join(p.device for p in ports()) or "none"
    return DeviceError(f"no such port {port} (serial ports here: {found})")


def hello(port: str, timeout: float = HELLO_TIMEOUT_S) -> str:
    """The MicroPython banner of the device on `port`; DeviceError naming why there is none."""
    _need_mpremote()
    import serial

    if _looks_like_path(port) and not os.path.exists(port):
        raise _no_port(port)
    try:
        link = serial.serial_for_url(port, baudrate=BAUD, timeout=0.05, exclusive=True)
    except serial.SerialException as e:
        if _looks_like_path(port) and not os.path.exists(port):
            raise _no_port(port) from None
        text = str(e)
        if "lock" in text or "busy" in text.lower() or "Errno 16" in text:
            raise DeviceError(f"{port} is in use by another program (a console still open?)") \
                from None
        raise DeviceError(f"cannot open {port}: {text}") from None
    said = b""
    try:
        # Ctrl-C stops whatever runs (the bulb stops with "bulb: stopped"); Ctrl-B leaves a
        # raw REPL that an interrupted mpremote may have left, and prints the banner. Never
        # Ctrl-D: the unix port exits on it.
        link.write(b"\r\x03\x03")
        time.sleep(0.2)
        link.write(b"\r\x02")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(said) < 8192:
            said += link.read(256)
            if said.endswith(b">>> ") and b"MicroPython" in said:
                break
    except serial.SerialException as e:
        raise DeviceError(f"lost {port} while saying hello: {e}") from None
    finally:
        link.close()
    text = said.decode("utf-8", "replace")
    banner = next((line.strip() for line in text.splitlines() if "MicroPython" in line), None)
    if banner:
        return banner
    if not said:
        raise DeviceError(
            f"{port}: the device did not answer within {timeout:g} s (powered? the right "
            "port? a bulb with a broken firmware may need its reset button)"
        )
    sample = re.sub(r"\s+", " ", text).strip()[:60] or "a prompt but no banner"
    raise DeviceError(f"{port}: the device answered but is not MicroPython (it said {sample!r})")


def script(code: str, keepalive: bool) -> str:
    return (KEEPALIVE + code) if keepalive else code


class Shell:
    """mpremote on one port. `keepalive` (real devices) feeds a running firmware's watchdog."""

    def __init__(self, port: str, keepalive: bool = False, timeout: float = RUN_TIMEOUT_S):
        _need_mpremote()
        self.port = port
        self.keepalive = keepalive
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def command(self, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "mpremote", "connect", self.port, "resume", *args]

    def run(self, args: Sequence[str], on_line: Callable[[str], None] | None = None) -> list:
        """Run one chained mpremote command; returns the `@@anbu` answers, in order."""
        proc = subprocess.Popen(
            self.command(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
        )
        self.proc = proc
        timer = threading.Timer(self.timeout, proc.kill)
        timer.start()
        answers, lines = [], []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\r\n")
                if line.startswith(MARK):
                    try:
                        answers.append(json.loads(line[len(MARK):]))
                        continue
                    except ValueError:
                        pass  # garbled on the wire: kept as text, the caller finds no answer
                lines.append(line)
                if on_line is not None:
                    on_line(line)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            self.proc = None
        if rc != 0:
            raise DeviceError(self.explain(rc, lines))
        expected = sum(1 for a in args if MARK.strip() in a)
        if len(answers) < expected:
            raise DeviceError(f"{self.port}: the device's answer was garbled "
                              f"({(lines or ['nothing'])[-1][:80]!r}); run the command again")
        return answers

    def exec(self, code: str) -> list:
        return self.run(["exec", script(code, self.keepalive)])

    def state(self) -> dict:
        """What is on the device: platform, versions, files, config (no secrets), manifest."""
        return self.exec(STATE)[-1]

    def explain(self, rc: int, lines: list[str]) -> str:
        text = "\n".join(lines)
        port = self.port
        if rc < 0:
            return f"mpremote on {port} was stopped (signal {-rc})"
        if "failed to access" in text:
            if _looks_like_path(port) and not os.path.exists(port):
                return f"{port} is gone (unplugged?)"
            return f"cannot open {port} (unplugged, or in use by another program)"
        if "could not enter raw repl" in text:
            return f"{port}: the device stopped answering (reset or unplugged during the work?)"
        if "Input/output error" in text or "device disconnected" in text:
            return f"lost {port} during the work (unplugged or reset?)"
        if "Errno 28" in text or "ENOSPC" in text:
            return f"{port}: the device's flash is full"
        errors = [line for line in lines if re.match(r"^\s*[A-Za-z]*(Error|Exception)\b", line)]
        last = errors[-1] if errors else next((x for x in reversed(lines) if x.strip()), "")
        return f"{port}: mpremote failed: {last.strip()}"
