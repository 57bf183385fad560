"""host.toml's [notify] table to channels, with an error that names the key for anything wrong.

Secrets are never in the file: a channel names the environment variable that holds each one
(`secret_env`, `password_env`), and a missing one stops the host at start, not at the first
alarm. docs/notifications.md lists every key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from host.explain import LANGS
from host.notify.channel import Channel
from host.notify.log import LogChannel
from host.notify.notice import AUDIENCES
from host.notify.retry import ONCE, Backoff
from host.notify.smtp import DEFAULT_PORT, SECURITY, SmtpChannel
from host.notify.webhook import WebhookChannel

MIN_SECRET = 16  # characters; a short HMAC secret can be guessed
_LOOPBACK = ("localhost", "127.0.0.1", "::1")

_BACKOFF_KEYS = {
    "max_attempts": "max_attempts",
    "backoff_initial_s": "initial_s",
    "backoff_max_s": "max_s",
    "backoff_factor": "factor",
    "backoff_jitter": "jitter",
}
_TOP_KEYS = {"lang", "link", "queue_size", "close_timeout_s", "log", "webhook", "email",
             *_BACKOFF_KEYS}
_COMMON_KEYS = {"name", "audiences", *_BACKOFF_KEYS}
_WEBHOOK_KEYS = _COMMON_KEYS | {"url", "secret_env", "timeout_s", "headers_env"}
_EMAIL_KEYS = _COMMON_KEYS | {"host", "port", "security", "username_env", "password_env",
                              "from", "to", "timeout_s", "ca_file"}
_LOG_KEYS = {"enabled", "name", "audiences"}


class NotifyConfigError(ValueError):
    """host.toml's [notify] table is wrong; the message names the key."""


class Settings(NamedTuple):
    channels: list[Channel]
    lang: str = "ko"
    link: str | None = None
    queue_size: int = 1000
    close_timeout_s: float = 10.0


def settings(table: Mapping | None, env: Mapping[str, str] = os.environ) -> Settings:
    """Channels and options from the [notify] table (None or {}: the log only)."""
    table = dict(table or {})
    _known(table, _TOP_KEYS, "notify")
    lang = _get(table, "lang", str, "notify", "ko")
    if lang not in LANGS:
        raise NotifyConfigError(f"notify.lang: {lang!r} is not one of {LANGS}")
    link = _get(table, "link", str, "notify", None)
    if link is not None:
        try:
            link.format(case_id="c", household="h")
        except (KeyError, IndexError, ValueError) as e:
            raise NotifyConfigError(
                f"notify.link: {link!r} may use only {{case_id}} and {{household}} ({e})"
            ) from None
    queue_size = _get(table, "queue_size", int, "notify", 1000)
    if queue_size < 1:
        raise NotifyConfigError(f"notify.queue_size must be at least 1, got {queue_size}")
    close_timeout = float(_get(table, "close_timeout_s", (int, float), "notify", 10.0))
    if close_timeout < 0:
        raise NotifyConfigError("notify.close_timeout_s must be >= 0")
    backoff = _backoff(table, Backoff(), "notify")

    channels: list[Channel] = []
    log = table.get("log", True)
    if isinstance(log, bool):
        log = {"enabled": log}
    if not isinstance(log, Mapping):
        raise NotifyConfigError("notify.log must be a table or true/false")
    _known(log, _LOG_KEYS, "notify.log")
    if _get(log, "enabled", bool, "notify.log", True):
        channels.append(LogChannel(_get(log, "name", str, "notify.log", "log"),
                                   _audiences(log, "notify.log"), ONCE))
    for i, item in enumerate(_tables(table, "webhook")):
        channels.append(_webhook(item, f"notify.webhook[{i}]", backoff, env))
    for i, item in enumerate(_tables(table, "email")):
        channels.append(_email(item, f"notify.email[{i}]", backoff, env))
    names = [c.name for c in channels]
    for name in names:
        if names.count(name) > 1:
            raise NotifyConfigError(f"notify: two channels are named {name!r}; set `name`")
    return Settings(channels, lang, link, queue_size, close_timeout)


