"""The live host (`anbu serve`): ingest throughput, event-to-decision latency, memory.

Goals (issue 6): at least 10,000 events/s in one process through Mosquitto with validation,
dedupe and storage, reported as a ratio to a bare paho subscriber measured in the same run;
event-to-decision latency p50/p99 at 1,000 events/s; memory with 100,000 registered devices.

- Throughput: N events from 1,000 bulbs are queued at a private Mosquitto (the fleet's settings
  from `anbu broker config`: persistence, max_inflight_messages 100) for a persistent session
  while its reader is away; then the reader comes back and drains them. The reader is either a
  bare paho subscriber (QoS 1, acks each message as it arrives, keeps nothing) or the host
  (Service: decode, registry, dedupe in SQLite, the engine, the journal, one commit per batch,
  acks after the commit). Timed from subscribed to the last message stored; also the CPU time
  this process spent per event, which other jobs on a shared machine move less.
- Latency: a publisher process sends 1,000 events/s, each stamped with its send time; the host
  reports when each one's decision was committed.
- Memory: 100,000 bulbs in 50,000 households registered in the store, each heard from once
  (online and a switch event) through the host's own batch path; RSS before and after, and how
  long saving and restoring the engine's state takes at that size.

Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host import protocol as p  # noqa: E402
from host.serve.config import parse  # noqa: E402
from host.serve.ingest import Inbound  # noqa: E402
from host.serve.service import Service  # noqa: E402
from host.store.sqlite import SqliteStore  # noqa: E402
from tests.firmware import rig  # noqa: E402
from tools.broker_config import MAX_INFLIGHT  # noqa: E402

DEVICES = 1000
# At 1,000 events/s, 20,000 bulbs each send one every 20 s: a busy fleet, not one resident
# flicking the switch fast enough to call for help (SOS), which would measure alarms instead.
LATENCY_DEVICES = 20_000


def device(i: int) -> str:
    return f"bulb-{i:06d}"


def broker(folder: Path) -> rig.Broker:
    b = rig.Broker(folder)
    b.conf.write_text(b.conf.read_text() + f"max_inflight_messages {MAX_INFLIGHT}\n"
                      "max_queued_bytes 0\n")
    return b


def register(path: Path, devices: int) -> None:
    with SqliteStore(path) as store, store.batch():
        for h in range(devices // 2):
            store.add_household(f"hh-{h:06d}", "bench", created_at=0.0)
        for i in range(devices):
            store.add_device(device(i), f"hh-{i // 2:06d}", "switched", created_at=0.0)


def payloads(n: int, now: float, seed_boot: int = 1) -> list[tuple[str, bytes]]:
    """n switch events from DEVICES bulbs, a minute apart per bulb, ending now."""
    per = -(-n // DEVICES)
    out = []
    for k in range(per):
        for i in range(DEVICES):
            if len(out) == n:
                return out
            t = now - (per - k) * 60
            body = (f'{{"v":1,"d":"{device(i)}","b":{seed_boot},"s":{k},'
                    f'"k":"{"on" if k % 2 == 0 else "off"}","t":{t:.3f},"sy":1,"up":{k * 60000}}}')
            out.append((p.topic_for(device(i), p.EVT), body.encode()))
    return out


def publish_all(port: int, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub",
                         protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


class Bare:
    """A paho subscriber that only counts: the floor any host on paho stands on."""

    def __init__(self, port: int) -> None:
        self.port, self.count, self.done = port, 0, threading.Event()
        self.want = 0
        self.ready_at = 0.0

    def session(self, want: int = 0) -> float:
        self.want, self.count = want, 0
        self.done.clear()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare",
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.on_connect = lambda c, *a: c.subscribe(p.HOST_SUBSCRIPTIONS)
        client.on_subscribe = lambda *a: setattr(self, "ready_at", time.perf_counter())
        client.on_message = self._on_message
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        if want:
            self.done.wait(600)
        else:
            time.sleep(0.5)
        took = time.perf_counter() - self.ready_at
        client.loop_stop()
        client.disconnect()
        return took

    def _on_message(self, client, userdata, msg) -> None:
        self.count += 1
        if self.count >= self.want:
            self.done.set()


def config(folder: Path, port: int, name: str):
    return parse({"store": {"path": str(folder / "anbu.db")},
                  "mqtt": {"port": port, "client_name": name}, "web": {"port": 0},
                  "ingest": {"settle_ms": 200.0}})


def run_host(cfg, want: int = 0, observe=None) -> tuple[float, Service]:
    """Start the host; with `want`, wait until that many new events are stored."""
    stored = [0]
    done = threading.Event()

    def count(events, committed):
        stored[0] += len(events)
        if observe is not None:
            observe(events, committed)
        if want and stored[0] >= want:
            done.set()

    service = Service(cfg, observe=count)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    service.link.ready.wait(30)
    ready = time.perf_counter()
    if want:
        done.wait(600)
    took = time.perf_counter() - ready
    return took, service, thread


def stop(service: Service, thread: threading.Thread) -> None:
    service.stop()
    thread.join(60)


def throughput(folder: Path, n: int, repeats: int) -> dict:
    """Both readers' sessions get the same N events queued by one publish; the bare subscriber
    drains first, then the host. Repeated (a new boot number each time, so the events are new
    to the host): medians, and the ratio of each repeat, since this machine's speed varies."""
    b = broker(folder / "broker")
    b.start()
    try:
        register(folder / "anbu.db", DEVICES)
        cfg = config(folder, b.port, "bench")
        _, service, thread = run_host(cfg)  # make the host's session, then leave
        stop(service, thread)
        bare = Bare(b.port)
        bare.session()
        hosts, bares, host_cpu, bare_cpu = [], [], [], []
        for repeat in range(repeats):
            publish_all(b.port, payloads(n, time.time(), seed_boot=repeat + 1))
            cpu = time.process_time()
            bares.append(n / bare.session(n))
            bare_cpu.append((time.process_time() - cpu) / n)
            cpu = time.process_time()
            took, service, thread = run_host(cfg, n)
            host_cpu.append((time.process_time() - cpu) / n)
            stop(service, thread)
            hosts.append(n / took)
        with SqliteStore(folder / "anbu.db") as s:
            rows = s._conn.execute("SELECT COUNT(*) FROM events WHERE seq IS NOT NULL").fetchone()
        assert rows[0] == n * repeats, f"stored {rows[0]} of {n * repeats}"
        ratios = sorted(h / b_ for h, b_ in zip(hosts, bares, strict=True))
        return {"events": n, "repeats": repeats,
                "host_events_per_s": round(statistics.median(hosts)),
                "bare_paho_events_per_s": round(statistics.median(bares)),
                "ratio_to_bare": round(statistics.median(ratios), 3),
                "ratios": [round(r, 3) for r in ratios],
                # This process's CPU time per event (all its threads), which the other jobs on
                # a shared machine disturb less than the wall-clock rates.
                "host_cpu_us_per_event": round(statistics.median(host_cpu) * 1e6, 1),
                "bare_cpu_us_per_event": round(statistics.median(bare_cpu) * 1e6, 1)}
    finally:
        b.stop()


