"""`anbu device ...`: flash, provision and look after bulbs over mpremote (docs/devices.md).

    flash      firmware + umqtt.simple + a config with the bulb's own credentials, atomically
    provision  a new config (and credentials) for a bulb that has the firmware already
    ls         serial ports here, and with --db the provisioned bulbs
    info       what is on a bulb: versions, config (no secrets), files checked against flash.json
    logs       what the bulb keeps: its boot number and event queue (it keeps no log file)
    console    the bulb's REPL: what the firmware prints, live
    revoke     forget a bulb's credentials (stolen, retired); then `anbu broker config`

Every failure is one line naming what went wrong and where, exit code 1 (2 for bad settings).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from host.events import POWER_MODES, SWITCHED
from host.store import StoreError
from tools import device_logs, flash, provision
from tools.device_shell import UNIX, DeviceError, Shell, hello, ports

WIFI_PASSWORD_ENV = "ANBU_WIFI_PASSWORD"
DB_ENV = "ANBU_DB"
PROVISIONING = ("household", "device_id", "wifi_ssid", "wifi_password", "broker_host",
                "broker_port", "tls", "ca", "settings", "replace")


class UsageError(Exception):
    """Bad options or settings: exit code 2."""


def _add_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="serial port of the bulb, e.g. /dev/ttyUSB0")
    p.add_argument("--timeout", type=float, default=3.0,
                   help="seconds to wait for the device to answer (default 3)")


def _add_db(p) -> None:
    p.add_argument("--db", default=os.environ.get(DB_ENV),
                   help=f"the host's SQLite store (default: ${DB_ENV})")


def _add_reset(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--reset", dest="reset", action="store_true", default=None,
                   help="reset the device at the end (the default, except on the unix port)")
    g.add_argument("--no-reset", dest="reset", action="store_false",
                   help="leave the device in its REPL at the end")


def _add_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the bulb's identity and network (provisioning)")
    _add_db(g)
    g.add_argument("--household", help="household the bulb belongs to (must exist in the store)")
    g.add_argument("--device-id", help="the bulb's id, [a-z0-9][a-z0-9-]{2,31}")
    g.add_argument("--power-mode", default=SWITCHED, choices=sorted(POWER_MODES))
    g.add_argument("--wifi-ssid")
    g.add_argument("--wifi-password", default=None,
                   help=f"Wi-Fi password (default: ${WIFI_PASSWORD_ENV}; empty: open network)")
    g.add_argument("--broker-host", help="broker address as the bulb reaches it")
    g.add_argument("--broker-port", type=int, default=0, help="default 8883 with TLS, else 1883")
    g.add_argument("--tls", action="store_true", help="connect to the broker over TLS")
    g.add_argument("--ca", type=Path,
                   help="CA certificate to verify the broker with (copied to the bulb)")
    g.add_argument("--settings", type=Path,
                   help="JSON file with the other config.json keys (pins, hb, ntp, ...)")
    g.add_argument("--replace", action="store_true",
                   help="re-provision a bulb: new credentials, the old ones stop working")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("flash", help="install firmware, umqtt.simple and the bulb's config",
                       description="Install the firmware, umqtt.simple and a config with the "
                       "bulb's own credentials. Atomic: files are staged, verified by sha256 on "
                       "the device, then moved into place together.")
    _add_port(p)
    p.add_argument("--firmware", type=Path, default=provision.FIRMWARE,
                   help="firmware folder (default: this checkout's firmware/)")
    p.add_argument("--mpy", action="store_true", help="compile with mpy-cross (saves RAM)")
    p.add_argument("--umqtt", type=Path,
                   help="local umqtt.simple (folder with umqtt/simple.py, e.g. .cache/umqtt); "
                   "default: mpremote mip install umqtt.simple")
    p.add_argument("--mip-index", help="micropython-lib index for mip (default: mpremote's)")
    p.add_argument("--keep-config", action="store_true",
                   help="firmware update only: keep the bulb's config and credentials")
    _add_settings(p)
    _add_reset(p)
    p = sub.add_parser("provision", help="new config and credentials for a flashed bulb",
                       description="Register the bulb in the store against a household, make "
                       "its credentials and write its config.json (atomically, verified).")
    _add_port(p)
    _add_settings(p)
    _add_reset(p)
    p = sub.add_parser("ls", help="serial ports here; with --db, the provisioned bulbs")
    _add_db(p)
    p = sub.add_parser("info", help="what is on a bulb: versions, config, files")
    _add_port(p)
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.add_argument("--no-reset", action="store_true",
                   help="leave a real bulb in its REPL afterwards instead of restarting it")
    p = sub.add_parser("logs", help="what the bulb keeps: boot number and event queue")
    _add_port(p)
    p.add_argument("--no-reset", action="store_true",
                   help="leave a real bulb in its REPL afterwards instead of restarting it")
    p = sub.add_parser("console", help="the bulb's REPL (Ctrl-] or Ctrl-x leaves)")
    p.add_argument("--port", required=True)
    p = sub.add_parser("revoke", help="forget a bulb's credentials; then run anbu broker config")
    _add_db(p)
    p.add_argument("--device-id", required=True)


def main(args: argparse.Namespace) -> int:
    action = {"flash": _flash, "provision": _provision, "ls": _ls, "info": _info,
              "logs": _logs, "console": _console, "revoke": _revoke}[args.action]
    try:
        return action(args)
    except UsageError as e:
        print(f"anbu device {args.action}: {e}", file=sys.stderr)
        return 2
    except (DeviceError, StoreError, provision.SettingsError) as e:
        print(f"anbu device {args.action}: {e}", file=sys.stderr)
        return 2 if isinstance(e, provision.SettingsError) else 1


# flash and provision


def _open_store(db: str | None):
    from host.store.sqlite import SqliteStore

    if not db:
        raise UsageError(f"no store: give --db or set ${DB_ENV}")
    if not Path(db).is_file():
        raise UsageError(f"no store at {db}")  # SQLite would quietly make an empty one
    return SqliteStore(db)


def _settings(args: argparse.Namespace) -> provision.Settings:
    missing = [f"--{name.replace('_', '-')}" for name in
               ("household", "device_id", "wifi_ssid", "broker_host") if not getattr(args, name)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or --keep-config for a firmware update)"
                         if args.action == "flash" else f"missing {', '.join(missing)}")
    wifi_password = args.wifi_password
    if wifi_password is None:
        wifi_password = os.environ.get(WIFI_PASSWORD_ENV, "")
    s = provision.Settings(
        device_id=args.device_id, wifi_ssid=args.wifi_ssid, wifi_password=wifi_password,
        broker_host=args.broker_host, broker_port=args.broker_port, tls=args.tls, ca=args.ca,
        power_mode=args.power_mode, extra=provision.load_extra(args.settings),
    )
    provision.check(s)
    return s


def _connect(args: argparse.Namespace) -> tuple[Shell, dict, str]:
    banner = hello(args.port, args.timeout)
    shell = Shell(args.port, keepalive=True)
    state = shell.state()
    shell.keepalive = state.get("platform") != UNIX
    return shell, state, banner


def _config_uploads(s: provision.Settings, password: str) -> list[flash.Upload]:
    cfg = provision.device_config(s, password)
    uploads = [flash.Upload(flash.CONFIG, (json.dumps(cfg, indent=1) + "\n").encode(), False)]
    if s.ca is not None and s.ca_name:
        uploads.append(flash.Upload(s.ca_name, s.ca.read_bytes(), False))
    return uploads


def _flash(args: argparse.Namespace) -> int:
    return _install(args, firmware=True)


def _provision(args: argparse.Namespace) -> int:
    return _install(args, firmware=False)


def _install(args: argparse.Namespace, firmware: bool) -> int:
    keep = firmware and args.keep_config
    if keep:
        given = [f"--{name.replace('_', '-')}" for name in PROVISIONING if getattr(args, name)]
        if given:
            raise UsageError(f"--keep-config keeps the bulb's config: {', '.join(given)} would "
                             "change nothing (use anbu device provision for that)")
    settings = None if keep else _settings(args)
    store = None if keep else _open_store(args.db)
    try:
        if store is not None and settings is not None:
            provision.preflight(store, settings.device_id, args.household,
                                settings.power_mode, args.replace)
        started = time.monotonic()
        shell, state, banner = _connect(args)
        what = settings.device_id if settings else "firmware update"
        print(f"{args.action} {what} on {args.port}: {banner}")
        if not firmware and "main.py" not in (state.get("files") or {}):
            raise DeviceError(f"{args.port}: no firmware on the device (main.py missing): "
                              "use anbu device flash")
        uploads: list[flash.Upload] = []
        if firmware:
            mpy = args.mpy
            if mpy:
                print("  compile with mpy-cross")
            uploads = flash.firmware_uploads(args.firmware, mpy, args.umqtt, state.get("mpy"))
        password = None
        if settings is not None:
            password = provision.new_password()
            uploads += _config_uploads(settings, password)
        fw = provision.firmware_config(args.firmware).FW_VERSION if firmware else ""
        plan = flash.Plan(
            uploads, fw=fw, mpy=bool(firmware and args.mpy),
            device=settings.device_id if settings else None,
            mip=bool(firmware and args.umqtt is None),
            mip_index=getattr(args, "mip_index", None), config_only=not firmware,
            reset=args.reset,
        )
        if keep and not (state.get("config") or {}):
            print("  note    the device has no config.json: it will run as a plain lamp")
        flash.flash(shell, plan, state)
        if store is not None and settings is not None and password is not None:
            try:
                provision.register(store, settings, args.household, password, args.replace)
            except StoreError as e:
                raise StoreError(
                    f"the bulb has its new config but the store did not take it: {e}; the bulb "
                    "cannot log in until you run the same command again (with --replace if it "
                    "says already provisioned)") from None
            print(f"  store   {settings.device_id} provisioned in household {args.household}; "
                  "run `anbu broker config` and reload the broker to let it in")
        print(f"done in {time.monotonic() - started:.1f} s")
        return 0
    finally:
        if store is not None:
            store.close()


# looking after bulbs


def _ls(args: argparse.Namespace) -> int:
    found = ports()
    print("serial ports:" if found else "serial ports: none found")
    for p in found:
        print(f"  {p.device}  {p.description}")
    if args.db:
        with _open_store(args.db) as store:
            creds = {c.device_id: c for c in store.device_credentials()}
            devices = store.devices()
        print(f"bulbs in {args.db}:" if devices else f"bulbs in {args.db}: none")
        for d in devices:
            c = creds.get(d.id)
            since = (datetime.fromtimestamp(c.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                     if c else "not provisioned")
            print(f"  {d.id:32s} {d.household_id:16s} {d.power_mode:8s} {since}")
    return 0


_VERIFY = """
import os, json, hashlib, binascii
def _h(p):
    h = hashlib.sha256()
    buf = bytearray(512)
    try:
        with open(p, 'rb') as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
    except OSError:
        return None
    return binascii.hexlify(h.digest()).decode()
