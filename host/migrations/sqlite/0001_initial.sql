-- duro schema, SQLite flavour. Times are integers: *_ms in ms and *_ns in ns
-- since the Unix epoch.

CREATE TABLE components (
    digest        TEXT PRIMARY KEY,
    size_bytes    INTEGER NOT NULL,
    bytes         BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- A name points at the digest most recently pushed under it.
CREATE TABLE component_names (
    name          TEXT PRIMARY KEY,
    digest        TEXT NOT NULL REFERENCES components (digest),
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE workflows (
    ordinal       INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    component     TEXT NOT NULL REFERENCES components (digest),
    input         TEXT NOT NULL,
    status        TEXT NOT NULL,
    output        TEXT,
    error         TEXT,
    wake_at_ms    INTEGER,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX workflows_by_status ON workflows (status, wake_at_ms);

CREATE TABLE journal (
    workflow_id    TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    payload        BLOB NOT NULL,
    recorded_at_ns INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, seq)
) WITHOUT ROWID;

CREATE TABLE logs (
    ordinal     INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL,
    at_ns       INTEGER NOT NULL,
    level       TEXT NOT NULL,
    stream      TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX logs_by_workflow ON logs (workflow_id, ordinal);
