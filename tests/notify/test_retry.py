"""Backoff: doubling delays up to a cap, jitter that only shortens them, and when to stop."""

from __future__ import annotations

import pytest

from host.notify.retry import Backoff


def test_delays_double_up_to_the_cap_and_jitter_only_shortens_them():
    b = Backoff(initial_s=5, max_s=600, factor=2, max_attempts=10, jitter=0.5)
    assert [b.delay(n, rand=lambda: 0.0) for n in range(1, 10)] == [
        5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert [b.delay(n, rand=lambda: 1.0) for n in (1, 2, 9)] == [2.5, 5, 300]
    assert not b.gives_up_after(9) and b.gives_up_after(10)
    # The default gives a receiver that is down roughly 20 to 30 minutes to come back.
    total = [sum(b.delay(n, rand=lambda r=r: r) for n in range(1, 10)) for r in (0.0, 1.0)]
    assert total == [1835, 917.5]


@pytest.mark.parametrize(
    ("backoff", "message"),
    [
        (Backoff(initial_s=10, max_s=5), "backoff_initial_s <= backoff_max_s"),
        (Backoff(factor=0.5), "backoff_factor must be at least 1"),
        (Backoff(jitter=-0.1), "backoff_jitter must be between 0 and 1"),
        (Backoff(max_attempts=0), "max_attempts must be an integer >= 1"),
    ],
)
def test_nonsense_settings_are_refused(backoff, message):
    with pytest.raises(ValueError, match=f"notify.webhook\\[0\\]: .*{message}"):
        backoff.check("notify.webhook[0]")
    Backoff().check("notify")
