"""Drive one engine through a list of inputs, ticking it exactly at the wake times it asks for.

Tests use this to see the engine as the host sees it; the log is (time, action) tuples in the
order the engine produced them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from host.engine import Engine
from host.events import Event


def drive(engine: Engine, inputs: Iterable[Event], until: float) -> list:
    """Feed inputs in time order with ticks between them; returns every action."""
    actions: list = []
    wakes: list[tuple[float, str]] = []
    due: dict[str, float | None] = {}

    def note(household: str, wake: float | None) -> None:
        due[household] = wake
        if wake is not None:
            heapq.heappush(wakes, (wake, household))

    def tick_until(t: float) -> None:
        while wakes and wakes[0][0] <= t:
            wake, household = heapq.heappop(wakes)
            if due.get(household) != wake:
                continue  # superseded by a later decision
            decision = engine.tick(household, wake)
            actions.extend(decision.actions)
            note(household, decision.wake_at)

    for household in list(engine.households()):  # carry on where an earlier drive stopped
        state = engine.state(household)
        if state is not None:
            note(household, state.wake_at)
    for event in sorted(inputs, key=lambda e: e.time):
        tick_until(event.time)
        decision = engine.handle(event, event.time)
        actions.extend(decision.actions)
        note(event.household, decision.wake_at)
    tick_until(until)
    return actions


def of(actions: list, kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]
