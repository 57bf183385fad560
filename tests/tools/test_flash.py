"""`anbu device flash` on a virtual bulb: what it installs is verified, boots in a fresh VM,
logs in with the bulb's own credentials and is heard by the host; an interrupted flash leaves
the old firmware working."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from host import protocol
from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.tools.conftest import (
    HOST_PASSWORD,
    HOST_USER,
    RUN_AS,
    anbu,
    anbu_process,
    host_client,
    make_ca,
    provision_args,
    site_settings,
)
from tools.broker_config import check_password

FIRMWARE_MODULES = sorted(p.stem for p in rig.FIRMWARE.glob("*.py")
                          if p.name not in ("boot.py", "main.py"))


def config(flash: Path) -> dict:
    return json.loads((flash / "config.json").read_text())


def stored_hash(db: Path, device: str) -> str:
    with SqliteStore(db) as store:
        return store.device_credential(device).password_hash


def statuses(host, device: str) -> list:
    return [m for m in host.decoded(protocol.STATUS) if m.d == device]


def events(host, device: str) -> list:
    return [m for m in host.decoded(protocol.EVT) if m.d == device]


def test_a_flashed_bulb_logs_in_as_itself_over_tls_and_is_heard_by_the_host(
        tmp_path, capsys, monkeypatch, umqtt_dir, bulbs, db, start_broker, clients, boot):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: it makes the test certificates")
    ca, cert, key = make_ca(tmp_path / "pki")
    port = rig.free_port()
    vb = bulbs()
    ran = anbu(capsys, "device", "flash", "--port", vb.port, "--umqtt", umqtt_dir, "--mpy",
               *provision_args("bulb-0001", db, "localhost", port, site_settings(tmp_path)),
               "--tls", "--ca", ca)
    assert ran.rc == 0, ran.err
    assert "verify  16 files by sha256 on the device: all as sent" in ran.out
    flash = vb.flash
    manifest = json.loads((flash / "flash.json").read_text())
    for path, digest in manifest["files"].items():  # what the device holds is what was sent
        assert hashlib.sha256((flash / path).read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in flash.glob("*.mpy")) == [m + ".mpy" for m in FIRMWARE_MODULES]
    assert (flash / "lib/umqtt/simple.mpy").is_file() and not (flash / ".anbu-new").exists()
    assert (flash / "ca.pem").read_bytes() == ca.read_bytes()
    cfg = config(flash)
    password = cfg["broker"]["password"]
    assert cfg["broker"] == {"host": "localhost", "port": port, "tls": True, "ca": "ca.pem",
                             "user": "bulb-0001", "password": password, "keepalive": 10}
    assert check_password(password, stored_hash(db, "bulb-0001"))
    assert password.encode() not in db.read_bytes()  # the store has the hash only
    vb.stop()  # the flashing station lets go; the bulb boots

    monkeypatch.setenv("ANBU_HOST_PASSWORD", HOST_PASSWORD)
    broker_dir = tmp_path / "mosquitto"
    ran = anbu(capsys, "broker", "config", "--db", db, "--out", broker_dir, "--host-user",
               HOST_USER, "--port", port, "--bind", "127.0.0.1", "--tls-cert", cert,
               "--tls-key", key, "--log-dest", f"file {tmp_path}/broker/mosquitto.log",
               *(["--run-as", RUN_AS] if RUN_AS else []))
    assert ran.rc == 0, ran.err
    broker = start_broker(None, port=port, conf=broker_dir / "mosquitto.conf")
    host = host_client(clients, port, ca=ca)
    bulb = boot(flash)
    host.wait(lambda h: statuses(h, "bulb-0001"), 20, "bulb-0001 online over TLS")
    bulb.flip(True)
    host.wait(lambda h: [e for e in events(h, "bulb-0001") if e.k == "on"], 10, "its event")
    bulb.stop()
    host.wait(lambda h: [s for s in statuses(h, "bulb-0001") if s.st == "offline"], 10,
              "bulb-0001's offline status (goodbye or will)")

    # Wrong credentials: the same bulb with a password of its own making is refused.
    seen = len(host.msgs)
    clone = tmp_path / "clone"
    shutil.copytree(flash, clone, ignore=shutil.ignore_patterns("queue.log*", "boot.num*"))
    cfg["broker"]["password"] = "guessed-" + password[8:]
    (clone / "config.json").write_text(json.dumps(cfg))
    guesser = boot(clone)
    rig.wait_until(lambda: guesser.log().count("link: down") >= 2, 15, "two refused logins")
    assert "not authorised" in broker.log()
    guesser.stop()

    # A cloned bulb (bulb-0001's login) calling itself bulb-0002: it logs in, the broker takes
    # its messages (PUBACK: they leave its queue) and drops them; the host hears nothing.
    cfg["broker"]["password"] = password
    (clone / "config.json").write_text(json.dumps({**cfg, "device": "bulb-0002"}))
    (clone / "queue.log").unlink(missing_ok=True)
    cloned = boot(clone)
    rig.wait_until(lambda: "link: connected" in cloned.log(), 15, "the clone's login")
    cloned.flip(True)

    def acked() -> list[str]:
        return [x for x in rig.journal_lines(clone / "queue.log") if x.startswith("A ")]

    rig.wait_until(lambda: len(acked()) >= 2, 10, "the clone's boot and on events taken")
    time.sleep(0.3)
    assert len(host.msgs) == seen, host.msgs[seen:]


def wait_for_staging(flash: Path, proc, files: int = 3) -> None:
    """Kill mpremote (the flash's child) once the upload is under way, before the commit."""
    stage = flash / ".anbu-new"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if stage.is_dir() and len([p for p in stage.iterdir() if p.is_file()]) >= files:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for pid in children:
                if b"mpremote" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
                    return
        time.sleep(0.003)
    raise AssertionError("the upload never got under way")


def test_an_interrupted_flash_leaves_the_old_firmware_working(
        tmp_path, capsys, umqtt_dir, bulbs, db, start_broker, clients, boot):
    port = rig.free_port()
    vb = bulbs()
    args = ["--port", vb.port, "--umqtt", umqtt_dir,
            *provision_args("bulb-0003", db, "127.0.0.1", port, site_settings(tmp_path), "h2")]
    assert anbu(capsys, "device", "flash", *args).rc == 0
    before = {p.name: p.read_bytes() for p in vb.flash.iterdir() if p.is_file()}
    old_password = config(vb.flash)["broker"]["password"]
    old_hash = stored_hash(db, "bulb-0003")

    again = anbu_process("device", "flash", *args, "--replace")  # new credentials, killed
    wait_for_staging(vb.flash, again)
    out, err = again.communicate(timeout=30)
    assert again.returncode == 1, out + err
    assert "was stopped (signal 9); stopped before the commit: the device's files are as they " \
           "were" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in vb.flash.iterdir() if p.is_file()} == before
    assert stored_hash(db, "bulb-0003") == old_hash

    with SqliteStore(db) as store:  # the broker as it was: it knows the old password
        creds = [(c.device_id, c.password_hash) for c in store.device_credentials()]
    start_broker(creds, port=port)
    host = host_client(clients, port)
    vb.stop()
    bulb = boot(vb.flash)  # the previous firmware, with the previous credentials
    host.wait(lambda h: statuses(h, "bulb-0003"), 20, "the old firmware online")
    bulb.flip(True)
    host.wait(lambda h: events(h, "bulb-0003"), 10, "an event from the old firmware")
    bulb.stop()

    vb2 = bulbs(vb.flash.name)  # the station tries again: the leftovers go, the flash lands
    ran = anbu(capsys, "device", "flash", *args, "--replace", "--port", vb2.port)
    assert ran.rc == 0, ran.err
    assert "removed the leftovers of an earlier, unfinished upload" in ran.out
    new_password = config(vb.flash)["broker"]["password"]
    assert new_password != old_password
    assert check_password(new_password, stored_hash(db, "bulb-0003"))


