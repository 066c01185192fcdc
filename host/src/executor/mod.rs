//! One run of one workflow: instantiate its component in a fresh wasmtime
//! `Store`, replay its journal, continue live until it completes, fails,
//! diverges or suspends on a timer, and hand back what the run recorded.
//!
//! - [`Executor`] holds the linker and the prepared (compiled, linked,
//!   type-checked) components, cached by digest (least recently used evicted
//!   past a memory budget) so a component is compiled once while in use.
//! - [`RunReport`] is what a run leaves: its [`RunOutcome`] plus the entries and
//!   log lines it recorded live since its last checkpoint, which the caller
//!   commits.
//! - [`Checkpointer`] is how a run commits progress before it ends.
//!
//! Every run is bounded whatever its guest does: memory (instance memory,
//! journal and log budgets, host resources), live CPU time and replay CPU
//! time, and the bytes and time of each host call. The executor never touches
//! the database: the runtime loads the journal and commits checkpoints and
//! reports, so every durable write goes through one place.

mod activities;
mod activity_host;
mod activity_http;
mod bindings;
mod cache;
mod checkpoint;
mod cpu;
mod effect;
mod host;
mod http;
mod inbox;
mod journal_handle;
mod waits;
mod wasi;
mod workflow_http;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker, ResourceTable, ResourceTableError};
use wasmtime::{StoreLimitsBuilder, UpdateDeadline};

pub use self::checkpoint::{ActivityUnavailable, CheckpointError, CheckpointPolicy, Checkpointer, Waiting};
pub use self::host::Suspension;
pub use self::inbox::{ChildAdmission, EndedChild, Inbox, InboxError, InboxSignal};
pub use self::wasi::WRITE_PERMIT_BYTES;

use self::activity_host::{ActivityHost, ActivityState};
use self::bindings::activity::ActivityPre;
use self::bindings::{Workflow, WorkflowPre, v0_1};
use self::cache::CompiledCache;
use self::cpu::CpuMeter;
use self::host::{Abandon, HostFailure, LiveInstances, RunDeps, RunSettings, RunState, Suspend};
use self::journal_handle::JournalHandle;
use crate::effects::{HttpClient, HttpConfig, http::ClientError};
use crate::engine::{self, CompileCacheStats, Engine};
use crate::ids::ComponentDigest;
use crate::journal::{Budget, BudgetExceeded, Call, Cursor, Entry, LogLine, Nondeterminism, Outcome, Usage};
use crate::store::ComponentKind;

