//! [`SqlStore`]: the [`Store`] on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Statements use `$n` placeholders and types both databases share (TEXT,
//! 64-bit integers, BLOB/BYTEA), so one text serves both backends.

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

mod retention;
mod schedules;
mod write;

use super::model::{parse_level, parse_stream};
use super::{
    CancelOutcome, ComponentKind, ComponentRecord, ComponentVersion, Created, Deletion, Error, EventRecord,
    HostRecord, LogRecord, NewStart, NewWorkflow, Result, RetentionStep, RunCommit, ScheduleRecord,
    ScheduleStep, ScheduledBy, SignalRecord, SignalSent, Store, StoredEntry, TickRecord, WaitSet,
    WorkflowFilter, WorkflowRecord, WorkflowState, WorkflowStatus, Written,
};
use crate::clock;
use crate::ids::{ComponentDigest, HostId, WorkflowId};
use crate::journal::LogLine;
use crate::telemetry::metrics::{self, PoolUse};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Ends a PostgreSQL session whose transaction has waited this long for its
/// client (a host paused, partitioned or killed mid-transaction), releasing
/// its locks. A host's own transactions never wait on their client: each is
/// a few statements sent back to back.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "SET idle_in_transaction_session_timeout = 10000";
/// How long the reclaim of dead hosts' workflows waits for a row lock before
/// giving up until its next round (PostgreSQL).
const RECLAIM_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = 2000";

/// How long a statement waits for a connection before failing, so that an
/// unreachable database turns into a prompt error instead of a hung request.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const WORKFLOW_COLUMNS: &str =
    "ordinal, id, component, status, input, output, error, wake_at_ms, created_at_ms,
    updated_at_ms, next_seq, revision, log_bytes, parent_id, waiting_on, cancel_requested_ms, deadline_ms,
    owner_host, trace_parent, schedule_id, nominal_ms";

/// A transaction on the write pool.
type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;
/// A component's columns, with the first of the names pointing at it.
const COMPONENT_COLUMNS: &str = "digest, kind, size_bytes, created_at_ms,
    (SELECT MIN(n.name) FROM component_names n WHERE n.digest = components.digest) AS name";

/// The SQL store; see the module docs.
///
/// Two connection pools: `write` serves the writes of runs and starts
/// (commits, claims, creations), `read` serves the API's and the scheduler's
/// reads, so a burst of reads can never leave the committer waiting for a
/// connection.
#[derive(Debug, Clone)]
pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    /// One connection for lease renewals, so a busy write pool can never
    /// cost a host its lease.
    lease: AnyPool,
    /// PostgreSQL rather than SQLite.
    postgres: bool,
    /// [`Store::claim_due`]'s statement for this backend ([`claim_sql`]).
    claim: String,
    /// The URL, for the arrivals listener's own connection (PostgreSQL).
    url: String,
    /// Tags the announcements of this store's commits, whose arrivals,
    /// ends and events its own process handles in memory: its listener
    /// skips them.
    origin: std::sync::Arc<str>,
    /// Bounds the tasks that announce commits, sent after each commit off
    /// the writer's path.
    announcers: std::sync::Arc<tokio::sync::Semaphore>,
}

/// [`SqlStore::announce`] on PostgreSQL through `write`, each payload
/// tagged with `origin` if given.
async fn announce_on(write: &AnyPool, ids: &[WorkflowId], origin: Option<&str>) {
    if ids.is_empty() {
        return;
    }
    let mut unique: Vec<String> = ids
        .iter()
        .map(|id| match origin {
            Some(origin) => format!("{id} {origin}"),
            None => id.as_str().to_owned(),
        })
        .collect();
    unique.sort_unstable();
    unique.dedup();
    let sql = format!(
        "SELECT pg_notify($1, id) FROM (VALUES {}) AS ids (id)",
        (2..unique.len() + 2).map(|n| format!("(${n})")).collect::<Vec<_>>().join(", ")
    );
    let notify = async {
        let mut tx = write.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        let query =
            unique.iter().fold(sqlx::query(&sql).bind(ARRIVALS_CHANNEL), |query, id| query.bind(id.as_str()));
        query.execute(&mut *tx).await?;
        tx.commit().await
    };
    if let Err(error) = notify.await {
        tracing::warn!(%error, "cannot announce arrivals; other hosts will find them at their next sweep");
    }
}

/// The PostgreSQL channel on which arrivals are announced: the payload
/// is the id of a workflow something arrived for.
const ARRIVALS_CHANNEL: &str = "duro_arrivals";
/// Most commit announcements in flight at once, each on a connection of
/// the write pool.
const ANNOUNCERS: usize = 2;

/// Arrivals announced by any process on a PostgreSQL database
/// ([`Store::arrivals`]), but those of this store's own commits, which its
/// process has handled already.
pub struct ArrivalListener {
    listener: sqlx::postgres::PgListener,
    /// The tag of this store's commit announcements.
    origin: String,
}

impl std::fmt::Debug for ArrivalListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArrivalListener")
    }
}

impl ArrivalListener {
    /// The next workflow something arrived for. A lost connection is
    /// re-established on the next call (notifications sent meanwhile are
    /// lost; the scheduler's sweep covers them).
    ///
    /// # Errors
    /// [`Error::Database`] if the connection failed.
    pub async fn next(&mut self) -> Result<WorkflowId> {
        loop {
            let notification = self.listener.recv().await?;
            // A payload is `<id>` or, from a commit, `<id> <origin>` (no id
            // holds a space).
            let (id, origin) = notification.payload().split_once(' ').unwrap_or((notification.payload(), ""));
            if origin != self.origin {
                return Ok(WorkflowId::from_stored(id.to_owned()));
            }
        }
    }
}

impl SqlStore {
    /// Announces on PostgreSQL that something arrived for each of `ids`, to
    /// every process listening on the database; nothing on SQLite, whose one
    /// process hears its own arrivals in memory.
    ///
    /// Sent after the transaction that stored the arrivals has committed, in
    /// a short transaction of its own that does not wait for its flush: a
    /// transaction that notifies holds PostgreSQL's server-wide notify lock
    /// through its commit, so notifying inside the commits would serialise
    /// them all. The announcement is a hint: one that is lost (a failure
    /// here is only logged) costs latency, since the scheduler sweeps the
    /// store.
    async fn announce(&self, ids: &[WorkflowId]) {
        if self.postgres {
            announce_on(&self.write, ids, None).await;
        }
    }

