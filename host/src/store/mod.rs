//! Persistence: components, workflows, journals and logs.
//!
//! Everything above this layer talks to the [`Store`] trait, never to SQL. The
//! one implementation, [`SqlStore`], speaks the subset of SQL that SQLite and
//! PostgreSQL share through sqlx's `Any` driver; the backends differ only in
//! their migrations (`host/migrations/{sqlite,postgres}/`) and connection
//! set-up ([`connect`]), and in a few statements: PostgreSQL claims due
//! workflows with `FOR UPDATE SKIP LOCKED`, judges leases by its own clock,
//! and announces arrivals with `NOTIFY` once committed ([`ArrivalListener`]).
//!
//! Many hosts share one PostgreSQL database: each registers in `hosts` with
//! a lease, and owns the workflows it claimed until it commits their
//! suspension or end, releases them, or its lease expires and another host
//! reclaims them. SQLite is for one host ([`lock_single_host`]).
//!
//! This layer knows nothing of wasm. Journal payloads are written with the
//! [`journal::codec`](crate::journal::codec) and read back raw.

mod model;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{ComponentDigest, HostId, WorkflowId};

pub use model::{
    CancelOutcome, CommitEffects, ComponentKind, ComponentRecord, ComponentVersion, Created, Deletion,
    EventRecord, HostRecord, LogRecord, NewStart, NewWorkflow, OverlapPolicy, RetentionStep, RunCommit,
    ScheduleDefinition, ScheduleRecord, ScheduleSpec, ScheduleState, ScheduleStep, ScheduledBy, SignalRecord,
    SignalSent, StatusUpdate, StopWorkflow, StoredEntry, TickOutcome, TickRecord, WaitSet, WorkflowFilter,
    WorkflowRecord, WorkflowState, WorkflowStatus, Written,
};
pub use sql::{ArrivalListener, QueryPlan, SqlStore};

/// A failure of the database or of what it holds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The database could not be reached or refused a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row holds a value this build cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A run's commit found its workflow no longer in the state the run
    /// continued from: another run moved it on (or finished it). Nothing of
    /// the batch was written.
    #[error(
        "stale commit for workflow {workflow}: it continues from {expected}, but the workflow has moved on"
    )]
    Stale {
        /// The workflow.
        workflow: WorkflowId,
        /// The state the commit expected.
        expected: WorkflowState,
    },
    /// Another process holds the lock of a single-host database.
    #[error(
        "{path} is used by another duro host (pid {pid}); SQLite runs one host, use postgres://… for several"
    )]
    InUse {
        /// The database file.
        path: String,
        /// The other process, as its lock file says.
        pid: String,
    },
    /// The lock file of a single-host database cannot be opened.
    #[error("cannot open the lock file {path}: {source}")]
    LockFile {
        /// The lock file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// One failure reported to several callers (the runs of a failed group
    /// commit).
    #[error(transparent)]
    Shared(Arc<Error>),
}

impl Error {
    /// Whether the failure is the database being unreachable or overloaded
    /// (connection refused or lost, pool exhausted, too many connections,
    /// shutting down, locked, disk full or failing) rather than a fault of
    /// the request or the data: the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        let error = match self {
            Self::Database(error) => error,
            Self::Shared(error) => return error.is_unavailable(),
            _ => return false,
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            // SQLite: BUSY (5), LOCKED (6), IOERR (10), FULL (13); extended
            // codes keep the primary code in the low byte.
            sqlx::Error::Database(error)
                if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
            {
                error
                    .code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .is_some_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 13))
            }
            // PostgreSQL SQLSTATE classes 08 (connection), 53 (resources),
            // 57 (operator intervention), 55000 (database not accepting
            // connections), and 40001/40P01 (a serialization failure or a
            // deadlock: the transaction was rolled back and may be retried;
            // arrivals lock a workflow and its parent or children in orders
            // a group commit cannot keep).
            sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || matches!(code.as_ref(), "55000" | "40001" | "40P01")
            }),
            _ => false,
        }
    }
}

impl Error {
    /// Whether this is an [`Error::Stale`] commit.
    pub fn is_stale(&self) -> bool {
        match self {
            Self::Stale { .. } => true,
            Self::Shared(error) => error.is_stale(),
            _ => false,
        }
    }
}

