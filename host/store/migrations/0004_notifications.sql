-- Notifications (host.notify): the outbox while a notice is being sent, and the dead letters
-- when it never could be. One row per notice and channel; key is the idempotency key.

CREATE TABLE notifications (
    key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    household_id TEXT NOT NULL REFERENCES households (id),
    case_id TEXT,
    kind TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at DOUBLE PRECISION
);
CREATE INDEX notifications_state ON notifications (state, created_at);
CREATE INDEX notifications_case ON notifications (case_id);
