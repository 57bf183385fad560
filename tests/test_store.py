"""Contract tests for host.store.Store, run against every store implementation.

A new store (PostgreSQL) joins by adding a Backend to BACKENDS; the SQLite-only checks (file
format, WAL, the migration runner on a raw connection) are at the end.
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from host import decisions as d
from host.events import (
    ACK,
    HEARTBEAT,
    MAINS,
    OFF,
    ON,
    ONLINE,
    RESIDENT_FINE,
    SWITCHED,
    Event,
)
from host.store import (
    DEAD,
    PENDING,
    SENT,
    TICK,
    CaseRecord,
    Command,
    EngineInput,
    Household,
    Notification,
    Store,
    StoredEvent,
    StoreError,
)
from host.store.migrate import MIGRATIONS, MigrationError, migrate, migrations
from host.store.sqlite import SqliteStore

T0 = 1_764_000_000.0  # 2025-11-24 UTC


@dataclass
class Backend:
    """How to open one kind of store; open() again reaches the same data if persistent."""

    open: Callable[..., Store]
    persistent: bool


def sqlite_file(tmp_path: Path) -> Backend:
    path = tmp_path / "anbu.db"
    return Backend(lambda **kw: SqliteStore(path, **kw), persistent=True)


def sqlite_memory(tmp_path: Path) -> Backend:
    return Backend(lambda **kw: SqliteStore(":memory:", **kw), persistent=False)


BACKENDS = [sqlite_file, sqlite_memory]
PERSISTENT = [sqlite_file]


@pytest.fixture(params=BACKENDS, ids=lambda f: f.__name__)
def backend(request, tmp_path) -> Backend:
    return request.param(tmp_path)


@pytest.fixture(params=PERSISTENT, ids=lambda f: f.__name__)
def persistent(request, tmp_path) -> Backend:
    return request.param(tmp_path)


@pytest.fixture
def store(backend):
    s = backend.open()
    yield s
    s.close()


@pytest.fixture
def home(store) -> Store:
    """A store with two households and a bulb in each."""
    store.add_household("h1", "Kim Mal-soon", created_at=T0)
    store.add_household("h2", "Park Young-ho", tz="UTC", created_at=T0)
    store.add_device("bulb-0001", "h1", SWITCHED, created_at=T0)
    store.add_device("bulb-0002", "h2", MAINS, created_at=T0)
    return store


def bulb_events(n: int, boot: int = 1, start: float = T0) -> list[StoredEvent]:
    return [
        StoredEvent("h1", start + 60 * i, ON if i % 2 == 0 else OFF, "bulb-0001", boot, i)
        for i in range(n)
    ]


# Households and devices


def test_households_round_trip(store):
    added = store.add_household("h1", "Kim", created_at=T0)
    assert added == Household("h1", "Kim", "Asia/Seoul", T0, d.FINE, None)
    assert store.household("h1") == added
    store.add_household("h0", "Lee", tz="UTC")
    assert [h.id for h in store.households()] == ["h0", "h1"]
    assert store.household("h0").created_at > T0  # now, in UTC seconds


def test_household_errors_name_the_id(store):
    store.add_household("h1", "Kim")
    with pytest.raises(StoreError, match="household 'h1' already exists"):
        store.add_household("h1", "Kim again")
    with pytest.raises(StoreError, match="unknown household 'nope'"):
        store.household("nope")
    with pytest.raises(StoreError, match="unknown time zone 'Mars/Olympus'"):
        store.add_household("h2", "Lee", tz="Mars/Olympus")
    assert [h.id for h in store.households()] == ["h1"]


def test_devices_round_trip_and_errors(home):
    assert home.device("bulb-0001").household_id == "h1"
    assert home.device("bulb-0002").power_mode == MAINS
    assert [x.id for x in home.devices()] == ["bulb-0001", "bulb-0002"]
    assert [x.id for x in home.devices("h2")] == ["bulb-0002"]
    with pytest.raises(StoreError, match="device 'bulb-0001' already exists"):
        home.add_device("bulb-0001", "h2", SWITCHED)
    with pytest.raises(StoreError, match="unknown household 'h9'"):
        home.add_device("bulb-0009", "h9", SWITCHED)
    with pytest.raises(StoreError, match="unknown device 'bulb-0404'"):
        home.device("bulb-0404")
    with pytest.raises(StoreError, match="unknown household 'h9'"):
        home.devices("h9")
    with pytest.raises(StoreError, match="power mode 'solar'"):
        home.add_device("bulb-0003", "h1", "solar")
    with pytest.raises(StoreError, match="'Bulb_3'"):
        home.add_device("Bulb_3", "h1", SWITCHED)
    assert home.device("bulb-0001").household_id == "h1"  # the failed adds changed nothing
    assert len(home.devices()) == 2


# Events


def test_same_batch_twice_is_stored_once(home):
    batch = bulb_events(10) + [
        StoredEvent("h1", T0 + 5, ACK, detail="c-1"),  # no device identity: deduped by content
        StoredEvent("h1", T0 + 7, HEARTBEAT, "bulb-0001", boot=1),  # device, but no seq
    ]
    assert home.add_events(batch) == 12
    assert home.add_events(batch) == 0
    assert home.add_events(reversed(batch)) == 0
    assert len(list(home.events("h1"))) == 12


def test_duplicates_inside_one_batch_count_once(home):
    events = bulb_events(3)
    assert home.add_events(events + events[:2] + [events[0]]) == 3
    assert len(list(home.events("h1"))) == 3


def test_identity_is_device_boot_seq_not_content(home):
    first = bulb_events(3, boot=1)
    # After a reboot the sequence starts again at 0: new events, even at identical times.
    after_reboot = bulb_events(3, boot=2)
    # A QoS 1 redelivery whose time changed (e.g. rewritten after NTP sync) is still a duplicate.
    redelivered = [e._replace(time=e.time + 1) for e in first]
    assert home.add_events(first) == 3
    assert home.add_events(after_reboot) == 3
    assert home.add_events(redelivered) == 0
    order = [(e.boot, e.seq) for e in home.events("h1")]
    assert order == [(1, 0), (2, 0), (1, 1), (2, 1), (1, 2), (2, 2)]


def test_events_without_identity_are_deduped_by_household_time_kind(home):
    csv_rows = [Event("h1", T0, ON), Event("h1", T0, OFF), Event("h2", T0, ON)]
    assert home.add_events(csv_rows) == 3
    assert home.add_events([Event("h1", T0, ON), Event("h1", T0 + 1, ON)]) == 1
    assert [e.kind for e in home.events("h1")] == [ON, OFF, ON]


def test_many_events_in_large_batches_and_pages(home):
    events = bulb_events(12_345)
    assert home.add_events(iter(events)) == 12_345  # more than one executemany batch
    got = list(home.events("h1"))  # more than one page
    assert got == events
    assert home.add_events(iter(events)) == 0


def test_events_come_back_in_time_order_within_bounds(home):
    events = bulb_events(50)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    home.add_events(shuffled)
    home.add_events([StoredEvent("h2", T0 + 30, ON, "bulb-0002", 1, 0)])
    assert list(home.events("h1")) == events
    window = list(home.events("h1", start=T0 + 600, end=T0 + 1200))
    assert window == events[10:20]  # start included, end excluded
    assert list(home.events("h1", end=T0 + 120)) == events[:2]
    assert list(home.events("h1", start=T0 + 49 * 60)) == events[-1:]
    assert [e.household for e in home.events("h2")] == ["h2"]


def test_equal_times_keep_arrival_order_across_pages(home):
    tied = [StoredEvent("h1", T0, ON, "bulb-0001", 3, i) for i in range(2500)]
    random.Random(5).shuffle(tied)
    home.add_events(tied)
    assert list(home.events("h1")) == tied


def test_stored_event_round_trips_and_replays_as_engine_event(home):
    online = Event("h1", T0, ONLINE, "bulb-0001", (SWITCHED, 300))
    stored = StoredEvent.of(online, boot=4, seq=None, synced=False, received_at=T0 + 0.25)
    home.add_events([stored])
    [back] = home.events("h1")
    assert back == stored
    assert back.event == online  # detail comes back as the same tuple


def test_last_event_time(home):
    assert home.last_event_time("h1") is None
    home.add_events(bulb_events(5))
    assert home.last_event_time("h1") == T0 + 240
    assert home.last_event_time("h2") is None
    with pytest.raises(StoreError, match="unknown household 'h9'"):
        home.last_event_time("h9")
    with pytest.raises(StoreError, match="unknown household 'h9'"):
        home.events("h9")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (StoredEvent("h9", T0, ON), "event 2 .*unknown household 'h9'"),
        (StoredEvent("h1", T0, ON, "bulb-0404", 1, 0), "event 2 .*unknown device 'bulb-0404'"),
        (StoredEvent("h1", T0, ON, "bulb-0002", 1, 0), "device 'bulb-0002' belongs to .*'h2'"),
        (StoredEvent("h1", T0, "boot"), "event 2 .*unknown kind"),
        (StoredEvent("h1", T0, ON, None, None, 5), "sequence number needs a device"),
        (StoredEvent("h1", T0, ON, "bulb-0001", 1, -1), "seq must be an integer >= 0"),
        (StoredEvent("h1", float("nan"), ON), "finite UTC seconds"),
        (StoredEvent("h1", T0, ON, detail=object()), "detail is not JSON-able"),
        ("on", "event 2: expected StoredEvent or Event"),
    ],
)
def test_a_bad_event_names_itself_and_stores_nothing(home, bad, message):
    good = bulb_events(2)
    with pytest.raises(StoreError, match=message):
        home.add_events(good + [bad] + bulb_events(2, boot=2))
    assert list(home.events("h1")) == []
    assert home.add_events(good) == 2  # the store still works after the failed call


# Cases

REASON = d.Reason(d.INACTIVITY, since=T0, gap=14 * 3600.0, one_in_days=180.0, days_known=42)


def lifecycle(case_id: str = "case-1") -> list[list]:
    """The actions of one welfare case from opening to resolution, one engine call per list."""
    t = T0 + 14 * 3600
    return [
        [
            d.StatusChanged("h1", t, d.KNOCK, REASON),
            d.CaseOpened("h1", t, case_id, d.WELFARE, REASON),
            d.Knock("h1", t, case_id, until=t + 900, urgent=False, reason=REASON),
        ],
        [
            d.StatusChanged("h1", t + 900, d.ALARM, REASON),
            d.Alarm("h1", t + 900, case_id, REASON),
            d.Notify("h1", t + 900, case_id, "caseworker", urgent=True, repeat=0, reason=REASON),
        ],
        [d.CaseChanged("h1", t + 1200, case_id, d.CASE_ACKNOWLEDGED, actor="cw-lee")],
        [d.CaseChanged("h1", t + 1500, case_id, d.CASE_DISPATCHED, "cw-lee", "sent the 119 team")],
        [
            d.CaseResolved("h1", t + 4000, case_id, RESIDENT_FINE, "cw-lee", "asleep, TV on"),
            d.StatusChanged("h1", t + 4000, d.FINE),
        ],
    ]


def test_case_lifecycle_from_engine_actions(home):
    t = T0 + 14 * 3600
    steps = lifecycle()
    assert home.record(steps[0]) == 3
    opened = home.case("case-1")
    assert opened == CaseRecord(
        "case-1", "h1", d.WELFARE, d.CASE_KNOCK, d.INACTIVITY, REASON._asdict(), t, None, None
    )
    assert home.household("h1").status == d.KNOCK
    states = []
    for step in steps[1:]:
        home.record(step)
        states.append(home.case("case-1").state)
    assert states == [d.CASE_ALARM, d.CASE_ACKNOWLEDGED, d.CASE_DISPATCHED, d.CASE_RESOLVED]
    closed = home.case("case-1")
    assert (closed.closed_at, closed.outcome) == (t + 4000, RESIDENT_FINE)
    assert (home.household("h1").status, home.household("h1").status_at) == (d.FINE, t + 4000)

    history = home.case_history("case-1")
    assert [(h.state, h.actor, h.detail["action"]) for h in history] == [
        (d.CASE_OPEN, None, "case_opened"),
        (d.CASE_KNOCK, None, "knock"),
        (d.CASE_ALARM, None, "alarm"),
        (d.CASE_ALARM, None, "notify"),
        (d.CASE_ACKNOWLEDGED, "cw-lee", "case_changed"),
        (d.CASE_DISPATCHED, "cw-lee", "case_changed"),
        (d.CASE_RESOLVED, "cw-lee", "case_resolved"),
    ]
    assert [h.time for h in history] == sorted(h.time for h in history)
    assert history[1].detail == {
        "action": "knock",
        "until": t + 900,
        "urgent": False,
        "reason": REASON._asdict(),
    }
    assert history[3].detail["audience"] == "caseworker"
    assert history[5].note == "sent the 119 team"
    assert history[6].note == "asleep, TV on"
    assert history[6].detail["outcome"] == RESIDENT_FINE


def test_case_lists(home):
    for step in lifecycle("case-1"):
        home.record(step)
    device_reason = d.Reason(d.DEVICE_OFFLINE, since=T0, gap=900.0)
    home.record([d.CaseOpened("h2", T0 + 99_999, "case-2", d.DEVICE, device_reason)])
    assert [c.id for c in home.cases()] == ["case-1", "case-2"]
    assert [c.id for c in home.cases(open_only=True)] == ["case-2"]
    assert [c.id for c in home.cases("h1")] == ["case-1"]
    assert home.cases("h1", open_only=True) == []
    assert home.case("case-2").state == d.CASE_OPEN
    assert home.case("case-2").reason_code == d.DEVICE_OFFLINE
    with pytest.raises(StoreError, match="unknown household 'h9'"):
        home.cases("h9")


def test_case_errors_name_the_case_and_store_nothing(home):
    home.record(lifecycle()[0])
    with pytest.raises(StoreError, match="unknown case 'case-404'"):
        home.case("case-404")
    with pytest.raises(StoreError, match="unknown case 'case-404'"):
        home.case_history("case-404")
    with pytest.raises(StoreError, match=r"action 1 \(Alarm\): unknown case 'case-404'"):
        home.record([d.Alarm("h1", T0, "case-1", REASON), d.Alarm("h1", T0, "case-404", REASON)])
    assert home.case("case-1").state == d.CASE_KNOCK  # the first Alarm was rolled back
    with pytest.raises(StoreError, match="case 'case-1' already exists"):
        home.record([d.CaseOpened("h1", T0, "case-1", d.WELFARE, REASON)])
    with pytest.raises(StoreError, match="unknown household 'h9'"):
        home.record([d.CaseOpened("h9", T0, "case-9", d.WELFARE, REASON)])
    with pytest.raises(StoreError, match="belongs to household 'h1'"):
        home.record([d.Alarm("h2", T0, "case-1", REASON)])
    with pytest.raises(StoreError, match="unknown outcome 'fine'"):
        home.record([d.CaseResolved("h1", T0, "case-1", "fine")])
    with pytest.raises(StoreError, match="not an action this store keeps"):
        home.record([Event("h1", T0, ON)])
    assert len(home.case_history("case-1")) == 2
    home.record([d.CaseResolved("h1", T0 + 1, "case-1", RESIDENT_FINE)])
    with pytest.raises(StoreError, match="case 'case-1' is already resolved"):
        home.record([d.Notify("h1", T0 + 2, "case-1", "caseworker", False, 1, REASON)])


def test_rejected_inputs_are_not_stored(home):
    assert home.record([d.Rejected("h1", T0, "on", "future")]) == 0
    assert home.cases() == []


# Notifications: the notifier's outbox and dead letters


def notice(key: str, channel: str = "webhook", case_id: str | None = "case-1",
           household: str = "h1", t: float = T0) -> Notification:
    payload = {"subject": "[안부] 긴급: 김말순 님", "urgent": True, "reason": REASON._asdict()}
    return Notification(key, channel, household, case_id, "alarm", t, payload)


def test_notifications_are_an_outbox_keyed_for_idempotency(home):
    batch = [notice("n1:webhook"), notice("n1:email", "email"), notice("n2:webhook", t=T0 + 1)]
    assert home.add_notifications(batch) == 3
    assert home.add_notifications(batch[:2]) == 0  # the same notice again: not a new one
    assert [n.key for n in home.notifications(PENDING)] == ["n1:webhook", "n1:email", "n2:webhook"]
    assert home.notifications(PENDING)[0] == batch[0]  # Korean text and nested JSON intact
    sent = home.update_notification("n1:webhook", SENT, attempts=3, error="", at=T0 + 9)
    assert (sent.state, sent.attempts, sent.updated_at) == (SENT, 3, T0 + 9)
    home.update_notification("n1:email", DEAD, 8, "SMTP 550 mailbox unavailable", T0 + 60)
    [dead] = home.notifications(DEAD)
    assert (dead.key, dead.last_error, dead.payload) == ("n1:email", "SMTP 550 mailbox "
                                                         "unavailable", batch[1].payload)
    assert [n.key for n in home.notifications(channel="webhook")] == ["n1:webhook", "n2:webhook"]
    assert [n.key for n in home.notifications(case_id="case-1", state=PENDING)] == ["n2:webhook"]
    assert home.notifications(case_id="case-404") == []


def test_a_bad_notification_names_itself_and_stores_nothing(home):
    good = notice("ok")
    bad = [
        (notice("n9", household="h9"), "notification 1 \\('n9'\\): unknown household 'h9'"),
        (notice("n9")._replace(state="lost"), "unknown state 'lost'"),
        (notice("n9")._replace(attempts=-1), "attempts must be an integer >= 0"),
        (notice("n9", t=float("inf")), "created_at must be finite UTC seconds"),
        (notice("n9")._replace(payload={"x": object()}), "payload is not JSON-able"),
        (notice("")._replace(key=""), "key must be a non-empty string"),
        ("n9", "notification 1: expected Notification"),
    ]
    for item, message in bad:
        with pytest.raises(StoreError, match=message):
            home.add_notifications([good, item])
    assert home.notifications() == []
    with pytest.raises(StoreError, match="unknown notification 'nope'"):
        home.update_notification("nope", SENT, 1)
    home.add_notifications([good])
    with pytest.raises(StoreError, match="notification 'ok': unknown state 'gone'"):
        home.update_notification("ok", "gone", 1)
    with pytest.raises(StoreError, match="unknown notification state 'gone'"):
        home.notifications("gone")
    assert home.notifications() == [good]


def test_dead_letters_survive_a_reopen(persistent):
    with persistent.open() as first:
        first.add_household("h1", "Kim", created_at=T0)
        first.add_notifications([notice("n1"), notice("n2")])
        first.update_notification("n1", DEAD, 8, "HTTP 503", T0 + 600)
    with persistent.open() as again:
        assert [(n.key, n.state) for n in again.notifications()] == [("n1", DEAD), ("n2", PENDING)]


def test_the_store_may_be_called_from_several_threads(home):
    """The notifier's workers record deliveries while the ingest thread stores events."""
    home.add_notifications([notice(f"n{i}") for i in range(200)])
    errors: list[BaseException] = []

    def deliver(keys: range) -> None:
        try:
            for i in keys:
                home.update_notification(f"n{i}", SENT, 1)
        except BaseException as e:  # pragma: no cover - reported by the assert below
            errors.append(e)

    workers = [threading.Thread(target=deliver, args=(range(k, 200, 4),)) for k in range(4)]
    for w in workers:
        w.start()
    for boot in range(20):
        home.add_events(bulb_events(20, boot=boot))
    for w in workers:
        w.join()
    assert errors == []
    assert len(home.notifications(SENT)) == 200
    assert len(list(home.events("h1"))) == 400


