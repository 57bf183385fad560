"""host.toml: what `anbu serve` connects to, where it keeps its data, and how it batches.

Every key has a default except what names a place (the database). Secrets never live in the
file: the broker password comes from the environment variable `mqtt.password_env` names. A bad
value is an error that names the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from host.config import EngineConfig
from host.dashboard.settings import DashboardConfig
from host.protocol import HOST_CLIENT_PREFIX, KEEPALIVE_S, KNOCK_ACK_TIMEOUT_S

EXAMPLE = Path(__file__).with_name("host.example.toml")
_CLIENT_NAME = re.compile(r"\A[a-z0-9-]{1,22}\Z")


class ConfigError(ValueError):
    """host.toml cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_name: str = "main"  # the client id is anbu-host-<name>; one process per name
    username: str = ""
    password_env: str = ""  # the environment variable holding the password
    ca: str = ""  # CA certificate file: TLS when set
    keepalive: int = 60

    @property
    def client_id(self) -> str:
        return HOST_CLIENT_PREFIX + self.client_name

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"mqtt.password_env: environment variable {self.password_env} "
                              "is not set")
        return value


@dataclass(frozen=True)
class IngestConfig:
    batch_max: int = 1000  # messages stored in one transaction at most
    batch_wait_ms: float = 2.0  # after the first message, wait this long for more
    settle_ms: float = 1000.0  # after connecting, the backlog is in once quiet this long
    settle_max_s: float = 30.0  # ... or after this long, whatever still arrives
    will_delay_s: float = 1.5 * KEEPALIVE_S  # a bulb's last will fires this long after it went
    ack_timeout_s: float = float(KNOCK_ACK_TIMEOUT_S)  # no command ack by then: failed


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port


@dataclass(frozen=True)
class StateConfig:
    save_every_s: float = 3600.0  # save the engine's state (and drop the journal before it)
    save_every_inputs: int = 500_000  # ... or after this many inputs, whichever comes first


@dataclass(frozen=True)
class ServeConfig:
    database: str
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    web: WebConfig = field(default_factory=WebConfig)
    state: StateConfig = field(default_factory=StateConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    notify: dict = field(default_factory=dict)  # handed to host.notify.from_config as it is
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    log_level: str = "info"


_TABLES = {"mqtt": MqttConfig, "ingest": IngestConfig, "web": WebConfig, "state": StateConfig,
           "dashboard": DashboardConfig}
_TOP = {"store", "engine", "notify", "log", *_TABLES}


def load(path: str | os.PathLike) -> ServeConfig:
    """Read and check host.toml; relative paths in it are relative to the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return parse(data, path.parent)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def parse(data: dict, base: Path = Path(".")) -> ServeConfig:
    """A ServeConfig from host.toml's tables (already parsed)."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigError(f"unknown table or key {unknown[0]!r}; known: {sorted(_TOP)}")
    store = _table(data, "store")
    database = store.pop("path", None)
    if not isinstance(database, str) or not database:
        raise ConfigError("store.path: the database file is required (a string)")
    if store:
        raise ConfigError(f"store.{sorted(store)[0]}: unknown key; known: ['path']")
    if database != ":memory:":
        database = str(base / database)
    parts = {name: _section(data, name, cls) for name, cls in _TABLES.items()}
    mqtt = parts["mqtt"]
    if not _CLIENT_NAME.match(mqtt.client_name):
        raise ConfigError(f"mqtt.client_name: {mqtt.client_name!r} is not [a-z0-9-]{{1,22}}")
    if mqtt.ca:
        parts["mqtt"] = dataclasses.replace(mqtt, ca=str(base / mqtt.ca))
    ingest = parts["ingest"]
    if ingest.batch_max < 1:
        raise ConfigError("ingest.batch_max: must be at least 1")
    log = _table(data, "log")
    level = log.pop("level", "info")
    if level not in ("debug", "info", "warning", "error") or log:
        raise ConfigError("log: only `level` (debug, info, warning, error) is known")
    notify = _table(data, "notify")
    return ServeConfig(database, engine=_engine(_table(data, "engine")), notify=notify,
                       log_level=level, **parts)


def _table(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a table [{name}]")
    return dict(value)


def _section(data: dict, name: str, cls: type):
    """Fill a dataclass from a table, checking each key's name and type against its default."""
    table = _table(data, name)
    defaults = cls()
    known = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key; known: {known}")
        values[key] = _typed(f"{name}.{key}", value, getattr(defaults, key))
    try:
        return cls(**values)
    except ValueError as e:  # the table's own checks (DashboardConfig's) start with the key
        raise ConfigError(f"{name}.{e}") from None


def _typed(where: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = type(value) is int and value >= 0
    elif isinstance(default, float):
        ok = type(value) in (int, float) and value >= 0
        value = float(value) if ok else value
    elif isinstance(default, tuple):  # a list of strings, e.g. dashboard.summary_to
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = type(default).__name__ + (" >= 0" if type(default) in (int, float) else "")
        kind = "a list of strings" if isinstance(default, tuple) else kind
        raise ConfigError(f"{where}: expected {kind}, got {value!r}")
    return value


def _engine(table: dict) -> EngineConfig:
    """[engine]: EngineConfig's fields by name (host/config.py says what each one weighs)."""
    if "prior_median_gap_h" in table and isinstance(table["prior_median_gap_h"], list):
        table["prior_median_gap_h"] = tuple(table["prior_median_gap_h"])
    known = {f.name: f for f in dataclasses.fields(EngineConfig)}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"engine.{key}: not an EngineConfig field (see host/config.py)")
        if key != "prior_median_gap_h":
            _typed(f"engine.{key}", value, getattr(EngineConfig(), key))
    try:
        return EngineConfig(**table)
    except ValueError as e:
        raise ConfigError(f"engine: {e}") from None
