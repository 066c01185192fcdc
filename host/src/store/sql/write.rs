//! The group commit's transaction ([`Store::write`](crate::store::Store::write)): the workflows
//! started meanwhile and the commits of many runs, with one statement per
//! table whatever their number.
//!
//! A batch costs a few round trips to the database, not a few per run: at
//! 16 runs in flight a durable step would otherwise spend most of its time
//! waiting for the statements of the runs ahead of it. Each statement is
//! written for [`padded`] row counts, so the connections' statement caches
//! keep every text prepared.

use sqlx::Row;

use super::{
    Null, Tx, WORKFLOW_COLUMNS, apply_effects, arrived_for, ended_in, pad, padded, storable, to_i64,
    values_rows, wait_set_json, workflow_from_row,
};
use crate::ids::{HostId, WorkflowId};
use crate::journal::LogLine;
use crate::store::{
    Created, Error, NewStart, Result, RunCommit, StatusUpdate, StoredEntry, WaitSet, WorkflowRecord,
    WorkflowStatus,
};

/// Most rows one multi-row `INSERT` writes (a power of two: see [`padded`]).
const INSERT_CHUNK_ROWS: usize = 256;
/// Payload bytes past which a multi-row `INSERT` is sent without waiting for
/// more rows, so one statement stays a few MiB at most.
const INSERT_CHUNK_BYTES: usize = 1 << 20;

/// Writes `starts` and the commits of `batch` in `tx`; returns each start's
/// workflow (created or found) and the workflows something arrived for.
/// `db_now` is the database's clock as an SQL expression.
///
/// # Errors
/// As [`Store::write`](crate::store::Store::write): the caller rolls back.
pub(super) async fn in_transaction(
    tx: &mut Tx<'_>,
    starts: &[NewStart],
    batch: &[RunCommit],
    now: i64,
    db_now: &str,
) -> Result<(Vec<Created<WorkflowRecord>>, Vec<WorkflowId>)> {
    let started = insert_starts(tx, starts, now, db_now).await?;
    let mut arrived = Vec::new();
    for group in distinct_groups(batch) {
        commit_group(tx, group, now, &mut arrived).await?;
    }
    Ok((started, arrived))
}

/// The columns of one start in [`insert_starts`]' statement.
const START_COLUMNS: [(&str, Null); 13] = [
    ("id", Null::Text),
    ("component", Null::Text),
    ("input", Null::Text),
    ("parent_id", Null::Text),
    ("deadline_ms", Null::Int),
    ("owner_host", Null::Text),
    ("due_at_ms", Null::Int),
    ("status", Null::Text),
    ("created_at_ms", Null::Int),
    ("updated_at_ms", Null::Int),
    ("trace_parent", Null::Text),
    ("schedule_id", Null::Text),
    ("nominal_ms", Null::Int),
];

/// Inserts `starts` (see [`Store::write`](crate::store::Store::write)) in
/// one statement, and reads the workflows that already had their ids. A
/// start is created owned by its host only if that host's lease is valid by
/// the database's clock (`db_now`, an SQL expression), as a claim is;
/// otherwise it is created due now, for any host to claim.
pub(super) async fn insert_starts(
    tx: &mut Tx<'_>,
    starts: &[NewStart],
    now: i64,
    db_now: &str,
) -> Result<Vec<Created<WorkflowRecord>>> {
    if starts.is_empty() {
        return Ok(Vec::new());
    }
    // The lease is judged once per row: owned and not due, or due.
    let join = format!(" LEFT JOIN hosts ON hosts.id = c5 AND hosts.lease_expires_at_ms > {db_now}");
    let select =
        "c0, c1, c2, c3, c4, hosts.id, CASE WHEN hosts.id IS NULL THEN c6 END, c7, c8, c9, c10, c11, c12";
    let sql = format!(
        "{} ON CONFLICT (id) DO NOTHING RETURNING {WORKFLOW_COLUMNS}",
        bulk_insert_select_sql("workflows", &START_COLUMNS, select, &join, starts.len())
    );
    let mut query = sqlx::query(&sql);
    for start in starts {
        let new = &start.workflow;
        query = query
            .bind(new.id.as_str())
            .bind(new.component.as_str())
            .bind(storable(&new.input).into_owned())
            .bind(new.parent.as_ref().map(WorkflowId::as_str))
            .bind(new.deadline_ms)
            .bind(start.owner.as_ref().map(HostId::as_str))
            .bind(now)
            .bind(WorkflowStatus::Running.as_str())
            .bind(now)
            .bind(now)
            .bind(new.trace_parent.as_deref())
            .bind(new.scheduled_by.as_ref().map(|by| by.schedule.as_str()))
            .bind(new.scheduled_by.as_ref().map(|by| by.nominal_ms));
    }
    let query = pad(query, &START_COLUMNS, starts.len());
    let mut inserted = std::collections::HashMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        let record = workflow_from_row(&row)?;
        inserted.insert(record.id.clone(), record);
    }
    let mut started = Vec::with_capacity(starts.len());
    for start in starts {
        let id = &start.workflow.id;
        started.push(match inserted.remove(id) {
            Some(record) => Created::New(record),
            None => {
                let row = sqlx::query(&format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"))
                    .bind(id.as_str())
                    .fetch_one(&mut **tx)
                    .await?;
                Created::Existing(workflow_from_row(&row)?)
            }
        });
    }
    Ok(started)
}