# Device credentials (issue 5): only Mosquitto's hash of each bulb's password

# "$7$iterations$salt$hash" as mosquitto_passwd writes it (salt 12 bytes, hash 64, base64)
HASH_A = "$7$101$" + "QUFBQUFBQUFBQUFB" + "$" + "a" * 86 + "=="
HASH_B = "$7$101$" + "QkJCQkJCQkJCQkJC" + "$" + "b" * 86 + "=="


def test_provisioning_registers_a_new_bulb_with_its_hash_in_one_step(store):
    store.add_household("h1", "Kim", created_at=T0)
    cred = store.provision_device("bulb-0007", "h1", MAINS, HASH_A, created_at=T0)
    assert cred == ("bulb-0007", HASH_A, T0)
    assert store.device("bulb-0007") == ("bulb-0007", "h1", MAINS, T0)
    assert store.device_credential("bulb-0007") == cred
    assert store.device_credentials() == [cred]


def test_provisioning_twice_needs_replace_and_stays_in_its_household(home):
    home.provision_device("bulb-0001", "h1", SWITCHED, HASH_A, created_at=T0)  # known bulb
    with pytest.raises(StoreError, match="'bulb-0001' is already provisioned .since 2025-11-24"):
        home.provision_device("bulb-0001", "h1", SWITCHED, HASH_B)
    with pytest.raises(StoreError, match="'bulb-0001' belongs to household 'h1', not 'h2'"):
        home.provision_device("bulb-0001", "h2", SWITCHED, HASH_B, replace=True)
    with pytest.raises(StoreError, match="registered as 'switched', not 'mains'"):
        home.provision_device("bulb-0001", "h1", MAINS, HASH_B, replace=True)
    assert home.device_credential("bulb-0001").password_hash == HASH_A
    home.provision_device("bulb-0001", "h1", SWITCHED, HASH_B, created_at=T0 + 9, replace=True)
    assert home.device_credential("bulb-0001") == ("bulb-0001", HASH_B, T0 + 9)


