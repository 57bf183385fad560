"""Wake-up times by key on the wall clock: the engine's households, the commands' ack deadlines.

The same lazy-deletion heap host.replay.Replayer keeps for the backtest, without its clock:
the live host reads the time itself and asks what is due. Setting a key again replaces its
time; the old heap entry is skipped when it surfaces.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable


class Timers:
    def __init__(self) -> None:
        self._at: dict[Hashable, float] = {}  # the live time of each key
        self._heap: list[tuple[float, int, Hashable]] = []  # entries not in _at are stale
        self._n = 0  # tie-breaker: keys need not be comparable

    def __len__(self) -> int:
        return len(self._at)

    def get(self, key: Hashable) -> float | None:
        return self._at.get(key)

    def set(self, key: Hashable, at: float | None) -> None:
        """Wake `key` at `at`; None cancels it."""
        if at is None:
            self._at.pop(key, None)
            return
        if self._at.get(key) != at:
            self._at[key] = at
            self._n += 1
            heapq.heappush(self._heap, (at, self._n, key))
            if len(self._heap) > 2 * len(self._at) + 1024:
                self._compact()

    def next_at(self) -> float | None:
        heap = self._heap
        while heap and self._at.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[Hashable]:
        """Every key due at or before `now`, earliest first; they are removed."""
        due = []
        while (at := self.next_at()) is not None and at <= now:
            _, _, key = heapq.heappop(self._heap)
            del self._at[key]
            due.append(key)
        return due

    def _compact(self) -> None:
        """Drop stale entries, so a household re-timed on every event cannot grow the heap."""
        self._heap = [e for e in self._heap if self._at.get(e[2]) == e[0]]
        heapq.heapify(self._heap)