    /// The database's clock in ms since the Unix epoch, as an SQL
    /// expression: leases are taken and judged by this one clock, never by
    /// the hosts' clocks.
    fn db_now(&self) -> &'static str {
        db_now(self.postgres)
    }

    /// Connects to `url` and migrates; see [`super::connect`].
    ///
    /// # Errors
    /// As [`super::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, migrator, sizes) = if let Some(path) = url.strip_prefix("sqlite:") {
            // Create the file if missing. SQLite allows one writer at a time
            // and the runtime's group commit funnels writes anyway.
            let path = path.trim_start_matches("//");
            let url = if path.contains('?') || path == ":memory:" {
                format!("sqlite:{path}")
            } else {
                format!("sqlite://{path}?mode=rwc")
            };
            (url, &SQLITE_MIGRATOR, if path == ":memory:" { None } else { Some((4, 2)) })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (url.to_owned(), &POSTGRES_MIGRATOR, Some((8, 6)))
        } else {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        };
        let postgres = !url.starts_with("sqlite:");
        let options = |max_connections| {
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(move |connection, _| {
                    Box::pin(async move {
                        if postgres {
                            // A host paused or cut off in the middle of a
                            // transaction must not hold its rows locked for
                            // TCP's timeouts: the hosts taking its workflows
                            // over would queue behind it.
                            sqlx::query(IDLE_IN_TRANSACTION_TIMEOUT).execute(connection).await?;
                        }
                        Ok(())
                    })
                })
        };
        let (read, write, lease) = match sizes {
            Some((read, write)) => (
                options(read).connect(&url).await?,
                options(write).connect(&url).await?,
                options(1).connect(&url).await?,
            ),
            None => {
                // An in-memory SQLite database lives as long as its one
                // connection, which every pool must share.
                let pool =
                    options(1).min_connections(1).idle_timeout(None).max_lifetime(None).connect(&url).await?;
                (pool.clone(), pool.clone(), pool)
            }
        };
        if url.starts_with("sqlite:") {
            // WAL lets readers (the API) run beside the writer; it persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&write).await?;
        }
        migrator.run(&write).await?;
        let origin = uuid::Uuid::now_v7().simple().to_string().into();
        let announcers = std::sync::Arc::new(tokio::sync::Semaphore::new(ANNOUNCERS));
        Ok(Self { read, write, lease, postgres, claim: claim_sql(postgres), url, origin, announcers })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn single_host(&self) -> bool {
        !self.postgres
    }

    async fn delete_workflow(&self, id: &WorkflowId) -> Result<Deletion> {
        self.delete_one_workflow(id).await
    }

    async fn delete_ended_before(&self, before_ms: i64, after: i64, limit: u32) -> Result<RetentionStep> {
        self.retention_step(before_ms, after, limit).await
    }

    async fn delete_component(&self, digest: &ComponentDigest) -> Result<Deletion> {
        self.delete_unused_component(digest).await
    }

    async fn create_schedule(&self, record: &ScheduleRecord) -> Result<Created<ScheduleRecord>> {
        let mut tx = self.write.begin().await?;
        let created = schedules::create(&mut tx, record).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>> {
        schedules::get(&self.read, id).await
    }

    async fn list_schedules(&self, after: Option<&str>, limit: u32) -> Result<Vec<ScheduleRecord>> {
        schedules::list(&self.read, after, limit).await
    }

    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<ScheduleRecord>> {
        schedules::due(&self.read, now_ms, limit).await
    }

    async fn database_now_ms(&self) -> Result<i64> {
        let row = sqlx::query(&format!("SELECT {} AS now_ms", self.db_now())).fetch_one(&self.read).await?;
        Ok(row.try_get("now_ms")?)
    }

    async fn next_schedule_due(&self) -> Result<Option<i64>> {
        schedules::next_due(&self.read).await
    }

    async fn step_schedule(&self, id: &str, step: &ScheduleStep) -> Result<Option<Written>> {
        let mut tx = self.write.begin().await?;
        let db_now = self.db_now();
        match schedules::step(&mut tx, id, step, clock::now_ms(), db_now, self.postgres).await? {
            Some(written) => {
                tx.commit().await?;
                self.announce(&written.arrived).await;
                Ok(Some(written))
            }
            None => {
                tx.rollback().await?;
                Ok(None)
            }
        }
    }

    async fn schedule_history(&self, id: &str, limit: u32) -> Result<Vec<TickRecord>> {
        schedules::history(&self.read, id, limit).await
    }

    async fn delete_schedule(&self, id: &str) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let deleted = schedules::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn count_by_status(
        &self,
        component: Option<&ComponentDigest>,
    ) -> Result<Vec<(WorkflowStatus, u64)>> {
        let rows = match component {
            None => sqlx::query("SELECT status, COUNT(*) AS n FROM workflows GROUP BY status"),
            Some(digest) => sqlx::query(
                "SELECT status, COUNT(*) AS n FROM workflows WHERE component = $1 GROUP BY status",
            )
            .bind(digest.as_str()),
        }
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let status = WorkflowStatus::parse(&status)
                    .ok_or_else(|| Error::Corrupt(format!("unknown workflow status {status:?}")))?;
                let count: i64 = row.try_get("n")?;
                Ok((status, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }

    fn pools(&self) -> Vec<PoolUse> {
        [("read", &self.read), ("write", &self.write), ("lease", &self.lease)]
            .into_iter()
            .map(|(pool, connections)| PoolUse {
                pool,
                open: connections.size(),
                idle: u32::try_from(connections.num_idle()).unwrap_or(u32::MAX),
            })
            .collect()
    }

    async fn put_component(
        &self,
        digest: &ComponentDigest,
        kind: ComponentKind,
        name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Created<ComponentRecord>> {
        let now = clock::now_ms();
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO components (digest, size_bytes, bytes, created_at_ms, kind)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.as_str())
        .bind(to_i64(bytes.len() as u64))
        .bind(bytes)
        .bind(now)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if let Some(name) = name {
            for upsert in [
                "INSERT INTO component_names (name, digest, updated_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, updated_at_ms = excluded.updated_at_ms",
                "INSERT INTO component_versions (name, digest, pushed_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name, digest) DO UPDATE SET pushed_at_ms = excluded.pushed_at_ms",
            ] {
                sqlx::query(upsert).bind(name).bind(digest.as_str()).bind(now).execute(&mut *tx).await?;
            }
        }
        let row = sqlx::query(&format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE digest = $1"))
            .bind(digest.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let record = component_from_row(&row)?;
        Ok(if inserted { Created::New(record) } else { Created::Existing(record) })
    }

    async fn component(&self, digest_or_name: &str) -> Result<Option<ComponentRecord>> {
        if digest_or_name.contains('\0') {
            // Never a stored digest or name (and PostgreSQL refuses NUL in text).
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE digest = $1
             OR digest = (SELECT digest FROM component_names WHERE name = $1)"
        ))
        .bind(digest_or_name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(component_from_row).transpose()
    }

    async fn component_bytes(&self, digest: &ComponentDigest) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT bytes FROM components WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|row| row.try_get("bytes")).transpose()?)
    }

    async fn list_components(&self) -> Result<Vec<ComponentRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY created_at_ms DESC, digest"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(component_from_row).collect()
    }

    async fn component_versions(&self, name: &str) -> Result<Vec<ComponentVersion>> {
        if name.contains('\0') {
            return Ok(Vec::new());
        }
        // The name's current digest sorts first even if an older push of
        // another digest carries the same millisecond.
        let rows = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS}, versions.pushed_at_ms FROM components JOIN (
                 SELECT v.digest AS version_digest, v.pushed_at_ms,
                        CASE WHEN n.digest = v.digest THEN 0 ELSE 1 END AS older
                 FROM component_versions v LEFT JOIN component_names n ON n.name = v.name
                 WHERE v.name = $1
             ) versions ON versions.version_digest = components.digest
             ORDER BY versions.older, versions.pushed_at_ms DESC, components.digest"
        ))
        .bind(name)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let mut component = component_from_row(row)?;
                component.name = Some(name.to_owned());
                Ok(ComponentVersion { component, pushed_at_ms: row.try_get("pushed_at_ms")? })
            })
            .collect()
    }

    async fn workflow(&self, id: &WorkflowId) -> Result<Option<WorkflowRecord>> {
        let row = sqlx::query(&format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(workflow_from_row).transpose()
    }

    async fn upgrade(
        &self,
        id: &WorkflowId,
        expected: &WorkflowState,
        component: &ComponentDigest,
    ) -> Result<Option<WorkflowRecord>> {
        let now = clock::now_ms();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE workflows SET component = $1, revision = revision + 1, updated_at_ms = $2, owner_host = NULL,
                 error = CASE WHEN status = 'stuck' THEN NULL ELSE error END,
                 due_at_ms = CASE WHEN status IN ('stuck', 'running') THEN $2 ELSE due_at_ms END,
                 status = CASE WHEN status = 'stuck' THEN 'running' ELSE status END
             WHERE id = $3 AND revision = $4 AND status IN ('running', 'sleeping', 'waiting', 'stuck')
             RETURNING {WORKFLOW_COLUMNS}"
        ))
        .bind(component.as_str())
        .bind(now)
        .bind(id.as_str())
        .bind(to_i64(expected.revision))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let record = row.as_ref().map(workflow_from_row).transpose()?;
        if record.is_some() {
            self.announce(std::slice::from_ref(id)).await;
        }
        Ok(record)
    }

    async fn list_workflows(&self, filter: &WorkflowFilter) -> Result<Vec<WorkflowRecord>> {
        let rows = list_statement(filter).query().fetch_all(&self.read).await?;
        rows.iter().map(workflow_from_row).collect()
    }

    async fn register_host(&self, host: &HostId, name: &str, ttl_ms: i64) -> Result<()> {
        let now = self.db_now();
        sqlx::query(&format!(
            "INSERT INTO hosts (id, name, started_at_ms, heartbeat_at_ms, lease_expires_at_ms)
             VALUES ($1, $2, {now}, {now}, {now} + $3)"
        ))
        .bind(host.as_str())
        .bind(storable(name).as_ref())
        .bind(ttl_ms)
        .execute(&self.lease)
        .await?;
        Ok(())
    }

    async fn renew_lease(&self, host: &HostId, ttl_ms: i64) -> Result<bool> {
        let now = self.db_now();
        let renewed = sqlx::query(&format!(
            "UPDATE hosts SET heartbeat_at_ms = {now}, lease_expires_at_ms = {now} + $2
             WHERE id = $1 AND lease_expires_at_ms > {now}"
        ))
        .bind(host.as_str())
        .bind(ttl_ms)
        .execute(&self.lease)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    async fn reclaim(&self, sole: Option<&HostId>) -> Result<Vec<WorkflowId>> {
        let now = self.db_now();
        let expired_hosts = format!("DELETE FROM hosts WHERE lease_expires_at_ms <= {now} RETURNING id");
        let mut tx = self.write.begin().await?;
        if self.postgres {
            sqlx::query(RECLAIM_LOCK_TIMEOUT).execute(&mut *tx).await?;
        }
        let dead = match sole {
            Some(host) => sqlx::query("DELETE FROM hosts WHERE id <> $1 RETURNING id").bind(host.as_str()),
            None => sqlx::query(&expired_hosts),
        };
        let dead = dead.fetch_all(&mut *tx).await?;
        let mut released = Vec::new();
        // Host ids are never reused, so what a dead host owned stays its own
        // however the hosts table changes meanwhile: one range of the owner
        // index per dead host.
        for host in &dead {
            let host: String = host.try_get("id")?;
            let rows = sqlx::query(&format!(
                "UPDATE workflows SET owner_host = NULL, due_at_ms = {now}, revision = revision + 1
                 WHERE owner_host = $1 RETURNING id"
            ))
            .bind(host)
            .fetch_all(&mut *tx)
            .await?;
            released.extend(ids_from_rows(&rows)?);
        }
        // A start or a claim that checked its host's lease before a reclaim
        // deleted the host's row, and committed after it, left a workflow
        // owned by a host that is gone: released too (a range of the owner
        // index: the workflows owned now).
        let strays = sqlx::query(&format!(
            "UPDATE workflows SET owner_host = NULL, due_at_ms = {now}, revision = revision + 1
             WHERE owner_host IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM hosts WHERE hosts.id = workflows.owner_host)
             RETURNING id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        released.extend(ids_from_rows(&strays)?);
        tx.commit().await?;
        if !dead.is_empty() || !strays.is_empty() {
            tracing::info!(
                hosts = dead.len(),
                workflows = released.len(),
                "reclaimed the leases of dead hosts"
            );
        }
        self.announce(&released).await;
        Ok(released)
    }

    async fn claim_due(&self, host: &HostId, now_ms: i64, limit: u32) -> Result<Vec<WorkflowRecord>> {
        let rows = sqlx::query(&self.claim)
            .bind(host.as_str())
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        rows.iter().map(workflow_from_row).collect()
    }

    async fn release(
        &self,
        host: &HostId,
        id: &WorkflowId,
        due_at_ms: i64,
        note: Option<&str>,
    ) -> Result<bool> {
        let released = sqlx::query(
            "UPDATE workflows SET owner_host = NULL, due_at_ms = $3, error = COALESCE($4, error),
                 revision = revision + 1
             WHERE id = $1 AND owner_host = $2",
        )
        .bind(id.as_str())
        .bind(host.as_str())
        .bind(due_at_ms)
        .bind(note.map(|note| storable(note).into_owned()))
        .execute(&self.write)
        .await?
        .rows_affected()
            == 1;
        if released {
            self.announce(std::slice::from_ref(id)).await;
        }
        Ok(released)
    }

    async fn owned(&self, host: &HostId) -> Result<Vec<WorkflowId>> {
        let rows = sqlx::query("SELECT id FROM workflows WHERE owner_host = $1")
            .bind(host.as_str())
            .fetch_all(&self.read)
            .await?;
        ids_from_rows(&rows)
    }

    async fn retire_host(&self, host: &HostId) -> Result<Vec<WorkflowId>> {
        let mut tx = self.write.begin().await?;
        let rows = sqlx::query(
            "UPDATE workflows SET owner_host = NULL, due_at_ms = $2, revision = revision + 1
             WHERE owner_host = $1 RETURNING id",
        )
        .bind(host.as_str())
        .bind(clock::now_ms())
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM hosts WHERE id = $1").bind(host.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        let released = ids_from_rows(&rows)?;
        self.announce(&released).await;
        Ok(released)
    }

    async fn hosts(&self) -> Result<Vec<HostRecord>> {
        let now = self.db_now();
        let rows = sqlx::query(&format!(
            "SELECT id, name, started_at_ms, heartbeat_at_ms, lease_expires_at_ms,
                 (SELECT COUNT(*) FROM workflows w WHERE w.owner_host = hosts.id) AS leases
             FROM hosts WHERE lease_expires_at_ms > {now} ORDER BY started_at_ms, id"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HostRecord {
                    id: HostId::from_stored(row.try_get("id")?),
                    name: row.try_get("name")?,
                    started_at_ms: row.try_get("started_at_ms")?,
                    heartbeat_at_ms: row.try_get("heartbeat_at_ms")?,
                    lease_expires_at_ms: row.try_get("lease_expires_at_ms")?,
                    leases: to_u64(row.try_get("leases")?),
                })
            })
            .collect()
    }

    async fn next_due_at_ms(&self) -> Result<Option<i64>> {
        let row = next_due_statement().query().fetch_one(&self.read).await?;
        Ok(row.try_get("due_at_ms")?)
    }

    async fn due_deadlines(&self, now_ms: i64, limit: u32) -> Result<Vec<WorkflowId>> {
        let rows = deadlines_statement(now_ms, limit).query().fetch_all(&self.read).await?;
        rows.iter().map(|row| Ok(WorkflowId::from_stored(row.try_get("id")?))).collect()
    }

    async fn expire(&self, id: &WorkflowId, now_ms: i64, grace_ms: i64) -> Result<Vec<WorkflowId>> {
        let mut tx = self.write.begin().await?;
        let mut arrived = Vec::new();
        let Some(row) = lock_row(&mut tx, id).await? else { return Ok(arrived) };
        let due = row.deadline_ms.is_some_and(|deadline| deadline <= now_ms);
        if row.status.is_final() || !due {
            return Ok(arrived);
        }
        // The grace period runs from the cancellation request, whoever made it.
        let grace_ends = row.cancel_requested_ms.map(|requested| requested.saturating_add(grace_ms));
        if row.cancel_requested_ms.is_none() || grace_ends.is_some_and(|ends| ends > now_ms) {
            if row.cancel_requested_ms.is_none() {
                request_cancel_in(&mut tx, id, now_ms, &mut arrived).await?;
            }
            sqlx::query("UPDATE workflows SET deadline_ms = $1 WHERE id = $2")
                .bind(grace_ends.unwrap_or(now_ms.saturating_add(grace_ms)))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        } else {
            let reason = "terminated: the execution timeout passed and the workflow did not end within the grace period after its cancellation";
            terminate_in(&mut tx, id, reason, now_ms, &mut arrived).await?;
        }
        tx.commit().await?;
        self.announce(&arrived).await;
        Ok(arrived)
    }

    async fn send_signal(
        &self,
        id: &WorkflowId,
        name: &str,
        payload: &str,
        idempotency_key: Option<&str>,
    ) -> Result<SignalSent> {
        let now = clock::now_ms();
        let mut tx = self.write.begin().await?;
        let Some(row) = lock_row(&mut tx, id).await? else { return Ok(SignalSent::UnknownWorkflow) };
        if let Some(key) = idempotency_key {
            let earlier =
                sqlx::query("SELECT arrival FROM signals WHERE workflow_id = $1 AND idempotency_key = $2")
                    .bind(id.as_str())
                    .bind(storable(key).as_ref())
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(earlier) = earlier {
                return Ok(SignalSent::Stored { arrival: to_u64(earlier.try_get("arrival")?), new: false });
            }
        }
        if row.status.is_final() {
            return Ok(SignalSent::Final(row.status));
        }
        let arrival: i64 =
            sqlx::query("UPDATE workflows SET arrivals = arrivals + 1 WHERE id = $1 RETURNING arrivals")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("arrivals")?;
        sqlx::query(
            "INSERT INTO signals (workflow_id, arrival, name, payload, idempotency_key, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(arrival)
        .bind(storable(name).as_ref())
        .bind(storable(payload).as_ref())
        .bind(idempotency_key.map(|key| storable(key).into_owned()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let wanted = row.waiting_on.as_ref().is_some_and(|on| on.signals.iter().any(|wanted| wanted == name));
        if row.status == WorkflowStatus::Waiting && wanted {
            wake(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        self.announce(std::slice::from_ref(id)).await;
        Ok(SignalSent::Stored { arrival: to_u64(arrival), new: true })
    }

    async fn next_signal(&self, id: &WorkflowId, name: &str, after: u64) -> Result<Option<SignalRecord>> {
        let row = sqlx::query(
            "SELECT arrival, name, payload, created_at_ms FROM signals
             WHERE workflow_id = $1 AND name = $2 AND arrival > $3 AND consumed_seq IS NULL
             ORDER BY arrival LIMIT 1",
        )
        .bind(id.as_str())
        .bind(storable(name).as_ref())
        .bind(to_i64(after))
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(SignalRecord {
                arrival: to_u64(row.try_get("arrival")?),
                name: row.try_get("name")?,
                payload: row.try_get("payload")?,
                created_at_ms: row.try_get("created_at_ms")?,
            })
        })
        .transpose()
    }

    async fn event(&self, id: &WorkflowId, key: &str) -> Result<Option<EventRecord>> {
        let row =
            sqlx::query("SELECT value, seq, updated_at_ms FROM events WHERE workflow_id = $1 AND key = $2")
                .bind(id.as_str())
                .bind(storable(key).as_ref())
                .fetch_optional(&self.read)
                .await?;
        row.map(|row| {
            Ok(EventRecord {
                value: row.try_get("value")?,
                seq: to_u64(row.try_get("seq")?),
                updated_at_ms: row.try_get("updated_at_ms")?,
            })
        })
        .transpose()
    }

    async fn arrivals(&self) -> Result<Option<ArrivalListener>> {
        if !self.postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(ARRIVALS_CHANNEL).await?;
        Ok(Some(ArrivalListener { listener, origin: self.origin.to_string() }))
    }

    async fn status(&self, id: &WorkflowId) -> Result<Option<(WorkflowStatus, Option<i64>)>> {
        let row = sqlx::query("SELECT status, cancel_requested_ms FROM workflows WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| Ok((parse_status(row.try_get("status")?)?, row.try_get("cancel_requested_ms")?)))
            .transpose()
    }

    async fn children(&self, id: &WorkflowId, limit: u32) -> Result<Vec<WorkflowRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE parent_id = $1 ORDER BY ordinal LIMIT $2"
        ))
        .bind(id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(workflow_from_row).collect()
    }

    async fn request_cancel(&self, id: &WorkflowId) -> Result<(CancelOutcome, Vec<WorkflowId>)> {
        let mut tx = self.write.begin().await?;
        let mut arrived = Vec::new();
        let outcome = request_cancel_in(&mut tx, id, clock::now_ms(), &mut arrived).await?;
        tx.commit().await?;
        self.announce(&arrived).await;
        Ok((outcome, arrived))
    }

    async fn terminate(&self, id: &WorkflowId, reason: &str) -> Result<(CancelOutcome, Vec<WorkflowId>)> {
        let mut tx = self.write.begin().await?;
        let mut arrived = Vec::new();
        let outcome = terminate_in(&mut tx, id, reason, clock::now_ms(), &mut arrived).await?;
        tx.commit().await?;
        self.announce(&arrived).await;
        Ok((outcome, arrived))
    }

    async fn journal(
        &self,
        id: &WorkflowId,
        after: Option<u64>,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<StoredEntry>> {
        // A running sum of payload sizes stops the page at `max_bytes`; the
        // first entry is always included, so a page is never empty.
        let rows = sqlx::query(
            "SELECT seq, kind, payload, recorded_at_ns FROM (
                 SELECT seq, kind, payload, recorded_at_ns, LENGTH(payload) AS size,
                        SUM(LENGTH(payload)) OVER (ORDER BY seq) AS total
                 FROM journal WHERE workflow_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
             ) page
             WHERE total <= $4 OR total = size ORDER BY seq",
        )
        .bind(id.as_str())
        .bind(after.map_or(-1, to_i64))
        .bind(i64::from(limit))
        .bind(to_i64(max_bytes))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEntry {
                    seq: to_u64(row.try_get("seq")?),
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                    recorded_at_ns: to_u64(row.try_get("recorded_at_ns")?),
                })
            })
            .collect()
    }

    async fn logs(&self, id: &WorkflowId, after: Option<i64>, limit: u32) -> Result<Vec<LogRecord>> {
        let rows = sqlx::query(
            "SELECT ordinal, at_ns, level, stream, message FROM logs
             WHERE workflow_id = $1 AND ordinal > $2 ORDER BY ordinal LIMIT $3",
        )
        .bind(id.as_str())
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogRecord {
                    ordinal: row.try_get("ordinal")?,
                    line: LogLine {
                        at_ns: to_u64(row.try_get("at_ns")?),
                        level: parse_level(&row.try_get::<String, _>("level")?)?,
                        stream: parse_stream(&row.try_get::<String, _>("stream")?)?,
                        message: row.try_get("message")?,
                    },
                })
            })
            .collect()
    }

    async fn write(&self, starts: &[NewStart], batch: &[RunCommit]) -> Result<Written> {
        let now = clock::now_ms();
        let waited = std::time::Instant::now();
        let mut connection = self.write.acquire().await?;
        metrics::db_acquired(waited.elapsed());
        let mut tx = sqlx::Connection::begin(&mut *connection).await?;
        let (started, arrived) = write::in_transaction(&mut tx, starts, batch, now, self.db_now()).await?;
        tx.commit().await?;
        // Other hosts' result and event waiters hear of ends and events too.
        let told = batch
            .iter()
            .filter(|run| run.update.status().is_final() || !run.effects.events.is_empty())
            .map(|run| run.workflow_id.clone());
        // Off the writer's path: the next batch need not wait for it.
        let ids: Vec<WorkflowId> = arrived.iter().cloned().chain(told).collect();
        if self.postgres && !ids.is_empty() {
            let (write, origin, announcers) =
                (self.write.clone(), self.origin.clone(), self.announcers.clone());
            tokio::spawn(async move {
                // At most two connections of the write pool announce at once.
                let Ok(_permit) = announcers.acquire().await else { return };
                announce_on(&write, &ids, Some(&origin)).await;
            });
        }
        Ok(Written { started, arrived })
    }
}

