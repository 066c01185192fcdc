//! One run of one workflow: instantiate its component in a fresh wasmtime
//! `Store`, replay its journal, continue live until it completes, fails,
//! diverges or suspends on a timer, and hand back what the run recorded.
//!
//! - [`Executor`] holds the linker and the prepared (compiled, linked,
//!   type-checked) components, cached by digest so a component is compiled
//!   once per process.
//! - [`RunReport`] is what a run leaves: its [`RunOutcome`] plus the entries and
//!   log lines it recorded live, which the caller commits.
//!
//! The executor never touches the database: the runtime loads the journal and
//! commits the report, so every durable write goes through one place.

mod bindings;
mod host;
mod journal_handle;
mod wasi;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{StoreLimitsBuilder, UpdateDeadline};

pub use self::journal_handle::MAX_JOURNAL_ENTRIES;
pub use self::wasi::MAX_RANDOM_BYTES;

use self::bindings::{Workflow, WorkflowPre};
use self::host::{RunState, Suspend};
use self::journal_handle::JournalHandle;
use crate::engine::{self, EPOCH_TICK, Engine};
use crate::ids::ComponentDigest;
use crate::journal::{Call, Cursor, Entry, LogLine, Nondeterminism, Outcome};

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
    /// [`Executor::run`] was called for a component never prepared.
    #[error("component {0} is not prepared")]
    NotPrepared(ComponentDigest),
    /// The component cannot be instantiated (for example it needs more core
    /// instances, memories or tables than a workflow may have, or its start
    /// function traps).
    #[error("cannot instantiate the component: {0}")]
    Instantiate(String),
    /// Every instance slot is taken by running workflows: a host-side
    /// condition, the run is retried.
    #[error("no instance slot is free; all are taken by running workflows")]
    NoInstanceSlot,
    /// Compilation was interrupted (its thread panicked or was cancelled).
    #[error("compilation was interrupted: {0}")]
    CompileInterrupted(String),
    /// The linker could not be set up.
    #[error("cannot link host functions: {0:#}")]
    Link(wasmtime::Error),
    /// A journal entry holds an outcome its call never produces (raised inside
    /// the guest as a trap; the workflow fails).
    #[error("corrupt journal: {call} has recorded outcome {outcome:?}")]
    CorruptJournal {
        /// The call.
        call: Call,
        /// The outcome found.
        outcome: Outcome,
    },
    /// The activation ran wasm for longer than the CPU limit (raised inside
    /// the guest as a trap; the workflow fails).
    #[error("the workflow used more than {limit:?} of CPU time in one activation")]
    CpuLimit {
        /// The limit it went over.
        limit: Duration,
    },
    /// The journal reached [`MAX_JOURNAL_ENTRIES`] (raised inside the guest as
    /// a trap; the workflow fails).
    #[error("the journal is full: a workflow may record at most {limit} entries")]
    JournalFull {
        /// The limit.
        limit: u64,
    },
    /// A `wasi:random` request over [`MAX_RANDOM_BYTES`] (raised inside the
    /// guest as a trap; the workflow fails).
    #[error("the workflow asked for {len} random bytes at once; the limit is {limit}")]
    RandomTooLarge {
        /// Bytes requested.
        len: u64,
        /// The limit.
        limit: u64,
    },
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
    /// A timer longer than the inline limit: the workflow sleeps until
    /// `wake_at_ns` (ns since the Unix epoch).
    Suspended {
        /// When the timer fires.
        wake_at_ns: u64,
    },
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

/// Runs workflows; see the module docs. Shared by all runs of a process.
pub struct Executor {
    engine: Engine,
    linker: Linker<RunState>,
    /// Prepared components. A std `Mutex`: held only for a map operation.
    prepared: Mutex<HashMap<ComponentDigest, WorkflowPre<RunState>>>,
    /// Held while preparing, so that runs of a component not yet prepared
    /// (say at recovery) compile it once, not once each. Compilation uses
    /// every core anyway.
    preparing: tokio::sync::Mutex<()>,
    inline_sleep_max: Duration,
}

impl Executor {
    /// An executor on `engine`. Timers due within `inline_sleep_max` are
    /// awaited in memory; longer ones suspend the run.
    ///
    /// # Errors
    /// [`Error::Link`] if the host functions cannot be added to the linker.
    pub fn new(engine: Engine, inline_sleep_max: Duration) -> Result<Self, Error> {
        let mut linker = Linker::new(engine.wasmtime());
        wasi::add_to_linker(&mut linker).map_err(Error::Link)?;
        Workflow::add_to_linker::<_, HasSelf<RunState>>(&mut linker, |state| state).map_err(Error::Link)?;
        Ok(Self {
            engine,
            linker,
            prepared: Mutex::default(),
            preparing: Default::default(),
            inline_sleep_max,
        })
    }

    /// Whether `digest` is prepared, so [`Self::run`] can use it.
    pub fn is_prepared(&self, digest: &ComponentDigest) -> bool {
        self.lock_prepared().contains_key(digest)
    }