def _publisher(port: int, rate: int, seconds: float) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-rate",
                         protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start, n = time.time(), int(rate * seconds)
    for k in range(n):
        i = k % LATENCY_DEVICES
        seq = 1000 + k // LATENCY_DEVICES
        now = time.time()
        body = (f'{{"v":1,"d":"{device(i)}","b":1,"s":{seq},"k":"{"on" if seq % 2 else "off"}",'
                f'"t":{now:.6f},"sy":1,"up":{seq}}}')
        client.publish(p.topic_for(device(i), p.EVT), body, qos=1)
        ahead = start + (k + 1) / rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
    time.sleep(1)
    client.loop_stop()
    client.disconnect()


def latency(folder: Path, rate: int, seconds: float) -> dict:
    b = broker(folder / "broker")
    b.start()
    lags: list[float] = []
    try:
        register(folder / "anbu.db", LATENCY_DEVICES)
        cfg = config(folder, b.port, "lat")

        def observe(events, committed):
            lags.extend(committed - e.time for e in events)

        _, service, thread = run_host(cfg, observe=observe)
        time.sleep(0.5)
        proc = multiprocessing.get_context("spawn").Process(
            target=_publisher, args=(b.port, rate, seconds))
        proc.start()
        proc.join(seconds + 60)
        deadline = time.time() + 10
        while len(lags) < int(rate * seconds) and time.time() < deadline:
            time.sleep(0.1)
        decisions = sum(service.metrics.registry.get_sample_value(
            "anbu_actions_total", {"action": a}) or 0 for a in ("Knock", "Alarm", "Notify"))
        stop(service, thread)
        lags.sort()
        ms = [x * 1000 for x in lags]
        return {"latency_events": len(ms), "latency_rate_per_s": rate,
                "latency_alarms_raised": int(decisions),
                "latency_p50_ms": round(statistics.median(ms), 2),
                "latency_p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
                "latency_max_ms": round(ms[-1], 2)}
    finally:
        b.stop()


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory(folder: Path, devices: int) -> dict:
    """In a fresh process, so what the other parts allocated does not blur the figures."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_memory, args=(folder, devices, results))
    proc.start()
    figures = results.get(timeout=1800)
    proc.join(60)
    return figures


def _memory(folder: Path, devices: int, results) -> None:
    folder.mkdir(parents=True)
    register(folder / "anbu.db", devices)
    base = rss_mb()
    cfg = config(folder, rig.free_port(), "mem")  # no broker: batches go in directly
    service = Service(cfg)
    registry_mb = rss_mb() - base
    now = time.time()
    batch = []
    for i in range(devices):
        d = device(i)
        status = f'{{"v":1,"d":"{d}","b":1,"st":"online","pm":"switched","hb":300,"sy":0}}'
        evt = f'{{"v":1,"d":"{d}","b":1,"s":0,"k":"on","t":{now - 5:.3f},"sy":1,"up":5}}'
        batch.append(Inbound(p.topic_for(d, p.STATUS), status.encode(), 0, 0, True, now))
        batch.append(Inbound(p.topic_for(d, p.EVT), evt.encode(), 0, 0, False, now))
        if len(batch) >= 2000:
            service.process(batch, now, ticking=False)
            batch = []
    service.process(batch, now, ticking=False)
    total_mb = rss_mb() - base
    started = time.perf_counter()
    service._save(time.time())
    save_s = time.perf_counter() - started
    households = len(list(service.engine.households()))
    service.store.close()
    started = time.perf_counter()
    again = Service(cfg)
    again.memory.restore()
    restore_s = time.perf_counter() - started
    again.store.close()
    results.put({"registered_devices": devices, "households": households,
                 "rss_process_mb": round(base, 1), "rss_registry_mb": round(registry_mb, 1),
                 "rss_host_mb": round(total_mb, 1),
                 "bytes_per_device": round(total_mb * 2**20 / devices),
                 "state_save_s": round(save_s, 2), "state_restore_s": round(restore_s, 2),
                 "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    n, repeats = (10_000, 1) if args.quick else (30_000, 3)
    seconds = 5.0 if args.quick else 20.0
    devices = 20_000 if args.quick else 100_000
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(throughput(Path(tmp) / "t", n, repeats))
    print(json.dumps(figures), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(latency(Path(tmp) / "l", 1000, seconds))
    print(json.dumps(figures), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(memory(Path(tmp) / "m", devices))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
