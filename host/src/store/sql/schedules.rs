//! Schedules in SQL: their rows, their history (`schedule_ticks`), and the
//! step that handles their ticks in one transaction.
//!
//! A step is a compare-and-set on the schedule's `revision`: its update,
//! the workflows its ticks start and its history rows commit together, or
//! not at all when another host stepped the schedule first. So a tick
//! starts at most one workflow (its id, `<schedule>:<time>`, says so too),
//! and none is lost: the schedule's next tick moves only with them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::write::insert_starts;
use super::{Tx, storable};
use crate::ids::WorkflowId;
use crate::store::{
    Created, Error, NewStart, OverlapPolicy, Result, ScheduleDefinition, ScheduleRecord, ScheduleSpec,
    ScheduleState, ScheduleStep, TickOutcome, TickRecord, Written,
};

/// History rows kept per schedule, newest first.
const HISTORY_KEPT: i64 = 200;

const SCHEDULE_COLUMNS: &str = "id, component, input, spec, overlap, catchup_window_ms, end_at_ms, max_runs, \
    paused, note, next_tick_ms, due_at_ms, buffered_ms, last_workflow_id, runs, skipped, revision, \
    created_at_ms, updated_at_ms";

const TICK_COLUMNS: &str = "nominal_ms, last_nominal_ms, count, outcome, reason, workflow_id, at_ms";

/// Inserts `record` unless a schedule has its id: the new one, or the one
/// that was there, untouched.
pub(super) async fn create(tx: &mut Tx<'_>, record: &ScheduleRecord) -> Result<Created<ScheduleRecord>> {
    let definition = &record.definition;
    let inserted = sqlx::query(&format!(
        "INSERT INTO schedules ({SCHEDULE_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         ON CONFLICT (id) DO NOTHING RETURNING {SCHEDULE_COLUMNS}"
    ))
    .bind(&record.id)
    .bind(storable(&definition.component).into_owned())
    .bind(storable(&definition.input).into_owned())
    .bind(spec_json(&definition.spec)?)
    .bind(definition.overlap.as_str())
    .bind(definition.catchup_window_ms)
    .bind(definition.end_at_ms)
    .bind(definition.max_runs)
    .bind(i64::from(record.state.paused))
    .bind(record.state.note.as_deref().map(|note| storable(note).into_owned()))
    .bind(record.state.next_tick_ms)
    .bind(record.state.due_at_ms)
    .bind(record.state.buffered_ms)
    .bind(record.state.last_workflow.as_ref().map(WorkflowId::as_str))
    .bind(record.runs)
    .bind(record.skipped)
    .bind(record.revision)
    .bind(record.created_at_ms)
    .bind(record.updated_at_ms)
    .fetch_optional(&mut **tx)
    .await?;
    match inserted {
        Some(row) => Ok(Created::New(from_row(&row)?)),
        None => {
            let existing = get(&mut **tx, &record.id).await?;
            existing
                .map(Created::Existing)
                .ok_or_else(|| Error::Corrupt("a schedule vanished mid-creation".into()))
        }
    }
}

/// Schedule `id`, if there is one.
pub(super) async fn get<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<ScheduleRecord>> {
    let row = sqlx::query(&format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Up to `limit` schedules in id order, after `after` if given.
pub(super) async fn list<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<ScheduleRecord>> {
    let rows =
        sqlx::query(&format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id > $1 ORDER BY id LIMIT $2"))
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(executor)
            .await?;
    rows.iter().map(from_row).collect()
}

/// Up to `limit` schedules due by `now_ms`, earliest first.
pub(super) async fn due<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<ScheduleRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE due_at_ms <= $1 ORDER BY due_at_ms LIMIT $2"
    ))
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter().map(from_row).collect()
}

/// When the next schedule is due (the partial index's first entry).
pub(super) async fn next_due<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT due_at_ms FROM schedules WHERE due_at_ms IS NOT NULL ORDER BY due_at_ms LIMIT 1")
            .fetch_optional(executor)
            .await?;
    row.map(|row| row.try_get("due_at_ms")).transpose().map_err(Into::into)
}