@pytest.mark.parametrize("device,household,mode,password_hash,message", [
    ("bulb-0009", "h1", SWITCHED, "a-plain-password", "not Mosquitto's \\$7\\$ format"),
    ("bulb-0009", "h1", SWITCHED, HASH_A + "\nintruder:" + HASH_B, "not Mosquitto's"),
    ("bulb-0009", "h9", SWITCHED, HASH_A, "device 'bulb-0009': unknown household 'h9'"),
    ("Bulb_9", "h1", SWITCHED, HASH_A, "'Bulb_9' is not"),
    ("bulb-0009", "h1", "solar", HASH_A, "unknown power mode 'solar'"),
])
def test_bad_provisioning_names_what_and_stores_nothing(home, device, household, mode,
                                                        password_hash, message):
    with pytest.raises(StoreError, match=message):
        home.provision_device(device, household, mode, password_hash)
    assert home.device_credentials() == []
    assert [x.id for x in home.devices()] == ["bulb-0001", "bulb-0002"]


def test_revoking_shuts_a_bulb_out_and_keeps_its_history(home):
    home.provision_device("bulb-0001", "h1", SWITCHED, HASH_A)
    home.add_events(bulb_events(3))
    home.revoke_device_credential("bulb-0001")
    assert home.device_credentials() == []
    with pytest.raises(StoreError, match="'bulb-0001' has no credentials"):
        home.device_credential("bulb-0001")
    with pytest.raises(StoreError, match="'bulb-0001' has no credentials"):
        home.revoke_device_credential("bulb-0001")
    assert len(list(home.events("h1"))) == 3 and home.device("bulb-0001")
    home.provision_device("bulb-0001", "h1", SWITCHED, HASH_B)  # a new bulb in the old place