/// Why a component cannot run, or why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid component.
    #[error(transparent)]
    Compile(#[from] engine::Error),
    /// The component is valid but does not implement `duro:workflow/workflow`
    /// (an import the host does not provide, or no fitting `run` export).
    #[error("the component does not implement the duro:workflow/workflow world: {0}")]
    WrongWorld(String),
    /// The component cannot be instantiated (for example it needs more core
    /// instances, memories or tables than a workflow may have, or its start
    /// function traps).
    #[error("cannot instantiate the component: {0}")]
    Instantiate(String),
    /// Every instance slot is taken by running workflows: a host-side
    /// condition, the run is retried.
    #[error("no instance slot is free; all are taken by running workflows")]
    NoInstanceSlot,
    /// Compiling took longer than [`ExecutorConfig::compile_timeout`]; the
    /// compilation finishes in the background, holding its slot.
    #[error("compiling the component took longer than {limit:?}")]
    CompileTimeout {
        /// The limit.
        limit: Duration,
    },
    /// Compilation was interrupted (its thread panicked or was cancelled).
    #[error("compilation was interrupted: {0}")]
    CompileInterrupted(String),
    /// The linker could not be set up.
    #[error("cannot link host functions: {0:#}")]
    Link(wasmtime::Error),
    /// The HTTP client for effects could not be built.
    #[error(transparent)]
    HttpClient(#[from] ClientError),
    /// A journal entry holds an outcome its call never produces (raised inside
    /// the guest as a trap; the workflow fails).
    #[error("corrupt journal: {call} has recorded outcome {outcome:?}")]
    CorruptJournal {
        /// The call.
        call: Call,
        /// The outcome found.
        outcome: Outcome,
    },
    /// The activation ran live wasm for longer than the CPU limit (raised
    /// inside the guest as a trap; the workflow fails).
    #[error("the workflow used more than {limit:?} of CPU time in one activation")]
    CpuLimit {
        /// The limit it went over.
        limit: Duration,
    },
    /// Replaying the journal took longer than the replay budget (raised
    /// inside the guest as a trap; a host-side condition, retried later).
    #[error("replaying the journal used more than {limit:?} of CPU time")]
    ReplayCpuLimit {
        /// The budget it went over.
        limit: Duration,
    },
    /// The workflow sent an HTTP request past the sizes the host handles
    /// at all: method, URL or headers (raised inside the guest as a trap;
    /// the workflow fails).
    #[error("the workflow sent an HTTP request the host refuses: {0}")]
    OversizeRequest(String),
    /// The workflow made a call with arguments the host refuses whatever
    /// the state (an oversize signal name, event or child input, a handle
    /// it never made); raised inside the guest as a trap, the workflow
    /// fails.
    #[error("the workflow made a call the host refuses: {0}")]
    InvalidCall(String),
    /// A live call would take the journal past a budget (raised inside the
    /// guest as a trap; the workflow fails).
    #[error(transparent)]
    Budget(BudgetExceeded),
}

/// How the executor runs workflows: limits and policies every run applies.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Timers due within this are awaited in memory; longer ones suspend the
    /// run (default 1 s).
    pub inline_sleep_max: Duration,
    /// Journal and log budgets per workflow.
    pub budget: Budget,
    /// When a run commits its progress.
    pub checkpoints: CheckpointPolicy,
    /// Most host resources (stream handles, pollables) one instance may hold
    /// at once (default 1,024); one more traps.
    pub max_resources: usize,
    /// Compiled code kept for prepared components, in bytes (default
    /// 1 GiB); the least recently used are evicted past it.
    pub compiled_cache_bytes: usize,
    /// Most components compiled at once (default 2); more wait their turn.
    pub max_compiles: usize,
    /// Longest a component may take to compile (default 60 s).
    pub compile_timeout: Duration,
    /// Outbound HTTP: allowlist, caps, redaction.
    pub http: HttpConfig,
    /// The longest one activity attempt may run, whatever the workflow asks
    /// (default 10 min); a longer start-to-close timeout is cut to it.
    pub max_activity_attempt: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            inline_sleep_max: Duration::from_secs(1),
            budget: Budget::default(),
            checkpoints: CheckpointPolicy::default(),
            max_resources: 1_024,
            compiled_cache_bytes: 1 << 30,
            max_compiles: 2,
            compile_timeout: Duration::from_secs(60),
            http: HttpConfig::default(),
            max_activity_attempt: Duration::from_secs(600),
        }
    }
}

/// The runtime's side of a run: where it commits its progress, and where
/// it learns what has arrived for its workflow.
#[derive(Clone)]
pub struct RunHooks {
    /// Commits checkpoints and effects' outcomes.
    pub checkpointer: Arc<dyn Checkpointer>,
    /// Signals, children's ends, cancellation requests.
    pub inbox: Arc<dyn Inbox>,
}

