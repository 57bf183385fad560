"""The wall-clock timer heap: one time per key, earliest first, re-timing replaces."""

from __future__ import annotations

from host.serve.timers import Timers


def test_due_keys_come_earliest_first_and_once():
    t = Timers()
    t.set("h2", 20.0)
    t.set("h1", 10.0)
    t.set("h3", 30.0)
    assert t.next_at() == 10.0
    assert t.pop_due(20.0) == ["h1", "h2"]
    assert t.pop_due(25.0) == []
    assert t.next_at() == 30.0 and len(t) == 1


def test_setting_a_key_again_moves_it_and_none_cancels_it():
    t = Timers()
    t.set("h1", 10.0)
    t.set("h1", 50.0)  # the household's wake time moved on
    t.set("h2", 40.0)
    t.set("h2", None)
    assert t.pop_due(45.0) == []
    assert t.get("h1") == 50.0
    assert t.pop_due(50.0) == ["h1"]
    assert t.next_at() is None


def test_stale_entries_do_not_grow_without_bound():
    t = Timers()
    for i in range(10_000):
        t.set("h1", float(i))  # a household re-timed on every event
    assert len(t._heap) < 3000
    assert t.pop_due(1e9) == ["h1"]