def test_credentials_survive_a_reopen(persistent):
    with persistent.open() as first:
        first.add_household("h1", "Kim", created_at=T0)
        cred = first.provision_device("bulb-0001", "h1", SWITCHED, HASH_A, created_at=T0)
    with persistent.open() as again:
        assert again.device_credentials() == [cred]


# The live host (anbu serve): batches, the engine's journal and saved state, commands


def test_a_batch_commits_together_and_a_failed_call_inside_undoes_only_itself(home):
    with home.batch():
        assert home.add_new_events(bulb_events(2)) == [True, True]
        with pytest.raises(StoreError, match="unknown device 'bulb-0404'"):
            home.add_new_events([StoredEvent("h1", T0, ON, "bulb-0404", 1, 0)])
        home.set_mark("effects_through", 7)
    assert len(list(home.events("h1"))) == 2 and home.mark("effects_through") == 7
    with pytest.raises(RuntimeError), home.batch():
        home.add_new_events(bulb_events(4))
        raise RuntimeError("the process dies mid-batch")
    assert len(list(home.events("h1"))) == 2  # all of that batch or none of it


def test_add_new_events_says_which_ones_were_new(home):
    assert home.add_new_events(bulb_events(2)) == [True, True]
    again = bulb_events(3)
    assert home.add_new_events([again[2], again[0], again[2]]) == [True, False, False]
    status = StoredEvent("h1", T0, ONLINE, "bulb-0001", 3, None, detail=(SWITCHED, 300.0, 3))
    assert home.add_new_events([status, status]) == [True, False]


