"""netio in the real MicroPython VM against a loopback peer that stops reading: a write that
cannot go out must give up on its deadline and keep serving the switch while it waits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading

from tests.firmware import rig

DRIVER = """
import errno, json, socket
from time import ticks_ms, ticks_diff
import netio

calls = []
def service():
    calls.append(ticks_ms())

conn = netio.Conn(%d, service)
conn.connect(socket.getaddrinfo("127.0.0.1", %d)[0][-1])
chunk = bytes(65536)
err = None
sent = 0
try:
    for _ in range(160):  # 10 MB: far more than both socket buffers hold
        t0 = ticks_ms()
        calls = []
        conn.write(chunk)
        sent += 1
except OSError as e:
    err = e.args[0]
took = ticks_diff(ticks_ms(), t0)
gaps = [ticks_diff(b, a) for a, b in zip(calls, calls[1:])]
conn.close()
print(json.dumps({"sent": sent, "err": err, "timedout": err == errno.ETIMEDOUT, "took": took,
                  "calls": len(calls), "gap": max(gaps) if gaps else None}))
"""


def test_a_peer_that_stops_reading_times_the_write_out(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.listen(1)
    held: list[socket.socket] = []
    accepted = threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True)
    accepted.start()
    script = tmp_path / "driver.py"
    script.write_text(DRIVER % (800, server.getsockname()[1]))
    try:
        proc = subprocess.run(
            ["micropython", str(script)], capture_output=True, text=True, timeout=60,
            env={**os.environ, "MICROPYPATH": str(rig.FIRMWARE)},
        )
    finally:
        accepted.join(5)
        for c in held:
            c.close()
        server.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["timedout"], out
    assert 800 <= out["took"] < 3000, out
    # the switch was served all along: many calls, never far apart
    assert out["calls"] > 50 and out["gap"] < 200, out
