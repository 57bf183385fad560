-- anbu's first schema (SQLite). Times are UTC seconds since the epoch; JSON columns are TEXT.
-- Never edit this file once released: add 0002_*.sql instead (the runner checks checksums).

CREATE TABLE households (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tz TEXT NOT NULL DEFAULT 'Asia/Seoul',
    created_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL DEFAULT 'fine',
    status_at DOUBLE PRECISION
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households (id),
    power_mode TEXT NOT NULL CHECK (power_mode IN ('switched', 'mains')),
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX devices_household ON devices (household_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households (id),
    time DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    device_id TEXT REFERENCES devices (id),
    boot INTEGER,
    seq INTEGER,
    synced BOOLEAN NOT NULL DEFAULT TRUE,
    received_at DOUBLE PRECISION,
    detail TEXT,
    CHECK (seq IS NULL OR (device_id IS NOT NULL AND boot IS NOT NULL))
);
-- A bulb's event is identified by (device, boot, seq): QoS 1 may deliver it twice.
CREATE UNIQUE INDEX events_identity ON events (device_id, boot, seq) WHERE seq IS NOT NULL;
-- Events without that identity (CSV logs, people, heartbeats) are told apart by content.
CREATE UNIQUE INDEX events_content
    ON events (household_id, COALESCE(device_id, ''), time, kind) WHERE seq IS NULL;
CREATE INDEX events_household_time ON events (household_id, time);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households (id),
    kind TEXT NOT NULL CHECK (kind IN ('welfare', 'device')),
    state TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_at DOUBLE PRECISION NOT NULL,
    closed_at DOUBLE PRECISION,
    outcome TEXT,
    CHECK ((closed_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX cases_household ON cases (household_id, opened_at);

CREATE TABLE case_history (
    id INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    time DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    actor TEXT,
    note TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL
);
CREATE INDEX case_history_case ON case_history (case_id, time);