/// `rows` rows of `columns` placeholders each, numbered from `first`:
/// `($2, $3), ($4, $5)`.
fn values_rows(first: usize, columns: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&placeholders(first + row * columns, columns));
        sql.push(')');
    }
    sql
}

/// The number of rows a bulk statement of `rows` rows is written for: the
/// next power of two, the rest padding. So a host prepares at most nine
/// texts of each bulk statement (1 to 256 rows) whatever its batch sizes,
/// and the connections' statement caches keep them all.
fn padded(rows: usize) -> usize {
    rows.next_power_of_two()
}

/// A query on the `Any` driver.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The SQL type of a column of a bulk statement's rows, for the NULLs of
/// its padding rows (typed, so every row of a `VALUES` list has one type
/// per column on PostgreSQL).
#[derive(Debug, Clone, Copy)]
enum Null {
    Text,
    Int,
    Bytes,
}

/// `query`, whose `rows` rows of `columns` (name and type) are bound, with
/// the padding rows of NULLs up to [`padded`]`(rows)`.
fn pad<'q>(mut query: AnyQuery<'q>, columns: &[(&str, Null)], rows: usize) -> AnyQuery<'q> {
    for _ in rows..padded(rows) {
        for (_, column) in columns {
            query = match column {
                Null::Text => query.bind(None::<&str>),
                Null::Int => query.bind(None::<i64>),
                Null::Bytes => query.bind(None::<&[u8]>),
            };
        }
    }
    query
}