def test_the_engine_journal_keeps_order_clock_and_detail(home):
    inputs = [
        EngineInput(T0 + 1, Event("h1", T0, ONLINE, "bulb-0001", (SWITCHED, 300.0, 3))),
        EngineInput(T0 + 5, Event("h1", T0 + 5, TICK)),
        EngineInput(T0 + 6, Event("h2", T0 - 60, ON, "bulb-0002", "k-1")),
    ]
    last = home.add_engine_inputs(inputs)
    back = list(home.engine_inputs())
    assert [(i.now, i.event) for i in back] == [(i.now, i.event) for i in inputs]
    assert [i.id for i in back] == [last - 2, last - 1, last]
    assert [i.event.kind for i in home.engine_inputs(last - 1)] == [ON]
    with pytest.raises(StoreError, match="engine input 0 .*: now and time must be finite"):
        home.add_engine_inputs([EngineInput(math.nan, Event("h1", T0, ON))])


def test_saving_engine_state_drops_the_journal_and_ids_never_repeat(home):
    last = home.add_engine_inputs([EngineInput(T0, Event("h1", T0, TICK))] * 3)
    home.save_engine_state({"h1": b"\x00one", "h2": b"two"}, "f1", last, T0)
    assert list(home.engine_inputs()) == [] and home.mark("state_through") == last
    home.save_engine_state({"h1": b"\x00three"}, "f2", last, T0 + 1)
    assert sorted(home.engine_state()) == [("h1", "f2", b"\x00three"), ("h2", "f1", b"two")]
    assert home.add_engine_inputs([EngineInput(T0, Event("h1", T0, TICK))]) == last + 1


