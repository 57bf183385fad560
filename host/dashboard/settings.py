"""The dashboard's settings: the `[dashboard]` table of host.toml (host/serve/config.py reads it).

Every key has a default, so a host.toml without the table serves the dashboard in Korean with
the timeouts and lockout below. A bad value raises ValueError starting with the key's name;
the config loader puts the file and "dashboard." in front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGS = ("ko", "en")
_CLOCK = re.compile(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z")
_ADDRESS = re.compile(r"\A[^@\s<>,;]+@[^@\s<>,;]+\Z")


@dataclass(frozen=True)
class DashboardConfig:
    enabled: bool = True
    default_lang: str = "ko"  # "ko" or "en": the login page's language until one is chosen
    secure_cookies: bool = False  # true behind TLS: cookies go over https only
    session_idle_s: float = 1800.0  # logged out after this long without a request
    session_max_s: float = 43200.0  # ... and this long after logging in, whatever happens
    max_failures: int = 5  # this many failed logins within failure_window_s ...
    failure_window_s: float = 900.0
    lockout_s: float = 900.0  # ... lock the account for this long
    refresh_s: float = 10.0  # the households page refreshes itself this often
    page_size: int = 200  # rows per page (households, audit log)
    summary_to: tuple[str, ...] = ()  # who gets the daily summary by e-mail
    summary_at: str = "08:00"  # local time the previous day's summary is sent; "" never
    summary_from: str = "anbu@localhost"

    def __post_init__(self) -> None:
        if self.default_lang not in LANGS:
            raise ValueError(f"default_lang: expected one of {LANGS}, got {self.default_lang!r}")
        for key in ("session_idle_s", "session_max_s", "failure_window_s", "lockout_s",
                    "refresh_s"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{key}: expected seconds > 0, got {value!r}")
        for key in ("max_failures", "page_size"):
            value = getattr(self, key)
            if type(value) is not int or value < 1:
                raise ValueError(f"{key}: expected an integer >= 1, got {value!r}")
        if not isinstance(self.summary_at, str) or not (
            self.summary_at == "" or _CLOCK.match(self.summary_at)
        ):
            raise ValueError(f"summary_at: expected HH:MM (24 h) or \"\", got {self.summary_at!r}")
        if not isinstance(self.summary_to, tuple):
            raise ValueError(f"summary_to: expected a list of addresses, got {self.summary_to!r}")
        for key, addresses in (("summary_to", self.summary_to),
                               ("summary_from", (self.summary_from,))):
            for address in addresses:
                if not isinstance(address, str) or not _ADDRESS.match(address):
                    raise ValueError(f"{key}: {address!r} is not an e-mail address")
