-- Schedules (issue 13): workflows started on a cron or an interval. A step
-- of a schedule is a compare-and-set on `revision`; see store/sql/schedules.rs.
CREATE TABLE schedules (
    id                TEXT PRIMARY KEY,
    component         TEXT NOT NULL,           -- a digest or a name, resolved at each tick
    input             TEXT NOT NULL,           -- JSON
    spec              TEXT NOT NULL,           -- JSON: {"cron":…} or {"interval":…}
    overlap           TEXT NOT NULL,
    catchup_window_ms INTEGER NOT NULL,
    end_at_ms         INTEGER,
    max_runs          INTEGER,
    paused            INTEGER NOT NULL,        -- 0 or 1
    note              TEXT,
    next_tick_ms      INTEGER,                 -- NULL once ended
    due_at_ms         INTEGER,                 -- NULL while paused or ended
    buffered_ms       INTEGER,
    last_workflow_id  TEXT,
    runs              INTEGER NOT NULL,
    skipped           INTEGER NOT NULL,
    revision          INTEGER NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (due_at_ms) WHERE due_at_ms IS NOT NULL;

CREATE TABLE schedule_ticks (
    ordinal         INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id     TEXT NOT NULL,
    nominal_ms      INTEGER NOT NULL,
    last_nominal_ms INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    workflow_id     TEXT,
    at_ms           INTEGER NOT NULL
);
CREATE INDEX schedule_ticks_by_schedule ON schedule_ticks (schedule_id, ordinal);

-- The schedule and tick time of a workflow a schedule started. Partial
-- index: other workflows cost it nothing.
ALTER TABLE workflows ADD COLUMN schedule_id TEXT;
ALTER TABLE workflows ADD COLUMN nominal_ms INTEGER;
CREATE INDEX workflows_by_schedule ON workflows (schedule_id, ordinal) WHERE schedule_id IS NOT NULL;