def test_marks_are_named_finite_numbers(home):
    assert home.mark("effects_through") is None
    home.set_mark("effects_through", 3)
    home.set_mark("effects_through", 4.5)
    assert home.mark("effects_through") == 4.5
    with pytest.raises(StoreError, match="mark 'x': value must be a finite number"):
        home.set_mark("x", math.inf)


def test_commands_are_kept_with_their_ack_or_failure(home):
    knock = Command("bulb-0001", "k-1", "knock", "h1#1", T0, T0 + 60)
    stop = Command("bulb-0001", "s-1", "knock_stop", "h1#1", T0 + 61)
    other = Command("bulb-0002", "k-1", "knock", "h2#1", T0 + 1, T0 + 61)
    assert home.add_commands([knock, stop, other, knock]) == 3
    assert home.commands(open_only=True) == [knock, other, stop]
    acked = home.command_acked("bulb-0001", "k-1", T0 + 2, True)
    assert (acked.acked_at, acked.ok) == (T0 + 2, True)
    home.command_acked("bulb-0001", "k-1", T0 + 3, False, "late copy")  # the first ack counts
    failed = home.command_failed("bulb-0002", "k-1", T0 + 61)
    assert failed.failed_at == T0 + 61 and failed.acked_at is None
    assert home.commands(open_only=True) == [stop]
    assert home.commands("bulb-0001", case_id="h1#1") == [acked, stop]
    assert home.command_acked("bulb-0001", "nope", T0, True) is None
    with pytest.raises(StoreError, match="command 0 \\('k-9'\\): unknown device 'bulb-0404'"):
        home.add_commands([knock._replace(device="bulb-0404", id="k-9")])