/// Deletes schedule `id` and its history (not the workflows it started);
/// whether there was one.
pub(super) async fn delete(tx: &mut Tx<'_>, id: &str) -> Result<bool> {
    sqlx::query("DELETE FROM schedule_ticks WHERE schedule_id = $1").bind(id).execute(&mut **tx).await?;
    let deleted = sqlx::query("DELETE FROM schedules WHERE id = $1").bind(id).execute(&mut **tx).await?;
    Ok(deleted.rows_affected() == 1)
}

/// The newest `limit` rows of schedule `id`'s history, newest first.
pub(super) async fn history<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
    limit: u32,
) -> Result<Vec<TickRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {TICK_COLUMNS} FROM schedule_ticks WHERE schedule_id = $1 ORDER BY ordinal DESC LIMIT $2"
    ))
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter().map(tick_from_row).collect()
}

/// Applies `step` to schedule `id` if it is still at the step's expected
/// revision: its starts (created due now, for any host to claim), the
/// workflow it stops, the schedule's new state and its history, trimmed to
/// [`HISTORY_KEPT`] rows; a skip that continues the newest history row
/// (same reason, nothing in between) extends it. A start whose id a
/// workflow not of this tick already has is recorded as skipped. `None` if
/// the schedule moved on or is gone: the caller rolls back.
pub(super) async fn step(
    tx: &mut Tx<'_>,
    id: &str,
    step: &ScheduleStep,
    now_ms: i64,
    db_now: &str,
    postgres: bool,
) -> Result<Option<Written>> {
    // The row lock first, so that two hosts stepping one schedule do not
    // both insert its workflows. On PostgreSQL a row another host holds is
    // skipped rather than waited for: that host is stepping it. On SQLite
    // (one host, one writer) a write takes the database's write lock at
    // once, where a read would leave the transaction to fail on upgrade.
    let locked = if postgres {
        sqlx::query("SELECT id FROM schedules WHERE id = $1 AND revision = $2 FOR UPDATE SKIP LOCKED")
            .bind(id)
            .bind(step.expected_revision)
            .fetch_optional(&mut **tx)
            .await?
            .is_some()
    } else {
        sqlx::query("UPDATE schedules SET updated_at_ms = updated_at_ms WHERE id = $1 AND revision = $2")
            .bind(id)
            .bind(step.expected_revision)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1
    };
    if !locked {
        return Ok(None);
    }
    let starts: Vec<NewStart> =
        step.starts.iter().map(|workflow| NewStart { workflow: workflow.clone(), owner: None }).collect();
    let started = insert_starts(tx, &starts, now_ms, db_now).await?;
    let taken: Vec<WorkflowId> = started
        .iter()
        .zip(&step.starts)
        .filter(|(created, new)| match created {
            Created::New(_) => false,
            Created::Existing(record) => record.scheduled_by != new.scheduled_by,
        })
        .map(|(_, new)| new.id.clone())
        .collect();
    let step = &step.without_taken(&taken);
    let mut arrived = Vec::new();
    if let Some(stop) = &step.stop {
        if stop.terminate {
            let reason = format!("terminated by schedule {id} (terminate_other)");
            super::terminate_in(tx, &stop.workflow, &reason, now_ms, &mut arrived).await?;
        } else {
            super::request_cancel_in(tx, &stop.workflow, now_ms, &mut arrived).await?;
        }
    }
    sqlx::query(
        "UPDATE schedules SET paused = $1, note = $2, next_tick_ms = $3, due_at_ms = $4, buffered_ms = $5,
             last_workflow_id = $6, runs = runs + $7, skipped = skipped + $8, revision = revision + 1,
             updated_at_ms = $9
         WHERE id = $10",
    )
    .bind(i64::from(step.state.paused))
    .bind(step.state.note.as_deref().map(|note| storable(note).into_owned()))
    .bind(step.state.next_tick_ms)
    .bind(step.state.due_at_ms)
    .bind(step.state.buffered_ms)
    .bind(step.state.last_workflow.as_ref().map(WorkflowId::as_str))
    .bind(step.runs_added)
    .bind(step.skipped_added)
    .bind(now_ms)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    insert_history(tx, id, &step.ticks).await?;
    Ok(Some(Written { started, arrived }))
}

