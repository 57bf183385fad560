"""Notifications: tell caseworkers and maintenance what the engine decided (docs/notifications.md).

The live host (host.serve) makes one notifier with `from_config` and hands it every engine
action; the notifier picks out the ones that tell people something (alarm, re-notification,
device fault, and the resolution of a case people were told about) and sends them on every
configured channel: the log, signed webhooks (SMS and phone-call services plug in there) and
e-mail over SMTP, on worker threads, with retries and dead letters in the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Protocol

from host.notify.config import NotifyConfigError, settings
from host.notify.dispatch import METRICS, Dispatcher
from host.store import Store

__all__ = ["METRICS", "Dispatcher", "Notifier", "NotifyConfigError", "from_config"]


class Notifier(Protocol):
    def notify(self, action: object) -> None:
        """Hand over one engine action; returns at once (no network I/O), never raises."""
        ...

    def close(self) -> None:
        """On shutdown: send what is queued while time allows; the rest stays pending."""
        ...


def from_config(
    table: Mapping | None,
    store: Store,
    metrics: Callable[[str, str], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> Dispatcher:
    """The notifier for host.toml's [notify] table; raises NotifyConfigError naming the key.

    `metrics(name, label)` counts: names in METRICS, label the channel's name.
    """
    s = settings(table, os.environ if env is None else env)
    return Dispatcher(s.channels, store, metrics, lang=s.lang, link=s.link,
                      queue_size=s.queue_size, close_timeout_s=s.close_timeout_s)
