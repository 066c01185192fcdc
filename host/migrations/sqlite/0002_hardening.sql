-- Compare-and-set commits, per-workflow log budget, index-friendly
-- scheduling and listing.

-- The state a run's commit continues from: entries stored and writes applied.
ALTER TABLE workflows ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflows ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
-- Log bytes stored so far (message text), for the per-workflow log budget.
ALTER TABLE workflows ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE workflows SET
    next_seq = (SELECT COUNT(*) FROM journal WHERE journal.workflow_id = workflows.id),
    log_bytes = (SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM logs
                 WHERE logs.workflow_id = workflows.id);

-- Ready runs oldest first, and listings by status, component or both newest
-- first, are index range scans.
CREATE INDEX workflows_by_status_ordinal ON workflows (status, ordinal);
CREATE INDEX workflows_by_component ON workflows (component, ordinal);
CREATE INDEX workflows_by_component_status ON workflows (component, status, ordinal);