/// Appends `ticks` to schedule `id`'s history, the first extending the
/// newest row if both are skips for one reason, and trims the history.
async fn insert_history(tx: &mut Tx<'_>, id: &str, ticks: &[TickRecord]) -> Result<()> {
    let mut rows = ticks.iter();
    if let Some(first) = ticks.first().filter(|tick| tick.outcome == TickOutcome::Skipped) {
        let extended = sqlx::query(
            "UPDATE schedule_ticks SET last_nominal_ms = $1, count = count + $2, at_ms = $3
             WHERE ordinal = (SELECT MAX(ordinal) FROM schedule_ticks WHERE schedule_id = $4)
               AND outcome = 'skipped' AND reason = $5",
        )
        .bind(first.last_nominal_ms)
        .bind(first.count)
        .bind(first.at_ms)
        .bind(id)
        .bind(first.reason.as_deref())
        .execute(&mut **tx)
        .await?;
        if extended.rows_affected() == 1 {
            rows.next();
        }
    }
    let mut inserted = false;
    for tick in rows {
        sqlx::query(&format!(
            "INSERT INTO schedule_ticks (schedule_id, {TICK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(id)
        .bind(tick.nominal_ms)
        .bind(tick.last_nominal_ms)
        .bind(tick.count)
        .bind(tick.outcome.as_str())
        .bind(tick.reason.as_deref())
        .bind(tick.workflow.as_ref().map(WorkflowId::as_str))
        .bind(tick.at_ms)
        .execute(&mut **tx)
        .await?;
        inserted = true;
    }
    if inserted {
        sqlx::query(
            "DELETE FROM schedule_ticks WHERE schedule_id = $1 AND ordinal <= (
                 SELECT ordinal FROM schedule_ticks WHERE schedule_id = $1
                 ORDER BY ordinal DESC LIMIT 1 OFFSET $2)",
        )
        .bind(id)
        .bind(HISTORY_KEPT)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn spec_json(spec: &ScheduleSpec) -> Result<String> {
    serde_json::to_string(spec)
        .map_err(|error| Error::Corrupt(format!("cannot encode a schedule spec: {error}")))
}

fn from_row(row: &AnyRow) -> Result<ScheduleRecord> {
    let spec: String = row.try_get("spec")?;
    let spec = serde_json::from_str(&spec)
        .map_err(|error| Error::Corrupt(format!("unreadable schedule spec {spec:?}: {error}")))?;
    let overlap: String = row.try_get("overlap")?;
    let overlap = OverlapPolicy::parse(&overlap)
        .ok_or_else(|| Error::Corrupt(format!("unknown overlap policy {overlap:?}")))?;
    Ok(ScheduleRecord {
        id: row.try_get("id")?,
        definition: ScheduleDefinition {
            component: row.try_get("component")?,
            input: row.try_get("input")?,
            spec,
            overlap,
            catchup_window_ms: row.try_get("catchup_window_ms")?,
            end_at_ms: row.try_get("end_at_ms")?,
            max_runs: row.try_get("max_runs")?,
        },
        state: ScheduleState {
            paused: row.try_get::<i64, _>("paused")? != 0,
            note: row.try_get("note")?,
            next_tick_ms: row.try_get("next_tick_ms")?,
            due_at_ms: row.try_get("due_at_ms")?,
            buffered_ms: row.try_get("buffered_ms")?,
            last_workflow: row.try_get::<Option<String>, _>("last_workflow_id")?.map(WorkflowId::from_stored),
        },
        runs: row.try_get("runs")?,
        skipped: row.try_get("skipped")?,
        revision: row.try_get("revision")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn tick_from_row(row: &AnyRow) -> Result<TickRecord> {
    let outcome: String = row.try_get("outcome")?;
    Ok(TickRecord {
        nominal_ms: row.try_get("nominal_ms")?,
        last_nominal_ms: row.try_get("last_nominal_ms")?,
        count: row.try_get("count")?,
        outcome: TickOutcome::parse(&outcome)
            .ok_or_else(|| Error::Corrupt(format!("unknown tick outcome {outcome:?}")))?,
        reason: row.try_get("reason")?,
        workflow: row.try_get::<Option<String>, _>("workflow_id")?.map(WorkflowId::from_stored),
        at_ms: row.try_get("at_ms")?,
    })
}