/// Creates children, marks signals consumed, sets events and asks children
/// to cancel, for one run's commit.
async fn apply_effects(
    tx: &mut Tx<'_>,
    run: &RunCommit,
    now: i64,
    arrived: &mut Vec<WorkflowId>,
) -> Result<()> {
    let effects = &run.effects;
    for child in &effects.children {
        // The run found the id free when the workflow called start-child;
        // if another workflow took it since, this run is stale: it replays,
        // and the start, live again, is refused.
        if !insert_workflow(tx, child, now).await? {
            return Err(Error::Stale { workflow: run.workflow_id.clone(), expected: run.expected });
        }
        arrived.push(child.id.clone());
    }
    for (arrival, seq) in &effects.consumed {
        // A handle that won again (a wait on a signal handle already
        // received) names its signal again: the first consumer stays.
        sqlx::query(
            "UPDATE signals SET consumed_seq = $1 WHERE workflow_id = $2 AND arrival = $3 AND consumed_seq IS NULL",
        )
        .bind(to_i64(*seq))
        .bind(run.workflow_id.as_str())
        .bind(to_i64(*arrival))
        .execute(&mut **tx)
        .await?;
    }
    for (key, value, seq) in &effects.events {
        sqlx::query(
            "INSERT INTO events (workflow_id, key, value, seq, updated_at_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (workflow_id, key) DO UPDATE
             SET value = excluded.value, seq = excluded.seq, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(run.workflow_id.as_str())
        .bind(storable(key).as_ref())
        .bind(storable(value).as_ref())
        .bind(to_i64(*seq))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    for child in &effects.cancels {
        request_cancel_in(tx, child, now, arrived).await?;
    }
    Ok(())
}

/// Inserts `new` as `running` unless a workflow with its id exists;
/// returns whether it was inserted.
async fn insert_workflow(tx: &mut Tx<'_>, new: &NewWorkflow, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO workflows (id, component, input, status, created_at_ms, updated_at_ms, parent_id, deadline_ms,
             due_at_ms, trace_parent)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $5, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.as_str())
    .bind(new.component.as_str())
    .bind(storable(&new.input).as_ref())
    .bind(WorkflowStatus::Running.as_str())
    .bind(now)
    .bind(new.parent.as_ref().map(WorkflowId::as_str))
    .bind(new.deadline_ms)
    .bind(new.trace_parent.as_deref())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// The parts of a workflow row that arrivals decide on, read under the
/// row's lock.
struct LockedRow {
    status: WorkflowStatus,
    waiting_on: Option<WaitSet>,
    cancel_requested_ms: Option<i64>,
    deadline_ms: Option<i64>,
    parent: Option<WorkflowId>,
}

/// Locks the row of `id` for the rest of the transaction (a no-op update,
/// which both backends order against every other writer of the row) and
/// reads it.
async fn lock_row(tx: &mut Tx<'_>, id: &WorkflowId) -> Result<Option<LockedRow>> {
    let row = sqlx::query(
        "UPDATE workflows SET arrivals = arrivals WHERE id = $1
         RETURNING status, waiting_on, cancel_requested_ms, deadline_ms, parent_id",
    )
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(LockedRow {
        status: parse_status(row.try_get("status")?)?,
        waiting_on: parse_wait_set(row.try_get("waiting_on")?)?,
        cancel_requested_ms: row.try_get("cancel_requested_ms")?,
        deadline_ms: row.try_get("deadline_ms")?,
        parent: row.try_get::<Option<String>, _>("parent_id")?.map(WorkflowId::from_stored),
    }))
}

