"""`anbu broker config`: Mosquitto's password file, ACL file and mosquitto.conf for a fleet.

Each bulb logs in as its device id with its own password, of which the store keeps only the
hash (Mosquitto's PBKDF2-SHA512 `$7$` format, so no plaintext is needed here). A bulb may write
only its own evt, hb, status and ack topics and read only its own cmd topic; the host's user
reads every device topic and writes commands. `use_username_as_clientid` ties each session to
its login: a stolen bulb's password cannot take over another bulb's session either.

`write_broker_config()` is the same thing as a function, for tests that need a real broker.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from host import protocol
from host.store import StoreError
from host.store.sqlite_credentials import PASSWORD_HASH

HOST_USER = re.compile(r"\Aanbu-host-[a-z0-9-]{1,22}\Z")  # = the host's client id (protocol §1)
HOST_PASSWORD_ENV = "ANBU_HOST_PASSWORD"
MIN_HOST_PASSWORD = 12
DEVICE_ITERATIONS = 101  # Mosquitto's own default; a bulb's password is random, 192 bits
HOST_ITERATIONS = 100_000  # a person chose this one: make guessing it expensive
SALT_BYTES = 12  # what mosquitto_passwd uses
DEVICE_WRITES = (protocol.EVT, protocol.HB, protocol.STATUS, protocol.ACK)
DEVICE_READS = (protocol.CMD,)
# The host's persistent session must hold every QoS 1 message that arrives while the host is
# down; Mosquitto's default of 1000 per session silently drops the rest. Per bulb: ~50 events a
# day plus status and acks, so 1000 covers a host outage of about two weeks.
QUEUED_PER_DEVICE = 1000
MIN_QUEUED = 100_000
# QoS 1 messages on their way to one client at a time (Mosquitto's default is 20): a bigger
# window drains a backlog faster when the host comes back.
MAX_INFLIGHT = 100
SESSION_EXPIRY = "30d"  # sessions of retired bulbs are dropped after this (protocol §1)
AUTOSAVE_S = 60  # persistence written at least this often, so a broker crash loses little


class ConfigError(ValueError):
    """Settings that would give a broken or unsafe broker; the message names which."""


def hash_password(password: str, iterations: int = DEVICE_ITERATIONS,
                  salt: bytes | None = None) -> str:
    """Mosquitto's `$7$` line part: PBKDF2-HMAC-SHA512, base64 salt and hash."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """True when `password` is the one `hashed` was made from."""
    if not PASSWORD_HASH.match(hashed):
        return False
    _, _, iterations, salt, digest = hashed.split("$")
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt),
                               int(iterations))
    return hmac.compare_digest(mine, base64.b64decode(digest))


@dataclass(frozen=True)
class Tls:
    """The broker's certificate and key (PEM); `cafile` only if clients present certificates."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None


@dataclass(frozen=True)
class BrokerFiles:
    conf: Path
    passwd: Path
    acl: Path


def max_queued(devices: int) -> int:
    return max(MIN_QUEUED, devices * QUEUED_PER_DEVICE)


def _devices(devices: Iterable[Sequence[str]], host_user: str) -> list[tuple[str, str]]:
    """(device id, hash) pairs, checked: a bad one would break or open the broker's files."""
    out: dict[str, str] = {}
    for item in devices:
        device_id, password_hash = item[0], item[1]
        if not re.match(protocol.DEVICE_ID_PATTERN, device_id):
            raise ConfigError(f"device id {device_id!r} is not [a-z0-9][a-z0-9-]{{2,31}}")
        if not PASSWORD_HASH.match(password_hash):
            raise ConfigError(f"device {device_id!r}: password hash is not Mosquitto's $7$")
        if device_id == host_user:
            raise ConfigError(f"device {device_id!r} has the host's user name")
        if device_id in out:
            raise ConfigError(f"device {device_id!r} is listed twice")
        out[device_id] = password_hash
    return sorted(out.items())


def password_file(devices: list[tuple[str, str]], host_user: str, host_hash: str) -> str:
    lines = [f"{host_user}:{host_hash}"]
    lines += [f"{device_id}:{password_hash}" for device_id, password_hash in devices]
    return "\n".join(lines) + "\n"