/// Splits `batch` into slices of consecutive commits of distinct workflows,
/// in order: two commits of one workflow apply one after the other.
fn distinct_groups(batch: &[RunCommit]) -> Vec<&[RunCommit]> {
    let mut groups = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut start = 0;
    for (i, run) in batch.iter().enumerate() {
        if !seen.insert(&run.workflow_id) {
            groups.push(&batch[start..i]);
            seen.clear();
            seen.insert(&run.workflow_id);
            start = i;
        }
    }
    if start < batch.len() {
        groups.push(&batch[start..]);
    }
    groups
}

/// What a run's commit writes into its workflow row.
struct RowUpdate<'a> {
    run: &'a RunCommit,
    output: Option<std::borrow::Cow<'a, str>>,
    error: Option<std::borrow::Cow<'a, str>>,
    wake_at_ms: Option<i64>,
    waiting_on: Option<WaitSet>,
    waiting_json: Option<String>,
    log_bytes: i64,
}

impl<'a> RowUpdate<'a> {
    fn of(run: &'a RunCommit) -> Result<Self> {
        let (output, error, wake_at_ms, waiting_on) = match &run.update {
            StatusUpdate::Running => (None, None, None, None),
            StatusUpdate::Sleeping { wake_at_ms, cancellable } => {
                let on = WaitSet { cancellable: *cancellable, ..WaitSet::default() };
                (None, None, Some(*wake_at_ms), Some(on))
            }
            StatusUpdate::Waiting { wake_at_ms, on } => (None, None, *wake_at_ms, Some(on.clone())),
            StatusUpdate::Completed { output } | StatusUpdate::Cancelled { returned: Ok(output) } => {
                (Some(storable(output)), None, None, None)
            }
            StatusUpdate::Failed { error }
            | StatusUpdate::Stuck { error }
            | StatusUpdate::Cancelled { returned: Err(error) } => (None, Some(storable(error)), None, None),
        };
        let waiting_json = waiting_on.as_ref().map(wait_set_json).transpose()?;
        let log_bytes: u64 = run.logs.iter().map(|line| storable(&line.message).len() as u64).sum();
        Ok(Self { run, output, error, wake_at_ms, waiting_on, waiting_json, log_bytes: to_i64(log_bytes) })
    }
}

/// The columns of one run's row in [`update_sql`]'s `VALUES`: the new
/// state, then the state the run continues from.
const UPDATE_COLUMNS: [(&str, Null); 14] = [
    ("v_id", Null::Text),
    ("v_status", Null::Text),
    ("v_output", Null::Text),
    ("v_error", Null::Text),
    ("v_wake_at_ms", Null::Int),
    ("v_next_seq", Null::Int),
    ("v_revision", Null::Int),
    ("v_log_bytes", Null::Int),
    ("v_waiting_on", Null::Text),
    ("v_ended", Null::Int),
    ("v_keep_owner", Null::Int),
    ("v_expected_status", Null::Text),
    ("v_expected_seq", Null::Int),
    ("v_expected_revision", Null::Int),
];