/// Makes a suspended workflow `running` (a new revision), for an arrival.
async fn wake(tx: &mut Tx<'_>, id: &WorkflowId, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE workflows SET status = $1, wake_at_ms = NULL, waiting_on = NULL, updated_at_ms = $2,
             due_at_ms = $2, revision = revision + 1
         WHERE id = $3",
    )
    .bind(WorkflowStatus::Running.as_str())
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether something in `on` has arrived for workflow `id`: an unconsumed
/// signal it receives, a child it waits for that ended, or (when
/// `cancel_requested`) a cancellation it can be told of. One statement per
/// kind, each an index range scan (the partial index of unconsumed signals,
/// the primary key of workflows).
async fn arrived_for(tx: &mut Tx<'_>, id: &WorkflowId, on: &WaitSet, cancel_requested: bool) -> Result<bool> {
    if on.cancellable && cancel_requested {
        return Ok(true);
    }
    if !on.signals.is_empty() {
        let sql = format!(
            "SELECT arrival FROM signals WHERE workflow_id = $1 AND consumed_seq IS NULL AND name IN ({}) LIMIT 1",
            placeholders(2, on.signals.len())
        );
        let query = on
            .signals
            .iter()
            .fold(sqlx::query(&sql).bind(id.as_str()), |query, name| query.bind(storable(name).into_owned()));
        if query.fetch_optional(&mut **tx).await?.is_some() {
            return Ok(true);
        }
    }
    if !on.children.is_empty() {
        let finals: Vec<String> = WorkflowStatus::ALL
            .into_iter()
            .filter(|status| status.is_final())
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        let sql = format!(
            "SELECT id FROM workflows WHERE id IN ({}) AND status IN ({}) LIMIT 1",
            placeholders(1, on.children.len()),
            finals.join(", ")
        );
        let query =
            on.children.iter().fold(sqlx::query(&sql), |query, child| query.bind(child.as_str().to_owned()));
        if query.fetch_optional(&mut **tx).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `$first, $first+1, …`: `count` placeholders.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Requests cancellation of `id` and of its children that have not ended,
/// and theirs, each under its row's lock; see [`Store::request_cancel`].
async fn request_cancel_in(
    tx: &mut Tx<'_>,
    id: &WorkflowId,
    now: i64,
    arrived: &mut Vec<WorkflowId>,
) -> Result<CancelOutcome> {
    let mut outcome = CancelOutcome::UnknownWorkflow;
    let mut queue = std::collections::VecDeque::from([id.clone()]);
    while let Some(next) = queue.pop_front() {
        let Some(row) = lock_row(tx, &next).await? else { continue };
        let this = if row.status.is_final() {
            CancelOutcome::Final(row.status)
        } else {
            if row.cancel_requested_ms.is_none() {
                sqlx::query("UPDATE workflows SET cancel_requested_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(next.as_str())
                    .execute(&mut **tx)
                    .await?;
                let can_tell = row.waiting_on.as_ref().is_some_and(|on| on.cancellable);
                if row.status.is_suspended() && can_tell {
                    wake(tx, &next, now).await?;
                }
                arrived.push(next.clone());
                queue.extend(live_children(tx, &[&next]).await?);
            }
            CancelOutcome::Done
        };
        if next == *id {
            outcome = this;
        }
    }
    Ok(outcome)
}

/// Terminates `id`; see [`Store::terminate`].
async fn terminate_in(
    tx: &mut Tx<'_>,
    id: &WorkflowId,
    reason: &str,
    now: i64,
    arrived: &mut Vec<WorkflowId>,
) -> Result<CancelOutcome> {
    let Some(row) = lock_row(tx, id).await? else { return Ok(CancelOutcome::UnknownWorkflow) };
    if row.status.is_final() {
        return Ok(CancelOutcome::Final(row.status));
    }
    sqlx::query(
        "UPDATE workflows SET status = $1, error = $2, wake_at_ms = NULL, waiting_on = NULL, deadline_ms = NULL,
             updated_at_ms = $3, owner_host = NULL, due_at_ms = NULL, revision = revision + 1
         WHERE id = $4",
    )
    .bind(WorkflowStatus::Terminated.as_str())
    .bind(storable(reason).as_ref())
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    arrived.push(id.clone());
    ended_in(tx, &[(id.clone(), row.parent)], now, arrived).await?;
    Ok(CancelOutcome::Done)
}

/// What the end of each workflow of `ended` (with its parent) does to
/// others: a parent waiting for it wakes, and its children still running
/// are asked to cancel (one statement finds them for all).
async fn ended_in(
    tx: &mut Tx<'_>,
    ended: &[(WorkflowId, Option<WorkflowId>)],
    now: i64,
    arrived: &mut Vec<WorkflowId>,
) -> Result<()> {
    for (id, parent) in ended {
        if let Some(parent) = parent
            && let Some(row) = lock_row(tx, parent).await?
        {
            let wanted = row.waiting_on.as_ref().is_some_and(|on| on.children.contains(id));
            if row.status == WorkflowStatus::Waiting && wanted {
                wake(tx, parent, now).await?;
            }
            arrived.push(parent.clone());
        }
    }
    let ids: Vec<&WorkflowId> = ended.iter().map(|(id, _)| id).collect();
    for child in live_children(tx, &ids).await? {
        request_cancel_in(tx, &child, now, arrived).await?;
    }
    Ok(())
}

/// The children of `parents` that have not ended, oldest first.
async fn live_children(tx: &mut Tx<'_>, parents: &[&WorkflowId]) -> Result<Vec<WorkflowId>> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, status FROM workflows WHERE parent_id IN ({}) ORDER BY ordinal",
        placeholders(1, padded(parents.len()))
    );
    let mut query = sqlx::query(&sql);
    for parent in parents {
        query = query.bind(parent.as_str());
    }
    let mut live = Vec::new();
    for row in pad(query, &[("parent_id", Null::Text)], parents.len()).fetch_all(&mut **tx).await? {
        if !parse_status(row.try_get("status")?)?.is_final() {
            live.push(WorkflowId::from_stored(row.try_get("id")?));
        }
    }
    Ok(live)
}

fn wait_set_json(on: &WaitSet) -> Result<String> {
    serde_json::to_string(on).map_err(|error| Error::Corrupt(format!("cannot encode a wait set: {error}")))
}

fn parse_wait_set(text: Option<String>) -> Result<Option<WaitSet>> {
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|error| Error::Corrupt(format!("unreadable waiting_on {text:?}: {error}")))
    })
    .transpose()
}