def acl_file(device_ids: Iterable[str], host_user: str) -> str:
    """Explicit topics per user: a user not listed here (a revoked bulb) may do nothing."""
    prefix = protocol.PREFIX
    lines = [
        "# Written by `anbu broker config`; regenerate it rather than editing it.",
        "# The host: reads every bulb's topics, writes commands.",
        f"user {host_user}",
        *(f"topic read {prefix}+/{ch}" for ch in (*DEVICE_WRITES, protocol.CMD)),
        f"topic write {prefix}+/{protocol.CMD}",
    ]
    for device_id in device_ids:
        lines += ["", f"user {device_id}"]
        lines += [f"topic write {prefix}{device_id}/{ch}" for ch in DEVICE_WRITES]
        lines += [f"topic read {prefix}{device_id}/{ch}" for ch in DEVICE_READS]
    return "\n".join(lines) + "\n"


def mosquitto_conf(
    files: BrokerFiles,
    *,
    port: int,
    bind: str | None,
    tls: Tls | None,
    data_dir: Path,
    queued: int,
    inflight: int = MAX_INFLIGHT,
    log_dest: str = "stderr",
    run_as: str | None = None,
) -> str:
    lines = ["# Written by `anbu broker config` (docs/devices.md); regenerate, do not edit."]
    if run_as:
        lines.append(f"user {run_as}")
    lines += [
        "per_listener_settings false",
        f"listener {port}" + (f" {bind}" if bind else ""),
    ]
    if tls is not None:
        lines += [f"certfile {tls.certfile.resolve()}", f"keyfile {tls.keyfile.resolve()}"]
        if tls.cafile is not None:
            lines.append(f"cafile {tls.cafile.resolve()}")
    lines += [
        "",
        "# Every client logs in; its client id is its user name (a bulb: its device id).",
        "allow_anonymous false",
        f"password_file {files.passwd.resolve()}",
        f"acl_file {files.acl.resolve()}",
        "use_username_as_clientid true",
        "",
        "# Nothing the host has not read yet may be lost while it restarts.",
        "persistence true",
        f"persistence_location {data_dir.resolve()}/",
        f"autosave_interval {AUTOSAVE_S}",
        f"max_queued_messages {queued}",
        "max_queued_bytes 0",
        f"max_inflight_messages {inflight}",
        f"persistent_client_expiration {SESSION_EXPIRY}",
        "queue_qos0_messages false",
        "",
        f"log_dest {log_dest}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    """Write whole or not at all: Mosquitto may be re-reading the file (SIGHUP) right now."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_broker_config(
    directory: str | os.PathLike,
    devices: Iterable[Sequence[str]],
    host_user: str,
    host_password: str,
    *,
    port: int | None = None,
    bind: str | None = None,
    tls: Tls | None = None,
    data_dir: str | os.PathLike | None = None,
    queued: int | None = None,
    inflight: int = MAX_INFLIGHT,
    log_dest: str = "stderr",
    run_as: str | None = None,
) -> BrokerFiles:
    """Write mosquitto.conf, passwd and acl into `directory`; returns their paths.

    `devices`: (device id, `$7$` password hash) pairs, e.g. `store.device_credentials()` or
    `[(id, hash_password(pw))]` in a test. The host's password is hashed here, never written.
    `port` defaults to 8883 with TLS, 1883 without; `data_dir` (persistence) to
    `directory/data`; `queued` to `max_queued(len(devices))`.
    """
    if not HOST_USER.match(host_user or ""):
        raise ConfigError(
            f"host user {host_user!r} must be anbu-host-<name>, name [a-z0-9-]{{1,22}}: the "
            "broker makes it the host's client id"
        )
    if len(host_password or "") < MIN_HOST_PASSWORD:
        raise ConfigError(f"the host's password must have at least {MIN_HOST_PASSWORD} characters")
    pairs = _devices(devices, host_user)
    if tls is not None:
        for what, path in (("certificate", tls.certfile), ("key", tls.keyfile),
                           ("CA file", tls.cafile)):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"TLS {what} {path} does not exist")
    port = port if port is not None else (8883 if tls else 1883)
    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port} is not 1..65535")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    data = Path(data_dir) if data_dir is not None else folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(folder / "mosquitto.conf", folder / "passwd", folder / "acl")
    host_hash = hash_password(host_password, HOST_ITERATIONS)
    _write(files.passwd, password_file(pairs, host_user, host_hash), 0o640)
    _write(files.acl, acl_file((d for d, _ in pairs), host_user), 0o644)
    conf = mosquitto_conf(
        files, port=port, bind=bind, tls=tls, data_dir=data,
        queued=queued if queued is not None else max_queued(len(pairs)),
        inflight=inflight, log_dest=log_dest, run_as=run_as,
    )
    _write(files.conf, conf, 0o644)
    return files