    /// Compiles `bytes` (on a blocking thread), checks that they implement the
    /// `workflow` world and can be instantiated within the pool's limits, and
    /// caches the result under `digest`.
    ///
    /// # Errors
    /// [`Error::Compile`] for bytes that are not a valid component,
    /// [`Error::WrongWorld`] for a component of another world,
    /// [`Error::Instantiate`] for one that cannot be instantiated.
    pub async fn prepare(&self, digest: &ComponentDigest, bytes: Bytes) -> Result<(), Error> {
        let _preparing = self.preparing.lock().await;
        if self.is_prepared(digest) {
            return Ok(());
        }
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || engine.compile(&bytes))
            .await
            .map_err(|join| Error::CompileInterrupted(join.to_string()))??;
        let instance_pre =
            self.linker.instantiate_pre(&component).map_err(|e| Error::WrongWorld(format!("{e:#}")))?;
        let workflow_pre = WorkflowPre::new(instance_pre).map_err(|e| Error::WrongWorld(format!("{e:#}")))?;
        // Instantiating once (without calling `run`) catches components that
        // exceed the per-instance limits now rather than at their first run.
        // With every slot busy the check is skipped: the first run will tell.
        let mut store = self.new_store(JournalHandle::new(Cursor::default())).0;
        match workflow_pre.instantiate_async(&mut store).await.map_err(instantiate_error) {
            Ok(_) | Err(Error::NoInstanceSlot) => {}
            Err(error) => return Err(error),
        }
        self.lock_prepared().insert(digest.clone(), workflow_pre);
        Ok(())
    }

    /// Runs the prepared component `digest` with `input` (JSON text), first
    /// replaying `recorded` (the workflow's journal, dense from seq 0).
    ///
    /// Guest failures are outcomes, not errors: see [`RunOutcome`].
    ///
    /// # Errors
    /// [`Error::NotPrepared`] if [`Self::prepare`] did not succeed for `digest`;
    /// [`Error::NoInstanceSlot`] if no instance can be had now (retry later);
    /// [`Error::Instantiate`] if the component cannot be instantiated at all.
    pub async fn run(
        &self,
        digest: &ComponentDigest,
        input: &str,
        recorded: Vec<Entry>,
    ) -> Result<RunReport, Error> {
        let workflow_pre =
            self.lock_prepared().get(digest).cloned().ok_or_else(|| Error::NotPrepared(digest.clone()))?;
        let journal = JournalHandle::new(Cursor::new(recorded));
        let (mut store, stdout, stderr) = self.new_store(journal.clone());
        let workflow = workflow_pre.instantiate_async(&mut store).await.map_err(instantiate_error)?;
        let result = workflow.call_run(&mut store, input).await;
        drop(store);
        stdout.flush_partial();
        stderr.flush_partial();
        let outcome = classify(result, &journal, &stderr.tail());
        let (entries, logs) = journal.lock().take_pending();
        Ok(RunReport { outcome, entries, logs })
    }

    /// A fresh `Store` for one run, under the memory and CPU limits, with the
    /// guest's stdout and stderr.
    fn new_store(
        &self,
        journal: JournalHandle,
    ) -> (wasmtime::Store<RunState>, wasi::GuestOutput, wasi::GuestOutput) {
        let limits = self.engine.limits();
        let (wasi, stdout, stderr) = wasi::context(&journal);
        let store_limits =
            StoreLimitsBuilder::new().memory_size(limits.max_memory_bytes).trap_on_grow_failure(true).build();
        let state = RunState::new(journal, wasi, store_limits, self.inline_sleep_max);
        let mut store = wasmtime::Store::new(self.engine.wasmtime(), state);
        store.limiter(|state| &mut state.limits);
        // Every epoch tick in which wasm runs costs one tick of the CPU budget;
        // in between, the guest yields so other runs make progress.
        let limit = limits.cpu_per_activation;
        let limit_ticks = limit.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut context| {
            let state = context.data_mut();
            // The first check after a wait in a host call finds the deadline
            // passed during the wait: that tick is not the guest's.
            if std::mem::take(&mut state.waited) {
                return Ok(UpdateDeadline::Yield(1));
            }
            state.cpu_ticks += 1;
            if u128::from(state.cpu_ticks) > limit_ticks {
                Err(Error::CpuLimit { limit }.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        (store, stdout, stderr)
    }

    fn lock_prepared(&self) -> std::sync::MutexGuard<'_, HashMap<ComponentDigest, WorkflowPre<RunState>>> {
        self.prepared.lock().unwrap_or_else(PoisonError::into_inner)
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
            if let Some(suspend) = trap.downcast_ref::<Suspend>() {
                RunOutcome::Suspended { wake_at_ns: suspend.wake_at_ns }
            } else if let Some(exit) = trap.downcast_ref::<wasmtime_wasi::I32Exit>() {
                RunOutcome::Failed(format!(
                    "the workflow exited with status {} instead of returning from run",
                    exit.0
                ))
            } else {
                RunOutcome::Failed(describe_trap(&trap, stderr_tail))
            }
        }
    }
}

/// The trap message first, then the wasm backtrace and the guest's last
/// stderr lines (where a Rust panic prints its message).
fn describe_trap(trap: &wasmtime::Error, stderr_tail: &[String]) -> String {
    let mut message = trap.root_cause().to_string();
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