fn ids_from_rows(rows: &[AnyRow]) -> Result<Vec<WorkflowId>> {
    rows.iter().map(|row| Ok(WorkflowId::from_stored(row.try_get("id")?))).collect()
}

fn parse_status(status: String) -> Result<WorkflowStatus> {
    WorkflowStatus::parse(&status)
        .ok_or_else(|| Error::Corrupt(format!("unknown workflow status {status:?}")))
}

/// A value bound to a [`Statement`].
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// A statement with its parameters: the scheduler's and the listing's
/// queries are built once here, for running and for [`SqlStore::query_plans`].
#[derive(Debug, Clone)]
struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

impl Statement {
    fn new(sql: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self { sql: sql.into(), binds }
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        self.binds.iter().fold(sqlx::query(&self.sql), |query, bind| match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(value) => query.bind(*value),
        })
    }
}

/// A page of workflows under `filter`, newest first. Only the conditions
/// asked for are in the statement, so each filter is an index range scan
/// (`(status, ordinal)`, `(component, ordinal)`, `(component, status, ordinal)` or the primary key), read
/// backwards from the cursor.
fn list_statement(filter: &WorkflowFilter) -> Statement {
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    if let Some(status) = filter.status {
        conditions.push(status_is(status));
    }
    if let Some(component) = &filter.component {
        binds.push(Bind::Text(component.as_str().to_owned()));
        conditions.push(format!("component = ${}", binds.len()));
    }
    if let Some(before) = filter.before {
        binds.push(Bind::Int(before));
        conditions.push(format!("ordinal < ${}", binds.len()));
    }
    if let Some(schedule) = &filter.schedule {
        binds.push(Bind::Text(schedule.clone()));
        conditions.push(format!("schedule_id = ${}", binds.len()));
    }
    if let Some(prefix) = &filter.id_prefix {
        // `substr` counts characters in both databases; the length is a
        // number written into the statement, so that PostgreSQL need not
        // cast a bound one. (`LIKE` would need its wildcards escaped, and
        // ignores case in SQLite.)
        binds.push(Bind::Text(prefix.clone()));
        conditions.push(format!("substr(id, 1, {}) = ${}", prefix.chars().count(), binds.len()));
    }
    binds.push(Bind::Int(i64::from(filter.limit)));
    let filter =
        if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows {filter} ORDER BY ordinal DESC LIMIT ${}",
        binds.len()
    );
    Statement::new(sql, binds)
}

