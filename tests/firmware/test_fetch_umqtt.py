"""tools/fetch-umqtt: the pinned sdist from the configured index, cached and re-checked."""

from __future__ import annotations

import hashlib
import subprocess

from tests.firmware import rig

TOOL = str(rig.ROOT / "tools" / "fetch-umqtt")
PINNED = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"


def fetch() -> str:
    out = subprocess.run([TOOL], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_cache_holds_the_pinned_file_and_an_altered_copy_is_fetched_again(umqtt_dir):
    simple = umqtt_dir / "umqtt" / "simple.py"
    stamp = (umqtt_dir / "SHA256").read_text().split()
    assert stamp == [PINNED, hashlib.sha256(simple.read_bytes()).hexdigest()]
    original = simple.read_bytes()
    assert b"class MQTTClient" in original and b"def check_msg" in original
    simple.write_bytes(original + b"\n# tampered\n")
    assert fetch() == str(umqtt_dir)
    assert simple.read_bytes() == original
