"""Fixtures every test folder may use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.firmware import rig


@pytest.fixture
def broker(tmp_path: Path):
    """A Mosquitto of the test's own on a free port (the machine's may be absent or shared)."""
    b = rig.Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()
