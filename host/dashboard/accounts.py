"""Who may use the dashboard: accounts with argon2id passwords, lockout, login sessions, CSRF.

The store keeps only hashes: of each password (argon2id, PHC string) and of each session token
(sha256; the raw token lives only in the browser's cookie). A name that does not exist is
answered exactly like a wrong password, after the same hashing work, so names cannot be probed.

Accounts writes these audit entries itself (actor = the name tried): login, login_failed,
lockout, login_refused (locked or disabled) and logout.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from host.dashboard.audit import Audit
from host.dashboard.settings import DashboardConfig
from host.store import LANGS, ROLES, Store, UserRecord, WebSession

__all__ = [
    "ROLES", "AccountError", "Accounts", "LoginRefused", "Session", "User", "csrf_ok",
]

NAME = re.compile(r"\A[a-z0-9._-]{2,32}\Z")
MIN_PASSWORD = 10
MAX_DISPLAY = 80
BAD_CREDENTIALS, LOCKED, DISABLED = "bad_credentials", "locked", "disabled"
_TOKEN_BYTES = 32


class AccountError(ValueError):
    """An account cannot be made or changed as asked; the message says which and why."""


class LoginRefused(Exception):
    """A login was refused. reason: "bad_credentials" (also for an unknown name), "locked"
    (locked_until says until when) or "disabled"."""

    def __init__(self, reason: str, locked_until: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked_until = locked_until


class User(NamedTuple):
    name: str
    role: str
    display: str
    created_at: float
    failures: int  # failed logins in the current window
    locked_until: float | None  # None unless locked now
    disabled: bool


class Session(NamedTuple):
    token: str  # the raw token (the cookie's value); only its sha256 is stored
    user: User
    csrf: str  # this session's CSRF token, for the hidden field of every form
    created_at: float
    seen_at: float
    lang: str  # "ko" | "en"


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """True only when a form sent back exactly this session's CSRF token (constant time)."""
    if not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Accounts and sessions over a store. `hasher` defaults to argon2-cffi's PasswordHasher
    (argon2id, RFC 9106's low-memory profile); tests may pass one with cheaper parameters."""

    def __init__(
        self,
        store: Store,
        settings: DashboardConfig,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.audit = Audit(store, clock)
        # What an unknown name's password is checked against: the same work as a real one.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    # Accounts

    def add_user(self, name: str, password: str, role: str, display: str = "") -> User:
        check_name(name)
        if role not in ROLES:
            raise AccountError(f"user {name!r}: role {role!r} is not one of {', '.join(ROLES)}")
        display = _display(name, display)
        _check_password(name, password)
        if self.store.user(name) is not None:
            raise AccountError(f"user name {name!r} is taken")
        record = UserRecord(name, role, display, self.hasher.hash(password), self.clock())
        self.store.add_user(record)
        return _view(record, record.created_at)

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends (they log in again)."""
        self._existing(name)
        _check_password(name, password)
        self.store.set_password_hash(name, self.hasher.hash(password))
        self.store.end_web_sessions(user=name)

    def unlock(self, name: str) -> None:
        """Lift a lockout and forget the failed logins."""
        self._existing(name)
        self.store.reset_failures(name)

    def users(self) -> list[User]:
        now = self.clock()
        return [_view(record, now) for record in self.store.users()]

    def _existing(self, name: str) -> UserRecord:
        record = self.store.user(name) if isinstance(name, str) else None
        if record is None:
            raise AccountError(f"unknown user {name!r}")
        return record

    # Logging in and out

    def login(self, name: str, password: str, lang: str = "ko") -> Session:
        """A new session, or LoginRefused. Every attempt is an audit entry."""
        now = self.clock()
        # As typed, within reason: it is the audit entry's actor (no name is longer than 32).
        tried = name.strip().lower()[:64] if isinstance(name, str) else ""
        password = password if isinstance(password, str) else ""
        record = self.store.user(tried) if NAME.match(tried) else None
        if record is None:
            self._verify(self._decoy, password)
            self.audit.record(tried, "login_failed", reason=BAD_CREDENTIALS)
            raise LoginRefused(BAD_CREDENTIALS)
        if record.locked_until is not None and record.locked_until > now:
            # Not even checked: guesses while locked learn nothing.
            self.audit.record(tried, "login_refused", reason=LOCKED, until=record.locked_until)
            raise LoginRefused(LOCKED, record.locked_until)
        if not self._verify(record.password_hash, password):
            s = self.settings
            after = self.store.login_failed(
                tried, now, s.failure_window_s, s.max_failures, s.lockout_s
            )
            self.audit.record(tried, "login_failed", reason=BAD_CREDENTIALS,
                              failures=after.failures)
            if after.locked_until is not None and after.locked_until > now:
                self.audit.record(tried, "lockout", until=after.locked_until,
                                  failures=after.failures)
                raise LoginRefused(LOCKED, after.locked_until)
            raise LoginRefused(BAD_CREDENTIALS)
        if record.disabled:  # said only to whoever knows the password
            self.audit.record(tried, "login_refused", reason=DISABLED)
            raise LoginRefused(DISABLED)
        if record.failures or record.locked_until is not None:
            self.store.reset_failures(tried)
            record = record._replace(failures=0, failed_since=None, locked_until=None)
        if self.hasher.check_needs_rehash(record.password_hash):
            self.store.set_password_hash(tried, self.hasher.hash(password))
        lang = lang if lang in LANGS else self.settings.default_lang
        token, csrf = secrets.token_urlsafe(_TOKEN_BYTES), secrets.token_urlsafe(_TOKEN_BYTES)
        self._end_expired(now)
        self.store.add_web_session(WebSession(token_hash(token), tried, csrf, now, now, lang))
        self.audit.record(tried, "login")
        return Session(token, _view(record, now), csrf, now, now, lang)

    def session(self, token: str | None, touch: bool = True) -> Session | None:
        """The session a cookie names, seen now; None if unknown, expired or its user is
        disabled or gone. touch=False for a page's own automatic refresh: an unattended
        screen must still time out."""
        if not isinstance(token, str) or not token:
            return None
        key = token_hash(token)
        stored = self.store.web_session(key)
        if stored is None:
            return None
        now = self.clock()
        record = self.store.user(stored.user)
        if (
            now - stored.seen_at >= self.settings.session_idle_s
            or now - stored.created_at >= self.settings.session_max_s
            or record is None
            or record.disabled
        ):
            self.store.end_web_sessions(token_hash=key)
            return None
        if not touch:
            return Session(token, _view(record, now), stored.csrf, stored.created_at,
                           stored.seen_at, stored.lang)
        self.store.update_web_session(key, seen_at=now)
        return Session(token, _view(record, now), stored.csrf, stored.created_at, now, stored.lang)

    def set_lang(self, token: str, lang: str) -> None:
        if lang not in LANGS:
            raise AccountError(f"language {lang!r} is not one of {', '.join(LANGS)}")
        if isinstance(token, str) and token:
            self.store.update_web_session(token_hash(token), lang=lang)

    def logout(self, token: str) -> None:
        if not isinstance(token, str) or not token:
            return
        key = token_hash(token)
        stored = self.store.web_session(key)
        if stored is not None:
            self.store.end_web_sessions(token_hash=key)
            self.audit.record(stored.user, "logout")

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _end_expired(self, now: float) -> None:
        self.store.end_web_sessions(
            seen_by=now - self.settings.session_idle_s,
            created_by=now - self.settings.session_max_s,
        )


def check_name(name: str) -> None:
    """AccountError unless `name` may name a new account."""
    if not isinstance(name, str) or not NAME.match(name):
        raise AccountError(
            f"user name {name!r}: use 2 to 32 of a-z, 0-9, '.', '_', '-' (lower case)"
        )


def _check_password(name: str, password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(
            f"user {name!r}: the password is too weak: use at least {MIN_PASSWORD} characters"
        )
    if password.strip().lower() == name or len(set(password)) < 3:
        raise AccountError(
            f"user {name!r}: the password is too weak: not the name, nor one character repeated"
        )


def _display(name: str, display: str) -> str:
    display = (display or "").strip()
    if len(display) > MAX_DISPLAY or any(not c.isprintable() for c in display):
        raise AccountError(
            f"user {name!r}: the display name must be at most {MAX_DISPLAY} printable characters"
        )
    return display


def _view(record: UserRecord, now: float) -> User:
    """What the pages may see of an account: no hash, and a lock only while it holds."""
    locked = record.locked_until is not None and record.locked_until > now
    lock_over = record.locked_until is not None and not locked
    return User(
        record.name,
        record.role,
        record.display,
        record.created_at,
        0 if lock_over else record.failures,
        record.locked_until if locked else None,
        record.disabled,
    )