def _webhook(item: Mapping, where: str, backoff: Backoff, env: Mapping[str, str]) -> Channel:
    _known(item, _WEBHOOK_KEYS, where)
    url = _required(item, "url", str, where)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise NotifyConfigError(f"{where}.url: {url!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        # The body names a resident and says why they may need help: not in the clear.
        raise NotifyConfigError(
            f"{where}.url: plain http is only for a relay on this host; use https for {url!r}"
        )
    secret = _env(env, _required(item, "secret_env", str, where), f"{where}.secret_env")
    if len(secret) < MIN_SECRET:
        raise NotifyConfigError(
            f"{where}.secret_env: the secret in ${item['secret_env']} is shorter than "
            f"{MIN_SECRET} characters"
        )
    headers_env = _get(item, "headers_env", Mapping, where, {})
    headers = {str(h): _env(env, v, f"{where}.headers_env.{h}") for h, v in headers_env.items()}
    return WebhookChannel(
        url,
        secret.encode(),
        name=_get(item, "name", str, where, "webhook"),
        timeout_s=float(_get(item, "timeout_s", (int, float), where, 10.0)),
        audiences=_audiences(item, where),
        backoff=_backoff(item, backoff, where),
        headers=headers,
    )


def _email(item: Mapping, where: str, backoff: Backoff, env: Mapping[str, str]) -> Channel:
    _known(item, _EMAIL_KEYS, where)
    security = _get(item, "security", str, where, "starttls")
    if security not in SECURITY:
        raise NotifyConfigError(f"{where}.security: {security!r} is not one of {SECURITY}")
    to = _required(item, "to", list, where)
    if not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise NotifyConfigError(f"{where}.to: a list of e-mail addresses, got {to!r}")
    sender = _required(item, "from", str, where)
    username_env = _get(item, "username_env", str, where, None)
    password_env = _get(item, "password_env", str, where, None)
    if (username_env is None) != (password_env is None):
        raise NotifyConfigError(f"{where}: username_env and password_env go together")
    username = _env(env, username_env, f"{where}.username_env") if username_env else None
    password = _env(env, password_env, f"{where}.password_env") if password_env else None
    if username and security == "none":
        raise NotifyConfigError(f"{where}: a password is not sent without TLS (security none)")
    port = _get(item, "port", int, where, DEFAULT_PORT[security])
    return SmtpChannel(
        _required(item, "host", str, where),
        sender,
        to,
        name=_get(item, "name", str, where, "email"),
        port=port,
        security=security,
        username=username,
        password=password,
        timeout_s=float(_get(item, "timeout_s", (int, float), where, 30.0)),
        ca_file=_get(item, "ca_file", str, where, None),
        audiences=_audiences(item, where),
        backoff=_backoff(item, backoff, where),
    )


def _tables(table: Mapping, key: str) -> list[Mapping]:
    """`[notify.webhook]` (one) or `[[notify.webhook]]` (several)."""
    value = table.get(key, [])
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise NotifyConfigError(f"notify.{key} must be a table or an array of tables")
    return items


def _backoff(table: Mapping, base: Backoff, where: str) -> Backoff:
    over = {}
    for key, field in _BACKOFF_KEYS.items():
        if key in table:
            kind = int if key == "max_attempts" else (int, float)
            over[field] = _get(table, key, kind, where, None)
    backoff = base._replace(**over)
    try:
        backoff.check(where)
    except ValueError as e:
        raise NotifyConfigError(str(e)) from None
    return backoff


def _audiences(table: Mapping, where: str) -> frozenset[str]:
    value = _get(table, "audiences", list, where, list(AUDIENCES))
    bad = [a for a in value if a not in AUDIENCES]
    if bad or not value:
        raise NotifyConfigError(f"{where}.audiences: {value!r}; use some of {AUDIENCES}")
    return frozenset(value)


def _env(env: Mapping[str, str], name: object, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise NotifyConfigError(f"{where}: the name of an environment variable, got {name!r}")
    value = env.get(name)
    if not value:
        raise NotifyConfigError(f"{where}: environment variable {name} is not set")
    return value


def _known(table: Mapping, keys: set[str], where: str) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise NotifyConfigError(f"{where}: unknown key {unknown[0]!r}; known: {sorted(keys)}")


def _required(table: Mapping, key: str, kind: type | tuple, where: str) -> object:
    if key not in table:
        raise NotifyConfigError(f"{where}: `{key}` is required")
    return _get(table, key, kind, where, None)


def _get(table: Mapping, key: str, kind: type | tuple, where: str, default: object) -> object:
    value = table.get(key, default)
    if value is default:
        return value
    # TOML booleans are not numbers here, whatever Python thinks.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise NotifyConfigError(f"{where}.{key}: wrong type {type(value).__name__} ({value!r})")
    return value
