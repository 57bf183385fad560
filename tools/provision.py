"""A bulb's identity: its own broker password, its config.json, its place in the store.

The password is made here with `secrets`, goes into the bulb's config.json and nowhere else;
the store keeps Mosquitto's hash of it, which `anbu broker config` writes out as it is. The
settings are checked before anything touches a device, with the firmware's own checker
(firmware/config.py), so a config the bulb would reject or silently replace never leaves here.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import re
import secrets
import ssl
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

from host import protocol
from host.events import POWER_MODES, SWITCHED
from host.store import DeviceCredential, Store, StoreError
from tools.broker_config import hash_password

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
PASSWORD_BYTES = 24  # 192 random bits, 32 URL-safe characters
# Keys the installer gives as options; a settings file may not set them behind their back.
OWN_KEYS = ("device", "power_mode", "wifi.ssid", "wifi.password", "broker.host", "broker.port",
            "broker.tls", "broker.ca", "broker.user", "broker.password")
_HOST_LABEL = re.compile(r"\A(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


class SettingsError(ValueError):
    """Wi-Fi, broker or other settings a bulb could not use; the message lists each problem."""


@cache
def firmware_config(firmware: Path = FIRMWARE) -> ModuleType:
    """firmware/config.py, the bulb's own checker, loaded as a plain module (it is CPython-safe)."""
    spec = importlib.util.spec_from_file_location("anbu_firmware_config", firmware / "config.py")
    if spec is None or spec.loader is None or not (firmware / "config.py").is_file():
        raise SettingsError(f"no firmware at {firmware} (config.py missing)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Settings:
    """What an installer gives for one bulb; `extra` holds any other config.json keys."""

    device_id: str
    wifi_ssid: str
    wifi_password: str
    broker_host: str
    broker_port: int = 0  # 0: 8883 with TLS, 1883 without (the firmware's rule)
    tls: bool = False
    ca: Path | None = None  # CA certificate to copy to the bulb (PEM or DER)
    power_mode: str = SWITCHED
    extra: dict = field(default_factory=dict)

    @property
    def ca_name(self) -> str | None:
        """The CA's file name on the bulb's flash."""
        return None if self.ca is None else "ca" + (self.ca.suffix.lower() or ".pem")


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        path = prefix + str(key)
        if isinstance(value, dict):
            out.update(_flat(value, path + "."))
        else:
            out[path] = value
    return out


def _nest(flat: dict[str, object]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _host_problem(host: str) -> str | None:
    if not host:
        return "broker host: empty"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return f"broker host: {host!r} is neither an IP address nor a host name"
    return None


def _ca_problem(ca: Path) -> str | None:
    try:
        data = ca.read_bytes()
    except OSError as e:
        return f"CA file {ca}: cannot read it ({e.strerror})"
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            ssl.PEM_cert_to_DER_cert(data.decode("ascii", "replace"))
        except ValueError as e:
            return f"CA file {ca}: not a usable PEM certificate ({e})"
        return None
    if data[:1] == b"\x30":  # a DER SEQUENCE
        return None
    return f"CA file {ca}: neither a PEM nor a DER certificate"


def problems(s: Settings) -> list[str]:
    """Everything wrong with these settings, each naming the setting; empty when usable."""
    found = []
    if not re.match(protocol.DEVICE_ID_PATTERN, s.device_id or ""):
        found.append(f"device id {s.device_id!r}: expected [a-z0-9][a-z0-9-]{{2,31}}")
    if s.power_mode not in POWER_MODES:
        modes = "/".join(sorted(POWER_MODES))
        found.append(f"power mode {s.power_mode!r}: expected one of {modes}")
    ssid = (s.wifi_ssid or "").encode()
    if not 1 <= len(ssid) <= 32:
        found.append(f"Wi-Fi SSID: expected 1..32 bytes, got {len(ssid)}")
    pw = s.wifi_password or ""
    hex64 = len(pw) == 64 and all(c in "0123456789abcdefABCDEF" for c in pw)
    if pw and not hex64 and not (8 <= len(pw) <= 63 and pw.isascii() and pw.isprintable()):
        found.append("Wi-Fi password: WPA2 wants 8..63 printable ASCII characters (or none for "
                     f"an open network), got {len(pw)} characters")
    problem = _host_problem(s.broker_host or "")
    if problem:
        found.append(problem)
    if not 0 <= s.broker_port <= 65535:
        found.append(f"broker port: expected 1..65535, got {s.broker_port}")
    if s.ca is not None and not s.tls:
        found.append("a CA file was given without TLS")
    if s.ca is not None:
        problem = _ca_problem(s.ca)
        if problem:
            found.append(problem)
    if not isinstance(s.extra, dict):
        return [*found, "settings file: expected a JSON object"]
    fields = {path for path, *_ in firmware_config().FIELDS}
    for path in _flat(s.extra):
        if path in OWN_KEYS:
            found.append(f"settings file: {path} is set by its own option, not here")
        elif path not in fields:
            found.append(f"settings file: {path} is not a setting the firmware knows")
    return found


def device_config(s: Settings, password: str | None) -> dict:
    """config.json for the bulb; `password` None leaves the broker login out."""
    flat = {path: value for path, value in _flat(s.extra).items() if path not in OWN_KEYS}
    flat.update({
        "device": s.device_id,
        "power_mode": s.power_mode,
        "wifi.ssid": s.wifi_ssid,
        "wifi.password": s.wifi_password,
        "broker.host": s.broker_host,
        "broker.tls": s.tls,
    })
    if s.broker_port:
        flat["broker.port"] = s.broker_port
    if s.ca_name:
        flat["broker.ca"] = s.ca_name
    if password is not None:
        flat["broker.user"] = s.device_id
        flat["broker.password"] = password
    return _nest(flat)


def check(s: Settings) -> None:
    """SettingsError listing every problem, the firmware checker's own complaints included."""
    found = problems(s)
    if not found:
        _, errors = firmware_config().validate(device_config(s, None), b"")
        found += [e.removeprefix("config: ") for e in errors]
    if found:
        raise SettingsError("; ".join(found))


def load_extra(path: Path | None) -> dict:
    """A settings file (JSON: pins, hb, ntp, ... for a batch of bulbs); {} when none."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SettingsError(f"settings file {path}: cannot read it ({e.strerror})") from e
    except ValueError as e:
        raise SettingsError(f"settings file {path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path}: expected a JSON object")
    return data


def preflight(store: Store, device_id: str, household: str, power_mode: str,
              replace: bool) -> None:
    """Refuse before the device is touched: unknown household, bulb already provisioned."""
    store.household(household)
    try:
        device = store.device(device_id)
    except StoreError:
        return  # a new bulb
    if device.household_id != household:
        raise StoreError(f"device {device_id!r} belongs to household {device.household_id!r},"
                         f" not {household!r}")
    if device.power_mode != power_mode:
        raise StoreError(f"device {device_id!r} is registered as {device.power_mode!r}, "
                         f"not {power_mode!r}")
    if not replace:
        try:
            store.device_credential(device_id)
        except StoreError:
            return  # registered, never given credentials
        raise StoreError(f"device {device_id!r} is already provisioned: give --replace to "
                         "give it new credentials (the old ones stop working)")


def register(store: Store, s: Settings, household: str, password: str,
             replace: bool) -> DeviceCredential:
    """Record the bulb and the hash of its password (one transaction)."""
    return store.provision_device(s.device_id, household, s.power_mode,
                                  hash_password(password), replace=replace)
