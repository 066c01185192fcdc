//! The runtime: which workflow runs when.
//!
//! [`Runtime`] owns the executor, the store and four background pieces:
//!
//! - the heartbeat (`lease`) registers the host among the hosts on its
//!   database, renews its lease, and reclaims the workflows of dead hosts;
//! - the scheduler (`scheduler`) claims due workflows that nobody owns (new
//!   ones, woken ones, fired timers, what a dead host or a previous process
//!   left), earliest due first; a sleeping workflow is a row with a
//!   `due_at`, not a task;
//! - each run (`run`) prepares the component once, replays the workflow's
//!   journal in the executor, commits checkpoints as it goes, and hands its
//!   [`RunReport`](crate::executor::RunReport) to the committer; a commit
//!   the database could not take now is retried with backoff;
//! - the committer (`committer`) writes the commits of concurrent runs in
//!   one transaction (group commit), each compared and set against the
//!   state its run continued from.
//!
//! Shutdown cancels the scheduler and the runs in flight (a run replays from
//! its last commit, here or on another host), waits for the tasks, and
//! releases the lease.

mod committer;
mod components;
mod inbox;
mod lease;
mod retention;
mod run;
mod scheduler;
pub mod schedules;
mod stats;
mod upgrade;
mod watchers;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::stats::Stats;
pub use self::upgrade::{CheckedComponent, ReplayReport};

use self::committer::Committer;
use self::inbox::Arrivals;
use self::stats::Counters;
use crate::engine::{self, Engine, EngineLimits};
pub use crate::executor::Waiting;
use crate::executor::{self, Executor, ExecutorConfig};
use crate::ids::{ComponentDigest, HostId, WorkflowId};
use crate::journal::{Call, Divergence, Entry, Outcome};
use crate::store::{
    self, CancelOutcome, ComponentRecord, Created, Deletion, EventRecord, HostRecord, NewWorkflow,
    SignalSent, Store, StoredEntry, WorkflowRecord, WorkflowStatus,
};

/// How long [`Runtime::shutdown`] waits for runs to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Limits of every workflow instance; `max_instances` also caps how many
    /// workflows run at once.
    pub limits: EngineLimits,
    /// How runs are executed: inline sleeps, budgets, checkpoints, the
    /// compiled-component cache.
    pub executor: ExecutorConfig,
    /// How long a workflow cancelled by its execution timeout has to end
    /// before it is terminated (default 30 s).
    pub timeout_grace: Duration,
    /// The time to live of the host's lease (default 10 s): how long after
    /// a host dies (`kill -9`, a lost network) other hosts wait before
    /// taking its runs over. Renewed every fifth of it.
    pub lease_ttl: Duration,
    /// The host's name for people, in `GET /v1/hosts`: its API address.
    pub host_name: String,
    /// Where compiled components are kept across processes (an absolute
    /// path), or `None` to compile every component anew in each process
    /// (the default).
    pub compile_cache: Option<PathBuf>,
    /// How long ended workflows are kept, from when they ended; `None`
    /// (the default) keeps them for ever. See `retention.rs`.
    pub retention: Option<Duration>,
}

