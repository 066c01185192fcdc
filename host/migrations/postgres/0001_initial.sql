-- duro schema, PostgreSQL flavour. Times are integers: *_ms in ms and *_ns in
-- ns since the Unix epoch.

CREATE TABLE components (
    digest        TEXT PRIMARY KEY,
    size_bytes    BIGINT NOT NULL,
    bytes         BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- A name points at the digest most recently pushed under it.
CREATE TABLE component_names (
    name          TEXT PRIMARY KEY,
    digest        TEXT NOT NULL REFERENCES components (digest),
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE workflows (
    ordinal       BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    component     TEXT NOT NULL REFERENCES components (digest),
    input         TEXT NOT NULL,
    status        TEXT NOT NULL,
    output        TEXT,
    error         TEXT,
    wake_at_ms    BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX workflows_by_status ON workflows (status, wake_at_ms);

CREATE TABLE journal (
    workflow_id    TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    payload        BYTEA NOT NULL,
    recorded_at_ns BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);

CREATE TABLE logs (
    ordinal     BIGSERIAL PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    at_ns       BIGINT NOT NULL,
    level       TEXT NOT NULL,
    stream      TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX logs_by_workflow ON logs (workflow_id, ordinal);
