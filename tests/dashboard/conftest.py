"""Fixtures for the dashboard's tests: a real headless Chromium (Debian's, driven by playwright
without any browser download), a broker that lives as long as a test module, and the folder
the browser tests leave their screenshots in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.firmware import rig

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (tools/setup-dev installs it)
SCREENSHOTS = rig.ROOT / "test-artifacts" / "screenshots"  # gitignored


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless browser per test module; each test opens its own contexts (cookies)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run tools/setup-dev (Debian's chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.Broker]:
    """A Mosquitto of the module's own, for a live host shared by the module's tests."""
    b = rig.Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