def test_the_live_hosts_tables_survive_a_reopen(persistent):
    with persistent.open() as store:
        store.add_household("h1", "Kim", created_at=T0)
        store.add_device("bulb-0001", "h1", SWITCHED, created_at=T0)
        last = store.add_engine_inputs([EngineInput(T0, Event("h1", T0, TICK))])
        store.save_engine_state({"h1": b"state"}, "f1", last, T0)
        store.add_commands([Command("bulb-0001", "k-1", "knock", "h1#1", T0, T0 + 60)])
    with persistent.open() as again:
        assert list(again.engine_state()) == [("h1", "f1", b"state")]
        assert again.mark("state_through") == last
        assert [c.id for c in again.commands(open_only=True)] == ["k-1"]


# Persistence and migrations


def everything(store: Store) -> tuple:
    return (
        store.households(),
        store.devices(),
        list(store.events("h1")),
        store.cases(),
        store.case_history("case-1"),
    )


def test_reopening_keeps_everything(persistent):
    with persistent.open() as first:
        first.add_household("h1", "Kim", created_at=T0)
        first.add_device("bulb-0001", "h1", SWITCHED, created_at=T0)
        first.add_events(bulb_events(20))
        for step in lifecycle():
            first.record(step)
        before = everything(first)
    with persistent.open() as again:
        assert everything(again) == before
        assert again.add_events(bulb_events(20)) == 0