/// The default [`RuntimeConfig::timeout_grace`].
pub const DEFAULT_TIMEOUT_GRACE: Duration = Duration::from_secs(30);
/// The default [`RuntimeConfig::lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// Errors of runtime operations, each a distinct answer for the API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No component has this digest or name (as given: a long one is cut
    /// in the message).
    #[error("no component has digest or name {:?}", crate::ids::shown(.0))]
    UnknownComponent(String),
    /// No workflow has this id (as given: a long one is cut in the message).
    #[error("no workflow has id {:?}", crate::ids::shown(.0))]
    UnknownWorkflow(String),
    /// A caller-chosen workflow id breaks the id rules.
    #[error("invalid workflow id: {0}")]
    InvalidWorkflowId(String),
    /// The workflow has ended: it takes no signals and cannot be cancelled.
    #[error("workflow {id} has ended with status {}", status.as_str())]
    WorkflowEnded {
        /// The workflow.
        id: WorkflowId,
        /// Its final status.
        status: WorkflowStatus,
    },
    /// The workflow's journal does not replay on the component it was to
    /// move to: nothing changed.
    #[error("workflow {id} cannot move to this component: {divergence}")]
    ReplayDiverged {
        /// The workflow.
        id: WorkflowId,
        /// Where and how the new component's calls differ from the journal.
        divergence: Box<crate::journal::Nondeterminism>,
    },
    /// The component trapped (or ran out of replay CPU) while replaying the
    /// workflow's journal: nothing changed.
    #[error("workflow {id} cannot move to this component: its replay failed: {error}")]
    ReplayFailed {
        /// The workflow.
        id: WorkflowId,
        /// How the replay failed.
        error: String,
    },
    /// The workflow committed progress during every replay check of an
    /// upgrade; nothing changed, and the upgrade may be repeated.
    #[error("workflow {0} kept moving on while its journal was checked; try again")]
    WorkflowChanged(WorkflowId),
    /// The workflow has not ended, so it cannot be deleted.
    #[error("workflow {id} has not ended (it is {}): cancel or terminate it first", status.as_str())]
    WorkflowNotFinal {
        /// The workflow.
        id: WorkflowId,
        /// Its status.
        status: WorkflowStatus,
    },
    /// Workflows run this component, so it cannot be deleted.
    #[error("workflows run component {0}: delete them first")]
    ComponentInUse(ComponentDigest),
    /// A workflow with this id exists with another component or input.
    #[error("workflow {0} already exists with a different component or input")]
    WorkflowIdConflict(WorkflowId),
    /// No schedule has this id (as given: a long one is cut in the message).
    #[error("no schedule has id {:?}", crate::ids::shown(.0))]
    UnknownSchedule(String),
    /// A schedule's id, spec, policies or note break the rules (the message
    /// says which).
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
    /// A schedule with this id exists with another definition.
    #[error("schedule {0} already exists with a different definition")]
    ScheduleIdConflict(String),
    /// Other hosts kept changing the schedule while it was paused, resumed
    /// or triggered; nothing changed, and the request may be repeated.
    #[error("schedule {0} kept changing; try again")]
    ScheduleChanged(String),
    /// Uploaded bytes are not a workflow component: not wasm, a core module,
    /// invalid, another world, or too big for the instance limits.
    #[error("{0}")]
    InvalidComponent(String),
    /// Every instance slot is busy with running workflows; try again.
    #[error("every instance slot is busy with running workflows")]
    NoInstanceSlot,
    /// The host is shutting down and takes no more work.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The executor failed for a host-side reason (linking, a compilation
    /// thread that died).
    #[error(transparent)]
    Executor(executor::Error),
    /// A run could not proceed for a host-side reason (a trap or the CPU
    /// budget during replay, an activity the host could not prepare): the
    /// run is retried later.
    #[error("{0}")]
    HostSide(String),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] engine::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] Arc<store::Error>),
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            limits: EngineLimits::default(),
            executor: ExecutorConfig::default(),
            timeout_grace: DEFAULT_TIMEOUT_GRACE,
            lease_ttl: DEFAULT_LEASE_TTL,
            host_name: String::new(),
            compile_cache: None,
            retention: None,
        }
    }
}

impl From<executor::Error> for Error {
    /// Sorts executor errors by who is at fault: the component, or the host.
    fn from(error: executor::Error) -> Self {
        use executor::Error as E;
        match error {
            E::Compile(_) | E::WrongWorld(_) | E::Instantiate(_) | E::CompileTimeout { .. } => {
                Self::InvalidComponent(error.to_string())
            }
            E::NoInstanceSlot => Self::NoInstanceSlot,
            E::Link(_)
            | E::HttpClient(_)
            | E::CompileInterrupted(_)
            | E::CorruptJournal { .. }
            | E::CpuLimit { .. }
            | E::OversizeRequest(_)
            | E::InvalidCall(_)
            | E::ReplayCpuLimit { .. }
            | E::Budget(_) => Self::Executor(error),
        }
    }
}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        Self::Store(Arc::new(error))
    }
}