# `anbu broker ...`


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser(
        "config", help="write mosquitto.conf, passwd and acl from the store's provisioned bulbs",
        description="Write Mosquitto's conf, password file and ACL file for every provisioned "
        "bulb and the host's user. Reload Mosquitto afterwards (SIGHUP re-reads passwd and acl).",
    )
    p.add_argument("--db", default=os.environ.get("ANBU_DB"),
                   help="the host's SQLite store (default: $ANBU_DB)")
    p.add_argument("--out", required=True, type=Path, help="folder to write the three files into")
    p.add_argument("--host-user", default="anbu-host-main",
                   help="the host's MQTT user (= its client id), anbu-host-<name>")
    p.add_argument("--host-password", default=None,
                   help=f"the host's password (default: ${HOST_PASSWORD_ENV}; an argument shows "
                   "in the process list)")
    p.add_argument("--port", type=int, default=None, help="listener port (8883 TLS, 1883 plain)")
    p.add_argument("--bind", default=None, help="listen on this address only")
    p.add_argument("--tls-cert", type=Path, help="broker certificate (PEM): serve TLS only")
    p.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    p.add_argument("--tls-ca", type=Path, help="CA for client certificates (optional)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="persistence folder (default: OUT/data)")
    p.add_argument("--max-queued", type=int, default=None,
                   help=f"messages kept per offline session (default: {QUEUED_PER_DEVICE} per "
                   f"bulb, at least {MIN_QUEUED})")
    p.add_argument("--log-dest", default="stderr", help="Mosquitto log_dest (e.g. syslog)")
    p.add_argument("--run-as", default=None, help="Mosquitto `user` to drop privileges to")


def main(args: argparse.Namespace) -> int:
    from host.store.sqlite import SqliteStore

    if not args.db:
        print("anbu broker config: no store: give --db or set ANBU_DB", file=sys.stderr)
        return 2
    if not Path(args.db).is_file():
        print(f"anbu broker config: no store at {args.db}", file=sys.stderr)
        return 2
    password = args.host_password or os.environ.get(HOST_PASSWORD_ENV, "")
    if not password:
        print(f"anbu broker config: the host's password: set ${HOST_PASSWORD_ENV} "
              "(or --host-password)", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("anbu broker config: TLS needs both --tls-cert and --tls-key", file=sys.stderr)
        return 2
    tls = Tls(args.tls_cert, args.tls_key, args.tls_ca) if args.tls_cert else None
    try:
        with SqliteStore(args.db) as store:
            creds = store.device_credentials()
        files = write_broker_config(
            args.out, [(c.device_id, c.password_hash) for c in creds], args.host_user, password,
            port=args.port, bind=args.bind, tls=tls, data_dir=args.data_dir,
            queued=args.max_queued, log_dest=args.log_dest, run_as=args.run_as,
        )
    except (ConfigError, StoreError, OSError) as e:
        print(f"anbu broker config: {e}", file=sys.stderr)
        return 1
    print(f"wrote {files.conf}, {files.passwd}, {files.acl}: {len(creds)} bulb(s) and "
          f"{args.host_user}")
    print("apply: start mosquitto -c with that conf, or send a running one SIGHUP")
    return 0
