"""When to try a failed delivery again: exponential backoff with jitter, and when to stop.

Jitter spreads the retries of many notices (an office's receiver was down for everyone) so
they do not all arrive in the same second when it comes back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NamedTuple


class Backoff(NamedTuple):
    initial_s: float = 5.0
    max_s: float = 600.0
    factor: float = 2.0
    max_attempts: int = 10  # then a dead letter: 15 to 30 minutes of waits by default
    jitter: float = 0.5  # up to this fraction of each delay is taken off at random

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt `attempt` (1 for the first) before the next."""
        base = min(self.max_s, self.initial_s * self.factor ** max(attempt - 1, 0))
        return base * (1.0 - self.jitter * rand())

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts

    def check(self, where: str) -> None:
        """Raise ValueError naming `where` when a setting makes no sense."""
        if not (self.initial_s >= 0 and self.max_s >= self.initial_s):
            raise ValueError(f"{where}: need 0 <= backoff_initial_s <= backoff_max_s")
        if self.factor < 1:
            raise ValueError(f"{where}: backoff_factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"{where}: backoff_jitter must be between 0 and 1")
        if type(self.max_attempts) is not int or self.max_attempts < 1:
            raise ValueError(f"{where}: max_attempts must be an integer >= 1")


DEFAULT = Backoff()
ONCE = Backoff(max_attempts=1)  # for the log: writing a line either works or cannot be helped