/// The running host; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// Names and digests of components, resolved through a short-lived cache.
    components: components::ComponentLookup,
    executor: Executor,
    committer: Committer,
    /// Runs in flight as others reach them, and the scheduler's nudge (a
    /// workflow was started or woken, a run ended).
    arrivals: Arc<Arrivals>,
    /// Announces each workflow that reaches a final status to result
    /// waiters (and each that another host's commit announced: they read
    /// the store again).
    settled: watchers::Watchers,
    /// Announces each workflow whose events a commit set, to event waiters
    /// (likewise).
    events_set: watchers::Watchers,
    /// Told when a schedule is created or resumed here, so that the
    /// schedule loop looks at once.
    schedules_changed: tokio::sync::Notify,
    /// See [`RuntimeConfig::timeout_grace`].
    timeout_grace: Duration,
    /// This process's identity among the hosts, and its lease.
    lease: lease::Lease,
    /// See [`RuntimeConfig::host_name`].
    host_name: String,
    /// One permit per workflow allowed to run at once.
    run_slots: Arc<Semaphore>,
    /// How many permits `run_slots` has in all.
    run_slot_count: usize,
    /// Workflows with a run in flight in this process.
    active: Mutex<HashSet<WorkflowId>>,
    /// What runs in flight wait on (an effect in flight, a backoff in
    /// memory), for the API.
    waiting: Mutex<HashMap<WorkflowId, Waiting>>,
    /// Workflows whose last run here failed for a host-side reason: when
    /// they may run again (also their `due_at` in the store), and how many
    /// times in a row that happened.
    backoff: Mutex<HashMap<WorkflowId, run::Backoff>>,
    /// Set by the scheduler when due workflows wait for an instance slot:
    /// runs then give up their slot at their next inline wait.
    slots_contended: AtomicBool,
    /// Set by the scheduler when it needs a run to end before it can go on
    /// (every slot was busy, or it gave back a claimed workflow whose
    /// previous run here had not left yet): the next run to leave, any
    /// run, nudges it.
    redispatch: AtomicBool,
    /// Serialises preparing one component (fetching its bytes, compiling):
    /// runs of a component not yet compiled, say at recovery, fetch and
    /// compile it once, while other components prepare beside it.
    preparing: Mutex<HashMap<ComponentDigest, Arc<tokio::sync::Mutex<()>>>>,
    counters: Counters,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// The heartbeat, which outlives the other tasks at shutdown so the
    /// lease holds until it is released.
    heartbeat: TaskTracker,
    heartbeat_stop: CancellationToken,
}

impl Runtime {
    /// Builds the engine and starts the heartbeat, the scheduler and the
    /// committer. The host registers itself in the background (retrying
    /// while the database is unreachable) and claims work once it holds its
    /// lease: every workflow that is due and owned by no live host, so also
    /// what a previous process left (at once on SQLite; on PostgreSQL once
    /// that process's lease expires).
    ///
    /// # Errors
    /// [`Error::Engine`] or [`Error::Executor`] if wasmtime cannot be set up.
    pub fn start(store: Arc<dyn Store>, config: RuntimeConfig) -> Result<Self, Error> {
        let engine = Engine::new(config.limits, config.compile_cache.as_deref())?;
        let executor = Executor::new(engine, config.executor)?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let arrivals = Arc::new(Arrivals::default());
        let committer = Committer::spawn(store.clone(), arrivals.clone());
        let inner = Arc::new(Inner {
            components: components::ComponentLookup::new(store.clone()),
            store,
            executor,
            committer,
            arrivals,
            settled: watchers::Watchers::default(),
            schedules_changed: tokio::sync::Notify::new(),
            events_set: watchers::Watchers::default(),
            timeout_grace: config.timeout_grace,
            lease: lease::Lease::new(config.lease_ttl),
            host_name: config.host_name,
            run_slots: Arc::new(Semaphore::new(config.limits.max_instances as usize)),
            run_slot_count: config.limits.max_instances as usize,
            active: Default::default(),
            waiting: Default::default(),
            backoff: Default::default(),
            slots_contended: AtomicBool::new(false),
            redispatch: AtomicBool::new(false),
            preparing: Default::default(),
            counters: Counters::default(),
            shutdown,
            tasks,
            heartbeat: TaskTracker::new(),
            heartbeat_stop: CancellationToken::new(),
        });
        inner.heartbeat.spawn(lease::heartbeat(inner.clone(), inner.heartbeat_stop.clone()));
        inner.tasks.spawn(lease::reclaimer(inner.clone()));
        inner.tasks.spawn(scheduler::run(inner.clone()));
        inner.tasks.spawn(inbox::listen(inner.clone()));
        inner.tasks.spawn(schedules::run(inner.clone()));
        if let Some(period) = config.retention {
            inner.tasks.spawn(retention::sweep(inner.clone(), period));
        }
        Ok(Self { inner })
    }

