"""Fixtures for the firmware tests: umqtt.simple from PyPI, compiled firmware, a broker, a
recorder playing the host, and a device (the VM) torn down after each test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.firmware import rig


@pytest.fixture(scope="session")
def umqtt_dir() -> Path:
    """umqtt.simple 1.3.4 exactly as PyPI ships it (tools/fetch-umqtt, sha256 pinned)."""
    out = subprocess.run(
        [str(rig.ROOT / "tools" / "fetch-umqtt")], capture_output=True, text=True, timeout=180,
    )
    if out.returncode != 0:
        raise RuntimeError(f"tools/fetch-umqtt failed: {out.stderr or out.stdout}")
    path = Path(out.stdout.strip().splitlines()[-1])
    assert (path / "umqtt" / "simple.py").is_file()
    return path


@pytest.fixture(scope="session")
def source_path(umqtt_dir: Path) -> list[Path]:
    """MICROPYPATH for the firmware's own .py files, unchanged."""
    return [rig.DOUBLES, umqtt_dir, rig.FIRMWARE]


@pytest.fixture(scope="session")
def mpy_path(umqtt_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """MICROPYPATH for the same files compiled by mpy-cross, as they go onto a device."""
    out = tmp_path_factory.mktemp("mpy")
    sources = [(p, p.name) for p in sorted(rig.FIRMWARE.glob("*.py"))]
    sources += [(p, p.name) for p in sorted(rig.DOUBLES.glob("*.py"))]
    sources.append((umqtt_dir / "umqtt" / "simple.py", "umqtt/simple.py"))
    rig.compile_mpy(out, sources)
    return [out]


@pytest.fixture
def recorder(broker: rig.Broker):
    r = rig.Recorder(broker.port)
    yield r
    r.close()
    # Everything the bulb published in the test, whatever the test looked at, is valid v1.
    for channel in ("evt", "hb", "status", "ack"):
        r.decoded(channel)


@pytest.fixture
def make_device(tmp_path: Path, source_path: list[Path]):
    made: list[rig.Device] = []
    rig.ntp_server().answering = True

    def make(name: str = "flash", path: list[Path] | None = None, heap: str | None = None):
        d = rig.Device(tmp_path / name, path or source_path, heap)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
    rig.ntp_server().answering = True
