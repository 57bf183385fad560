"""What an operator graphs and alerts on, in Prometheus' text format (prometheus_client).

One registry per service, not the library's global one, so tests can run several services in a
process. Names start with anbu_; counters end in _total on the wire.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600)
_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_NAME = re.compile(r"[^a-z0-9_]+")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages = Counter("anbu_messages", "MQTT messages received, by channel",
                                ["channel"], registry=r)
        self.events = Counter("anbu_events", "new events stored and given to the engine, by "
                              "kind", ["kind"], registry=r)
        self.rejected = Counter("anbu_rejected", "messages rejected, by reason (docs/protocol.md "
                                "section 9)", ["reason"], registry=r)
        self.ignored = Counter("anbu_ignored", "messages with nothing new in them, by why",
                               ["why"], registry=r)
        self.actions = Counter("anbu_actions", "engine decisions, by action", ["action"],
                               registry=r)
        self.engine_rejected = Counter("anbu_engine_rejected", "inputs the engine refused, by "
                                       "kind", ["kind"], registry=r)
        self.cases = Gauge("anbu_cases_open", "open cases, by kind and state", ["kind", "state"],
                           registry=r)
        self.households = Gauge("anbu_households", "households, by status", ["status"],
                                registry=r)
        self.devices = Gauge("anbu_devices_registered", "devices in the registry", registry=r)
        self.lag = BatchHistogram("anbu_ingest_lag_seconds", "from a bulb's clock (or the "
                                  "receive time when unsynced) to the event being stored",
                                  _LAG_BUCKETS)
        r.register(self.lag)
        self.queue = Gauge("anbu_ingest_queue", "messages received and not yet stored",
                           registry=r)
        self.batch_seconds = Histogram("anbu_batch_seconds", "one batch: store, engine, commit",
                                       buckets=_BATCH_BUCKETS, registry=r)
        self.batch_size = Histogram("anbu_batch_messages", "messages per batch",
                                    buckets=_SIZE_BUCKETS, registry=r)
        self.commands = Counter("anbu_commands", "commands published to bulbs", ["command"],
                                registry=r)
        self.command_failures = Counter("anbu_command_failures", "commands refused or not "
                                        "acked in time", ["command", "why"], registry=r)
        self.store_errors = Counter("anbu_store_errors", "store calls that failed (the batch "
                                    "went on without them)", ["call"], registry=r)
        self.engine_errors = Counter("anbu_engine_errors", "inputs the engine raised on "
                                     "(never expected; each costs only itself)", registry=r)
        self.connected = Gauge("anbu_mqtt_connected", "1 while subscribed to the broker",
                               registry=r)
        self.state_saves = Counter("anbu_state_saves", "engine state saves", registry=r)
        self.journal = Gauge("anbu_journal_inputs", "engine inputs since the last state save",
                             registry=r)
        self._lock = threading.Lock()
        self._named: dict[str, Counter] = {}

    def count(self, name: str, label: str = "") -> None:
        """A counter by name, made on first use: the notifier's callback, e.g.
        count("notification_failures", "webhook") -> anbu_notification_failures_total."""
        key = _NAME.sub("_", str(name).lower()).strip("_") or "unnamed"
        with self._lock:
            counter = self._named.get(key)
            if counter is None:
                counter = self._named[key] = Counter(
                    f"anbu_{key}", f"{key} (host.notify), by channel", ["channel"],
                    registry=self.registry)
        counter.labels(channel=str(label)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class BatchHistogram(Collector):
    """A histogram filled a batch at a time by one thread: every event of a batch is observed
    (10,000 a second), without prometheus_client's lock and bookkeeping per observation."""

    def __init__(self, name: str, documentation: str, buckets: Iterable[float]) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = sorted(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self._lock = threading.Lock()  # taken once per batch, and by the scrape

    def observe_many(self, values: Iterable[float]) -> None:
        values = list(values)
        slots = [bisect.bisect_left(self.bounds, v) for v in values]
        with self._lock:
            counts = self.counts
            for slot in slots:
                counts[slot] += 1
            self.sum += sum(values)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self.counts), self.sum
        cumulative, buckets = 0, []
        for bound, n in zip([*self.bounds, float("inf")], counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets,
                                    sum_value=total)
