"""Dispatcher.retry: an admin hands a dead letter back to its channel once the receiver works.

A real webhook channel against the real local receiver and a real SqliteStore.
"""

from __future__ import annotations

import threading

from host.store import DEAD, PENDING, SENT
from tests.firmware.rig import wait_until
from tests.notify.helpers import settled, sos, the_notify, webhook_notifier


def dead_letter(store, receiver, **webhook):
    """A notifier whose alarm notice became a dead letter (the receiver answered 503)."""
    receiver.always = 503
    notifier = webhook_notifier(store, receiver.url, **webhook)
    notifier.notify(the_notify(sos()))
    [row] = settled(store, 1)
    assert (row.state, row.attempts) == (DEAD, 3)
    return notifier, row


def test_a_dead_letter_retried_is_sent(store, receiver):
    notifier, dead = dead_letter(store, receiver)
    receiver.always = None  # the SMS service is back
    try:
        assert notifier.retry(dead.key) is True
        [row] = settled(store, 1)
    finally:
        notifier.close()
    assert (row.key, row.state, row.attempts) == (dead.key, SENT, 1)
    assert len(receiver.posts) == 4  # three refused, then the one handed back
    last = receiver.posts[-1]
    assert last.signature_ok and last.payload == dead.payload
    assert last.headers["X-Anbu-Attempt"] == "1"
    assert last.headers["Idempotency-Key"] == receiver.posts[0].headers["Idempotency-Key"]


def test_a_retried_notice_that_still_fails_is_dead_again(store, receiver):
    notifier, dead = dead_letter(store, receiver)
    try:
        assert notifier.retry(dead.key)
        wait_until(lambda: len(receiver.posts) == 6, 10, "three more attempts")
        [row] = settled(store, 1)
    finally:
        notifier.close()
    assert (row.state, row.attempts, row.last_error) == (
        DEAD, 3, "HTTP 503 Service Unavailable")


def test_a_key_that_is_not_dead_is_refused_without_change(store, receiver):
    notifier, dead = dead_letter(store, receiver)
    receiver.always = None
    try:
        assert notifier.retry("no-such-key:webhook") is False
        assert notifier.retry(dead.key) is True
        [sent] = settled(store, 1)
        assert sent.state == SENT
        posts = len(receiver.posts)
        assert notifier.retry(dead.key) is False  # sent: not a dead letter any more
        assert store.notifications() == [sent]
        assert len(receiver.posts) == posts
    finally:
        notifier.close()
    assert notifier.retry(dead.key) is False  # closed


def test_two_admins_retrying_at_once_send_it_once(store, receiver):
    notifier, dead = dead_letter(store, receiver)
    receiver.always = None
    receiver.gate = threading.Event()  # hold the post until both have asked
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(notifier.retry(dead.key)))
               for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert sorted(answers) == [False, True]
        assert store.notifications()[0].state == PENDING
        receiver.gate.set()
        [row] = settled(store, 1)
    finally:
        notifier.close()
    assert row.state == SENT
    assert len(receiver.posts) == 4


def test_a_dead_letter_for_a_channel_no_longer_configured_is_refused(store, receiver):
    old, dead = dead_letter(store, receiver, name="old-hook")
    old.close()
    receiver.always = None
    new = webhook_notifier(store, receiver.url, name="new-hook")
    try:
        assert new.retry(dead.key) is False
    finally:
        new.close()
    assert store.notifications() == [dead]
