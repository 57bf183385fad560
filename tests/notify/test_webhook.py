"""The webhook channel against a real local HTTP receiver that checks the signature itself."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

import pytest

from host import decisions as d
from host.events import RESIDENT_ANSWERED
from host.notify.webhook import SignatureError, sign, verify
from host.store import DEAD, PENDING, SENT
from tests.firmware.rig import free_port, wait_until
from tests.notify.conftest import T0
from tests.notify.helpers import (
    Metrics,
    bulb_gone,
    notify_all,
    settled,
    sos,
    the_notify,
    webhook_notifier,
)
from tests.notify.receivers import SECRET


def test_an_sos_alarm_reaches_the_receiver_signed_and_in_korean(store, receiver):
    metrics = Metrics()
    notifier = webhook_notifier(store, receiver.url, metrics)
    actions = sos()
    notify_all(notifier, actions)  # every action, as the live host does: only Notify sends
    notifier.close()
    (post,) = receiver.posts
    assert post.signature_ok and post.fresh
    body = post.payload
    notify = the_notify(actions)
    assert (body["kind"], body["case_id"], body["household_id"]) == ("alarm", notify.case_id, "h1")
    assert post.headers["Idempotency-Key"] == body["id"]
    assert post.headers["X-Anbu-Attempt"] == "1"
    assert post.headers["Content-Type"] == "application/json; charset=utf-8"
    assert body["household_name"] == "김말순"
    assert body["subject"] == "[안부] 긴급: 김말순 님 안부 확인이 필요합니다"
    assert "스위치로 구조 신호(SOS)를 보냈습니다" in body["text"]
    assert body["local_time"] == "2025-11-25 01:00"  # Seoul, while UTC is 16:00 the day before
    assert body["reason"]["code"] == d.SOS and body["urgent"] is True
    [row] = store.notifications()
    assert (row.state, row.attempts, row.channel, row.key) == (SENT, 1, "webhook",
                                                               body["id"] + ":webhook")
    assert metrics.counts == {("notifications_sent", "webhook"): 1}


def test_a_receiver_that_fails_twice_gets_the_same_notice_a_third_time(store, receiver):
    receiver.statuses = [503, 500]
    metrics = Metrics()
    notifier = webhook_notifier(store, receiver.url, metrics)
    notifier.notify(the_notify(sos()))
    [row] = settled(store, 1)
    notifier.close()
    assert (row.state, row.attempts) == (SENT, 3)
    assert [p.headers["X-Anbu-Attempt"] for p in receiver.posts] == ["1", "2", "3"]
    # A retry is recognisable: same key, same body (fresh timestamp and signature each time).
    assert len({p.headers["Idempotency-Key"] for p in receiver.posts}) == 1
    assert len({p.body for p in receiver.posts}) == 1
    assert all(p.signature_ok for p in receiver.posts)
    assert metrics.counts == {("notification_failures", "webhook"): 2,
                              ("notifications_sent", "webhook"): 1}


def test_a_receiver_that_always_fails_leaves_a_dead_letter(store, receiver):
    receiver.always = 503
    metrics = Metrics()
    notifier = webhook_notifier(store, receiver.url, metrics)
    notify = the_notify(sos())
    notifier.notify(notify)
    [row] = settled(store, 1)
    notifier.close()
    assert len(receiver.posts) == 3  # max_attempts in FAST
    [dead] = store.notifications(DEAD)
    assert dead == row
    assert (dead.attempts, dead.case_id, dead.kind) == (3, notify.case_id, "alarm")
    assert dead.last_error == "HTTP 503 Service Unavailable"
    assert dead.payload["subject"].startswith("[안부] 긴급")  # enough to send it by hand
    assert metrics.counts == {("notification_failures", "webhook"): 3,
                              ("notification_dead_letters", "webhook"): 1}


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "HTTP 400 Bad Request"), (302, "HTTP 302 Found (a redirect: configure the final URL)")],
)
def test_a_refused_post_is_a_dead_letter_at_once(store, receiver, status, error):
    receiver.always = status
    receiver.extra_headers = {"Location": receiver.url + "/elsewhere"}
    notifier = webhook_notifier(store, receiver.url, max_attempts=5)
    notifier.notify(the_notify(sos()))
    [row] = settled(store, 1)
    notifier.close()
    assert (row.state, row.attempts, row.last_error) == (DEAD, 1, error)
    assert len(receiver.posts) == 1  # and the redirect was not followed


def test_an_unreachable_receiver_is_retried_then_a_dead_letter(store):
    url = f"http://127.0.0.1:{free_port()}/anbu"  # nothing listens there
    notifier = webhook_notifier(store, url)
    notifier.notify(the_notify(sos()))
    [row] = settled(store, 1)
    notifier.close()
    assert (row.state, row.attempts) == (DEAD, 3)
    assert row.last_error.startswith(f"cannot reach {url}: ")


def test_retry_after_is_honoured(store, receiver):
    receiver.statuses = [429]
    receiver.extra_headers = {"Retry-After": "0.3"}
    notifier = webhook_notifier(store, receiver.url, backoff_max_s=1.0)
    notifier.notify(the_notify(sos()))
    [row] = settled(store, 1)
    notifier.close()
    assert (row.state, row.attempts) == (SENT, 2)
    assert row.updated_at - row.created_at >= 0.3  # backoff alone would wait under 0.01 s


def test_the_same_action_twice_is_sent_once(store, receiver):
    """A replay after a restart hands the notifier actions it already sent."""
    notifier = webhook_notifier(store, receiver.url)
    actions = sos()
    notify_all(notifier, actions)
    notify_all(notifier, actions)
    notifier.close()
    assert len(receiver.posts) == 1
    assert len(store.notifications()) == 1


def test_reminders_and_a_late_answer_reach_the_receiver(store, receiver):
    """Alarm, two re-notifications 30 minutes apart, then the resolution of the same case."""
    actions = sos(until=T0 + 65 * 60)
    notices = [a for a in actions if isinstance(a, d.Notify)]
    assert [n.repeat for n in notices] == [0, 1, 2]
    case_id = notices[0].case_id
    resolved = d.CaseResolved("h1", T0 + 70 * 60, case_id, RESIDENT_ANSWERED, None,
                              "switch used at 2025-11-25 02:09")
    unrelated = d.CaseResolved("h1", T0 + 70 * 60, "h1#99", RESIDENT_ANSWERED)  # never told
    notifier = webhook_notifier(store, receiver.url)
    notify_all(notifier, actions + [resolved, unrelated])
    notifier.close()
    bodies = [p.payload for p in receiver.posts]
    assert [(b["kind"], b["repeat"]) for b in bodies] == [
        ("alarm", 0), ("reminder", 1), ("reminder", 2), ("resolved", 0)]
    assert bodies[1]["subject"] == "[안부] 재알림 1: 김말순 님 안부 확인이 필요합니다"
    assert bodies[3]["subject"] == "[안부] 해결: 김말순 님, 본인이 응답했습니다"
    assert bodies[3]["audience"] == "caseworker"
    assert len({b["id"] for b in bodies}) == 4


def test_a_maintenance_webhook_gets_device_faults_only(store, receiver):
    notifier = webhook_notifier(store, receiver.url, audiences=["maintenance"])
    notify_all(notifier, sos() + bulb_gone(at=T0 + 3600))
    notifier.close()
    (post,) = receiver.posts
    assert post.payload["kind"] == "device_fault"
    assert post.payload["subject"] == "[안부] 기기 점검: 김말순 님 댁"
    assert "기기 응답이 없습니다" in post.payload["text"]
    assert "device bulb-0001 went offline" in post.payload["text"]


def test_notify_does_not_wait_for_a_slow_receiver(store, receiver):
    receiver.gate = gate = threading.Event()
    notifier = webhook_notifier(store, receiver.url)
    notifier.notify(the_notify(sos()))
    notifier.notify(the_notify(bulb_gone(at=T0 + 3600)))
    gate.set()  # reached only because notify() returned while the receiver held the post
    settled(store, 2)
    notifier.close()
    assert receiver.gate_open_in_time == [True, True]
    assert len(receiver.posts) == 2


def test_a_full_queue_makes_dead_letters_and_loses_nothing(store, receiver):
    receiver.gate = gate = threading.Event()
    metrics = Metrics()
    notifier = webhook_notifier(store, receiver.url, metrics, top={"queue_size": 2})
    alarms = [the_notify(sos(at=T0 + 3600 * i)) for i in range(6)]
    notifier.notify(alarms[0])
    wait_until(lambda: receiver.entered == 1, 5, "the first post to be in flight")
    for alarm in alarms[1:]:  # the worker is busy: two wait in the queue, three do not fit
        notifier.notify(alarm)
    gate.set()
    rows = settled(store, 6)
    notifier.close()
    assert [r.state for r in rows] == [SENT, SENT, SENT, DEAD, DEAD, DEAD]
    assert all(r.last_error == "queue full (2 notices waiting)" for r in rows[3:])
    assert metrics.counts[("notification_queue_full", "webhook")] == 3
    assert metrics.counts[("notification_dead_letters", "webhook")] == 3
    assert [p.payload["id"] for p in receiver.posts] == [r.payload["id"] for r in rows[:3]]


def test_pending_notices_are_sent_again_by_the_next_start(store, receiver):
    receiver.statuses = [503]
    first = webhook_notifier(store, receiver.url, backoff_initial_s=60, backoff_max_s=60)
    first.notify(the_notify(sos()))
    wait_until(lambda: store.notifications()[0].attempts == 1, 5, "the first attempt")
    first.close()  # the retry was a minute away: it stays in the outbox
    [row] = store.notifications()
    assert (row.state, row.last_error) == (PENDING, "HTTP 503 Service Unavailable")
    second = webhook_notifier(store, receiver.url)
    [row] = settled(store, 1)
    second.close()
    assert (row.state, row.attempts) == (SENT, 2)
    assert [p.headers["X-Anbu-Attempt"] for p in receiver.posts] == ["1", "2"]
    assert len({p.headers["Idempotency-Key"] for p in receiver.posts}) == 1


def test_a_pending_notice_for_a_channel_no_longer_configured_is_a_dead_letter(store, receiver):
    receiver.statuses = [503]
    first = webhook_notifier(store, receiver.url, name="old-hook", backoff_initial_s=60,
                             backoff_max_s=60)
    first.notify(the_notify(sos()))
    wait_until(lambda: store.notifications()[0].attempts == 1, 5, "the first attempt")
    first.close()
    webhook_notifier(store, receiver.url, name="new-hook").close()
    [row] = store.notifications()
    assert (row.state, row.last_error) == (DEAD, "channel 'old-hook' is not configured")


def test_verify_accepts_a_good_post_and_refuses_the_rest():
    secret, body, now = SECRET.encode(), '{"id":"x","text":"안부"}'.encode(), time.time()
    ts = int(now)
    good = sign(secret, ts, body)
    mac = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert good == "v1=" + mac
    verify(secret, str(ts), body, good, now)
    with pytest.raises(SignatureError, match="does not match the body"):
        verify(secret, str(ts), body.replace("안부".encode(), b"x"), good, now)
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"another-secret-0123456789", str(ts), body, good, now)
    with pytest.raises(SignatureError, match="more than 300 s from now"):
        verify(secret, str(ts), body, good, now + 301)  # a replay of an old post
    with pytest.raises(SignatureError, match="not an integer"):
        verify(secret, "soon", body, good, now)
    with pytest.raises(SignatureError, match="does not match"):
        verify(secret, str(ts + 1), body, sign(secret, ts, body), now)  # timestamp swapped
