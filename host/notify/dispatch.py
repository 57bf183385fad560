"""The notifier the live host calls: engine actions in, notices out on every channel.

`notify` runs on the engine's thread and never waits for the network: it turns the action into
a notice (host.notify.notice), writes one outbox row per channel to the store, and hands each to
that channel's worker thread through a bounded queue. A worker sends, retries with backoff
(a failing notice waits in a heap, so it does not hold up the next one), and records the
outcome on the row: sent, or dead (a dead letter) when it keeps failing or is refused.

Nothing is dropped silently. A full queue makes the notice a dead letter at once, counted and
logged. Rows still pending at shutdown stay pending in the store and are sent again by the
next start; the same action handed over twice (a replay) finds its row and is not sent again.
An admin may hand a dead letter back to its channel (`retry`, from the dashboard's web thread)
once the receiver works again.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence

from host.notify.channel import Channel, DeliveryError
from host.notify.message import payload
from host.notify.notice import RESOLVED, Notice, notice_of
from host.store import DEAD, DEFAULT_TZ, PENDING, SENT, Notification, Store, StoreError

logger = logging.getLogger("anbu.notify")

# Counter names given to the metrics callback, with the channel's name as the label.
SENT_METRIC = "notifications_sent"
FAILURE_METRIC = "notification_failures"  # every failed attempt, retried or not
DEAD_METRIC = "notification_dead_letters"
QUEUE_FULL_METRIC = "notification_queue_full"  # also counted as a dead letter
METRICS = (SENT_METRIC, FAILURE_METRIC, DEAD_METRIC, QUEUE_FULL_METRIC)
STORE_LABEL = "store"  # FAILURE_METRIC's label when the outbox could not be written
NOTIFIER_LABEL = "notifier"  # ... and when the notifier itself failed or was already closed

Metrics = Callable[[str, str], None]


class Delivery:
    """One notice on its way through one channel."""

    __slots__ = ("key", "payload", "attempts", "due", "persisted")

    def __init__(self, key: str, data: dict, attempts: int = 0, persisted: bool = True) -> None:
        self.key = key
        self.payload = data
        self.attempts = attempts
        self.due = 0.0  # time.monotonic() of the next attempt
        self.persisted = persisted  # False when the store could not take the outbox row


def log_event(level: int, event: str, **fields: object) -> None:
    """One structured (JSON) log line."""
    logger.log(level, json.dumps({"event": event, **fields}, ensure_ascii=False, default=str))


class Dispatcher:
    """host.notify.Notifier: a worker thread and a bounded queue per channel."""

    def __init__(
        self,
        channels: Sequence[Channel],
        store: Store,
        metrics: Metrics | None = None,
        lang: str = "ko",
        link: str | None = None,
        queue_size: int = 1000,
        close_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"notification channel names must be unique, got {names}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.store = store
        self.lang = lang
        self.link = link
        self.close_timeout_s = close_timeout_s
        self.clock = clock
        self.rand = rand
        self._metrics = metrics
        self._closed = False
        self._retrying = threading.Lock()  # one retry at a time, and none past close()
        self._workers = {c.name: _Worker(c, self, queue_size) for c in channels}
        self._resume()
        for worker in self._workers.values():
            worker.start()

    @property
    def channels(self) -> list[Channel]:
        return [w.channel for w in self._workers.values()]

    def count(self, name: str, label: str) -> None:
        if self._metrics is not None:
            try:
                self._metrics(name, label)
            except Exception:  # a metrics bug must not stop a notice
                logger.exception("metrics callback failed for %s{%s}", name, label)

    # -- the engine's side -----------------------------------------------------------------

    def notify(self, action: object) -> None:
        """Send what the action calls for, if anything. Never raises, never waits for I/O."""
        if self._closed:
            if notice_of(action) is not None:
                log_event(logging.ERROR, "notification_after_close", action=repr(action))
                self.count(FAILURE_METRIC, NOTIFIER_LABEL)
            return
        try:
            notice = notice_of(action)
            if notice is not None:
                self._notify(notice)
        except Exception:  # whatever it was, the engine's thread goes on
            logger.exception("notifier failed on %r", action)
            self.count(FAILURE_METRIC, NOTIFIER_LABEL)

    def _notify(self, notice: Notice) -> None:
        # A store that fails (any exception: a closed SQLite raises its own) costs the record
        # and the household's name, never the notice itself.
        if notice.kind == RESOLVED:
            try:
                told = [n for n in self.store.notifications(case_id=notice.case_id)
                        if n.kind != RESOLVED]
            except Exception as e:
                self._store_failed(notice.id, e)
                told = None  # who was told is unknown: tell every channel
            if told == []:
                return  # nobody was told about this case (a knock answered in time)
            if told:
                notice = notice._replace(audience=told[0].payload.get("audience"))
            names = {n.channel for n in told} if told else set(self._workers)
            workers = [w for w in self._workers.values() if w.channel.name in names]
        else:
            workers = [w for w in self._workers.values()
                       if notice.audience in w.channel.audiences]
        if not workers:
            return
        try:
            household = self.store.household(notice.household)
            name, tz = household.name, household.tz
        except Exception as e:
            if not isinstance(e, StoreError):  # an unknown household is only a missing name
                self._store_failed(notice.id, e)
            name, tz = notice.household, DEFAULT_TZ
        data = payload(notice, name, tz, self.lang, self.link)
        now = self.clock()
        for worker in workers:
            key = f"{notice.id}:{worker.channel.name}"
            row = Notification(key, worker.channel.name, notice.household, notice.case_id,
                               notice.kind, now, data)
            try:
                if not self.store.add_notifications([row]):
                    log_event(logging.INFO, "notification_duplicate", key=key)
                    continue  # the same action again (a replay): already sent or on its way
                persisted = True
            except Exception as e:  # send it all the same; only the record is missing
                self._store_failed(key, e)
                persisted = False
            worker.offer(Delivery(key, data, persisted=persisted))

    def _store_failed(self, key: str, error: Exception) -> None:
        log_event(logging.ERROR, "notification_not_stored", key=key,
                  error=f"{type(error).__name__}: {error}")
        self.count(FAILURE_METRIC, STORE_LABEL)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking notices, send what is queued while time allows, stop the workers.

        What is not sent by then stays pending in the store for the next start.
        """
        with self._retrying:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + (self.close_timeout_s if timeout is None else timeout)
        for worker in self._workers.values():
            worker.stop(deadline)
        for worker in self._workers.values():
            worker.join(max(deadline - time.monotonic(), 0) + 5.0)
            if worker.is_alive():
                log_event(logging.ERROR, "notification_worker_stuck", channel=worker.name)

    def retry(self, key: str) -> bool:
        """Hand the dead letter `key` back to its channel now: pending again, attempts from 0,
        sent by the channel's worker like any other (and dead again if it still fails).

        Safe from any thread (the dashboard calls it from the web's). False, and nothing
        changed, when there is no dead letter `key`, its channel is not set up on this host,
        or the notifier is closed.
        """
        with self._retrying:
            refused = None
            if self._closed:
                refused = "notifier closed"
            else:
                try:
                    row = next((n for n in self.store.notifications(DEAD) if n.key == key),
                               None)
                except Exception as e:
                    row, refused = None, f"store: {type(e).__name__}: {e}"
                if row is None:
                    refused = refused or "not a dead letter"
                elif row.channel not in self._workers:
                    refused = f"channel {row.channel!r} is not configured"
            if refused is not None:
                log_event(logging.WARNING, "notification_retry_refused", key=key,
                          reason=refused)
                return False
            try:  # keep the last error on the row: it says why the notice was dead
                self.store.update_notification(key, PENDING, 0, row.last_error, self.clock())
            except Exception as e:
                log_event(logging.ERROR, "notification_retry_refused", key=key,
                          reason=f"store: {type(e).__name__}: {e}")
                return False
            log_event(logging.INFO, "notification_retried", key=key, channel=row.channel,
                      attempts_before=row.attempts, error_before=row.last_error)
            return self._hand_back(row._replace(attempts=0))

    # -- the worker's side ---------------------------------------------------------------

    def _resume(self) -> None:
        """Pending rows from an earlier run go out again; a channel no longer set up cannot."""
        try:
            pending = self.store.notifications(PENDING)
        except Exception as e:
            log_event(logging.ERROR, "notification_resume_failed",
                      error=f"{type(e).__name__}: {e}")
            return
        for row in pending:
            if row.channel in self._workers:
                log_event(logging.INFO, "notification_resumed", key=row.key,
                          channel=row.channel, attempts=row.attempts)
            self._hand_back(row)

    def _hand_back(self, row: Notification) -> bool:
        """A stored notice to its channel's worker (at start, or retried); True when queued.

        A channel no longer set up cannot send it: a dead letter.
        """
        worker = self._workers.get(row.channel)
        delivery = Delivery(row.key, row.payload, row.attempts)
        if worker is None:
            self.dead(row.channel, delivery, f"channel {row.channel!r} is not configured")
            return False
        return worker.offer(delivery)

    def record(self, channel: str, delivery: Delivery, state: str, error: str = "") -> None:
        if not delivery.persisted:
            return
        try:
            self.store.update_notification(delivery.key, state, delivery.attempts, error,
                                           self.clock())
        except Exception as e:
            log_event(logging.ERROR, "notification_not_recorded", key=delivery.key,
                      channel=channel, state=state, error=f"{type(e).__name__}: {e}")

    def dead(self, channel: str, delivery: Delivery, error: str) -> None:
        """Give up on a delivery: a dead letter in the store, counted and logged."""
        self.record(channel, delivery, DEAD, error)
        self.count(DEAD_METRIC, channel)
        data = delivery.payload
        log_event(logging.ERROR, "notification_dead_letter", key=delivery.key, channel=channel,
                  kind=data.get("kind"), household_id=data.get("household_id"),
                  case_id=data.get("case_id"), attempts=delivery.attempts, error=error)


