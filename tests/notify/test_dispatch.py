"""The notifier never takes the engine's thread down: a broken store, metrics or channel."""

from __future__ import annotations

import logging

from host.notify.dispatch import Dispatcher
from host.notify.log import LogChannel
from host.store import DEAD, SENT
from tests.notify.helpers import Metrics, bulb_gone, settled, sos, the_notify


class Exploding:
    """A channel with a bug: anything but a DeliveryError."""

    kind = "webhook"
    name = "buggy"
    audiences = frozenset({"caseworker", "maintenance"})

    def __init__(self) -> None:
        from host.notify.retry import Backoff

        self.backoff = Backoff(initial_s=0.01, max_s=0.01, max_attempts=2)

    def send(self, payload: dict, attempt: int) -> str:
        raise KeyError("subject")


def test_a_channel_bug_is_retried_then_a_dead_letter_and_the_rest_still_go(store, caplog):
    metrics = Metrics()
    notifier = Dispatcher([LogChannel(), Exploding()], store, metrics)
    with caplog.at_level(logging.INFO, logger="anbu.notify"):
        notifier.notify(the_notify(sos()))
        rows = settled(store, 2)
        notifier.close()
    by_channel = {r.channel: r for r in rows}
    assert by_channel["log"].state == SENT
    assert (by_channel["buggy"].state, by_channel["buggy"].attempts) == (DEAD, 2)
    assert by_channel["buggy"].last_error == "KeyError: 'subject'"
    notices = [r for r in caplog.records if '"event": "notification"' in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelno == logging.WARNING  # urgent: a warning
    assert metrics.counts[("notification_dead_letters", "buggy")] == 1


def test_a_broken_store_or_metrics_callback_does_not_stop_a_notice(store, caplog):
    def broken_metrics(name: str, label: str) -> None:
        raise RuntimeError("prometheus is on fire")

    notifier = Dispatcher([LogChannel()], store, broken_metrics)
    store.close()  # every store call fails from now on
    with caplog.at_level(logging.INFO, logger="anbu.notify"):
        notifier.notify(the_notify(sos()))  # must not raise into the engine's thread
        notifier.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any('"event": "notification_not_stored"' in m for m in messages)
    # Still sent on the log, with the household's id for a name (its row was unreadable).
    assert any('"event": "notification", ' in m and '"household_name": "h1"' in m
               for m in messages)
    notifier.notify(the_notify(bulb_gone()))  # after close: logged, not raised
    assert '"event": "notification_after_close"' in caplog.records[-2].getMessage()
    assert caplog.records[-1].getMessage() == (
        "metrics callback failed for notification_failures{notifier}")
