"""Where households, devices, events and cases are kept: one interface, several databases.

SQLite (host.store.sqlite) is the embedded default; a PostgreSQL store can implement the same
`Store` protocol later and run the same contract tests (tests/test_store.py). All times are UTC
seconds since the epoch (float): the store never keeps local time, the UI converts with `tz`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

from host.decisions import FINE
from host.events import Event

DEFAULT_TZ = "Asia/Seoul"


class StoreError(Exception):
    """Anything the store refuses or cannot do; the message names what and which id."""


class Household(NamedTuple):
    id: str
    name: str
    tz: str = DEFAULT_TZ
    created_at: float = 0.0
    status: str = FINE  # the latest decisions.StatusChanged status
    status_at: float | None = None


class Device(NamedTuple):
    id: str
    household_id: str
    power_mode: str  # events.SWITCHED or events.MAINS
    created_at: float


class StoredEvent(NamedTuple):
    """An engine Event plus where it came from.

    (device, boot, seq) identifies an event sent by a bulb, so a QoS 1 duplicate is stored
    once; events without that identity (CSV logs, people's actions, heartbeats) are told apart
    by (household, device, time, kind). `synced` is False when the device clock was not set
    and `time` is the host's receive time instead.
    """

    household: str
    time: float
    kind: str
    device: str | None = None
    boot: int | None = None
    seq: int | None = None
    synced: bool = True
    received_at: float | None = None
    detail: object = None  # Event.detail; JSON-able (str, number, bool, None, tuples of them)

    @classmethod
    def of(
        cls,
        event: Event,
        boot: int | None = None,
        seq: int | None = None,
        synced: bool = True,
        received_at: float | None = None,
    ) -> StoredEvent:
        return cls(*event[:4], boot, seq, synced, received_at, event.detail)

    @property
    def event(self) -> Event:
        """The engine's input, for replaying stored history."""
        return Event(self.household, self.time, self.kind, self.device, self.detail)


class CaseRecord(NamedTuple):
    id: str
    household: str
    kind: str  # decisions.WELFARE or decisions.DEVICE
    state: str  # decisions.CASE_* ; "resolved" once closed
    reason_code: str
    reason: dict  # decisions.Reason as a dict
    opened_at: float
    closed_at: float | None = None
    outcome: str | None = None


class CaseHistoryEntry(NamedTuple):
    """One step of a case. actor None means the engine did it.

    detail holds the action's own fields, e.g. {"action": "knock", "until": ..., "urgent": ...,
    "reason": {...}}; "action" is the decisions class name in snake case.
    """

    case_id: str
    time: float
    state: str  # the case's state after this step
    actor: str | None
    note: str
    detail: dict


class DeviceCredential(NamedTuple):
    """A bulb's broker login (issue 5): the user name is the device id, and only the hash of its
    password is kept, in Mosquitto's PBKDF2-SHA512 format, so the password file can be written
    from the store while the password itself lives only on the bulb."""

    device_id: str
    password_hash: str  # "$7$iterations$salt$hash"
    created_at: float


# Delivery states of a notification (host.notify).
PENDING = "pending"  # queued or between retries: the outbox
SENT = "sent"  # the channel took it
DEAD = "dead"  # given up on (kept failing, refused, or the queue was full): a dead letter
NOTIFICATION_STATES = (PENDING, SENT, DEAD)


class Notification(NamedTuple):
    """One notice on one channel: an outbox row until it is sent, a dead letter if it never is.

    `key` is unique per notice and channel and derived from the engine's action, so the same
    action handed over twice (a replay after a restart) is stored, and sent, once.
    """

    key: str
    channel: str  # the channel's name in host.toml, e.g. "webhook", "email", "log"
    household: str
    case_id: str | None
    kind: str  # host.notify.notice kinds: alarm, reminder, device_fault, resolved
    created_at: float
    payload: dict  # everything a channel needs to send it, so a restart can resend it
    state: str = PENDING
    attempts: int = 0
    last_error: str = ""
    updated_at: float | None = None


# The live host (anbu serve): the engine's journal and the commands sent to bulbs.
TICK = "tick"  # an engine input that is a timer firing, not an event


class EngineInput(NamedTuple):
    """One call the engine took: handle(event, now), or tick(household, now) when event.kind is
    TICK. Replayed in id order through the saved state, they rebuild it exactly."""

    now: float
    event: Event
    id: int | None = None  # set by the store, in the order the inputs were taken


class Command(NamedTuple):
    """A command published to a bulb (protocol section 6.4) and what became of it."""

    device: str
    id: str  # the command id, unique per bulb
    command: str  # knock, knock_stop, ping, sync
    case_id: str | None
    sent_at: float
    deadline: float | None = None  # no ack by then: failed (knock_failed for a knock)
    acked_at: float | None = None
    ok: bool | None = None
    err: str | None = None
    failed_at: float | None = None


# The dashboard (host.dashboard): its accounts, login sessions and audit log.
ROLES = ("caseworker", "admin")
LANGS = ("ko", "en")


class UserRecord(NamedTuple):
    """A dashboard account as stored: the password only as an argon2id hash (PHC string).

    failures counts failed logins since failed_since, the start of the current window."""

    name: str
    role: str  # one of ROLES
    display: str
    password_hash: str
    created_at: float
    failures: int = 0
    failed_since: float | None = None
    locked_until: float | None = None
    disabled: bool = False


class WebSession(NamedTuple):
    """A logged-in browser. Only the sha256 of its cookie's token is stored."""

    token_hash: str  # sha256 of the token, hex
    user: str
    csrf: str  # what every form of this session must send back
    created_at: float
    seen_at: float
    lang: str = "ko"  # one of LANGS


class AuditEntry(NamedTuple):
    """Who saw or did what. actor is a user name (for a failed login, the name tried) or "cli"."""

    id: int | None  # set by the store, increasing
    at: float
    actor: str
    action: str  # e.g. login, login_failed, lockout, logout, assign, view_household
    target: str  # what it was done to: a case or household id, a user name; "" for none
    detail: dict


class Store(Protocol):
    """What the host, the simulator and the backtest need from a database.

    Calls may come from several threads (the live host's notification workers): each call is
    its own transaction, and writes are serialized.
    """

    def add_household(
        self, household_id: str, name: str, tz: str = DEFAULT_TZ, created_at: float | None = None
    ) -> Household: ...

    def household(self, household_id: str) -> Household: ...

    def households(self) -> list[Household]: ...

    def add_device(
        self, device_id: str, household_id: str, power_mode: str, created_at: float | None = None
    ) -> Device: ...

    def device(self, device_id: str) -> Device: ...

    def devices(self, household: str | None = None) -> list[Device]: ...

    def add_events(self, events: Iterable[StoredEvent | Event]) -> int:
        """Store new events, all or none; returns how many were new (duplicates are skipped)."""
        ...

    def events(
        self, household: str, start: float | None = None, end: float | None = None
    ) -> Iterator[StoredEvent]:
        """Events with start <= time < end, oldest first (ties in arrival order)."""
        ...

    def last_event_time(self, household: str) -> float | None: ...

    def record(self, actions: Iterable[object]) -> int:
        """Store the engine's actions (host.decisions), all or none; returns how many."""
        ...

    def cases(self, household: str | None = None, open_only: bool = False) -> list[CaseRecord]: ...

    def case(self, case_id: str) -> CaseRecord: ...

    def case_history(self, case_id: str) -> list[CaseHistoryEntry]: ...

    def add_notifications(self, items: Iterable[Notification]) -> int:
        """Store new notifications, all or none; returns how many were new (known keys skip)."""
        ...

    def update_notification(
        self, key: str, state: str, attempts: int, error: str = "", at: float | None = None
    ) -> Notification:
        """Record a delivery attempt's outcome; returns the updated notification."""
        ...

    def notifications(
        self, state: str | None = None, case_id: str | None = None, channel: str | None = None
    ) -> list[Notification]:
        """Notifications oldest first; state=DEAD lists the dead letters."""
        ...

    # The live host (anbu serve)

    def batch(self) -> AbstractContextManager[None]:
        """One transaction around many calls; a call that fails inside undoes only itself."""
        ...

    def add_new_events(self, events: Sequence[StoredEvent | Event]) -> list[bool]:
        """Store each event unless it is a duplicate; which ones were new, in order."""
        ...

    def add_engine_inputs(self, inputs: Iterable[EngineInput]) -> int:
        """Journal inputs in order; returns the id of the last one (0 for an empty journal)."""
        ...

    def engine_inputs(self, after: int = 0) -> Iterator[EngineInput]:
        """The journal after input id `after`, in the order the engine took it."""
        ...

    def save_engine_state(
        self, states: Mapping[str, bytes], fmt: str, through: int, at: float
    ) -> None:
        """Save households' engine state as of input `through`, and drop the journal up to
        it (mark state_through); households not named keep their saved state."""
        ...

    def engine_state(self) -> Iterator[tuple[str, str, bytes]]:
        """(household, format, serialized state) of every saved household."""
        ...

    def mark(self, name: str) -> float | None: ...

    def set_mark(self, name: str, value: float) -> None: ...

    def add_commands(self, commands: Iterable[Command]) -> int:
        """Store commands about to be sent; a known (device, id) is skipped. How many new."""
        ...

    def command_acked(
        self, device: str, command_id: str, at: float, ok: bool, err: str | None = None
    ) -> Command | None:
        """Record a bulb's ack (the first one counts); None for a command never sent."""
        ...

    def command_failed(self, device: str, command_id: str, at: float) -> Command | None: ...

    def commands(
        self, device: str | None = None, open_only: bool = False, case_id: str | None = None
    ) -> list[Command]:
        """Commands oldest first; open_only: neither acked nor failed yet."""
        ...

    def provision_device(
        self,
        device_id: str,
        household_id: str,
        power_mode: str,
        password_hash: str,
        created_at: float | None = None,
        replace: bool = False,
    ) -> DeviceCredential:
        """Register a bulb (if new) with its credentials, in one transaction. A bulb that has
        credentials already is refused unless `replace` (a re-key in the same household)."""
        ...

    def device_credential(self, device_id: str) -> DeviceCredential: ...

    def device_credentials(self) -> list[DeviceCredential]:
        """Every provisioned bulb's credentials, by device id: the broker's password file."""
        ...

    def revoke_device_credential(self, device_id: str) -> None:
        """Forget a bulb's credentials (stolen, retired): the next broker config shuts it out."""
        ...

    # The dashboard (host.dashboard)

    def add_user(self, user: UserRecord) -> None:
        """A new account; StoreError if the name is taken."""
        ...

    def user(self, name: str) -> UserRecord | None: ...

    def users(self) -> list[UserRecord]: ...

    def set_password_hash(self, name: str, password_hash: str) -> None: ...

    def login_failed(
        self, name: str, at: float, window_s: float, max_failures: int, lockout_s: float
    ) -> UserRecord:
        """Count a failed login in one transaction (so concurrent guesses all count): a new
        window once the last one is over; the max_failures-th failure locks for lockout_s."""
        ...

    def reset_failures(self, name: str) -> None:
        """A successful login or an unlock: no failures counted, no lock."""
        ...

    def add_web_session(self, session: WebSession) -> None: ...

    def web_session(self, token_hash: str) -> WebSession | None: ...

    def update_web_session(
        self, token_hash: str, seen_at: float | None = None, lang: str | None = None
    ) -> None: ...

    def end_web_sessions(
        self,
        token_hash: str | None = None,
        user: str | None = None,
        seen_by: float | None = None,
        created_by: float | None = None,
    ) -> int:
        """Delete the sessions that match any of the given conditions (seen_by, created_by:
        last seen, made at or before that time); returns how many."""
        ...

    def add_audit(self, entry: AuditEntry) -> int:
        """Append an entry (its id is ignored); returns the id it got."""
        ...

    def audit_entries(
        self,
        limit: int = 200,
        before_id: int | None = None,
        actor: str | None = None,
        target: str | None = None,
    ) -> list[AuditEntry]:
        """Newest first; before_id pages back (ids below it), actor filters (exactly), target
        filters (entries whose target contains it)."""
        ...

    def assign_case(self, case_id: str, user: str, by: str, at: float) -> None:
        """Give a case to a user (replacing any assignee) and write the audit entry for it."""
        ...

    def assignments(self, case_ids: Iterable[str] | None = None) -> dict[str, str]:
        """Case id -> assigned user name, for the given cases (None: every assigned case)."""
        ...

    def close(self) -> None: ...
