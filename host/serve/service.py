"""The live host: broker in, engine on the wall clock, store, bulbs and people out.

One thread owns the MQTT session (paho's network loop runs in it), the engine and the
database; uvicorn's thread only reads figures. The loop takes a batch of messages (up to
batch_max, or what arrived within batch_wait_ms of the first), and in one transaction: stores
the new events (duplicates found by the store), gives them and every timer that came due to the
engine, journals those inputs, records the decisions and the commands they call for. After the
commit it publishes the commands, hands the decisions to the notifier, and only then
acknowledges the batch's messages to the broker. A crash at any point leaves every message the
broker handed over either stored or still unacknowledged (so delivered again); docs/host.md says
more.

Timers run only while the broker is heard: after (re)connecting, the broker first delivers what
queued up while the host was away, and judging a silence before that backlog is in would knock
on residents who were busy all along. So timers wait until the inbox has been quiet for
settle_ms (at most settle_max_s). While disconnected, nothing is judged and /health says so.
Heartbeats are QoS 0, so the broker keeps none for the host while it is away: as soon as it
is subscribed again, before any message of the backlog, every household with a bulb online is
told the host listens from now on (LISTENING, journaled like any input, judging nothing), so
their deadlines count from then and no bulb is taken for dead, not even by a sibling bulb's
heartbeat arriving before the timers run.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from host import decisions as d
from host.dashboard import reading, summary
from host.engine import Engine
from host.events import LISTENING, Event
from host.household import NEVER
from host.notify import Notifier, from_config
from host.serve import state
from host.serve.commands import Knocks, Outgoing
from host.serve.config import ServeConfig
from host.serve.desk import BOARD_EVERY_S, Board, Request, ServiceDesk, run_requests
from host.serve.ingest import (
    Acked,
    Ignored,
    Inbound,
    Reader,
    Registry,
    Rejected,
    RejectLog,
    ToEngine,
    ToStore,
)
from host.serve.metrics import Metrics
from host.serve.mqtt import Link
from host.serve.timers import Timers
from host.serve.web import WebServer, app
from host.store import TICK, EngineInput, Store, StoredEvent, StoreError
from host.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("anbu.serve")
GAUGE_EVERY_S = 5.0
LOOP_MAX_WAIT_S = 0.5  # the loop looks at its clock (stop, settle, saves) at least this often
EFFECTS_THROUGH = "effects_through"
SUMMARY_DAY = "summary_day"  # the last local day whose summary was e-mailed (ordinal)
SUMMARY_CHECK_S = 30.0


class Service:
    """`anbu serve`. run() blocks until stop() (SIGTERM); everything is closed when it returns.

    `observe(events, committed_at)` if given sees each batch's new events once committed (the
    latency benchmark uses it).
    """

    def __init__(self, cfg: ServeConfig, store: Store | None = None,
                 notifier: Notifier | None = None,
                 observe: Callable[[list[StoredEvent], float], None] | None = None) -> None:
        self.cfg = cfg
        self.store = store if store is not None else SqliteStore(cfg.database)
        self.metrics = Metrics()
        self.registry = Registry(self.store)
        self.reader = Reader(self.registry, cfg.ingest.will_delay_s)
        self.engine = Engine(cfg.engine, tz_of=state.tz_of(self.registry.tz))
        self.memory = state.Memory(self.engine, self.store)
        self.timers = Timers()
        self.knocks = Knocks(self._bulbs, cfg.ingest.ack_timeout_s)
        self.link = Link(cfg.mqtt, self._on_ready)
        self.notifier = notifier if notifier is not None else from_config(
            cfg.notify, self.store, self.metrics.count)
        self.observe = observe
        self.rejects = RejectLog()
        self.web: WebServer | None = None
        self.web_store: Store | None = None
        self._mail = None  # the SMTP channel the daily summary goes out on
        self._summary_at: float | None = None
        self.unknown_devices: Counter[str] = Counter()
        self._unknown_lock = threading.Lock()  # /health reads it from the web thread
        self.statuses: dict[str, str] = {}  # household -> status, for the gauge
        self.board = Board()  # the dashboard's rows (host.serve.desk)
        self._requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._failed = False
        self._connected_at: float | None = None  # set by the MQTT thread when subscribed
        self._ticking = False
        self._listening = False  # just (re)subscribed: tell the engine in the next batch
        self._last_message = 0.0  # monotonic
        self._effects_done = 0  # inputs whose effects were carried out
        self._effects_marked = 0
        self._gauges_at = 0.0
        self._saved_at = time.monotonic()
        self.started = threading.Event()
        self.phase = "starting"
        self.loop_at = time.time()
        self.last_batch_at: float | None = None
        self.batches = 0
        self.replayed = 0

    # -- life ------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.start()
            while not self._stop.is_set():
                self.step()
        except BaseException:
            # The engine may have taken inputs whose transaction rolled back: stop as a crash
            # does (nothing saved, nothing acknowledged) and let the next start replay.
            self._failed = True
            raise
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Finish the batch in hand, then shut down in order (safe from a signal handler)."""
        self._stop.set()

    def start(self) -> None:
        """Rebuild the engine, carry out what a crash left undone, then connect."""
        redo: list[tuple[EngineInput, d.Decision]] = []
        effects_through = int(self.store.mark(EFFECTS_THROUGH) or 0)

        def replayed(item: EngineInput, decision: d.Decision) -> None:
            if item.id is not None and item.id > effects_through:
                redo.append((item, decision))

        self.replayed = self.memory.restore(replayed)
        for household in list(self.engine.households()):
            st = self.engine.state(household)
            self.timers.set(household, st.wake_at)
            self.statuses[household] = st.status
            for dev_id, dev in (st.devices or {}).items():
                boot = dev.boot if type(dev.boot) is int else None
                self.reader.remember(dev_id, boot, dev.online, dev.last_seen)
        outgoing, actions = [], []
        for item, decision in redo:
            for action in decision.actions:
                outgoing += self.knocks.on_action(action, item.now)
                actions.append(action)
        self._resume_knocks()
        self.board.load(self.store)
        self.board.dirty.update(self.statuses)
        self._effects(outgoing, actions)
        self._effects_done, self._effects_marked = self.memory.last_input, effects_through
        if redo:
            log.warning("carried out the decisions of %d inputs again after a crash", len(redo),
                        extra={"fields": {"event": "effects_redone", "inputs": len(redo)}})
        log.info("engine restored: %d households, %d journaled inputs replayed",
                 len(self.statuses), self.replayed,
                 extra={"fields": {"event": "restored", "households": len(self.statuses),
                                   "replayed": self.replayed}})
        self._gauges(force=True)
        self.board.refresh(self.engine, self.store)
        web = self.cfg.web
        self.web = WebServer(app(self.health, self.metrics, self._dashboard()), web.host,
                             web.port)
        self.web.start()
        self.link.start()
        self.phase = "running"
        self.started.set()

    def _dashboard(self) -> Starlette | None:
        """The caseworkers' pages, on their own database connection (WAL: reading them never
        waits for ingest's transactions)."""
        if not self.cfg.dashboard.enabled:
            return None
        from host.dashboard.app import dashboard  # the web stack only where it is served

        self.web_store = SqliteStore(self.cfg.database)
        self._mail = summary.smtp_channel(self.cfg.notify)
        return dashboard(self.web_store, ServiceDesk(self, self.web_store), self.cfg.dashboard,
                         notify_email=self._mail, notifier=self.notifier)

    def _daily_summary(self, now: float) -> None:
        """E-mail yesterday's summary once its hour has come (also after a restart that
        missed it); sent from a thread of its own, so a slow mail server holds up nothing."""
        cfg = self.cfg.dashboard
        if (self.web_store is None or self._mail is None or not cfg.summary_to
                or not cfg.summary_at or time.monotonic() < (self._summary_at or 0.0)):
            return
        self._summary_at = time.monotonic() + SUMMARY_CHECK_S
        tz = summary.PAGE_TZ
        today = datetime.fromtimestamp(now, tz).date()
        due = summary.next_summary_at(cfg.summary_at, datetime.combine(
            today, datetime.min.time(), tz).timestamp())
        yesterday = (today - timedelta(days=1)).toordinal()
        store = self.web_store
        if due is None or now < due or (store.mark(SUMMARY_DAY) or 0) >= yesterday:
            return
        store.set_mark(SUMMARY_DAY, yesterday)  # once, even if the host restarts mid-send
        rows, mail = self.board.published, self._mail

        def send() -> None:
            try:
                day = summary.send_previous_day(store, rows, mail, cfg.summary_to,
                                                cfg.summary_from, now, cfg.default_lang)
                log.info("daily summary for %s e-mailed", day,
                         extra={"fields": {"event": "summary_sent", "day": str(day)}})
            except Exception as e:
                self.metrics.count("notification_failures", "summary")
                log.error("daily summary not sent: %s", e,
                          extra={"fields": {"event": "summary_failed"}})

        threading.Thread(target=send, name="anbu-summary", daemon=True).start()

    def _resume_knocks(self) -> None:
        """Knocks running when the host stopped: their commands and acks from the store."""
        for household in self.engine.households():
            case = self.engine.state(household).welfare
            if case is not None and case.state == d.CASE_KNOCK:
                running = (household, case.knock_until)
                self.knocks.resume(self.store.commands(case_id=case.id),
                                   lambda cid, c=case.id, r=running: r if cid == c else None)

    def shutdown(self) -> None:
        """Store what was received, save the engine, say goodbye to the broker, close."""
        self.phase = "stopping"
        self._refuse_requests()
        try:
            if self.started.is_set() and not self._failed:
                self._drain()
                self._save(time.time())
        except Exception:
            log.exception("shutdown: could not finish storing; the broker delivers it again")
        finally:
            web_store = self.web_store.close if self.web_store else None
            for what, close in (("mqtt", self.link.stop), ("notifier", self.notifier.close),
                                ("web", self.web.stop if self.web else None),
                                ("web store", web_store), ("store", self.store.close)):
                if close is None:
                    continue
                try:
                    close()
                except Exception:
                    log.exception("shutdown: closing %s failed", what)
            self.phase = "stopped"
            log.info("stopped", extra={"fields": {"event": "stopped"}})

    def _refuse_requests(self) -> None:
        """Requests the loop will not get to: their askers hear so now, not at a timeout."""
        while True:
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                return
            if req.future.set_running_or_notify_cancel():
                req.future.set_exception(RuntimeError("the host is stopping"))

    def _drain(self) -> None:
        """Store what was read from the broker; what is still in the socket comes again."""
        while batch := self.link.take(self.cfg.ingest.batch_max):
            self.process(batch, time.time(), ticking=False)

    def _on_ready(self, ready: bool) -> None:
        """From the MQTT session: subscribed (True) or the connection dropped (False)."""
        self._connected_at = time.monotonic() if ready else None
        if ready:
            self._listening = True
        self.metrics.connected.set(1 if ready else 0)

    # -- the loop --------------------------------------------------------------------------

    def step(self) -> None:
        batch = self._collect(self._wait())
        now = time.time()
        self.loop_at = now
        self._settle()
        people: list[Request] = []
        run_requests(self._requests, people)
        due = self._ticking and self._next_due() is not None and self._next_due() <= now
        if batch or due or people or self._listening:
            self.process(batch, now, ticking=self._ticking, people=people)
        if time.monotonic() - self.board.refreshed_at >= BOARD_EVERY_S:
            self.board.refresh(self.engine, self.store)
        self._daily_summary(now)
        self._gauges()
        self._maybe_save(now)

    def ask(self, fn: Callable[[], object]) -> Future:
        """Run fn on the service's thread between batches (from any thread)."""
        future: Future = Future()
        self._requests.put(Request(future, fn=fn))
        self.link.wakeup()
        return future

    def submit(self, event: Event) -> Future:
        """A person's input (ack, dispatch, resolve, away): stored, journaled and decided in
        the loop's next transaction. The future says None when the engine took it, else why
        it refused (from any thread)."""
        future: Future = Future()
        self._requests.put(Request(future, event=event))
        self.link.wakeup()
        return future

    def _wait(self) -> float:
        wait = LOOP_MAX_WAIT_S
        if self._ticking:
            at = self._next_due()
            if at is not None:
                wait = min(wait, max(at - time.time(), 0.0))
        return wait

    def _next_due(self) -> float | None:
        times = [t for t in (self.timers.next_at(), self.knocks.next_deadline()) if t is not None]
        return min(times, default=None)

    def _collect(self, timeout: float) -> list[Inbound]:
        limit = self.cfg.ingest.batch_max
        batch = self.link.poll(timeout, limit)
        if not batch:
            return batch
        until = time.monotonic() + self.cfg.ingest.batch_wait_ms / 1000
        while len(batch) < limit:
            left = until - time.monotonic()
            more = self.link.poll(max(left, 0.0), limit - len(batch))
            batch += more
            if not more and left <= 0:
                break
        self._last_message = time.monotonic()
        return batch

    def _settle(self) -> None:
        """Timers run once connected and the broker's backlog is in (see the module doc)."""
        connected_at = self._connected_at
        if connected_at is None:
            if self._ticking:
                log.warning("timers paused: the broker is not connected",
                            extra={"fields": {"event": "timers_paused"}})
            self._ticking = False
            return
        if self._ticking:
            return
        now = time.monotonic()
        ingest = self.cfg.ingest
        quiet = now - max(self._last_message, connected_at) >= ingest.settle_ms / 1000
        if quiet or now - connected_at >= ingest.settle_max_s:
            self._ticking = True
            log.info("timers running", extra={"fields": {"event": "timers_running"}})

    # -- one batch -------------------------------------------------------------------------

    def process(self, batch: list[Inbound], now: float, ticking: bool = True,
                people: list[Request] | None = None) -> None:
        """Store, decide and journal in one transaction; then act; then acknowledge."""
        started = time.perf_counter()
        inputs: list[EngineInput] = []
        actions: list = []
        outgoing: list[Outgoing] = []
        new_events: list[StoredEvent] = []
        answers: list[tuple[Future, str | None]] = []

        def feed(event: Event) -> d.Decision | None:
            try:
                decision = self.engine.handle(event, now)
            except Exception:  # the engine never raises; if it ever does, one event pays
                self.metrics.engine_errors.inc()
                log.exception("engine failed on %r", event,
                              extra={"fields": {"event": "engine_error"}})
                return None
            inputs.append(EngineInput(now, event))
            self._decided(event.household, decision, actions)
            return decision

        with self.store.batch():
            if self._effects_done > self._effects_marked:
                self._store_call("set_mark", self.store.set_mark, EFFECTS_THROUGH,
                                 self._effects_done)
                self._effects_marked = self._effects_done
            if self._listening:
                self._listening = False
                self._listen(now, feed)
            outcomes = [self.reader.read(m) for m in batch]
            fresh = iter(self._add_events([o.stored for o in outcomes if type(o) is ToStore]))
            for msg, outcome in zip(batch, outcomes, strict=True):
                kind = type(outcome)
                if kind is ToStore:
                    if next(fresh):
                        new_events.append(outcome.stored)
                        feed(outcome.stored.event)
                    elif outcome.stored.seq is not None:
                        self._reject(msg, Rejected("replay", outcome.stored.device or "",
                                                   "event (device, boot, seq) already stored"))
                    else:
                        self.metrics.ignored.labels("repeated_status").inc()
                elif kind is ToEngine:
                    feed(outcome.event)
                elif kind is Acked:
                    self._acked(outcome)
                elif kind is Ignored:
                    self.metrics.ignored.labels(outcome.why).inc()
                else:
                    self._reject(msg, outcome)
            for req in people or ():
                answers.append((req.future, self._person(req.event, now, feed, new_events)))
            if ticking:
                self._timers(now, feed, inputs, actions, outgoing, new_events)
            for action in actions:
                outgoing += self.knocks.on_action(action, now)
            if outgoing:
                self._store_call("add_commands", self.store.add_commands,
                                 [o.command for o in outgoing])
            if actions:
                self._record(actions)
            self.memory.journal(inputs)
        committed = time.time()
        self._effects(outgoing, actions)
        self._effects_done = self.memory.last_input
        self.link.ack(batch)
        for future, answer in answers:
            if future.set_running_or_notify_cancel():
                future.set_result(answer)
        self._after(batch, new_events, committed, time.perf_counter() - started)

    def _person(self, event: Event | None, now: float,
                feed: Callable[[Event], d.Decision | None],
                new_events: list[StoredEvent]) -> str | None:
        """A caseworker's input: kept with the household's events, then decided."""
        assert event is not None
        if self.engine.state(event.household) is None and event.household not in \
                self.board.homes:
            return f"unknown household {event.household!r}"
        stored = StoredEvent.of(event, received_at=now)
        if self._add_events([stored]) == [True]:
            new_events.append(stored)
        decision = feed(event)
        if decision is None:
            return "the engine failed on this input; see the host's log"
        return reading.refused(decision)

    def _listen(self, now: float, feed: Callable[[Event], d.Decision | None]) -> None:
        """Subscribed again after the host's or its broker's outage: the heartbeats sent
        meanwhile were lost, not missed by the bulbs (QoS 0 is not queued for the host), so
        each household with a bulb online hears that the host listens from now on. First in
        the batch, so nothing that follows takes the outage for a dead bulb."""
        engine = self.engine
        for household in list(engine.households()):
            st = engine.state(household)
            if st is not None and st.device_due < NEVER:
                feed(Event(household, now, LISTENING))

    def _timers(self, now: float, feed: Callable[[Event], None], inputs: list[EngineInput],
                actions: list, outgoing: list[Outgoing], new_events: list[StoredEvent]) -> None:
        failed, stops, timed_out = self.knocks.due(now)
        for device, cmd_id in timed_out:
            self._store_call("command_failed", self.store.command_failed, device, cmd_id, now)
            self.metrics.command_failures.labels("knock", "timeout").inc()
        outgoing += stops
        if failed:
            knock_failed = [StoredEvent.of(e, received_at=now) for e in failed]
            for event, new in zip(knock_failed, self._add_events(knock_failed), strict=True):
                if new:
                    new_events.append(event)
                log.warning("knock not delivered for case %s", event.detail,
                            extra={"fields": {"event": "knock_failed", "case": event.detail,
                                              "household": event.household}})
                feed(event.event)
        for household in self.timers.pop_due(now):
            try:
                decision = self.engine.tick(household, now)
            except Exception:
                self.metrics.engine_errors.inc()
                log.exception("engine failed on the timer of %s", household,
                              extra={"fields": {"event": "engine_error"}})
                continue
            inputs.append(EngineInput(now, Event(household, now, TICK)))
            self._decided(household, decision, actions)

    def _decided(self, household: str, decision: d.Decision, actions: list) -> None:
        self.timers.set(household, decision.wake_at)
        self.board.dirty.add(household)
        for action in decision.actions:
            if type(action) is d.Rejected:
                self.metrics.engine_rejected.labels(action.kind).inc()
                log.debug("engine refused %s for %s: %s", action.kind, action.household,
                         action.why, extra={"fields": {"event": "engine_rejected",
                                                       "household": action.household,
                                                       "kind": action.kind}})
                continue
            actions.append(action)

    def _add_events(self, events: list[StoredEvent]) -> list[bool]:
        """Which events are new; one bad event costs only itself (counted, logged)."""
        if not events:
            return []
        try:
            return self.store.add_new_events(events)
        except StoreError:
            pass
        fresh = []
        for event in events:
            result = self._store_call("add_new_events", self.store.add_new_events, [event])
            fresh.append(bool(result and result[0]))
        return fresh

    def _record(self, actions: list) -> None:
        try:
            self.store.record(actions)
            return
        except StoreError:
            pass
        for action in actions:  # find the one the store refuses; keep the rest
            self._store_call("record", self.store.record, [action])

    def _store_call(self, name: str, call: Callable, *args):
        try:
            return call(*args)
        except StoreError as e:
            self.metrics.store_errors.labels(name).inc()
            log.error("store refused %s: %s", name, e,
                      extra={"fields": {"event": "store_error", "call": name}})
            return None

    def _acked(self, outcome: Acked) -> None:
        msg = outcome.msg
        self._store_call("command_acked", self.store.command_acked, outcome.device, msg.id,
                         outcome.at, msg.ok == 1, msg.err)
        run = self.knocks.on_ack(outcome.device, msg)
        if msg.ok != 1:
            self.metrics.command_failures.labels("knock" if run else "other", "refused").inc()

    def _reject(self, msg: Inbound, rejected: Rejected) -> None:
        self.metrics.rejected.labels(rejected.reason).inc()
        if rejected.reason == "unknown_device":
            with self._unknown_lock:
                if rejected.device in self.unknown_devices or len(self.unknown_devices) < 1000:
                    self.unknown_devices[rejected.device] += 1
        self.rejects(msg.topic, rejected)

    def _effects(self, outgoing: list[Outgoing], actions: list) -> None:
        """After the commit: publish the commands, tell people. Never raises."""
        for out in outgoing:
            try:
                self.link.publish(out.topic, out.payload)
                self.metrics.commands.labels(out.command.command).inc()
            except Exception:
                log.exception("publishing %s to %s failed", out.command.command, out.topic)
        for action in actions:
            self.metrics.actions.labels(type(action).__name__).inc()
            if type(action) is d.StatusChanged:
                self.statuses[action.household] = action.status
                self.board.status_at[action.household] = action.time
                continue
            if type(action) is d.Knock:
                log.info("knock for case %s", action.case_id,
                         extra={"fields": {"event": "knock", "case": action.case_id,
                                           "household": action.household,
                                           "urgent": action.urgent}})
            self.notifier.notify(action)

    def _after(self, batch: list[Inbound], new_events: list[StoredEvent], committed: float,
               seconds: float) -> None:
        m = self.metrics
        m.batch_seconds.observe(seconds)
        m.batch_size.observe(len(batch))
        m.queue.set(len(self.link.received))
        m.journal.set(self.memory.pending)
        for channel, n in Counter(msg.topic[msg.topic.rfind("/") + 1:][:8]
                                  for msg in batch).items():
            m.messages.labels(channel).inc(n)
        for kind, n in Counter(event.kind for event in new_events).items():
            m.events.labels(kind).inc(n)
        m.lag.observe_many(max(committed - event.time, 0.0) for event in new_events)
        self.batches += 1
        self.last_batch_at = committed
        if self.observe is not None and new_events:
            self.observe(new_events, committed)

    # -- housekeeping ----------------------------------------------------------------------

    def _maybe_save(self, now: float) -> None:
        cfg = self.cfg.state
        due = time.monotonic() - self._saved_at >= cfg.save_every_s
        if self.memory.dirty and (due or self.memory.pending >= cfg.save_every_inputs):
            self._save(now)

    def _save(self, now: float) -> None:
        """Save the engine's state; every input before it has had its effects carried out."""
        started = time.perf_counter()
        with self.store.batch():
            saved = self.memory.save(now)
            self.store.set_mark(EFFECTS_THROUGH, self._effects_done)
        self._effects_marked = self._effects_done
        self._saved_at = time.monotonic()
        self.metrics.state_saves.inc()
        log.info("engine state saved: %d households in %.2f s", saved,
                 time.perf_counter() - started,
                 extra={"fields": {"event": "state_saved", "households": saved}})

    def _gauges(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._gauges_at < GAUGE_EVERY_S:
            return
        self._gauges_at = now
        m = self.metrics
        m.cases.clear()
        for (kind, st), n in Counter((c.kind, c.state)
                                     for c in self.store.cases(open_only=True)).items():
            m.cases.labels(kind, st).set(n)
        m.households.clear()
        for status, n in Counter(self.statuses.values()).items():
            m.households.labels(status).set(n)
        m.devices.set(len(self.registry))

    def _bulbs(self, household: str) -> list[str]:
        """The bulbs to knock on: those online, or every one when none is known to be."""
        st = self.engine.state(household)
        online = [dev_id for dev_id, dev in ((st.devices or {}) if st else {}).items()
                  if dev.online]
        return sorted(online) or sorted(self.registry.devices_of(household))

    def _unknown_top(self) -> dict[str, int]:
        """Unregistered device ids heard most often, for the operator to register."""
        with self._unknown_lock:
            return dict(self.unknown_devices.most_common(20))

    def health(self) -> dict:
        """What /health shows; read from another thread, so plain values only."""
        now = time.time()
        connected = self._connected_at is not None
        loop_age = now - self.loop_at
        ok = self.phase == "running" and connected and loop_age < 10
        return {
            "status": "ok" if ok else ("starting" if self.phase == "starting" else "degraded"),
            "phase": self.phase,
            "mqtt": {"connected": connected, "client_id": self.cfg.mqtt.client_id},
            "timers_running": self._ticking,
            "loop_age_s": round(loop_age, 3),
            "ingest": {"queue": len(self.link.received), "batches": self.batches,
                       "last_batch_at": self.last_batch_at},
            "engine": {"households": len(self.statuses), "replayed_at_start": self.replayed,
                       "journal_inputs": self.memory.pending},
            "unknown_devices": self._unknown_top(),
        }
