-- The live host (anbu serve): what it needs to restart without forgetting or repeating.

-- Every input the engine took, in the order it took it, with the clock it was given. The engine
-- is deterministic, so replaying these through the saved state rebuilds it exactly. Rows up to
-- the last saved state are deleted when it is saved. kind is an event kind or 'tick'.
CREATE TABLE engine_inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: marks point into this sequence
    now DOUBLE PRECISION NOT NULL,
    household_id TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    device_id TEXT,
    detail TEXT
);

-- The engine's memory of each household (serialized by host.serve.state), as of the input
-- named by the mark 'state_through'.
CREATE TABLE engine_state (
    household_id TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    state BLOB NOT NULL,
    saved_at DOUBLE PRECISION NOT NULL
);

-- Named positions: state_through (inputs folded into engine_state), effects_through (inputs
-- whose knocks and notifications were carried out).
CREATE TABLE marks (
    name TEXT PRIMARY KEY,
    value DOUBLE PRECISION NOT NULL
);

-- Commands sent to bulbs (knock, knock_stop, ...) and what became of them.
CREATE TABLE commands (
    device_id TEXT NOT NULL REFERENCES devices (id),
    id TEXT NOT NULL,
    command TEXT NOT NULL,
    case_id TEXT,
    sent_at DOUBLE PRECISION NOT NULL,
    deadline DOUBLE PRECISION,
    acked_at DOUBLE PRECISION,
    ok BOOLEAN,
    err TEXT,
    failed_at DOUBLE PRECISION,
    PRIMARY KEY (device_id, id)
);
CREATE INDEX commands_open ON commands (deadline) WHERE acked_at IS NULL AND failed_at IS NULL;
CREATE INDEX commands_case ON commands (case_id);