/// `status = '<status>'`, the status written into the statement rather than
/// bound: a prepared statement's generic plan on PostgreSQL cannot tell a
/// status that holds a few rows (`running`) from one that holds nearly all
/// (`completed`), and after a few executions it may switch to scanning the
/// primary key; with the status in the text every plan uses the status
/// index. The statuses are this module's constants, never input.
fn status_is(status: WorkflowStatus) -> String {
    format!("status = '{}'", status.as_str())
}

/// Workflows whose execution timeout passed, earliest first: a range of the
/// partial `deadline_ms` index.
fn deadlines_statement(now_ms: i64, limit: u32) -> Statement {
    Statement::new(
        "SELECT id FROM workflows WHERE deadline_ms <= $1 ORDER BY deadline_ms LIMIT $2",
        vec![Bind::Int(now_ms), Bind::Int(i64::from(limit))],
    )
}

/// The database's clock in ms since the Unix epoch, as an SQL expression.
fn db_now(postgres: bool) -> &'static str {
    if postgres { "duro_now_ms()" } else { "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)" }
}

/// [`Store::claim_due`]'s statement: `$1` the host, `$2` now (ms), `$3`
/// the limit. One range of the due-time index, earliest first; on
/// PostgreSQL the rows are locked with `SKIP LOCKED`, so hosts claiming
/// at once each take other rows instead of queueing behind each other
/// (SQLite has one writer, and one host).
fn claim_sql(postgres: bool) -> String {
    let running = WorkflowStatus::Running.as_str();
    let set = format!(
        "SET owner_host = $1, due_at_ms = NULL, status = '{running}', wake_at_ms = NULL, waiting_on = NULL,
             revision = revision + 1,
             updated_at_ms = CASE WHEN status = '{running}' THEN updated_at_ms ELSE $2 END"
    );
    let leased = format!(
        "EXISTS (SELECT 1 FROM hosts WHERE hosts.id = $1 AND hosts.lease_expires_at_ms > {})",
        db_now(postgres)
    );
    if postgres {
        format!(
            "WITH picked AS (
                 SELECT id AS picked_id FROM workflows WHERE due_at_ms <= $2 ORDER BY due_at_ms LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             UPDATE workflows {set} FROM picked
             WHERE id = picked_id AND {leased}
             RETURNING {WORKFLOW_COLUMNS}"
        )
    } else {
        format!(
            "UPDATE workflows {set}
             WHERE id IN (SELECT id FROM workflows WHERE due_at_ms <= $2 ORDER BY due_at_ms LIMIT $3)
                 AND {leased}
             RETURNING {WORKFLOW_COLUMNS}"
        )
    }
}

