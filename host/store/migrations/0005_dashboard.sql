-- The caseworkers' dashboard (host/dashboard): its accounts, their login sessions, the audit log
-- of who saw and did what, and which caseworker each case is assigned to.

-- One row per person who may log in. Only an argon2id hash of the password is kept (PHC string).
-- failures counts failed logins since failed_since (the start of the current window).
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('caseworker', 'admin')),
    display TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    failed_since DOUBLE PRECISION,
    locked_until DOUBLE PRECISION,
    disabled INTEGER NOT NULL DEFAULT 0
);

-- A logged-in browser. The cookie holds a random token; only its sha256 is kept, so a copy of
-- the database logs nobody in. csrf is the token every form of this session must send back.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL,
    lang TEXT NOT NULL DEFAULT 'ko' CHECK (lang IN ('ko', 'en'))
);
CREATE INDEX web_sessions_user ON web_sessions (user_name);
CREATE INDEX web_sessions_seen ON web_sessions (seen_at);

-- Who saw and did what. actor is a user name (for a failed login: the name tried) or "cli".
-- Pages are read newest first by id (the rowid); by actor through audit_log_actor.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- Who looks after a case (not an engine input: the engine does not care who goes).
CREATE TABLE case_assignments (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    user_name TEXT NOT NULL REFERENCES users (name),
    assigned_by TEXT NOT NULL,
    assigned_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX case_assignments_user ON case_assignments (user_name);
