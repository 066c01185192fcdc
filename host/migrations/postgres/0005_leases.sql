-- Many hosts on one database: each host holds a lease, renewed by its
-- heartbeat; a workflow in a run is owned by one host; work nobody owns is
-- found through one due-time index.

-- The database's clock in ms since the Unix epoch: leases are taken, renewed
-- and judged expired by this one clock, never by the hosts' clocks.
CREATE FUNCTION duro_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE
    AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;

-- One row per live host process (a new id at every start). A host whose
-- lease_expires_at_ms has passed is dead: any host deletes its row and
-- releases its workflows.
CREATE TABLE hosts (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    started_at_ms       BIGINT NOT NULL,
    heartbeat_at_ms     BIGINT NOT NULL,
    lease_expires_at_ms BIGINT NOT NULL
);

-- The host whose run owns the workflow; NULL when no run holds it.
ALTER TABLE workflows ADD COLUMN owner_host TEXT;
-- When a host may claim the workflow: now for new, woken and released
-- workflows, the timer for sleeping ones, the retry time after a host-side
-- failure; NULL while owned, when final, or when it waits with no timer.
ALTER TABLE workflows ADD COLUMN due_at_ms BIGINT;
UPDATE workflows SET due_at_ms = CASE
    WHEN status = 'running' THEN 0
    WHEN status IN ('sleeping', 'waiting') THEN wake_at_ms
END;
CREATE INDEX workflows_due ON workflows (due_at_ms) WHERE due_at_ms IS NOT NULL;
CREATE INDEX workflows_by_owner ON workflows (owner_host) WHERE owner_host IS NOT NULL;
-- Timers are found through workflows_due now; status filters use
-- workflows_by_status_ordinal.
DROP INDEX workflows_by_status;

-- Claims, releases and finishes update indexed columns; checkpoints touch
-- only unindexed ones and stay HOT with room on the page. Vacuum the
-- due-time index's churn early, as queue tables need.
ALTER TABLE workflows SET (
    fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);
