-- Waiting on the world: signals, durable events, child workflows,
-- cancellation and execution timeouts.

-- The parent of a child workflow.
ALTER TABLE workflows ADD COLUMN parent_id TEXT;
-- What a waiting workflow waits for (JSON: signal names, child ids, whether
-- a cancellation wakes it); its earliest timer is wake_at_ms.
ALTER TABLE workflows ADD COLUMN waiting_on TEXT;
-- Signals received so far: the next signal's arrival number is one more.
-- Taken under the row's lock, so arrival order is commit order.
ALTER TABLE workflows ADD COLUMN arrivals BIGINT NOT NULL DEFAULT 0;
-- When cancellation was first requested, if it was.
ALTER TABLE workflows ADD COLUMN cancel_requested_ms BIGINT;
-- The execution timeout: when the workflow is cancelled; once it was, when
-- it is terminated if it has not ended. NULL once final.
ALTER TABLE workflows ADD COLUMN deadline_ms BIGINT;
CREATE INDEX workflows_by_parent ON workflows (parent_id, ordinal);
CREATE INDEX workflows_by_deadline ON workflows (deadline_ms) WHERE deadline_ms IS NOT NULL;

-- A workflow's inbox: signals in arrival order, each consumed once, by the
-- journal entry (seq) of the wait-any that received it.
CREATE TABLE signals (
    workflow_id     TEXT NOT NULL,
    arrival         BIGINT NOT NULL,
    name            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT,
    consumed_seq    BIGINT,
    created_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, arrival)
);
CREATE UNIQUE INDEX signals_by_key ON signals (workflow_id, idempotency_key);
-- Receives look for the oldest unconsumed signal of a name.
CREATE INDEX signals_unconsumed ON signals (workflow_id, name, arrival) WHERE consumed_seq IS NULL;

-- Durable events: the latest value of each key a workflow set.
CREATE TABLE events (
    workflow_id   TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, key)
);
