-- Retention (`duro serve --retention`) deletes ended workflows oldest first
-- by status and last update, in batches.
CREATE INDEX workflows_ended_by_age ON workflows (status, updated_at_ms);
