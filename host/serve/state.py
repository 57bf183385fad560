"""The engine's memory across restarts: a journal of its inputs plus saved state.

The engine is deterministic: the same calls (handle(event, now), tick(household, now)) in the
same order leave the same state and return the same decisions. So every input the host gives
it is journaled (host.store engine_inputs) in the transaction that stores the event and the
decisions, and a restart replays the journal through the last saved state: the engine is then
exactly where it was when the process died, open cases, running knocks and alarm repeats
included, and nothing is decided twice. Replaying the stored events by their own times would
not be exact (an event that arrived late was judged when it arrived, not when it happened).

State is saved per household (pickled) every so often and at shutdown, and the journal up to
it dropped, so a restart replays at most that much (Engine.state to save, Engine.restore to
load).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable
from datetime import tzinfo
from zoneinfo import ZoneInfo

from host.case import Case
from host.decisions import Decision, Reason
from host.engine import Engine
from host.household import DeviceState, HouseholdState
from host.localtime import LocalClock
from host.routine import Routine
from host.store import TICK, EngineInput, Store


def _fingerprint() -> str:
    """Changes whenever a class the saved state is made of changes shape."""
    shape = [(c.__name__, c.__slots__) for c in (HouseholdState, DeviceState, Case, Routine)]
    shape.append(("Reason", Reason._fields))
    return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]


FORMAT = f"pickle-{pickle.DEFAULT_PROTOCOL}:{_fingerprint()}"


class StateError(Exception):
    """The saved state cannot be used by this code; the message says why and what to do."""


def dumps(state: HouseholdState) -> bytes:
    """The household's state; its clock goes as its zone's name (clocks are shared, and their
    caches are worth nothing on disk). Plain pickle otherwise: it runs at C speed."""
    clock = state.clock
    state.clock = None  # type: ignore[assignment]
    try:
        return pickle.dumps((getattr(clock.tz, "key", None) or str(clock.tz), state),
                            pickle.DEFAULT_PROTOCOL)
    finally:
        state.clock = clock


def loads(data: bytes, clocks: dict[str, LocalClock] | None = None) -> HouseholdState:
    """The state dumps saved; households of one zone share one clock from `clocks`."""
    zone, state = pickle.loads(data)
    if not isinstance(state, HouseholdState):
        raise StateError(f"saved state is a {type(state).__name__}, not a HouseholdState")
    clocks = {} if clocks is None else clocks
    clock = clocks.get(zone)
    if clock is None:
        clock = clocks[zone] = LocalClock(ZoneInfo(zone))
    state.clock = clock
    return state


def apply(engine: Engine, item: EngineInput) -> Decision:
    """Give the engine one journaled input, as it was given the first time."""
    event = item.event
    if event.kind == TICK:
        return engine.tick(event.household, item.now)
    return engine.handle(event, item.now)


class Memory:
    """Journal and saved state of one engine in one store."""

    def __init__(self, engine: Engine, store: Store) -> None:
        self.engine = engine
        self.store = store
        self.dirty: set[str] = set()  # households whose state changed since the last save
        self.pending = 0  # inputs journaled since the last save
        self.last_input = 0  # id of the last input journaled

    def restore(self, on_replayed: Callable[[EngineInput, Decision], None] | None = None) -> int:
        """Load the saved state, then replay the journal after it; returns inputs replayed.

        on_replayed sees each replayed input with the decision it gave (the same as the first
        time), so the caller can carry out what a crash may have left undone.
        """
        clocks: dict[str, LocalClock] = {}
        for household, fmt, blob in self.store.engine_state():
            if fmt != FORMAT:
                raise StateError(
                    f"household {household!r}: its engine state was saved as {fmt}, this code "
                    f"reads {FORMAT}; the engine's state classes changed. Run the version "
                    "that saved it, or migrate the saved state before upgrading")
            try:
                state = loads(blob, clocks)
            except Exception as e:
                raise StateError(f"household {household!r}: saved engine state is unreadable: "
                                 f"{e!r}") from e
            if state.id != household:
                raise StateError(f"household {household!r}: saved engine state is for "
                                 f"{state.id!r}")
            self.engine.restore(state)
        self.last_input = int(self.store.mark("state_through") or 0)
        replayed = 0
        for item in self.store.engine_inputs(self.last_input):
            decision = apply(self.engine, item)
            if on_replayed is not None:
                on_replayed(item, decision)
            self.dirty.add(item.event.household)
            self.last_input = item.id or self.last_input
            replayed += 1
        self.pending = replayed
        return replayed

    def journal(self, inputs: Iterable[EngineInput]) -> None:
        """Journal inputs the engine just took (inside the caller's batch transaction)."""
        items = list(inputs)
        if not items:
            return
        self.last_input = self.store.add_engine_inputs(items)
        self.pending += len(items)
        self.dirty.update(i.event.household for i in items)

    def save(self, now: float) -> int:
        """Save every household changed since the last save; returns how many."""
        state = self.engine.state
        blobs = {h: dumps(st) for h in self.dirty if (st := state(h)) is not None}
        self.store.save_engine_state(blobs, FORMAT, self.last_input, now)
        self.dirty.clear()
        self.pending = 0
        return len(blobs)


def tz_of(zone_of: Callable[[str], str]) -> Callable[[str], tzinfo]:
    """The engine's tz_of from a household -> zone name lookup (ZoneInfo caches instances)."""
    return lambda household: ZoneInfo(zone_of(household))