impl RunHooks {
    /// Hooks for a run with no database behind it ([`NoCheckpoints`]).
    pub fn detached() -> Self {
        Self { checkpointer: Arc::new(NoCheckpoints), inbox: Arc::new(NoCheckpoints) }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// `run` returned `ok` with this JSON text.
    Completed(String),
    /// `run` returned `err`, or the guest trapped; the message says which
    /// (a trap includes the wasm backtrace and the last stderr lines).
    Failed(String),
    /// Replay diverged from the journal.
    Stuck(Nondeterminism),
    /// A wait longer than the inline limit: the workflow is unloaded until
    /// something the suspension names arrives.
    Suspended(Suspension),
    /// The workflow was told of a cancellation and `run` returned this.
    Cancelled(Result<String, String>),
    /// Replay trapped or ran out of its CPU budget: the recorded execution
    /// never did that, so it is a host-side condition (a lowered limit, say),
    /// not the workflow's failure. The message says what happened; the run
    /// is retried later.
    ReplayFailed(String),
    /// A checkpoint could not be committed; the run stopped there.
    CheckpointFailed(CheckpointError),
    /// A host call could not proceed for a host-side reason (an activity the
    /// host could not get); the message says what. Nothing of it was
    /// journaled; the run is retried later.
    HostFailed(String),
}

/// What a run leaves behind for the caller to commit.
#[derive(Debug)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Entries recorded live, continuing the journal's `seq`s.
    pub entries: Vec<Entry>,
    /// Log lines written live.
    pub logs: Vec<LogLine>,
}

/// What a replay check ([`Executor::check_replay`]) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayCheck {
    /// The component made every one of the journal's `entries` calls, in
    /// order and with the same arguments. `returned` is what `run` returned
    /// right after the last of them (the journal of an ended workflow), or
    /// `None` when the component went on to make a call past the journal.
    Clean {
        /// Entries replayed: the journal's length.
        entries: u64,
        /// `run`'s output (`Ok`) or error (`Err`), if it returned.
        returned: Option<Result<String, String>>,
    },
    /// The component made a different call than the one recorded at a
    /// position, or returned before the end of the journal.
    Diverged(Nondeterminism),
    /// The component trapped, or ran out of replay CPU, before the end of
    /// the journal; the message says how.
    Failed(String),
}

/// What [`Executor::execute`] leaves: `run`'s result and the journal.
struct Executed {
    result: wasmtime::Result<Result<String, String>>,
    journal: JournalHandle,
    stderr_tail: Vec<String>,
    cancel_told: bool,
}

/// A compiled, linked and checked component, ready to run; cheap to clone.
/// A run holds its own handle, so evicting the component from the cache
/// never disturbs runs that already have it.
#[derive(Clone)]
pub struct Prepared {
    digest: ComponentDigest,
    world: World,
}

/// The world a prepared component implements.
#[derive(Clone)]
enum World {
    Workflow(WorkflowPre<RunState>),
    Activity(ActivityPre<ActivityState>),
}

impl Prepared {
    /// Workflow or activity.
    pub fn kind(&self) -> ComponentKind {
        match self.world {
            World::Workflow(_) => ComponentKind::Workflow,
            World::Activity(_) => ComponentKind::Activity,
        }
    }

    /// The component's digest.
    pub fn digest(&self) -> &ComponentDigest {
        &self.digest
    }

    fn as_activity(&self) -> Option<&ActivityPre<ActivityState>> {
        match &self.world {
            World::Activity(activity) => Some(activity),
            World::Workflow(_) => None,
        }
    }
}

/// Runs workflows; see the module docs. Shared by all runs of a process.
pub struct Executor {
    engine: Engine,
    linker: Linker<RunState>,
    activities: ActivityHost,
    http: Arc<HttpClient>,
    /// Counts the workflow instances alive.
    live: LiveInstances,
    /// Prepared components. A std `Mutex`: held only for a map operation.
    prepared: Mutex<CompiledCache<Prepared>>,
    /// One permit per compilation allowed at once; a compilation holds its
    /// permit until its thread ends, even when its caller stopped waiting.
    compile_slots: Arc<Semaphore>,
    config: ExecutorConfig,
}

