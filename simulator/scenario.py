"""A scenario: what to simulate, in a TOML file people can read and edit, with a seed.

The embedded defaults (simulator/scenarios/default.toml) are read first and a scenario file
on top of them, so a file names only what it changes. Every key is checked against what the
simulator knows; a mistake is an error naming the file and the key, never a silent default.
The [check] table is not interpreted here: it is passed through raw as `limits` for
`anbu simulate --check`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from host.baselines import BASELINES
from host.config import EngineConfig
from simulator.life import LifeRates
from simulator.network import NetworkRates
from simulator.persona import Persona
from simulator.responders import PeopleRates

ENGINE = "anbu"
ROOMS = ("bathroom", "living_room", "bedroom")
DEFAULTS = "<defaults>"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Variant:
    """The engine with some EngineConfig fields changed, for the trade-off curve."""

    name: str  # the rule's name: "anbu@<variant>"
    overrides: dict[str, float]

    def config(self) -> EngineConfig:
        return EngineConfig(**self.overrides)


@dataclass(frozen=True)
class Scenario:
    source: str  # the file it was read from, or "<defaults>"
    seed: int
    households: int
    days: int
    start: date
    timezone: str
    latitude: float
    longitude: float
    neighbourhoods: int
    rules: tuple[str, ...]
    bulbs: dict[str, float]
    curve: tuple[Variant, ...]
    curve_every: int  # the variants run on every curve_every-th household (and see rules_for)
    personas: tuple[Persona, ...]
    life: LifeRates
    network: NetworkRates
    people: PeopleRates
    limits: dict[str, Any]  # the raw [check] table
    table: dict[str, Any] = field(repr=False)  # everything, merged, JSON-ready (for reports)

    def household_id(self, index: int) -> str:
        return f"hh-{index:06d}"

    def stream(self, index: int, purpose: str) -> random.Random:
        """Household `index`'s own random stream for one purpose (who, life, resident,
        network, visits, people): the same whichever shard runs it."""
        return random.Random(f"{self.seed}/{index}/{purpose}")

    def rules_for(self, index: int) -> tuple[str, ...]:
        """The rules household `index` is replayed with: every rule; the curve's variants too
        on every `curve_every`-th household and on every household whose life holds an
        emergency (false alarms are common enough to measure on a sample; delays need every
        emergency there is)."""
        if self.curve and (index % self.curve_every == 0 or index in self._emergencies):
            return self.rules + tuple(v.name for v in self.curve)
        return self.rules

    def curve_households(self) -> int:
        """How many households the curve variants ran on."""
        if not self.curve:
            return 0
        return sum(1 for i in range(self.households)
                   if i % self.curve_every == 0 or i in self._emergencies)

    @cached_property
    def _emergencies(self) -> frozenset[int]:
        """Households whose drawn life holds an emergency (World draws the same plan)."""
        from simulator.life import plan

        start, end = self.start_utc(), self.end_utc()
        return frozenset(i for i in range(self.households)
                         if plan(self.life, self.stream(i, "life"), start, end,
                                 start).emergency is not None)

    def engine_config(self, rule: str) -> EngineConfig:
        if rule == ENGINE:
            return EngineConfig()
        for variant in self.curve:
            if variant.name == rule:
                return variant.config()
        raise KeyError(f"{rule!r} is not an engine rule of this scenario")

    def start_utc(self) -> float:
        """UTC seconds of local midnight at the start of the first day."""
        return datetime.combine(self.start, time(0), ZoneInfo(self.timezone)).timestamp()

    def end_utc(self) -> float:
        return datetime.combine(date.fromordinal(self.start.toordinal() + self.days), time(0),
                                ZoneInfo(self.timezone)).timestamp()


def load(path: Path | None = None) -> Scenario:
    """The embedded defaults, with the file at `path` (if any) read on top."""
    table = _defaults()
    if path is not None:
        path = Path(path)
        try:
            with path.open("rb") as f:
                own = tomllib.load(f)
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read the scenario: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
        _merge(table, own, str(path), "")
    return _build(table, str(path) if path is not None else DEFAULTS)


def with_overrides(s: Scenario, *, households: int | None = None, days: int | None = None,
                   seed: int | None = None) -> Scenario:
    """The same scenario with the command line's figures instead of the file's."""
    table = dict(s.table)
    for key, value in (("households", households), ("days", days), ("seed", seed)):
        if value is not None:
            table[key] = value
    return _build(table, s.source, command_line=True)


# -- reading ---------------------------------------------------------------------------------

def _defaults() -> dict[str, Any]:
    text = resources.files("simulator").joinpath("scenarios/default.toml").read_text("utf-8")
    table = tomllib.loads(text)
    table["start"] = table["start"].isoformat()
    return table


# Tables a scenario file replaces as a whole (a set of shares, of personas, of variants, of
# limits); every other table is merged key by key onto the defaults.
_REPLACED = frozenset({"bulbs", "personas", "curve.variants", "life.emergency_kinds",
                       "life.emergency_times", "check"})


def _merge(base: dict, own: dict, where: str, prefix: str) -> None:
    """Read `own` onto `base`; a key the defaults lack is an error naming it."""
    for key, value in own.items():
        name = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(sorted(base)) or "none"
            raise ScenarioError(f"{where}: unknown key {name!r} (known here: {known})")
        if isinstance(value, date) and not isinstance(value, datetime):
            value = value.isoformat()
        if name in _REPLACED or not isinstance(base[key], dict):
            base[key] = value
        elif not isinstance(value, dict):
            raise ScenarioError(f"{where}: {name}: a table, not {value!r}")
        else:
            _merge(base[key], value, where, f"{name}.")


def _build(table: dict[str, Any], where: str, command_line: bool = False) -> Scenario:
    """Check every value and make the Scenario; errors name `where` and the key."""
    def fail(key: str, what: str) -> ScenarioError:
        origin = "command line" if command_line and key in ("households", "days", "seed") \
            else where
        return ScenarioError(f"{origin}: {key}: {what}")

    seed = _int(table, "seed", fail, low=0)
    households = _int(table, "households", fail, low=1)
    days = _int(table, "days", fail, low=1)
    try:
        start = date.fromisoformat(str(table["start"]))
    except ValueError as exc:
        raise fail("start", f"not a date (YYYY-MM-DD): {table['start']!r}") from exc
    tz = table["timezone"]
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise fail("timezone", f"unknown time zone {tz!r}") from exc
    latitude = _num(table, "latitude", fail, low=-66, high=66)
    longitude = _num(table, "longitude", fail, low=-180, high=180)
    neighbourhoods = _int(table, "neighbourhoods", fail, low=1)
    rules = table["rules"]
    known = (ENGINE, *BASELINES)
    if not isinstance(rules, list) or not rules or any(r not in known for r in rules):
        raise fail("rules", f"a list of rule names from {', '.join(known)}; got {rules!r}")
    if len(set(rules)) != len(rules):
        raise fail("rules", f"a rule is named twice: {rules!r}")
    bulbs = _shares(table["bulbs"], "bulbs", fail)
    if set(bulbs) - set(ROOMS):
        raise fail("bulbs", f"rooms are {', '.join(ROOMS)}; got {', '.join(sorted(bulbs))}")
    curve_table = table["curve"]
    every = _int(curve_table, "every", fail, low=1, prefix="curve.")
    variants = []
    for name, overrides in curve_table["variants"].items():
        if not isinstance(overrides, dict):
            raise fail(f"curve.variants.{name}", "a table of EngineConfig fields")
        fields = {f.name: f for f in dataclasses.fields(EngineConfig)}
        for key, value in overrides.items():
            if key not in fields or fields[key].type not in ("float", "int"):
                raise fail(f"curve.variants.{name}.{key}", "not a numeric EngineConfig field")
            if not _is_number(value):
                raise fail(f"curve.variants.{name}.{key}", f"not a number: {value!r}")
        variant = Variant(f"{ENGINE}@{name}", dict(overrides))
        try:
            variant.config()
        except ValueError as exc:
            raise fail(f"curve.variants.{name}", str(exc)) from exc
        variants.append(variant)
    if ENGINE not in rules:
        variants = []
    personas = _personas(table, fail)
    life = _section(LifeRates, table["life"], "life", fail)
    network = _section(NetworkRates, table["network"], "network", fail)
    people = _section(PeopleRates, table["people"], "people", fail)
    limits = table.get("check", {})
    if not isinstance(limits, dict):
        raise fail("check", "a table of limits")
    return Scenario(
        source=where, seed=seed, households=households, days=days, start=start,
        timezone=str(tz), latitude=latitude, longitude=longitude,
        neighbourhoods=neighbourhoods, rules=tuple(rules), bulbs=bulbs,
        curve=tuple(variants), curve_every=every, personas=personas, life=life,
        network=network, people=people, limits=dict(limits), table=table,
    )


def _personas(table: dict, fail) -> tuple[Persona, ...]:
    base = table["persona"]
    out = []
    for name, own in table["personas"].items():
        if not isinstance(own, dict):
            raise fail(f"personas.{name}", "a table of persona fields")
        for key in own:
            if key not in base:
                raise fail(f"personas.{name}.{key}",
                           f"unknown persona field (known: {', '.join(sorted(base))})")
        out.append(_section(Persona, {**base, **own, "name": name}, f"personas.{name}", fail))
    if not out or sum(p.weight for p in out) <= 0:
        raise fail("personas", "at least one persona with a positive weight")
    return tuple(out)


def _section(cls: type, values: dict, prefix: str, fail):
    """A dataclass from a table: each field present, of its type; no stray keys."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise fail(f"{prefix}.{key}", f"unknown (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name not in values:
            raise fail(key, "missing")
        value = values[name]
        if f.type == "float":
            if not _is_number(value):
                raise fail(key, f"not a number: {value!r}")
            value = float(value)
        elif f.type == "int":
            if type(value) is not int:
                raise fail(key, f"not a whole number: {value!r}")
        elif f.type == "str":
            if not isinstance(value, str):
                raise fail(key, f"not a string: {value!r}")
        elif f.type == "dict[str, float]":
            value = _shares(value, key, fail, normalise=False)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise fail(prefix, str(exc)) from exc


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _num(table: dict, key: str, fail, low: float, high: float) -> float:
    value = table[key]
    if not _is_number(value) or not low <= value <= high:
        raise fail(key, f"a number from {low} to {high}; got {value!r}")
    return float(value)


def _int(table: dict, key: str, fail, low: int, prefix: str = "") -> int:
    value = table[key]
    if type(value) is not int or value < low:
        raise fail(prefix + key, f"a whole number of at least {low}; got {value!r}")
    return value


def _shares(value: object, key: str, fail, normalise: bool = True) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise fail(key, "a table of names and numbers")
    for name, share in value.items():
        if not _is_number(share) or share < 0:
            raise fail(f"{key}.{name}", f"not a number of at least 0: {share!r}")
    total = sum(value.values())
    if normalise and total <= 0:
        raise fail(key, "the shares add up to nothing")
    return {name: float(share) for name, share in value.items()}
