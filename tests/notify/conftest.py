"""Fixtures for the notification tests: a store with a household, and real receivers."""

from __future__ import annotations

import pytest

from host.store.sqlite import SqliteStore
from tests.notify.receivers import SmtpReceiver, WebhookReceiver

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC, 2025-11-25 01:00 in Seoul


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "anbu.db")
    s.add_household("h1", "김말순", created_at=T0 - 86400)
    yield s
    s.close()


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp_server():
    s = SmtpReceiver()
    yield s
    s.close()
