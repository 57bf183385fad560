"""Drive one engine through a list of inputs, ticking it exactly at the wake times it asks for.

A thin layer over host.replay.Replayer (the backtest's driver) for engine tests: no people play
along, inputs may come unsorted, the clock runs up to and including `until`, and a second call
carries on where the first stopped.
"""

from __future__ import annotations

from collections.abc import Iterable

from host.engine import Engine
from host.events import Event
from host.replay import Replayer


def drive(engine: Engine, inputs: Iterable[Event], until: float) -> list:
    """Feed inputs in time order with ticks between them; returns every action."""
    replayer = Replayer(engine)
    for household in list(engine.households()):  # carry on where an earlier drive stopped
        state = engine.state(household)
        if state is not None:
            replayer.expect(household, state.wake_at)
    for event in sorted(inputs, key=lambda e: e.time):
        replayer.feed(event)
    replayer.run_to(until, inclusive=True)
    return replayer.result.actions


def of(actions: list, kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]
