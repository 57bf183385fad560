"""`anbu device ...`: one clear line for each way a flash can go wrong before it starts, and the
commands for people who look after bulbs (ls, info, logs, console, revoke)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import serial

from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.tools.conftest import anbu, provision_args, site_settings
from tools.broker_config import hash_password
from tools.device_logs import read_journal


def flash_args(port: str, device: str, db: Path, tmp_path: Path, umqtt: Path, **kw) -> list:
    """Flash options with a broker port nobody listens on: a booted bulb only queues."""
    return ["device", "flash", "--port", port, "--umqtt", umqtt,
            *provision_args(device, db, "127.0.0.1", rig.free_port(), site_settings(tmp_path),
                            **kw)]


def untouched(flash: Path) -> bool:
    return not any(flash.iterdir())


def test_no_such_port(capsys, tmp_path, db, umqtt_dir):
    ran = anbu(capsys, *flash_args("/dev/ttyNOPE0", "bulb-0001", db, tmp_path, umqtt_dir))
    assert ran.rc == 1
    assert ran.err.startswith("anbu device flash: no such port /dev/ttyNOPE0 (serial ports here:")
    assert "Traceback" not in ran.err


def test_a_port_in_use(capsys, tmp_path, db, umqtt_dir, bulbs):
    vb = bulbs()
    with serial.serial_for_url(vb.port, exclusive=True):  # a console left open
        ran = anbu(capsys, *flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir))
    assert ran.rc == 1
    assert f"{vb.port} is in use by another program (a console still open?)" in ran.err
    assert untouched(vb.flash)


def test_a_device_that_does_not_answer(capsys, tmp_path, db, umqtt_dir, bulbs):
    silent = bulbs("silent", program="sleep 60")
    ran = anbu(capsys, *flash_args(silent.port, "bulb-0001", db, tmp_path, umqtt_dir),
               "--timeout", "1")
    assert ran.rc == 1
    assert f"{silent.port}: the device did not answer within 1 s" in ran.err
    with SqliteStore(db) as store:
        assert store.devices() == []  # nothing registered for a bulb that was never flashed


def test_a_device_that_is_not_micropython(capsys, tmp_path, db, umqtt_dir, bulbs):
    modem = tmp_path / "modem.py"  # answers everything like an AT modem
    modem.write_text("import sys, os\nwhile os.read(0, 64):\n"
                     "    sys.stdout.write('\\r\\nERROR\\r\\n'); sys.stdout.flush()\n")
    other = bulbs("modem", program=f"{sys.executable} {modem}")
    ran = anbu(capsys, *flash_args(other.port, "bulb-0001", db, tmp_path, umqtt_dir),
               "--timeout", "1")
    assert ran.rc == 1
    assert f"{other.port}: the device answered but is not MicroPython (it said 'ERROR" in ran.err


def test_bad_wifi_or_broker_settings_are_named_before_the_device_is_touched(
        capsys, tmp_path, db, umqtt_dir, bulbs):
    vb = bulbs()
    args = flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir)
    bad = {"--wifi-ssid": "x" * 40, "--wifi-password": "1234", "--broker-host": "bad host!",
           "--broker-port": "70000"}
    for option, value in bad.items():
        args[args.index(option) + 1] = value
    ran = anbu(capsys, *args)
    assert ran.rc == 2
    for message in ("Wi-Fi SSID: expected 1..32 bytes, got 40", "Wi-Fi password: WPA2 wants",
                    "broker host: 'bad host!'", "broker port: expected 1..65535, got 70000"):
        assert message in ran.err
    assert untouched(vb.flash)
    settings = tmp_path / "bad.json"
    settings.write_text(json.dumps({"hb": 1, "pins": {"lamp": 99}}))
    args = flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir)
    args[args.index("--settings") + 1] = settings
    ran = anbu(capsys, *args)
    assert ran.rc == 2 and "hb: expected 10..3600, got 1" in ran.err
    assert "pins.lamp: expected 0..48, got 99" in ran.err and untouched(vb.flash)
    ran = anbu(capsys, "device", "flash", "--port", vb.port, "--keep-config", "--wifi-ssid", "x")
    assert ran.rc == 2 and "--keep-config keeps the bulb's config: --wifi-ssid" in ran.err


def test_a_device_id_already_provisioned_is_refused_before_the_device_is_touched(
        capsys, tmp_path, db, umqtt_dir, bulbs):
    with SqliteStore(db) as store:
        store.provision_device("bulb-0001", "h1", "switched", hash_password("elsewhere"))
    vb = bulbs()
    ran = anbu(capsys, *flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir))
    assert ran.rc == 1
    assert "'bulb-0001' is already provisioned: give --replace" in ran.err
    ran = anbu(capsys, *flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir,
                                   household="h2"), "--replace")
    assert ran.rc == 1 and "'bulb-0001' belongs to household 'h1', not 'h2'" in ran.err
    ran = anbu(capsys, *flash_args(vb.port, "bulb-0009", db, tmp_path, umqtt_dir,
                                   household="h404"))
    assert ran.rc == 1 and "unknown household 'h404'" in ran.err
    ran = anbu(capsys, "device", "provision", "--port", vb.port,
               *provision_args("bulb-0009", db, "127.0.0.1", rig.free_port(),
                               site_settings(tmp_path)))
    assert ran.rc == 1 and "no firmware on the device (main.py missing)" in ran.err
    assert untouched(vb.flash)
    ran = anbu(capsys, *flash_args(vb.port, "bulb-0009", db, tmp_path, umqtt_dir)[:-2])
    assert ran.rc == 0  # without a settings file: the firmware's defaults


def test_info_logs_ls_and_revoke(capsys, tmp_path, db, umqtt_dir, bulbs, boot):
    vb = bulbs()
    assert anbu(capsys, *flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir)).rc == 0
    ran = anbu(capsys, "device", "info", "--port", vb.port)
    assert ran.rc == 0, ran.err
    assert "device  bulb-0001 (switched), Wi-Fi 'home-ap', broker 127.0.0.1:" in ran.out
    assert "files   15 as flashed" in ran.out and "password" not in ran.out
    (vb.flash / "knock.py").write_text("# edited by hand\n")
    facts = json.loads(anbu(capsys, "device", "info", "--port", vb.port, "--json").out)
    assert facts["changed"] == ["knock.py"] and facts["config"]["broker.user"] == "bulb-0001"
    assert "wifi.password" not in facts["config"]
    (vb.flash / "knock.py").write_bytes((rig.FIRMWARE / "knock.py").read_bytes())

    ran = anbu(capsys, "device", "logs", "--port", vb.port)
    assert ran.rc == 0 and "keeps no log file" in ran.out and "queue.log: none yet" in ran.out
    bulb = boot(vb.flash)  # no broker on its port: the events queue up
    rig.wait_until(lambda: "bulb: bulb-0001 boot 0" in bulb.log(), 10, "the bulb up")
    bulb.flip(True)
    bulb.wait_duty(rig.FULL)
    bulb.flip(False)
    bulb.wait_duty(0)
    queue = vb.flash / "queue.log"
    rig.wait_until(lambda: queue.exists() and len(read_journal(queue.read_bytes()).pending) == 3,
                   10, "boot, on and off queued")
    bulb.stop()
    ran = anbu(capsys, "device", "logs", "--port", vb.port)
    assert ran.rc == 0, ran.err
    assert "boot number  0" in ran.out
    assert "3 events waiting for the broker, 0 acked, 0 dropped (full queue), 0 damaged" in ran.out
    assert ran.out.count("waiting: boot 0 #") == 3 and "#1 on at 20" in ran.out  # UTC date

    ran = anbu(capsys, "device", "ls", "--db", db)
    assert ran.rc == 0 and "serial ports" in ran.out
    assert "bulb-0001" in ran.out and "h1" in ran.out and "UTC" in ran.out
    assert anbu(capsys, "device", "revoke", "--db", db, "--device-id", "bulb-0001").rc == 0
    assert "not provisioned" in anbu(capsys, "device", "ls", "--db", db).out
    ran = anbu(capsys, "device", "revoke", "--db", db, "--device-id", "bulb-0001")
    assert ran.rc == 1 and "'bulb-0001' has no credentials" in ran.err


def test_console_is_the_bulb_s_repl(bulbs):
    vb = bulbs()
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "host.cli", "device", "console", "--port",
                             vb.port], stdin=child, stdout=child, stderr=child, cwd=rig.ROOT)
    os.close(child)
    seen = b""

    def read_until(want: bytes, timeout: float = 10) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while want not in seen and time.monotonic() < deadline:
            if select.select([main], [], [], 0.1)[0]:
                seen += os.read(main, 1024)
        assert want in seen, seen

    try:
        read_until(b"Connected to MicroPython")
        os.write(main, b"print(6 * 7)\r")
        read_until(b"42")
        os.write(main, b"\x1d")  # Ctrl-]: leave
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_umqtt_from_a_mip_index(capsys, tmp_path, db, umqtt_dir, bulbs):
    """Without --umqtt the flash asks mip, here a local index in micropython-lib's layout."""
    index = tmp_path / "index"
    source = (umqtt_dir / "umqtt" / "simple.py").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:8]
    (index / "file" / digest[:2]).mkdir(parents=True)
    (index / "file" / digest[:2] / digest).write_bytes(source)
    package = index / "package" / "py" / "umqtt.simple"
    package.mkdir(parents=True)
    (package / "latest.json").write_text(json.dumps(
        {"hashes": [["umqtt/simple.py", digest]], "deps": [], "version": "1.3.4"}))
    for mpy in ("6",):  # mip asks by the device's .mpy version; serve the source for it too
        (index / "package" / mpy).symlink_to(index / "package" / "py")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(index)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        vb = bulbs()
        args = flash_args(vb.port, "bulb-0001", db, tmp_path, umqtt_dir)
        args[args.index("--umqtt"):args.index("--umqtt") + 2] = [
            "--mip-index", f"http://127.0.0.1:{server.server_address[1]}"]
        ran = anbu(capsys, *args)
    finally:
        server.shutdown()
        server.server_close()
    assert ran.rc == 0, ran.err
    assert "mip" in ran.out and "verify  15 files" in ran.out
    assert (vb.flash / "lib/umqtt/simple.py").read_bytes() == source
    manifest = json.loads((vb.flash / "flash.json").read_text())
    assert manifest["umqtt"] == "mip" and "lib/umqtt/simple.py" in manifest["firmware"]