def test_a_commit_cut_short_is_finished_by_the_next_run(tmp_path, capsys, umqtt_dir, bulbs,
                                                          db):
    vb = bulbs()
    args = provision_args("bulb-0004", db, "127.0.0.1", rig.free_port(), site_settings(tmp_path))
    assert anbu(capsys, "device", "flash", "--port", vb.port, "--umqtt", umqtt_dir, *args).rc == 0
    # A power cut after the commit record was written and knock.py moved, not yet lamp.py:
    stage = vb.flash / ".anbu-new"
    stage.mkdir()
    (stage / "lamp.py").write_text("# lamp, next version\n")
    manifest = json.loads((vb.flash / "flash.json").read_text())
    (stage / "commit").write_text(json.dumps(
        {"files": ["knock.py", "lamp.py"], "remove": [], "manifest": manifest}))
    ran = anbu(capsys, "device", "provision", "--port", vb.port, *args, "--replace")
    assert ran.rc == 0, ran.err
    assert "finished a commit that an earlier flash did not complete" in ran.out
    assert (vb.flash / "lamp.py").read_text() == "# lamp, next version\n"
    assert not stage.exists()
    assert (vb.flash / "knock.py").read_bytes() == (rig.FIRMWARE / "knock.py").read_bytes()


def test_provision_rekeys_a_flashed_bulb_and_keeps_its_firmware(tmp_path, capsys, umqtt_dir,
                                                                bulbs, db):
    vb = bulbs(path=(rig.DOUBLES,))  # with a `machine` whose reset() ends the VM
    args = provision_args("bulb-0005", db, "127.0.0.1", rig.free_port(), site_settings(tmp_path))
    assert anbu(capsys, "device", "flash", "--port", vb.port, "--umqtt", umqtt_dir, *args).rc == 0
    firmware = {p.name: p.read_bytes() for p in vb.flash.glob("*.py")}
    ran = anbu(capsys, "device", "provision", "--port", vb.port, *args)
    assert ran.rc == 1 and "'bulb-0005' is already provisioned: give --replace" in ran.err
    old = config(vb.flash)["broker"]["password"]
    ran = anbu(capsys, "device", "provision", "--port", vb.port, *args, "--replace")
    assert ran.rc == 0, ran.err
    new = config(vb.flash)["broker"]["password"]
    assert new != old and check_password(new, stored_hash(db, "bulb-0005"))
    assert {p.name: p.read_bytes() for p in vb.flash.glob("*.py")} == firmware
    manifest = json.loads((vb.flash / "flash.json").read_text())
    assert manifest["fw"] and "main.py" in manifest["firmware"]
    assert manifest["files"]["config.json"] == hashlib.sha256(
        (vb.flash / "config.json").read_bytes()).hexdigest()
    # A firmware-only update keeps the config and its credentials; --reset takes the path a
    # real ESP32 takes at the end: mpremote's reset (machine.reset(), which ends this VM).
    ran = anbu(capsys, "device", "flash", "--port", vb.port, "--umqtt", umqtt_dir, "--mpy",
               "--keep-config", "--reset")
    assert ran.rc == 0, ran.err
    assert "reset   the device restarts with the new firmware" in ran.out
    rig.wait_until(lambda: not vb.running, 10, "the virtual bulb to reset (end)")
    assert config(vb.flash)["broker"]["password"] == new
    assert not list(vb.flash.glob("bulb.py")) and (vb.flash / "bulb.mpy").is_file()
    assert "removed boot.py" not in ran.out and (vb.flash / "boot.py").is_file()