    /// The store, for reads.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// Counters of what the host has done since it started, and what it holds.
    pub fn stats(&self) -> Stats {
        let (compiled_components, compiled_bytes) = self.inner.executor.compiled_usage();
        let counters = self.inner.counters.snapshot(
            self.inner.lock_active().len(),
            run::backing_off(&self.inner),
            compiled_components,
            compiled_bytes,
        );
        Stats {
            transactions: self.inner.committer.transactions(),
            live_instances: self.inner.executor.live_instances(),
            compile_cache: self.inner.executor.compile_cache_stats(),
            ..counters
        }
    }

    /// Deletes workflow `id`, which has ended, with its journal, logs,
    /// signals and events.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::WorkflowNotFinal`],
    /// [`Error::Store`].
    pub async fn delete_workflow(&self, id: &str) -> Result<(), Error> {
        let unknown = || Error::UnknownWorkflow(id.to_owned());
        let workflow_id = WorkflowId::parse(id).map_err(|_| unknown())?;
        match self.inner.store.delete_workflow(&workflow_id).await? {
            Deletion::Deleted => {
                tracing::info!(workflow = %workflow_id, "workflow deleted");
                Ok(())
            }
            Deletion::NotFound => Err(unknown()),
            Deletion::InUse(status) => Err(Error::WorkflowNotFinal {
                id: workflow_id,
                status: status.unwrap_or(WorkflowStatus::Running),
            }),
        }
    }

    /// Deletes component `digest`, which no workflow runs. (Activities are
    /// called by name or digest from inside workflows, which the host does
    /// not track: a workflow that calls a deleted activity gets a
    /// non-retryable error.)
    ///
    /// # Errors
    /// [`Error::UnknownComponent`] (also for a name: deletes take digests),
    /// [`Error::ComponentInUse`], [`Error::Store`].
    pub async fn delete_component(&self, digest: &str) -> Result<(), Error> {
        let unknown = || Error::UnknownComponent(digest.to_owned());
        let parsed = ComponentDigest::parse(digest).ok_or_else(unknown)?;
        let deleted = self.inner.store.delete_component(&parsed).await?;
        // A name may point elsewhere now, whatever happened.
        self.inner.components.forget();
        match deleted {
            Deletion::Deleted => {
                tracing::info!(component = %parsed, "component deleted");
                Ok(())
            }
            Deletion::NotFound => Err(unknown()),
            Deletion::InUse(_) => Err(Error::ComponentInUse(parsed)),
        }
    }

    /// What `/metrics` shows now: the workflows by status (a read of the
    /// database), the connection pools, and [`Runtime::stats`].
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn metrics_snapshot(&self) -> Result<crate::telemetry::metrics::Snapshot, Error> {
        let workflows = self.inner.store.count_by_status(None).await?;
        let stats = self.stats();
        Ok(crate::telemetry::metrics::Snapshot {
            workflows: workflows.into_iter().map(|(status, count)| (status.as_str(), count)).collect(),
            pools: self.inner.store.pools(),
            run_slots: self.inner.run_slot_count,
            runs_in_flight: stats.runs_in_flight,
            live_instances: stats.live_instances,
            backing_off: stats.workflows_backing_off,
            compiled_components: stats.compiled_components,
            compiled_bytes: stats.compiled_bytes,
            commits: stats.commits,
            checkpoints: stats.checkpoints,
            commit_retries: stats.commit_retries,
            stale_commits: stats.stale_commits,
            failed_commits: stats.failed_commits,
            host_retries: stats.host_retries,
        })
    }

    /// Validates `bytes` as a workflow component, compiles it (so the first run
    /// need not) and stores it under its digest, pointing `name` at it if given.
    ///
    /// # Errors
    /// [`Error::InvalidComponent`] saying what is wrong with the bytes;
    /// [`Error::Executor`] for a host-side failure; [`Error::Store`].
    pub async fn register_component(
        &self,
        bytes: Bytes,
        name: Option<&str>,
    ) -> Result<Created<ComponentRecord>, Error> {
        let digest = ComponentDigest::of(&bytes);
        let prepared = self.inner.executor.prepare(&digest, bytes.clone()).await?;
        let created = self.inner.store.put_component(&digest, prepared.kind(), name, &bytes).await;
        self.inner.components.forget();
        Ok(created?)
    }

