"""The engine's memory across restarts: journal + saved state rebuild it exactly."""

from __future__ import annotations

import random

import pytest

from host import decisions as d
from host.engine import Engine
from host.events import HEARTBEAT, ONLINE, SWITCHED, Event
from host.serve import state
from host.serve.timers import Timers
from host.store import TICK, EngineInput
from host.store.sqlite import SqliteStore
from tests.households import at, regular_days


def arrivals(seed: int = 1) -> list[tuple[float, Event]]:
    """Three households' days as a host receives them: some events late, one long silence."""
    rng = random.Random(seed)
    events = []
    for i, h in enumerate(("h1", "h2", "h3")):
        events.append(Event(h, at(0, 6), ONLINE, f"bulb-000{i}", (SWITCHED, 3600.0, 1)))
        events += [Event(h, at(0, 6) + k * 3000, HEARTBEAT, f"bulb-000{i}")
                   for k in range(1, 24 * 29)]
        days = regular_days(h, 24, seed=i)
        if h == "h2":  # a morning with nobody up: knock, no answer, alarm, repeats
            days = [e for e in days if not at(20, 0) < e.time < at(20, 16)]
        events += days
    out = []
    for e in events:
        late = rng.random() < 0.05
        out.append((e.time + (rng.uniform(60, 3600) if late else rng.uniform(0, 2)), e))
    return sorted(out, key=lambda x: x[0])


def run(engine: Engine, timers: Timers, items, memory: state.Memory | None = None) -> list:
    """The service's loop in miniature: ticks when due (a little late), inputs as they come."""
    actions, journal = [], []

    def take(now: float, event: Event) -> None:
        item = EngineInput(now, event)
        decision = state.apply(engine, item)
        timers.set(event.household, decision.wake_at)
        actions.extend(decision.actions)
        journal.append(item)

    for arrival, event in items:
        while (due := timers.next_at()) is not None and due <= arrival:
            for household in timers.pop_due(due):
                take(due + 0.5, Event(household, due + 0.5, TICK))
        take(arrival, event)
    if memory is not None:
        memory.journal(journal)
    return actions


def rebuilt(store: SqliteStore) -> tuple[Engine, Timers, list]:
    engine = Engine()
    replayed: list = []
    state.Memory(engine, store).restore(lambda item, dec: replayed.extend(dec.actions))
    timers = Timers()
    for household in engine.households():
        timers.set(household, engine.state(household).wake_at)
    return engine, timers, replayed


@pytest.mark.parametrize("save_at", [None, 0.3, 0.7])
def test_a_restart_rebuilds_the_engine_exactly(tmp_path, save_at):
    items = arrivals()
    # The host dies during h2's alarm, between two of its repeats.
    crash = next(i for i, (arrival, _) in enumerate(items) if arrival >= at(20, 12))
    end = len(items)
    whole, whole_timers = Engine(), Timers()
    expected = run(whole, whole_timers, items)

    store = SqliteStore(tmp_path / "anbu.db")
    live, live_timers = Engine(), Timers()
    memory = state.Memory(live, store)
    first = int(len(items) * save_at) if save_at else 0
    before = run(live, live_timers, items[:first], memory)
    if save_at:
        memory.save(items[first][0])
        assert store.mark("state_through") == memory.last_input
    before += run(live, live_timers, items[first:crash], memory)
    store.close()  # the process dies here

    store = SqliteStore(tmp_path / "anbu.db")
    engine, timers, replayed = rebuilt(store)
    assert replayed == before[len(before) - len(replayed):]  # the same decisions again
    after = run(engine, timers, items[crash:end])
    assert before + after == expected
    for household in whole.households():
        assert state.dumps(engine.state(household)) == state.dumps(whole.state(household))
    # The scenario did what it is meant to test: a case that was open when the host died.
    assert any(isinstance(a, d.Alarm) and a.household == "h2" for a in before)
    store.close()


def test_saving_drops_the_journal_and_ids_never_repeat(tmp_path):
    store = SqliteStore(tmp_path / "anbu.db")
    engine = Engine()
    memory = state.Memory(engine, store)
    items = arrivals()[:50]
    run(engine, Timers(), items, memory)
    last = memory.last_input
    memory.save(0.0)
    assert list(store.engine_inputs()) == []
    run(engine, Timers(), arrivals()[50:60], memory)
    ids = [i.id for i in store.engine_inputs()]
    assert ids == list(range(last + 1, last + 1 + len(ids))) and len(ids) >= 10
    store.close()


def test_state_saved_by_other_code_is_refused_with_a_reason(tmp_path):
    store = SqliteStore(tmp_path / "anbu.db")
    store.save_engine_state({"h1": b"..."}, "pickle-4:0000000000000000", 0, 0.0)
    with pytest.raises(state.StateError, match="engine's state classes changed"):
        state.Memory(Engine(), store).restore()
    store.close()