/// The earliest time a host may claim a workflow, or a deadline passes:
/// one end of the due-time index and one of the deadline index.
fn next_due_statement() -> Statement {
    Statement::new(
        "SELECT MIN(at) AS due_at_ms FROM (
             SELECT MIN(due_at_ms) AS at FROM workflows WHERE due_at_ms IS NOT NULL
             UNION ALL SELECT MIN(deadline_ms) AS at FROM workflows WHERE deadline_ms IS NOT NULL
         ) ends",
        Vec::new(),
    )
}

/// One statement the host runs on every dispatch or listing, and the
/// database's plan for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// The statement, with `$n` parameters.
    pub statement: String,
    /// The plan, one line per step (`EXPLAIN QUERY PLAN` details on SQLite,
    /// `EXPLAIN` lines on PostgreSQL).
    pub plan: String,
}

impl SqlStore {
    /// The plans of the statements the scheduler runs on every dispatch
    /// (the claim of due workflows, passed deadlines, the next wake-up;
    /// explained, not run) and of the workflow
    /// listing under each kind of filter, with realistic parameters. On
    /// PostgreSQL sequential scans are disabled for the explanation, so a
    /// `Seq Scan` in a plan means no index can serve the statement (on a
    /// small table the planner would pick one anyway). For operators and for
    /// the tests that check that these statements are index range scans.
    ///
    /// # Errors
    /// [`Error::Database`] if the database fails.
    pub async fn query_plans(&self) -> Result<Vec<QueryPlan>> {
        let digest = Some(ComponentDigest::from_stored("sha256:0".into()));
        let list = |status, component: &Option<ComponentDigest>, before| WorkflowFilter {
            status,
            component: component.clone(),
            before,
            limit: 50,
            ..WorkflowFilter::default()
        };
        let statements = [
            Statement::new(
                self.claim.clone(),
                vec![Bind::Text(String::new()), Bind::Int(clock::now_ms()), Bind::Int(257)],
            ),
            deadlines_statement(clock::now_ms(), 257),
            next_due_statement(),
            list_statement(&list(None, &None, None)),
            list_statement(&list(None, &None, Some(1_000))),
            list_statement(&list(Some(WorkflowStatus::Sleeping), &None, Some(1_000))),
            list_statement(&list(None, &digest, Some(1_000))),
            list_statement(&list(Some(WorkflowStatus::Failed), &digest, None)),
        ];
        let mut tx = self.read.begin().await?;
        if self.postgres {
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
        }
        let mut plans = Vec::new();
        for statement in statements {
            let explain = if self.postgres { "EXPLAIN" } else { "EXPLAIN QUERY PLAN" };
            let explained = Statement::new(format!("{explain} {}", statement.sql), statement.binds.clone());
            let rows = explained.query().fetch_all(&mut *tx).await?;
            let column = if self.postgres { 0 } else { 3 };
            let lines: Vec<String> = rows.iter().map(|row| row.try_get(column)).collect::<Result<_, _>>()?;
            plans.push(QueryPlan { statement: statement.sql, plan: lines.join("\n") });
        }
        tx.rollback().await?;
        Ok(plans)
    }
}

fn component_from_row(row: &AnyRow) -> Result<ComponentRecord> {
    let kind: String = row.try_get("kind")?;
    Ok(ComponentRecord {
        digest: ComponentDigest::from_stored(row.try_get("digest")?),
        kind: ComponentKind::parse(&kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown component kind {kind:?}")))?,
        name: row.try_get("name")?,
        size_bytes: to_u64(row.try_get("size_bytes")?),
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn workflow_from_row(row: &AnyRow) -> Result<WorkflowRecord> {
    let status = parse_status(row.try_get("status")?)?;
    Ok(WorkflowRecord {
        id: WorkflowId::from_stored(row.try_get("id")?),
        component: ComponentDigest::from_stored(row.try_get("component")?),
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        error: row.try_get("error")?,
        wake_at_ms: row.try_get("wake_at_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        ordinal: row.try_get("ordinal")?,
        state: WorkflowState {
            status,
            next_seq: to_u64(row.try_get("next_seq")?),
            revision: to_u64(row.try_get("revision")?),
        },
        log_bytes: to_u64(row.try_get("log_bytes")?),
        parent: row.try_get::<Option<String>, _>("parent_id")?.map(WorkflowId::from_stored),
        waiting_on: parse_wait_set(row.try_get("waiting_on")?)?,
        cancel_requested_ms: row.try_get("cancel_requested_ms")?,
        deadline_ms: row.try_get("deadline_ms")?,
        owner: row.try_get::<Option<String>, _>("owner_host")?.map(HostId::from_stored),
        trace_parent: row.try_get("trace_parent")?,
        scheduled_by: match (row.try_get::<Option<String>, _>("schedule_id")?, row.try_get("nominal_ms")?) {
            (Some(schedule), Some(nominal_ms)) => Some(ScheduledBy { schedule, nominal_ms }),
            _ => None,
        },
    })
}

/// `text` without NUL characters, which PostgreSQL's TEXT cannot hold; the
/// same on SQLite so both backends store the same thing.
fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') { text.replace('\0', "\u{fffd}").into() } else { text.into() }
}

/// Unsigned quantities are stored in signed 64-bit columns; values past
/// `i64::MAX` (ns timestamps after 2262) saturate.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