/// Shorthand for results of this layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the host keeps in its database.
///
/// Every method that writes is atomic. Methods that read return `Ok(None)` (or
/// an empty list) for unknown ids rather than an error.
///
/// # Errors
/// Every method fails with [`Error::Database`] when the database does
/// ([`Error::is_unavailable`] tells whether retrying may help) and with
/// [`Error::Corrupt`] for a row this build cannot read; [`Store::commit`]
/// also with [`Error::Stale`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers (`SELECT 1`).
    async fn ping(&self) -> Result<()>;

    /// Deletes workflow `id` with its journal, logs, signals and events, if
    /// it has ended (any final status, `stuck` included).
    async fn delete_workflow(&self, id: &WorkflowId) -> Result<Deletion>;

    /// One step of a retention sweep: reads the next `limit` workflows by
    /// creation order after `after` (an ordinal; 0 to begin) and deletes,
    /// in one short transaction, those among them that ended before
    /// `before_ms` (ms since the Unix epoch) as `completed`, `failed`,
    /// `cancelled` or `terminated`, each with its journal, logs, signals and
    /// events. `stuck` workflows are kept: an upgrade can still save them.
    async fn delete_ended_before(&self, before_ms: i64, after: i64, limit: u32) -> Result<RetentionStep>;

    /// Deletes component `digest`, its bytes and its place in names'
    /// histories, if no workflow runs it. A name that pointed at it points
    /// at the latest other version pushed under it, or is removed.
    async fn delete_component(&self, digest: &ComponentDigest) -> Result<Deletion>;

    /// Creates schedule `record` unless one has its id: the new one, or the
    /// one that was there, untouched.
    async fn create_schedule(&self, record: &ScheduleRecord) -> Result<Created<ScheduleRecord>>;

    /// Schedule `id`, if there is one.
    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>>;

    /// Up to `limit` schedules in id order, after `after` if given.
    async fn list_schedules(&self, after: Option<&str>, limit: u32) -> Result<Vec<ScheduleRecord>>;

    /// Up to `limit` schedules due by `now_ms`, earliest first.
    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<ScheduleRecord>>;

    /// When the next schedule is due, if any is.
    async fn next_schedule_due(&self) -> Result<Option<i64>>;

    /// The database's clock, ms since the Unix epoch: what schedules are
    /// due by, as leases, so that hosts whose clocks differ agree on it.
    async fn database_now_ms(&self) -> Result<i64>;

    /// Applies `step` to schedule `id` in one transaction if the schedule is
    /// still at `step.expected_revision`: its new state, the workflows its
    /// ticks start (due now, for any host), the workflow it stops, and its
    /// history rows. A start whose id a workflow not of this tick has is
    /// recorded as skipped instead. The workflows started (or found under
    /// their ids) and those something arrived for, or `None`, with nothing
    /// written, if the schedule moved on or is gone.
    async fn step_schedule(&self, id: &str, step: &ScheduleStep) -> Result<Option<Written>>;

    /// The newest `limit` rows of schedule `id`'s history, newest first.
    async fn schedule_history(&self, id: &str, limit: u32) -> Result<Vec<TickRecord>>;

    /// Deletes schedule `id` and its history (not its workflows); whether
    /// there was one.
    async fn delete_schedule(&self, id: &str) -> Result<bool>;

    /// How many workflows there are of each status (statuses with none
    /// left out), of component `component` alone when given.
    async fn count_by_status(
        &self,
        component: Option<&ComponentDigest>,
    ) -> Result<Vec<(WorkflowStatus, u64)>>;

    /// The connection pools' use now, for metrics.
    fn pools(&self) -> Vec<crate::telemetry::metrics::PoolUse>;

    /// Whether only one host process may use this database (SQLite: `duro
    /// serve` holds [`lock_single_host`]), so every other host row belongs
    /// to a process known dead.
    fn single_host(&self) -> bool;

    /// Stores a component of `kind` under `digest` (idempotent) and, if
    /// `name` is given, points that name at it.
    ///
    /// Returns the record and whether the bytes were new.
    async fn put_component(
        &self,
        digest: &ComponentDigest,
        kind: ComponentKind,
        name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Created<ComponentRecord>>;

    /// Looks a component up by digest or by name.
    async fn component(&self, digest_or_name: &str) -> Result<Option<ComponentRecord>>;

    /// The bytes of the component with `digest`.
    async fn component_bytes(&self, digest: &ComponentDigest) -> Result<Option<Vec<u8>>>;

    /// All components, newest first.
    async fn list_components(&self) -> Result<Vec<ComponentRecord>>;

    /// Every digest pushed under `name`, the one it points at now first,
    /// then by when it was last pushed, newest first; empty for an unknown
    /// name.
    async fn component_versions(&self, name: &str) -> Result<Vec<ComponentVersion>>;

    /// Creates a workflow with status `running`, due now, or returns the
    /// existing one with the same id untouched: [`Store::start`] with no
    /// owner.
    async fn create_workflow(&self, new: &NewWorkflow) -> Result<Created<WorkflowRecord>> {
        self.start(&NewStart { workflow: new.clone(), owner: None }).await
    }

    /// [`Store::write`] of one start, in a transaction of its own: the
    /// workflow created, or the one that already had its id.
    ///
    /// # Errors
    /// As [`Store::write`].
    async fn start(&self, start: &NewStart) -> Result<Created<WorkflowRecord>> {
        let mut written = self.write(std::slice::from_ref(start), &[]).await?;
        written.started.pop().ok_or_else(|| Error::Corrupt("a start wrote no workflow".to_owned()))
    }

    /// One workflow.
    async fn workflow(&self, id: &WorkflowId) -> Result<Option<WorkflowRecord>>;

    /// Pins workflow `id` to `component` instead, if its revision is still
    /// `expected.revision` (so its journal is the one checked against
    /// `component`) and it has not ended, `stuck` aside. A new revision
    /// fences out any run of the old component. A `stuck` workflow becomes
    /// `running` with no error and a `running` one is released; both are due
    /// at once. A `sleeping` or `waiting` one stays as it is, to resume on
    /// the new component.
    ///
    /// Returns the record after, or `None` when the workflow changed, ended
    /// or is unknown.
    async fn upgrade(
        &self,
        id: &WorkflowId,
        expected: &WorkflowState,
        component: &ComponentDigest,
    ) -> Result<Option<WorkflowRecord>>;

    /// Workflows matching `filter`, newest first.
    async fn list_workflows(&self, filter: &WorkflowFilter) -> Result<Vec<WorkflowRecord>>;

    /// Registers host `host`, called `name` (its address, for people), with
    /// a lease of `ttl_ms` from now by the database's clock.
    async fn register_host(&self, host: &HostId, name: &str, ttl_ms: i64) -> Result<()>;

    /// Extends the lease of `host` to `ttl_ms` from now (the database's
    /// clock). Returns `false` if the lease had already expired or its row is
    /// gone: an expired lease is never revived, since another host may have
    /// taken its workflows over; the host must register anew.
    async fn renew_lease(&self, host: &HostId, ttl_ms: i64) -> Result<bool>;

    /// Deletes the hosts whose lease expired (with `sole`, every host but
    /// `sole`: a store only one host can open, whose previous process is
    /// known dead) and releases the workflows they owned: unowned, due now,
    /// a new revision, so a run of a host that lost its lease can commit
    /// nothing more. Workflows owned by a host whose row is gone (a start
    /// or claim that committed just after its host was reclaimed) are
    /// released the same way. Returns the released workflows. On
    /// PostgreSQL it gives up (an error) after waiting 2 s for a row lock.
    async fn reclaim(&self, sole: Option<&HostId>) -> Result<Vec<WorkflowId>>;

    /// Claims for `host` up to `limit` workflows that are due (`due_at_ms <=
    /// now_ms`, earliest first) and owned by nobody: each becomes `running`,
    /// owned by `host`, with a new revision; rows another host is claiming
    /// at the same moment are skipped, not waited for. Claims nothing unless
    /// the lease of `host` is live by the database's clock.
    async fn claim_due(&self, host: &HostId, now_ms: i64, limit: u32) -> Result<Vec<WorkflowRecord>>;

    /// Releases workflow `id` if `host` owns it: owned by nobody, due at
    /// `due_at_ms`, a new revision, with `note` (why its run could not
    /// proceed, shown as its `error` until it ends) if given. Returns whether
    /// `host` owned it.
    async fn release(
        &self,
        host: &HostId,
        id: &WorkflowId,
        due_at_ms: i64,
        note: Option<&str>,
    ) -> Result<bool>;

    /// The workflows `host` owns.
    async fn owned(&self, host: &HostId) -> Result<Vec<WorkflowId>>;

    /// Releases every workflow `host` owns (due now) and deletes its row:
    /// a graceful shutdown, after which other hosts take over at once.
    /// Returns the released workflows.
    async fn retire_host(&self, host: &HostId) -> Result<Vec<WorkflowId>>;

    /// The hosts whose lease is live, oldest first, with how many workflows
    /// each owns.
    async fn hosts(&self) -> Result<Vec<HostRecord>>;

    /// The earliest `due_at_ms` of any workflow nobody owns, or `deadline_ms`
    /// of any workflow.
    async fn next_due_at_ms(&self) -> Result<Option<i64>>;

    /// Workflows whose execution timeout (`deadline_ms`) has passed, earliest
    /// first, at most `limit`: an index range scan.
    async fn due_deadlines(&self, now_ms: i64, limit: u32) -> Result<Vec<WorkflowId>>;

    /// Acts on a passed execution timeout of `id`, if it has not ended and
    /// its deadline is still at or before `now_ms`: requests its
    /// cancellation (as [`Self::request_cancel`]) if nobody has, and moves
    /// the deadline to `grace_ms` after the request; once that has passed
    /// too, terminates it (as [`Self::terminate`]). Returns the workflows
    /// something arrived for.
    async fn expire(&self, id: &WorkflowId, now_ms: i64, grace_ms: i64) -> Result<Vec<WorkflowId>>;

    /// Appends signal `name` with `payload` (JSON text) to the inbox of
    /// workflow `id`, with the next arrival number, taken under the
    /// workflow row's lock so that arrival order is commit order. With an
    /// `idempotency_key` already used for this workflow, stores nothing and
    /// answers with the earlier signal. A `waiting` workflow that receives
    /// `name` becomes `running`.
    async fn send_signal(
        &self,
        id: &WorkflowId,
        name: &str,
        payload: &str,
        idempotency_key: Option<&str>,
    ) -> Result<SignalSent>;

    /// The first signal named `name` in the inbox of `id` that is not
    /// consumed and arrived after `after`.
    async fn next_signal(&self, id: &WorkflowId, name: &str, after: u64) -> Result<Option<SignalRecord>>;

    /// Event `key` of workflow `id`: its latest value.
    async fn event(&self, id: &WorkflowId, key: &str) -> Result<Option<crate::store::EventRecord>>;

    /// Listens for arrivals that any process announces on this database
    /// after committing them (PostgreSQL's `LISTEN`/`NOTIFY`, on a connection of its
    /// own); `None` on SQLite, where one process hears its own arrivals in
    /// memory.
    async fn arrivals(&self) -> Result<Option<ArrivalListener>>;

    /// The status of workflow `id` and when its cancellation was requested,
    /// if it was: a light read of what a waiting run looks at often.
    async fn status(&self, id: &WorkflowId) -> Result<Option<(WorkflowStatus, Option<i64>)>>;

    /// Child workflows of `id`, oldest first, at most `limit`.
    async fn children(&self, id: &WorkflowId, limit: u32) -> Result<Vec<WorkflowRecord>>;

    /// Requests cancellation of `id` and of its children that have not
    /// ended (and theirs). Idempotent. A suspended workflow that can be told
    /// becomes `running`. Returns what happened to `id` and the workflows
    /// something arrived for.
    async fn request_cancel(&self, id: &WorkflowId) -> Result<(CancelOutcome, Vec<WorkflowId>)>;

    /// Terminates `id` with `reason` as its error: status `terminated`, a new
    /// revision, so a run in flight can commit nothing more. Its children
    /// that have not ended are asked to cancel, and a parent waiting for it
    /// wakes. Idempotent. Returns what happened and the workflows something
    /// arrived for.
    async fn terminate(&self, id: &WorkflowId, reason: &str) -> Result<(CancelOutcome, Vec<WorkflowId>)>;

    /// Journal entries of `id` with `seq > after` (all when `None`), in
    /// `seq` order, at most `limit` and, past the first, at most `max_bytes`
    /// of payload in all.
    async fn journal(
        &self,
        id: &WorkflowId,
        after: Option<u64>,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<StoredEntry>>;

    /// Log lines of `id` with `ordinal > after`, oldest first, at most `limit`.
    async fn logs(&self, id: &WorkflowId, after: Option<i64>, limit: u32) -> Result<Vec<LogRecord>>;

    /// Applies the commits of several runs in one transaction (group commit):
    /// for each, compares the workflow's state with the one it continues from
    /// and sets the next ([`RunCommit::next_state`]), appends its journal
    /// entries and log lines, applies its [`CommitEffects`], and records its
    /// status. A checkpoint keeps the workflow owned by its host; a
    /// suspension gives it up, due at its timer (if any), and an end gives
    /// it up for good. A workflow that suspends while something it waits
    /// for has already arrived stays `running`, due now; one that ends
    /// wakes a parent waiting for it and asks its children still running to
    /// cancel. Ends and events set are announced to other hosts.
    ///
    /// Returns the workflows something arrived for (a woken parent, a child
    /// asked to cancel, a suspension that stayed `running`), so the caller
    /// can tell their runs or its scheduler.
    ///
    /// Text is stored with NUL characters replaced by U+FFFD, since
    /// PostgreSQL's TEXT cannot hold them.
    ///
    /// # Errors
    /// Any failure rolls back the whole batch. A workflow no longer in the
    /// expected state, or expected in a final state, is such a failure
    /// ([`Error::Stale`]), and so is an
    /// entry whose `(workflow, seq)` already exists: a journal is never
    /// written twice and a final status never changes.
    async fn commit(&self, batch: &[RunCommit]) -> Result<Vec<WorkflowId>> {
        Ok(self.write(&[], batch).await?.arrived)
    }

    /// Creates `starts` (each `running`, or the existing workflow with the
    /// same id returned untouched) and applies `commits` as
    /// [`Store::commit`] does, all in one transaction: starts that arrive
    /// together share one flush with each other and with the runs'
    /// commits.
    ///
    /// # Errors
    /// As [`Store::commit`]; nothing is written.
    async fn write(&self, starts: &[NewStart], commits: &[RunCommit]) -> Result<Written>;
}

/// The lock a `duro serve` holds for its whole life on a single-host
/// database; released when dropped, and by the kernel when the process dies
/// (`kill -9` included), so a restart never waits for it.
#[derive(Debug)]
pub struct HostLock {
    _file: std::fs::File,
}

/// Takes the lock of the SQLite database at `url` (an exclusive lock on
/// `<file>.lock`, holding this process's id), so that a second host on the
/// same file is refused instead of running the same workflows; `None` for
/// PostgreSQL, where many hosts share one database, and for in-memory
/// SQLite. Network filesystems are not supported.
///
/// # Errors
/// [`Error::InUse`] naming the other process; [`Error::LockFile`] if the
/// lock file cannot be opened or written.
pub fn lock_single_host(url: &str) -> Result<Option<HostLock>> {
    use std::io::{Read, Seek, Write};
    let Some(path) = url.strip_prefix("sqlite:") else { return Ok(None) };
    let path = path.trim_start_matches("//");
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if path == ":memory:" {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let io = |source| Error::LockFile { path: lock_path.clone(), source };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(Error::InUse { path: path.to_owned(), pid: pid.trim().to_owned() });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(io(error)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(Some(HostLock { _file: file }))
}

/// Connects to the database at `url` and applies pending migrations.
///
/// `url` is `sqlite://PATH` (the file is created if missing; `sqlite::memory:`
/// works for tests) or `postgres://…`/`postgresql://…`.
///
/// # Errors
/// [`Error::UnsupportedUrl`] for other schemes; [`Error::Database`] if the
/// database cannot be reached; [`Error::Migrate`] if its schema cannot be
/// brought up to date (for example a newer duro migrated it).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}