_STOP = object()


class _Worker(threading.Thread):
    """Sends one channel's notices in order of their due time, retrying failures."""

    def __init__(self, channel: Channel, owner: Dispatcher, capacity: int) -> None:
        super().__init__(name=f"notify-{channel.name}", daemon=True)
        self.channel = channel
        self.owner = owner
        self.capacity = capacity
        self.queue: queue.Queue = queue.Queue(capacity)
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._stopping = threading.Event()
        self._deadline = 0.0

    def offer(self, delivery: Delivery) -> bool:
        """Queue a delivery without waiting; a full queue makes it a dead letter (False)."""
        try:
            self.queue.put_nowait(delivery)
        except queue.Full:
            self.owner.count(QUEUE_FULL_METRIC, self.channel.name)
            self.owner.dead(self.channel.name, delivery,
                            f"queue full ({self.capacity} notices waiting)")
            return False
        return True

    def stop(self, deadline: float) -> None:
        self._deadline = deadline
        self._stopping.set()
        # Wakes a worker waiting on an empty queue; a full one does not block get() anyway.
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(_STOP)

    def run(self) -> None:
        while True:
            try:
                if not self._step():
                    break
            except Exception:  # pragma: no cover - a bug here must not silence the channel
                logger.exception("notification worker %s", self.name)
                self._stopping.wait(1.0)
        self._take_all(time.monotonic())
        left = [entry[2] for entry in self._heap]
        if left:
            log_event(logging.WARNING, "notifications_left_pending", channel=self.channel.name,
                      count=len(left), keys=[d.key for d in left])
        for delivery in left:
            if not delivery.persisted:  # no outbox row: the next start cannot resend it
                self.owner.dead(self.channel.name, delivery, "not sent before shutdown")

    def _step(self) -> bool:
        """One attempt or one wait; False when the worker should end."""
        now = time.monotonic()
        heap = self._heap
        if self._stopping.is_set():
            self._take_all(now)
            if now >= self._deadline or not heap or heap[0][0] > now:
                return False
            self._attempt(heapq.heappop(heap)[2], final=True)
            return True
        if heap and heap[0][0] <= now:
            self._attempt(heapq.heappop(heap)[2], final=False)
            return True
        wait = heap[0][0] - now if heap else None
        if len(heap) >= self.capacity:  # bounded: leave new ones in the queue until room
            self._stopping.wait(wait)
            return True
        try:
            item = self.queue.get(timeout=wait)
        except queue.Empty:
            return True
        if item is not _STOP:
            self._push(item, time.monotonic())
        return True

    def _take_all(self, now: float) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._push(item, now)

    def _push(self, delivery: Delivery, due: float) -> None:
        delivery.due = due
        heapq.heappush(self._heap, (due, next(self._order), delivery))

    def _attempt(self, delivery: Delivery, final: bool) -> None:
        """Send once; on failure retry later, give up, or (closing) leave it pending."""
        owner, channel, name = self.owner, self.channel, self.channel.name
        delivery.attempts += 1
        try:
            note = channel.send(delivery.payload, delivery.attempts)
        except Exception as e:
            error = e if isinstance(e, DeliveryError) else DeliveryError(
                f"{type(e).__name__}: {e}")
            self._failed(delivery, error, final)
            return
        owner.count(SENT_METRIC, name)
        owner.record(name, delivery, SENT, note or "")
        # The log channel's own line is the record; a second one would say nothing new.
        log_event(logging.DEBUG if channel.kind == "log" else logging.INFO, "notification_sent",
                  key=delivery.key, channel=name, attempts=delivery.attempts)

    def _failed(self, delivery: Delivery, error: DeliveryError, final: bool) -> None:
        owner, name, backoff = self.owner, self.channel.name, self.channel.backoff
        owner.count(FAILURE_METRIC, name)
        if error.permanent or backoff.gives_up_after(delivery.attempts):
            owner.dead(name, delivery, str(error))
            return
        owner.record(name, delivery, PENDING, str(error))
        if final:  # closing: the next start sends it
            return
        delay = backoff.delay(delivery.attempts, owner.rand)
        if error.retry_after is not None:
            delay = min(max(delay, error.retry_after), backoff.max_s)
        log_event(logging.WARNING, "notification_retry", key=delivery.key, channel=name,
                  attempts=delivery.attempts, retry_in_s=round(delay, 3), error=str(error))
        self._push(delivery, time.monotonic() + delay)