impl Executor {
    /// An executor on `engine`, running workflows as `config` says.
    ///
    /// # Errors
    /// [`Error::Link`] if the host functions cannot be added to the linker,
    /// [`Error::HttpClient`] if the HTTP client cannot be built.
    pub fn new(engine: Engine, config: ExecutorConfig) -> Result<Self, Error> {
        let mut linker = Linker::new(engine.wasmtime());
        wasi::add_to_linker(&mut linker).map_err(Error::Link)?;
        workflow_http::add_to_linker(&mut linker).map_err(Error::Link)?;
        Workflow::add_to_linker::<_, HasSelf<RunState>>(&mut linker, |state| state).map_err(Error::Link)?;
        v0_1::Workflow::add_to_linker::<_, HasSelf<RunState>>(&mut linker, |state| state)
            .map_err(Error::Link)?;
        Ok(Self {
            activities: ActivityHost::new(&engine).map_err(Error::Link)?,
            http: Arc::new(HttpClient::new(config.http.clone())?),
            live: LiveInstances::default(),
            engine,
            linker,
            prepared: Mutex::new(CompiledCache::new(config.compiled_cache_bytes)),
            compile_slots: Arc::new(Semaphore::new(config.max_compiles.max(1))),
            config,
        })
    }

    /// The prepared component `digest`, if it is in the cache (marked as
    /// used now).
    pub fn prepared(&self, digest: &ComponentDigest) -> Option<Prepared> {
        self.lock_prepared().get(digest)
    }

    /// Workflow instances alive now (one per `Store`): 0 when every
    /// workflow is suspended, however many there are.
    pub fn live_instances(&self) -> usize {
        self.live.count()
    }

    /// Prepared components and the bytes of their compiled code.
    pub fn compiled_usage(&self) -> (usize, usize) {
        self.lock_prepared().usage()
    }

    /// Uses of the engine's disk cache of compiled code.
    pub fn compile_cache_stats(&self) -> CompileCacheStats {
        self.engine.compile_cache_stats()
    }