def test_reopening_does_not_rerun_migrations(tmp_path):
    path = tmp_path / "anbu.db"
    SqliteStore(path).close()
    applied = query(path, "SELECT * FROM schema_migrations")
    packaged = [(m.version, m.name) for m in migrations()]
    assert [row[:2] for row in applied] == packaged
    SqliteStore(path).close()
    assert query(path, "SELECT * FROM schema_migrations") == applied
    with closing(sqlite3.connect(path)) as conn:  # a default (legacy transaction) connection
        assert migrate(conn) == []
    with closing(sqlite3.connect(tmp_path / "raw.db", isolation_level=None)) as conn:
        assert migrate(conn) == [name for _, name in packaged]
        assert migrate(conn) == []


def query(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def copy_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for migration in migrations():
        (folder / migration.name).write_text(migration.sql, encoding="utf-8")
    return folder


def test_a_tampered_applied_migration_is_an_error(persistent, tmp_path):
    folder = copy_migrations(tmp_path)
    persistent.open(migrations=folder).close()
    initial = folder / "0001_initial.sql"
    initial.write_text(initial.read_text() + "\nCREATE INDEX sneaky ON cases (state);\n")
    with pytest.raises(MigrationError, match="migration 0001_initial.sql was changed"):
        persistent.open(migrations=folder)


def test_a_new_migration_is_applied_on_the_next_open(tmp_path):
    folder = copy_migrations(tmp_path)
    path = tmp_path / "anbu.db"
    with SqliteStore(path, migrations=folder) as store:
        store.add_household("h1", "Kim", created_at=T0)
    # Test migrations are numbered 9xxx, after every packaged one.
    (folder / "9001_household_phone.sql").write_text("ALTER TABLE households ADD phone TEXT;\n")
    SqliteStore(path, migrations=folder).close()
    assert query(path, "SELECT id, phone FROM households") == [("h1", None)]
    versions = [m.version for m in migrations()] + [9001]
    assert query(path, "SELECT version FROM schema_migrations") == [(v,) for v in versions]


def test_a_failing_migration_changes_nothing_and_names_the_file(tmp_path):
    folder = copy_migrations(tmp_path)
    path = tmp_path / "anbu.db"
    SqliteStore(path, migrations=folder).close()
    (folder / "9001_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nALTER TABLE no_such_table ADD y TEXT;\n"
    )
    with pytest.raises(MigrationError, match=r"anbu\.db: migration 9001_broken\.sql failed"):
        SqliteStore(path, migrations=folder)
    assert ("half_done",) not in query(path, "SELECT name FROM sqlite_master")
    versions = [(m.version,) for m in migrations()]
    assert query(path, "SELECT version FROM schema_migrations") == versions


def test_migrations_out_of_order_or_unknown_are_errors(tmp_path):
    folder = copy_migrations(tmp_path)
    path = tmp_path / "anbu.db"
    (folder / "9003_later.sql").write_text("CREATE TABLE later (x INTEGER);\n")
    SqliteStore(path, migrations=folder).close()
    (folder / "9002_forgotten.sql").write_text("CREATE TABLE forgotten (x INTEGER);\n")
    with pytest.raises(MigrationError, match="9002_forgotten.sql is older than .*9003_later"):
        SqliteStore(path, migrations=folder)
    with pytest.raises(MigrationError, match="9003_later.sql applied, which this code does not"):
        SqliteStore(path)  # the packaged migrations stop before 9003
    (folder / "9004 bad name.sql").write_text("")
    with pytest.raises(MigrationError, match="9004 bad name.sql is not named"):
        migrations(folder)


def test_packaged_migrations_are_found():
    names = [m.name for m in migrations(MIGRATIONS)]
    assert names[0] == "0001_initial.sql"
    assert len({m.checksum for m in migrations()}) == len(names)


# SQLite only


def test_a_broken_database_file_names_the_path(tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(random.Random(3).randbytes(8192))
    with pytest.raises(StoreError, match=re.escape(f"cannot open database {path}: file is not")):
        SqliteStore(path)
    missing = tmp_path / "missing" / "anbu.db"
    with pytest.raises(StoreError, match=re.escape(f"cannot open database {missing}")):
        SqliteStore(missing)


def test_sqlite_file_uses_wal_and_foreign_keys(tmp_path):
    with SqliteStore(tmp_path / "anbu.db") as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            conn.execute("INSERT INTO devices VALUES ('bulb-9', 'h9', 'mains', 0)")