print('@@anbu', json.dumps({p: _h(p) for p in PATHS}))
"""


def _finish(shell: Shell, state: dict, no_reset: bool) -> None:
    """A real bulb stopped for us (Ctrl-C); restart it unless asked not to."""
    if state.get("platform") == UNIX:
        return
    if no_reset:
        print("the bulb stays in its REPL (stopped) until it is reset")
        return
    shell.run(["reset"])
    print("reset: the bulb restarts")


def _info(args: argparse.Namespace) -> int:
    shell, state, banner = _connect(args)
    manifest = state.get("manifest") if isinstance(state.get("manifest"), dict) else None
    changed: list[str] = []
    if manifest:
        files = manifest.get("files") or {}
        code = _VERIFY.replace("PATHS", json.dumps(sorted(files)))
        [now] = shell.exec(code)
        changed = [p for p, h in files.items() if now.get(p) != h]
    facts = {
        "port": args.port, "banner": banner, "platform": state.get("platform"),
        "version": ".".join(str(x) for x in state.get("version") or ()),
        "mpy": state.get("mpy"), "free": state.get("free"), "config": state.get("config"),
        "boot": state.get("boot"), "manifest": manifest, "changed": changed,
        "files": state.get("files"),
        "unfinished_flash": any(p.startswith(flash.STAGE + "/") for p in state.get("files", {})),
    }
    if args.json:
        print(json.dumps(facts, indent=1))
    else:
        print(f"{args.port}: {banner}")
        free = facts["free"] or 0
        room = f"{free / 1e6:.1f} MB" if free >= 1e6 else f"{free / 1e3:.0f} kB"
        print(f"  MicroPython {facts['version']} on {facts['platform']}, mpy {facts['mpy']}, "
              f"{room} free")
        cfg = facts["config"]
        if isinstance(cfg, dict):
            print(f"  device  {cfg.get('device')} ({cfg.get('power_mode') or 'switched'}), "
                  f"Wi-Fi {cfg.get('wifi.ssid')!r}, broker {cfg.get('broker.host')}:"
                  f"{cfg.get('broker.port') or 'default'}{' TLS' if cfg.get('broker.tls') else ''}"
                  f", user {cfg.get('broker.user')}")
        else:
            print(f"  config  {'unreadable' if cfg else 'none (runs as a plain lamp)'}")
        if manifest:
            print(f"  firmware {manifest.get('fw')} flashed {manifest.get('flashed_at')}"
                  f" ({'mpy' if manifest.get('mpy') else 'py'}, umqtt {manifest.get('umqtt')})")
            print(f"  files   {len(manifest.get('files') or {})} as flashed" if not changed else
                  f"  files   CHANGED since the flash: {', '.join(sorted(changed))}")
        else:
            print("  firmware: no flash.json (not flashed by anbu device flash)")
        if facts["boot"] is not None:
            print(f"  boot    {facts['boot']}")
        if facts["unfinished_flash"]:
            print("  note    an unfinished flash is staged; the next flash tidies it up")
    _finish(shell, state, args.no_reset)
    return 0


def _logs(args: argparse.Namespace) -> int:
    shell, state, banner = _connect(args)
    cfg = state.get("config") if isinstance(state.get("config"), dict) else {}
    path = cfg.get("queue.path") or "queue.log"
    print(f"{args.port}: {banner}")
    print("The firmware keeps no log file; what it prints goes to the serial console "
          "(anbu device console). What it keeps:")
    print(f"  boot number  {state.get('boot')}")
    if path not in (state.get("files") or {}):
        print(f"  event queue  {path}: none yet")
    else:
        with tempfile.TemporaryDirectory(prefix="anbu-logs-") as tmp:
            local = Path(tmp) / "queue.log"
            shell.run(["fs", "cp", f":{path}", str(local)])
            journal = device_logs.read_journal(local.read_bytes())
        print(f"  event queue  {path}: {journal.lines} records, {len(journal.pending)} events "
              f"waiting for the broker, {journal.acked} acked, {journal.dropped} dropped "
              f"(full queue), {journal.damaged} damaged lines")
        for event in journal.pending[-20:]:
            print(f"    waiting: {device_logs.describe_event(event)}")
        print("  newest records:")
        for line in journal.last:
            print(f"    {line}")
    _finish(shell, state, args.no_reset)
    return 0


def _console(args: argparse.Namespace) -> int:
    if args.port.startswith("/") and not os.path.exists(args.port):
        raise DeviceError(f"no such port {args.port}")
    return subprocess.run(Shell(args.port).command(["repl"])).returncode


def _revoke(args: argparse.Namespace) -> int:
    with _open_store(args.db) as store:
        store.revoke_device_credential(args.device_id)
    print(f"{args.device_id}: credentials revoked; run `anbu broker config` and reload the "
          "broker to shut it out")
    return 0