    /// Compiles `bytes` (on a blocking thread, at most
    /// [`ExecutorConfig::max_compiles`] at once, waiting for a turn), checks
    /// that they implement the `workflow` world (and can be instantiated
    /// within the pool's limits) or the `activity` world, and caches the
    /// result under `digest`.
    ///
    /// # Errors
    /// [`Error::Compile`] for bytes that are not a valid component,
    /// [`Error::CompileTimeout`] if compiling takes longer than
    /// [`ExecutorConfig::compile_timeout`], [`Error::WrongWorld`] for a
    /// component of another world, [`Error::Instantiate`] for one that
    /// cannot be instantiated.
    pub async fn prepare(&self, digest: &ComponentDigest, bytes: Bytes) -> Result<Prepared, Error> {
        if let Some(prepared) = self.prepared(digest) {
            return Ok(prepared);
        }
        let slot = self
            .compile_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::CompileInterrupted("the compiler is closed".into()))?;
        let engine = self.engine.clone();
        let compiling = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            engine.compile(&bytes)
        });
        let limit = self.config.compile_timeout;
        let component = tokio::time::timeout(limit, compiling)
            .await
            .map_err(|_| Error::CompileTimeout { limit })?
            .map_err(|join| Error::CompileInterrupted(join.to_string()))??;
        let workflow_pre = match self.linker.instantiate_pre(&component).and_then(WorkflowPre::new) {
            Ok(workflow_pre) => workflow_pre,
            Err(not_workflow) => {
                let Ok(activity_pre) = self.activities.prepare(&component) else {
                    return Err(Error::WrongWorld(format!("{not_workflow:#}")));
                };
                let prepared = Prepared { digest: digest.clone(), world: World::Activity(activity_pre) };
                self.cache(&component, prepared.clone());
                return Ok(prepared);
            }
        };
        // Instantiating once (without calling `run`) catches components that
        // exceed the per-instance limits now rather than at their first run.
        // With every slot busy the check is skipped: the first run will tell.
        let journal = JournalHandle::new(Cursor::default());
        let mut store =
            self.new_store(String::new(), journal, Arc::new(NoCheckpoints), Arc::new(NoCheckpoints)).0;
        match workflow_pre.instantiate_async(&mut store).await.map_err(instantiate_error) {
            Ok(_) | Err(Error::NoInstanceSlot) => {}
            Err(error) => return Err(error),
        }
        let prepared = Prepared { digest: digest.clone(), world: World::Workflow(workflow_pre) };
        self.cache(&component, prepared.clone());
        Ok(prepared)
    }

    fn cache(&self, component: &wasmtime::component::Component, prepared: Prepared) {
        let code = component.image_range();
        let code_bytes = (code.end as usize).saturating_sub(code.start as usize);
        self.lock_prepared().insert(prepared.digest.clone(), prepared, code_bytes);
    }

    /// Runs the prepared `component` as workflow `workflow_id` with `input`
    /// (JSON text), first replaying `recorded` (the workflow's journal, dense
    /// from seq 0), for a workflow that has stored `usage` so far. Progress is
    /// committed as the [`CheckpointPolicy`] says; what is left when the
    /// run ends is in the report. Progress is committed through
    /// `hooks.checkpointer`; waits ask `hooks.inbox` what has arrived.
    ///
    /// Guest failures are outcomes, not errors: see [`RunOutcome`].
    ///
    /// # Errors
    /// [`Error::NoInstanceSlot`] if no instance can be had now (retry later);
    /// [`Error::Instantiate`] if the component cannot be instantiated at all;
    /// [`Error::WrongWorld`] if it is an activity.
    pub async fn run(
        &self,
        component: &Prepared,
        workflow_id: &str,
        input: &str,
        recorded: Vec<Entry>,
        usage: Usage,
        hooks: RunHooks,
    ) -> Result<RunReport, Error> {
        let cursor = Cursor::new(recorded, self.config.budget, usage);
        let executed = self.execute(component, workflow_id, input, cursor, hooks).await?;
        let outcome = match classify(
            executed.result,
            &executed.journal,
            &executed.stderr_tail,
            self.config.max_resources,
        ) {
            RunOutcome::Completed(output) if executed.cancel_told => RunOutcome::Cancelled(Ok(output)),
            RunOutcome::Failed(error) if executed.cancel_told => RunOutcome::Cancelled(Err(error)),
            outcome => outcome,
        };
        let (entries, logs) = executed.journal.lock().take_pending();
        Ok(RunReport { outcome, entries, logs })
    }

    /// Checks whether the prepared `component` replays `recorded` (a
    /// workflow's journal, dense from seq 0) for workflow `workflow_id` with
    /// `input`: it runs the component against the journal and stops at the
    /// first call past its end, so nothing is performed, recorded or
    /// committed. Replay CPU limits apply.
    ///
    /// # Errors
    /// As [`Self::run`].
    pub async fn check_replay(
        &self,
        component: &Prepared,
        workflow_id: &str,
        input: &str,
        recorded: Vec<Entry>,
    ) -> Result<ReplayCheck, Error> {
        let entries = recorded.len() as u64;
        let cursor = Cursor::checking(recorded, self.config.budget);
        let executed = self.execute(component, workflow_id, input, cursor, RunHooks::detached()).await?;
        let mut cursor = executed.journal.lock();
        if let Some(diverged) = cursor.divergence() {
            return Ok(ReplayCheck::Diverged(diverged.clone()));
        }
        if cursor.history_end().is_some() {
            return Ok(ReplayCheck::Clean { entries, returned: None });
        }
        Ok(match executed.result {
            Ok(returned) => match cursor.finish() {
                Ok(()) => ReplayCheck::Clean { entries, returned: Some(returned) },
                Err(diverged) => ReplayCheck::Diverged(diverged),
            },
            Err(trap) => {
                ReplayCheck::Failed(describe_trap(&trap, &executed.stderr_tail, self.config.max_resources))
            }
        })
    }

    /// Instantiates the prepared `component` as workflow `workflow_id` and
    /// calls `run` with `input`, journaling through `cursor`.
    async fn execute(
        &self,
        component: &Prepared,
        workflow_id: &str,
        input: &str,
        cursor: Cursor,
        hooks: RunHooks,
    ) -> Result<Executed, Error> {
        let World::Workflow(workflow_pre) = &component.world else {
            return Err(Error::WrongWorld(format!("{} is an activity, not a workflow", component.digest)));
        };
        let journal = JournalHandle::new(cursor);
        let (mut store, stdout, stderr) =
            self.new_store(workflow_id.to_owned(), journal.clone(), hooks.checkpointer, hooks.inbox);
        let workflow = workflow_pre.instantiate_async(&mut store).await.map_err(instantiate_error)?;
        let result = workflow.call_run(&mut store, input).await;
        if ends_cleanly(&result) {
            // What follows a request in flight is committed with its answer.
            store.data_mut().answered().await;
        }
        let cancel_told = store.data().waits.cancel_told;
        drop(store);
        stdout.flush_partial();
        stderr.flush_partial();
        Ok(Executed { result, journal, stderr_tail: stderr.tail(), cancel_told })
    }

    /// A fresh `Store` for one run, under the memory, CPU and resource
    /// limits, with the guest's stdout and stderr.
    fn new_store(
        &self,
        workflow_id: String,
        journal: JournalHandle,
        checkpointer: Arc<dyn Checkpointer>,
        inbox: Arc<dyn Inbox>,
    ) -> (wasmtime::Store<RunState>, wasi::GuestOutput, wasi::GuestOutput) {
        let limits = self.engine.limits();
        let (wasi, stdout, stderr) = wasi::context(&journal);
        let store_limits =
            StoreLimitsBuilder::new().memory_size(limits.max_memory_bytes).trap_on_grow_failure(true).build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(self.config.max_resources);
        let cpu = CpuMeter::new(limits.cpu_per_activation, limits.replay_cpu_per_activation);
        let settings = RunSettings {
            inline_sleep_max: self.config.inline_sleep_max,
            checkpoints: self.config.checkpoints,
            max_activity_attempt: self.config.max_activity_attempt,
        };
        let deps = RunDeps {
            workflow_id,
            engine: self.engine.clone(),
            http: self.http.clone(),
            limits: store_limits,
            cpu,
            settings,
            checkpointer,
            inbox,
            live: self.live.clone(),
        };
        let state = RunState::new(journal, wasi, table, deps);
        let mut store = wasmtime::Store::new(self.engine.wasmtime(), state);
        store.limiter(|state| &mut state.limits);
        // At every epoch tick in which wasm runs, charge the time it ran and
        // yield, so other runs make progress.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            let replaying = state.journal.lock().is_replaying();
            state.cpu.charge(replaying)?;
            Ok(UpdateDeadline::YieldCustom(1, state.cpu.yield_now()))
        });
        (store, stdout, stderr)
    }

    fn lock_prepared(&self) -> std::sync::MutexGuard<'_, CompiledCache<Prepared>> {
        self.prepared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a run ended by returning from `run` or by suspending: what it