/// The compare-and-set of `rows` workflow rows in one statement (`$1` the
/// time, then [`UPDATE_COLUMNS`] per row): a row is updated only if it
/// still holds the state its run continues from. A run's final status
/// clears the execution deadline; a checkpoint keeps the run's ownership, a
/// suspension or an end gives it up, the suspension due at its timer, if
/// any. Rows whose id is NULL (padding) match nothing.
fn update_sql(rows: usize) -> String {
    format!(
        "WITH v ({}) AS (VALUES {})
         UPDATE workflows SET status = v_status, output = v_output, error = v_error, wake_at_ms = v_wake_at_ms,
             updated_at_ms = $1, next_seq = v_next_seq, revision = v_revision,
             log_bytes = log_bytes + v_log_bytes, waiting_on = v_waiting_on,
             deadline_ms = CASE WHEN v_ended = 1 THEN NULL ELSE deadline_ms END,
             owner_host = CASE WHEN v_keep_owner = 1 THEN owner_host ELSE NULL END, due_at_ms = v_wake_at_ms
         FROM v
         WHERE id = v_id AND status = v_expected_status AND next_seq = v_expected_seq
             AND revision = v_expected_revision
         RETURNING id, parent_id, cancel_requested_ms",
        column_names(&UPDATE_COLUMNS).join(", "),
        values_rows(2, UPDATE_COLUMNS.len(), rows),
    )
}

/// Commits `runs`, each of a different workflow, with one statement per
/// table for all of them (rows, journal entries, log lines), then what each
/// one's effects and end do to other rows.
async fn commit_group(
    tx: &mut Tx<'_>,
    runs: &[RunCommit],
    now: i64,
    arrived: &mut Vec<WorkflowId>,
) -> Result<()> {
    // A final status never changes.
    if let Some(run) = runs.iter().find(|run| run.expected.status.is_final()) {
        return Err(Error::Stale { workflow: run.workflow_id.clone(), expected: run.expected });
    }
    let updates = runs.iter().map(RowUpdate::of).collect::<Result<Vec<_>>>()?;
    // Compare and set first: a stale run makes the whole transaction fail,
    // so it writes nothing.
    let mut updated = update_rows(tx, &updates, now).await?;
    if let Some(run) = runs.iter().find(|run| !updated.contains_key(run.workflow_id.as_str())) {
        return Err(Error::Stale { workflow: run.workflow_id.clone(), expected: run.expected });
    }
    let entries: Vec<_> =
        runs.iter().flat_map(|run| run.entries.iter().map(move |entry| (&run.workflow_id, entry))).collect();
    insert_entries(tx, &entries).await?;
    let logs: Vec<_> =
        runs.iter().flat_map(|run| run.logs.iter().map(move |line| (&run.workflow_id, line))).collect();
    insert_logs(tx, &logs).await?;
    let mut ended = Vec::new();
    for update in &updates {
        let run = update.run;
        let (parent, cancel_requested) = updated.remove(run.workflow_id.as_str()).unwrap_or_default();
        apply_effects(tx, run, now, arrived).await?;
        if let Some(on) = &update.waiting_on {
            // Something it waits for may have arrived since the run last
            // looked: arrivals take this row's lock, so they are either seen
            // here or see the suspension.
            if arrived_for(tx, &run.workflow_id, on, cancel_requested.is_some()).await? {
                sqlx::query(
                    "UPDATE workflows SET status = $1, wake_at_ms = NULL, waiting_on = NULL, due_at_ms = $3
                     WHERE id = $2",
                )
                .bind(WorkflowStatus::Running.as_str())
                .bind(run.workflow_id.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await?;
                arrived.push(run.workflow_id.clone());
            }
        }
        if run.next_state().status.is_final() {
            ended.push((run.workflow_id.clone(), parent));
        }
    }
    ended_in(tx, &ended, now, arrived).await
}

/// The compare-and-set of every row of `updates` (see [`update_sql`]);
/// returns the rows updated, by id, with their parent and when
/// cancellation was requested.
async fn update_rows(
    tx: &mut Tx<'_>,
    updates: &[RowUpdate<'_>],
    now: i64,
) -> Result<std::collections::HashMap<String, (Option<WorkflowId>, Option<i64>)>> {
    let sql = update_sql(padded(updates.len()));
    let mut query = sqlx::query(&sql).bind(now);
    for update in updates {
        let run = update.run;
        let next = run.next_state();
        query = query
            .bind(run.workflow_id.as_str())
            .bind(next.status.as_str())
            .bind(update.output.as_deref())
            .bind(update.error.as_deref())
            .bind(update.wake_at_ms)
            .bind(to_i64(next.next_seq))
            .bind(to_i64(next.revision))
            .bind(update.log_bytes)
            .bind(update.waiting_json.as_deref())
            .bind(i64::from(next.status.is_final()))
            .bind(i64::from(next.status == WorkflowStatus::Running))
            .bind(run.expected.status.as_str())
            .bind(to_i64(run.expected.next_seq))
            .bind(to_i64(run.expected.revision));
    }
    let rows = pad(query, &UPDATE_COLUMNS, updates.len()).fetch_all(&mut **tx).await?;
    let mut updated = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let parent = row.try_get::<Option<String>, _>("parent_id")?.map(WorkflowId::from_stored);
        updated.insert(row.try_get("id")?, (parent, row.try_get("cancel_requested_ms")?));
    }
    Ok(updated)
}

/// `INSERT INTO table (columns)` of up to `rows` rows, written for
/// [`padded`]`(rows)` rows of placeholders: rows whose first column is
/// NULL (padding) are left out.
fn bulk_insert_sql(table: &str, columns: &[(&str, Null)], rows: usize) -> String {
    let names: Vec<String> = (0..columns.len()).map(|column| format!("c{column}")).collect();
    bulk_insert_select_sql(table, columns, &names.join(", "), "", rows)
}

/// [`bulk_insert_sql`] with `select`, over the `VALUES` columns `c0`, `c1`,
/// … and what `join` joins to them, as the inserted row.
fn bulk_insert_select_sql(
    table: &str,
    columns: &[(&str, Null)],
    select: &str,
    join: &str,
    rows: usize,
) -> String {
    let names: Vec<String> = (0..columns.len()).map(|column| format!("c{column}")).collect();
    format!(
        "WITH v ({names}) AS (VALUES {values}) INSERT INTO {table} ({columns}) SELECT {select} FROM v{join}
         WHERE c0 IS NOT NULL",
        names = names.join(", "),
        values = values_rows(1, columns.len(), padded(rows)),
        columns = column_names(columns).join(", "),
    )
}

/// The names of `columns`.
fn column_names<'a>(columns: &[(&'a str, Null)]) -> Vec<&'a str> {
    columns.iter().map(|(name, _)| *name).collect()
}

