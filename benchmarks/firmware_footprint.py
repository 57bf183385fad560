"""Footprint of the bulb firmware: bytecode size, peak heap, flash writes per event.

- bytecode: every firmware file through mpy-cross (what goes onto the ESP32), and umqtt.simple;
- heap: the firmware as .mpy in the real VM capped at `-X heapsize=64K`, through toggles, a
  broker outage and a knock; peak in use = heap size - lowest free heap after a collection
  (the heartbeat's `hmin`). The unix VM is 64-bit: objects are up to twice their ESP32 size;
- flash: the journal driven in the VM for 1000 events (append, then ack on PUBACK), counting
  flushed writes and bytes, compactions included. Prints one JSON object last.

    python3 benchmarks/firmware_footprint.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.firmware import rig  # noqa: E402

JOURNAL = """
import json
from journal import Journal
j = Journal("q.log", 200)
N = %d
payload = '{"v":1,"d":"bulb-0001","b":17,"s":%%d,"k":"on","t":1764040000.123,"sy":1,"up":5321000}'
for s in range(N):
    j.append(17, s, payload %% s)
    b, s2, p = j.head()
    j.ack(b, s2, 0)
steady = (j.writes, j.written)
backlog = Journal("b.log", 200)
for s in range(N):
    backlog.append(17, s, payload %% s)
print(json.dumps({"n": N, "writes": steady[0], "bytes": steady[1],
                  "backlog_writes": backlog.writes, "backlog_depth": len(backlog),
                  "backlog_drops": backlog.drops}))
"""


def heap_total(heap: str) -> int:
    out = subprocess.run(
        ["micropython", "-X", f"heapsize={heap}", "-c",
         "import gc; gc.collect(); print(gc.mem_free() + gc.mem_alloc())"],
        capture_output=True, text=True, timeout=30, check=True)
    return int(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter heap run and 200 events")
    args = ap.parse_args()
    umqtt = Path(subprocess.run(
        [str(ROOT / "tools" / "fetch-umqtt")], capture_output=True, text=True, timeout=180,
        check=True).stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fw = [(p, p.name) for p in sorted(rig.FIRMWARE.glob("*.py"))]
        doubles = [(p, p.name) for p in sorted(rig.DOUBLES.glob("*.py"))]
        lib = [(umqtt / "umqtt" / "simple.py", "umqtt/simple.py")]
        rig.compile_mpy(tmp / "mpy", fw + doubles + lib)
        sizes = {p.name: (tmp / "mpy" / p.with_suffix(".mpy").name).stat().st_size for p, _ in fw}
        umqtt_mpy = (tmp / "mpy" / "umqtt" / "simple.mpy").stat().st_size
        source = sum(p.stat().st_size for p, _ in fw)

        # Heap: the whole scenario under a 64K heap.
        broker = rig.Broker(tmp / "broker")
        broker.start()
        recorder = rig.Recorder(broker.port)
        dev = rig.Device(tmp / "flash", [tmp / "mpy"], "64K")
        try:
            dev.write_config(rig.config(broker.port))
            dev.start()
            recorder.wait(lambda r: r.decoded("evt"), 20, "boot")
            rounds = 2 if args.quick else 6
            for r in range(rounds):
                for i in range(10):
                    dev.flip(i % 2 == 0)
                    time.sleep(0.05)
                broker.stop()
                for i in range(10):
                    dev.flip(i % 2 == 0)
                    time.sleep(0.1)
                broker.start()
                recorder.command({"v": 1, "id": f"c-b{r}", "c": "knock", "dur": 30})
                recorder.wait(lambda rr, r=r: [a for a in rr.decoded("ack") if a.id == f"c-b{r}"],
                              20, "knock ack")
                time.sleep(1)
                dev.flip(True)  # answers the knock
                time.sleep(0.1)
                dev.flip(False)
                time.sleep(0.1)
            want = 1 + rounds * 21
            recorder.wait(lambda rr: len({(e.b, e.s) for e in rr.decoded("evt")}) >= want, 30,
                          "all events")
            mark = recorder.mark()
            hb = recorder.wait(lambda rr: rr.decoded("hb", mark), 15, "a heartbeat")[-1]
            dev.alive()
            memory_errors = dev.log().count("MemoryError")
        finally:
            dev.stop()
            recorder.close()
            broker.stop()
        total = heap_total("64K")

        # Flash writes per event.
        n = 200 if args.quick else 1000
        script = tmp / "journal_bench.py"
        script.write_text(JOURNAL % n)
        out = subprocess.run(
            ["micropython", str(script)], cwd=tmp, capture_output=True, text=True, timeout=120,
            env={**os.environ, "MICROPYPATH": str(rig.FIRMWARE)}, check=True)
        jr = json.loads(out.stdout.strip().splitlines()[-1])

    print(json.dumps({
        "benchmark": "firmware_footprint",
        "bytecode_bytes": sum(sizes.values()),
        "bytecode_by_file": sizes,
        "umqtt_simple_bytecode_bytes": umqtt_mpy,
        "source_bytes": source,
        "heap_cap_bytes": total,
        "heap_lowest_free_bytes": hb.hmin,
        "heap_peak_in_use_bytes": total - hb.hmin,
        "heap_memory_errors": memory_errors,
        "flash_writes_per_event": round(jr["writes"] / jr["n"], 3),
        "flash_bytes_per_event": round(jr["bytes"] / jr["n"], 1),
        "flash_writes_per_event_backlog": round(jr["backlog_writes"] / jr["n"], 3),
        "events": jr["n"],
    }))


if __name__ == "__main__":
    main()