/// recorded is then committed, so requests still in flight are waited for.
fn ends_cleanly(result: &wasmtime::Result<Result<String, String>>) -> bool {
    match result {
        Ok(_) => true,
        Err(trap) => trap.downcast_ref::<Suspend>().is_some(),
    }
}

fn instantiate_error(error: wasmtime::Error) -> Error {
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        Error::NoInstanceSlot
    } else {
        Error::Instantiate(error.root_cause().to_string())
    }
}

fn classify(
    result: wasmtime::Result<Result<String, String>>,
    journal: &JournalHandle,
    stderr_tail: &[String],
    max_resources: usize,
) -> RunOutcome {
    let mut cursor = journal.lock();
    if let Some(diverged) = cursor.divergence() {
        return RunOutcome::Stuck(diverged.clone());
    }
    match result {
        Ok(returned) => match (cursor.finish(), returned) {
            (Err(diverged), _) => RunOutcome::Stuck(diverged),
            (Ok(()), Ok(output)) => RunOutcome::Completed(output),
            (Ok(()), Err(error)) => RunOutcome::Failed(error),
        },
        Err(trap) => {
            if let Some(Suspend(suspension)) = trap.downcast_ref::<Suspend>() {
                RunOutcome::Suspended(suspension.clone())
            } else if let Some(Abandon(error)) = trap.downcast_ref::<Abandon>() {
                RunOutcome::CheckpointFailed(error.clone())
            } else if let Some(HostFailure(error)) = trap.downcast_ref::<HostFailure>() {
                RunOutcome::HostFailed(error.clone())
            } else if cursor.is_replaying() {
                RunOutcome::ReplayFailed(format!(
                    "replay stopped before the end of the journal: {}",
                    describe_trap(&trap, stderr_tail, max_resources)
                ))
            } else if let Some(exit) = trap.downcast_ref::<wasmtime_wasi::I32Exit>() {
                RunOutcome::Failed(format!(
                    "the workflow exited with status {} instead of returning from run",
                    exit.0
                ))
            } else {
                RunOutcome::Failed(describe_trap(&trap, stderr_tail, max_resources))
            }
        }
    }
}