    /// Starts a workflow running `component` (a digest or a name, resolved
    /// now and pinned) on `input`, under `id` or a generated id, with an
    /// execution `timeout` if given: once it passes the workflow is
    /// cancelled, and terminated if it has not ended after the grace period.
    ///
    /// Starting is idempotent by id: the same id with the same component and
    /// input returns the existing workflow as [`Created::Existing`].
    ///
    /// # Errors
    /// [`Error::UnknownComponent`], [`Error::InvalidWorkflowId`],
    /// [`Error::WorkflowIdConflict`], [`Error::Store`].
    pub async fn start_workflow(
        &self,
        component: &str,
        input: &serde_json::Value,
        id: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Created<WorkflowRecord>, Error> {
        let id = match id {
            Some(id) => WorkflowId::parse(id).map_err(Error::InvalidWorkflowId)?,
            None => WorkflowId::generate(),
        };
        let component = self.inner.components.resolve_workflow(component).await?;
        let deadline_ms = timeout.map(|timeout| {
            let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
            crate::clock::now_ms().saturating_add(timeout_ms)
        });
        let new = NewWorkflow {
            id,
            component: component.digest,
            input: input.to_string(),
            parent: None,
            deadline_ms,
            trace_parent: crate::telemetry::traces::current_traceparent(),
            scheduled_by: None,
        };
        let created = scheduler::start(&self.inner, &new).await?;
        if let Created::Existing(existing) = &created {
            let same_input =
                serde_json::from_str::<serde_json::Value>(&existing.input).ok().as_ref() == Some(input);
            if existing.component != new.component || !same_input {
                return Err(Error::WorkflowIdConflict(new.id));
            }
        }
        Ok(created)
    }

    /// Replays workflow `id`'s journal against `component` and says whether
    /// it replays cleanly, or where it diverges; changes nothing (bytes
    /// given for the check are compiled, not stored).
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::UnknownComponent`],
    /// [`Error::InvalidComponent`], [`Error::NoInstanceSlot`],
    /// [`Error::HostSide`] for a journal that cannot be read,
    /// [`Error::Store`].
    pub async fn check_replay(
        &self,
        id: &WorkflowId,
        component: CheckedComponent,
    ) -> Result<ReplayReport, Error> {
        upgrade::check(&self.inner, id, component).await
    }

    /// Moves workflow `id` (running, sleeping, waiting or stuck) to the
    /// stored `component` (a digest or a name) if its journal replays
    /// cleanly on it. A stuck workflow then runs again. Idempotent: a
    /// workflow already on `component` (and not stuck) is returned as is.
    ///
    /// # Errors
    /// [`Error::ReplayDiverged`] or [`Error::ReplayFailed`] when the journal
    /// does not replay (nothing changed); [`Error::WorkflowEnded`];
    /// [`Error::WorkflowChanged`] when the workflow kept committing during
    /// the checks; as [`Self::check_replay`] otherwise.
    pub async fn upgrade(&self, id: &WorkflowId, component: &str) -> Result<WorkflowRecord, Error> {
        upgrade::upgrade(&self.inner, id, component).await
    }

    /// The workflow `id` once its status is final, or as it is when the wait
    /// ends: after `wait`, when shutdown begins, or when no more workflows can
    /// settle. The record is read from the store after the wait ends, never
    /// from before it.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::Store`].
    pub async fn wait_final(&self, id: &WorkflowId, wait: Duration) -> Result<WorkflowRecord, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        let watch = self.inner.settled.watch(id);
        let mut wait_ended = false;
        loop {
            // Before reading, so a workflow settling in between is seen.
            let settled = watch.notified();
            let record =
                self.inner.store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
            // A record read once the deadline has passed is as it is when the
            // wait ends, so `wait=0` reads only once.
            if record.state.status.is_final() || wait_ended || tokio::time::Instant::now() >= deadline {
                return Ok(record);
            }
            // Read the store again when this workflow settled, and one last
            // time when the wait ends.
            wait_ended = tokio::select! {
                () = settled => false,
                () = tokio::time::sleep_until(deadline) => true,
                () = self.inner.shutdown.cancelled() => true,
            };
        }
    }

    /// Journal entries of workflow `id` with `seq > after` (from the start
    /// when `None`), in order, at most `limit` and, past the first, at most
    /// `max_bytes` of stored payload.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`]; [`Error::Store`], including a payload that
    /// does not decode.
    pub async fn journal(
        &self,
        id: &WorkflowId,
        after: Option<u64>,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, Error> {
        let store = &self.inner.store;
        store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
        Ok(StoredEntry::decode_all(&store.journal(id, after, limit, max_bytes).await?)?)
    }

    /// Where a `stuck` workflow's replay diverged, read back from its error
    /// and the call its journal holds at that seq; `None` for any other
    /// workflow, or an error that is not a divergence's.
    ///
    /// # Errors
    /// [`Error::Store`] if the journal entry cannot be read.
    pub async fn divergence(&self, record: &WorkflowRecord) -> Result<Option<Divergence>, Error> {
        let message = match (&record.error, record.state.status) {
            (Some(message), WorkflowStatus::Stuck) => message,
            _ => return Ok(None),
        };
        let Some(seq) = Divergence::seq_in(message) else {
            return Ok(None);
        };
        let entries = StoredEntry::decode_all(
            &self.inner.store.journal(&record.id, seq.checked_sub(1), 1, u64::MAX).await?,
        )?;
        Ok(entries
            .first()
            .filter(|entry| entry.seq == seq)
            .and_then(|entry| Divergence::read(message, &entry.call)))
    }

    /// What workflow `record` waits on, if it is not final and waits on an
    /// effect: an attempt in flight or a backoff in a run of this process,
    /// or, for a sleeping workflow, the backoff its last journal entry
    /// schedules.
    ///
    /// # Errors
    /// [`Error::Store`] if the last entry cannot be read.
    pub async fn waiting_on(&self, record: &WorkflowRecord) -> Result<Option<Waiting>, Error> {
        if let Some(waiting) = lock(&self.inner.waiting).get(&record.id) {
            return Ok(Some(waiting.clone()));
        }
        let last = record.state.next_seq.checked_sub(2);
        if record.state.status != WorkflowStatus::Sleeping || record.state.next_seq == 0 {
            return Ok(None);
        }
        let entries =
            StoredEntry::decode_all(&self.inner.store.journal(&record.id, last, 1, u64::MAX).await?)?;
        Ok(entries.into_iter().next().and_then(|entry| match (entry.call, entry.outcome) {
            (Call::Http { request, attempt }, Outcome::Http(outcome)) => {
                outcome.retry_at_ns.map(|at| Waiting {
                    effect: request.to_string(),
                    attempt: attempt + 1,
                    max_attempts: request.retry.as_ref().map_or(1, |policy| policy.maximum_attempts),
                    next_attempt_at_ns: Some(at),
                })
            }
            _ => None,
        }))
    }

    /// Sends signal `name` with `payload` to workflow `id`: stored durably
    /// (then the workflow's run, or the scheduler, is told). With an
    /// `idempotency_key` used before for this workflow, nothing new is
    /// stored and the earlier signal's arrival number is returned.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::WorkflowEnded`], [`Error::Store`].
    pub async fn signal(
        &self,
        id: &WorkflowId,
        name: &str,
        payload: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<(u64, bool), Error> {
        match self.inner.store.send_signal(id, name, &payload.to_string(), idempotency_key).await? {
            SignalSent::Stored { arrival, new } => {
                self.inner.arrivals.poke(std::slice::from_ref(id));
                Ok((arrival, new))
            }
            SignalSent::UnknownWorkflow => Err(Error::UnknownWorkflow(id.to_string())),
            SignalSent::Final(status) => Err(Error::WorkflowEnded { id: id.clone(), status }),
        }
    }

    /// Asks workflow `id` to cancel: its current or next `wait-any` tells
    /// it, and it ends `cancelled` when `run` returns. With `force`, it is
    /// terminated at once instead, without its cooperation. Either way its
    /// children still running are asked to cancel. Idempotent; returns the
    /// workflow as it is then.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::WorkflowEnded`], [`Error::Store`].
    pub async fn cancel(&self, id: &WorkflowId, force: bool) -> Result<WorkflowRecord, Error> {
        let (outcome, arrived) = if force {
            self.inner.store.terminate(id, "terminated by request").await?
        } else {
            self.inner.store.request_cancel(id).await?
        };
        match outcome {
            CancelOutcome::Done => {}
            CancelOutcome::UnknownWorkflow => return Err(Error::UnknownWorkflow(id.to_string())),
            CancelOutcome::Final(status) => return Err(Error::WorkflowEnded { id: id.clone(), status }),
        }
        if force {
            self.inner.terminated(id);
        }
        self.inner.arrivals.poke(&arrived);
        self.inner.store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))
    }

    /// Event `key` of workflow `id`: its latest value, or, if it has none
    /// yet, the first value set within `wait` (`None` if none was, or the
    /// workflow ended without setting it, or shutdown began).
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::Store`].
    pub async fn event(
        &self,
        id: &WorkflowId,
        key: &str,
        wait: Duration,
    ) -> Result<Option<EventRecord>, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        let set = self.inner.events_set.watch(id);
        let settled = self.inner.settled.watch(id);
        loop {
            // Before reading, so an event set in between is seen.
            let (set_now, settled_now) = (set.notified(), settled.notified());
            let record =
                self.inner.store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
            if let Some(event) = self.inner.store.event(id, key).await? {
                return Ok(Some(event));
            }
            if record.state.status.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            // Read again when this workflow set an event or ended, and one
            // last time when the wait ends.
            let ended = tokio::select! {
                () = set_now => false,
                () = settled_now => false,
                () = tokio::time::sleep_until(deadline) => true,
                () = self.inner.shutdown.cancelled() => true,
            };
            if ended {
                return Ok(self.inner.store.event(id, key).await?);
            }
        }
    }

    /// The children of workflow `id`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn children(&self, id: &WorkflowId, limit: u32) -> Result<Vec<WorkflowRecord>, Error> {
        Ok(self.inner.store.children(id, limit).await?)
    }

    /// Begins shutdown: stops scheduling, cancels runs in flight (they replay
    /// at the next start), and ends result waits with the current status.
    /// Idempotent; [`Self::shutdown`] also waits for everything to stop.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Shuts down: [`Self::begin_shutdown`], then waits up to 10 s for the
    /// runs to stop and up to 10 s more to commit what they finished, then
    /// releases the host's lease (up to 10 s), so other hosts take its
    /// workflows over at once rather than after the lease's TTL.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        self.inner.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.inner.tasks.wait()).await.is_err() {
            tracing::warn!("runs still in flight after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
        self.inner.committer.close(SHUTDOWN_GRACE).await;
        self.inner.heartbeat_stop.cancel();
        self.inner.heartbeat.close();
        self.inner.heartbeat.wait().await;
        if tokio::time::timeout(SHUTDOWN_GRACE, lease::retire(&self.inner)).await.is_err() {
            tracing::warn!(
                "cannot release the lease in {SHUTDOWN_GRACE:?}; other hosts take over once it expires"
            );
        }
    }

    /// This host's id among the hosts on its database (new at every start,
    /// and whenever the host lost its lease).
    pub fn host(&self) -> HostId {
        self.inner.lease.host()
    }

    /// The live hosts on this host's database, oldest first, with how many
    /// workflows each runs now, and this host's id among them.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn hosts(&self) -> Result<(Vec<HostRecord>, HostId), Error> {
        Ok((self.inner.store.hosts().await?, self.inner.lease.host()))
    }
}

impl Inner {
    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashSet<WorkflowId>> {
        lock(&self.active)
    }

    /// Something happened to workflow `id`, as a commit of some process
    /// announced: its run here, the scheduler, and the result and event
    /// waiters look again. A run here of a workflow terminated through
    /// another host stops at once, as it would had it been terminated here.
    async fn heard(&self, id: WorkflowId) {
        if self.arrivals.runs(&id)
            && let Ok(Some((WorkflowStatus::Terminated, _))) = self.store.status(&id).await
        {
            self.arrivals.terminate(&id);
        }
        self.arrivals.poke(std::slice::from_ref(&id));
        self.events_set.tell(&id);
        self.settled.tell(&id);
    }

    /// Workflow `id` was terminated: its run in flight stops, and result
    /// waiters hear of it.
    fn terminated(&self, id: &WorkflowId) {
        self.arrivals.terminate(id);
        self.settled.tell(id);
        tracing::info!(workflow = %id, "workflow terminated");
    }
}

/// Locks one of the runtime's std mutexes. Each is held only for a map or
/// set operation, never across an `.await`, and a panic elsewhere cannot
/// leave a map half-updated, so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