/// Splits `items` into chunks of at most [`INSERT_CHUNK_ROWS`] rows and about
/// [`INSERT_CHUNK_BYTES`] bytes (by `size`), each non-empty.
fn insert_chunks<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        bytes += size(item);
        if i + 1 - start == INSERT_CHUNK_ROWS || bytes >= INSERT_CHUNK_BYTES {
            chunks.push(&items[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

/// Inserts journal entries, of any workflows, in as few statements as
/// their sizes allow.
async fn insert_entries(tx: &mut Tx<'_>, entries: &[(&WorkflowId, &StoredEntry)]) -> Result<()> {
    const COLUMNS: [(&str, Null); 5] = [
        ("workflow_id", Null::Text),
        ("seq", Null::Int),
        ("kind", Null::Text),
        ("payload", Null::Bytes),
        ("recorded_at_ns", Null::Int),
    ];
    for chunk in insert_chunks(entries, |(_, entry)| entry.payload.len()) {
        let sql = bulk_insert_sql("journal", &COLUMNS, chunk.len());
        let mut query = sqlx::query(&sql);
        for (workflow, entry) in chunk {
            query = query
                .bind(workflow.as_str())
                .bind(to_i64(entry.seq))
                .bind(entry.kind.as_str())
                .bind(entry.payload.as_slice())
                .bind(to_i64(entry.recorded_at_ns));
        }
        pad(query, &COLUMNS, chunk.len()).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts log lines, of any workflows, in as few statements as their
/// sizes allow.
async fn insert_logs(tx: &mut Tx<'_>, logs: &[(&WorkflowId, &LogLine)]) -> Result<()> {
    const COLUMNS: [(&str, Null); 5] = [
        ("workflow_id", Null::Text),
        ("at_ns", Null::Int),
        ("level", Null::Text),
        ("stream", Null::Text),
        ("message", Null::Text),
    ];
    for chunk in insert_chunks(logs, |(_, line)| line.message.len()) {
        let sql = bulk_insert_sql("logs", &COLUMNS, chunk.len());
        let mut query = sqlx::query(&sql);
        for (workflow, line) in chunk {
            query = query
                .bind(workflow.as_str())
                .bind(to_i64(line.at_ns))
                .bind(line.level.as_str())
                .bind(line.stream.as_str())
                .bind(storable(&line.message).into_owned());
        }
        pad(query, &COLUMNS, chunk.len()).execute(&mut **tx).await?;
    }
    Ok(())
}