/// A [`Checkpointer`] for runs that have no database behind them: the test
/// instantiation at upload (which never calls `run`), and the executor's own
/// tests and benchmarks, which set a [`CheckpointPolicy`] that never fires.
/// A checkpoint through it fails the run.
pub struct NoCheckpoints;

#[async_trait::async_trait]
impl Checkpointer for NoCheckpoints {
    async fn commit(&self, _: Vec<Entry>, _: Vec<LogLine>) -> Result<(), CheckpointError> {
        Err(CheckpointError::Failed("this run has no database to commit to".into()))
    }

    fn slots_contended(&self) -> bool {
        false
    }

    fn lease_held(&self) -> bool {
        true
    }

    fn waiting(&self, _: Option<Waiting>) {}

    async fn activity(&self, component: &str) -> Result<Prepared, ActivityUnavailable> {
        Err(ActivityUnavailable::Unrunnable(format!(
            "activity {component} cannot run: this run has no store to find it in"
        )))
    }
}

/// Nothing ever arrives, and children cannot start.
#[async_trait::async_trait]
impl Inbox for NoCheckpoints {
    async fn next_signal(&self, _: &str, _: u64) -> Result<Option<InboxSignal>, InboxError> {
        Ok(None)
    }

    async fn child_end(&self, _: &str) -> Result<Option<EndedChild>, InboxError> {
        Ok(None)
    }

    async fn cancel_requested(&self) -> Result<bool, InboxError> {
        Ok(false)
    }

    async fn admit_child(&self, _: &str, _: &str) -> Result<ChildAdmission, InboxError> {
        Ok(ChildAdmission::Refused("this run has no store to start children in".into()))
    }

    fn arrivals(&self) -> Arc<tokio::sync::Notify> {
        Arc::new(tokio::sync::Notify::new())
    }
}

/// The trap message first, then the wasm backtrace and the guest's last
/// stderr lines (where a Rust panic prints its message).
fn describe_trap(trap: &wasmtime::Error, stderr_tail: &[String], max_resources: usize) -> String {
    let mut message = match trap.root_cause().downcast_ref::<ResourceTableError>() {
        Some(ResourceTableError::Full) => format!(
            "the workflow holds more than {max_resources} host resources (stream handles, pollables) at once"
        ),
        _ => trap.root_cause().to_string(),
    };
    if let Some(backtrace) = trap.downcast_ref::<wasmtime::WasmBacktrace>() {
        message.push_str("\n\n");
        message.push_str(backtrace.to_string().trim_end());
    }
    let stderr: Vec<&String> = stderr_tail.iter().filter(|line| !line.trim().is_empty()).collect();
    if !stderr.is_empty() {
        message.push_str("\n\nlast stderr lines:");
        for line in stderr {
            message.push_str("\n  ");
            message.push_str(line);
        }
    }
    message
}
