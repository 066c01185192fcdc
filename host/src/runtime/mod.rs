//! The runtime: which workflow runs when.
//!
//! [`Runtime`] owns the executor, the store and three background pieces:
//!
//! - the scheduler (`scheduler`) picks up due workflows: at start every
//!   non-final workflow (recovery), then new ones and woken timers; a sleeping
//!   workflow is a row with a `wake_at`, not a task;
//! - each run replays the workflow's journal in the executor and hands its
//!   [`RunReport`](crate::executor::RunReport) to the committer;
//! - the committer (`committer`) writes the reports of concurrent runs in
//!   one transaction (group commit).
//!
//! Shutdown cancels the scheduler and the runs in flight (a run that has not
//! committed is simply replayed at the next start) and waits for the tasks.

mod committer;
mod scheduler;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::committer::Committer;
use crate::engine::{self, Engine, EngineLimits};
use crate::executor::{self, Executor};
use crate::ids::{ComponentDigest, WorkflowId};
use crate::journal::Entry;
use crate::store::{self, ComponentRecord, Created, NewWorkflow, Store, StoredEntry, WorkflowRecord};

/// How many settled workflows a slow result waiter may miss before it
/// re-reads the store anyway.
const SETTLED_BACKLOG: usize = 1024;
/// How long [`Runtime::shutdown`] waits for runs to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone, Copy)]
pub struct RuntimeConfig {
    /// Limits of every workflow instance; `max_instances` also caps how many
    /// workflows run at once.
    pub limits: EngineLimits,
    /// Timers due within this are awaited in memory; longer ones suspend the
    /// workflow, freeing its instance (default 1 s).
    pub inline_sleep_max: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { limits: EngineLimits::default(), inline_sleep_max: Duration::from_secs(1) }
    }
}

/// Errors of runtime operations, each a distinct answer for the API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No component has this digest or name.
    #[error("no component has digest or name {0:?}")]
    UnknownComponent(String),
    /// No workflow has this id.
    #[error("no workflow has id {0:?}")]
    UnknownWorkflow(String),
    /// A caller-chosen workflow id breaks the id rules.
    #[error("invalid workflow id: {0}")]
    InvalidWorkflowId(String),
    /// A workflow with this id exists with another component or input.
    #[error("workflow {0} already exists with a different component or input")]
    WorkflowIdConflict(WorkflowId),
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
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] engine::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] Arc<store::Error>),
}

impl From<executor::Error> for Error {
    /// Sorts executor errors by who is at fault: the component, or the host.
    fn from(error: executor::Error) -> Self {
        use executor::Error as E;
        match error {
            E::Compile(_) | E::WrongWorld(_) | E::Instantiate(_) => Self::InvalidComponent(error.to_string()),
            E::NoInstanceSlot => Self::NoInstanceSlot,
            E::NotPrepared(_)
            | E::Link(_)
            | E::CompileInterrupted(_)
            | E::CorruptJournal { .. }
            | E::CpuLimit { .. }
            | E::JournalFull { .. }
            | E::RandomTooLarge { .. } => Self::Executor(error),
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
    executor: Executor,
    committer: Committer,
    /// Wakes the scheduler: a workflow was started or a run ended.
    wake: Notify,
    /// Announces each workflow that reaches a final status to result waiters.
    settled: broadcast::Sender<WorkflowId>,
    /// One permit per workflow allowed to run at once.
    run_slots: Arc<Semaphore>,
    /// Workflows with a run in flight in this process.
    active: Mutex<HashSet<WorkflowId>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Runtime {
    /// Builds the engine and starts the scheduler and the committer. Every
    /// workflow left `running` or `sleeping` in `store` is resumed.
    ///
    /// # Errors
    /// [`Error::Engine`] or [`Error::Executor`] if wasmtime cannot be set up.
    pub fn start(store: Arc<dyn Store>, config: RuntimeConfig) -> Result<Self, Error> {
        let engine = Engine::new(config.limits)?;
        let executor = Executor::new(engine, config.inline_sleep_max)?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let committer = Committer::spawn(store.clone());
        let inner = Arc::new(Inner {
            store,
            executor,
            committer,
            wake: Notify::new(),
            settled: broadcast::Sender::new(SETTLED_BACKLOG),
            run_slots: Arc::new(Semaphore::new(config.limits.max_instances as usize)),
            active: Default::default(),
            shutdown,
            tasks,
        });
        inner.tasks.spawn(scheduler::run(inner.clone()));
        Ok(Self { inner })
    }

    /// The store, for reads.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
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
        self.inner.executor.prepare(&digest, bytes.clone()).await?;
        Ok(self.inner.store.put_component(&digest, name, &bytes).await?)
    }

    /// Starts a workflow running `component` (a digest or a name, resolved
    /// now and pinned) on `input`, under `id` or a generated id.
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
    ) -> Result<Created<WorkflowRecord>, Error> {
        let id = match id {
            Some(id) => WorkflowId::parse(id).map_err(Error::InvalidWorkflowId)?,
            None => WorkflowId::generate(),
        };
        let component = self
            .inner
            .store
            .component(component)
            .await?
            .ok_or_else(|| Error::UnknownComponent(component.to_owned()))?;
        let new = NewWorkflow { id, component: component.digest, input: input.to_string() };
        let created = self.inner.store.create_workflow(&new).await?;
        match &created {
            Created::New(_) => self.inner.wake.notify_one(),
            Created::Existing(existing) => {
                let same_input =
                    serde_json::from_str::<serde_json::Value>(&existing.input).ok().as_ref() == Some(input);
                if existing.component != new.component || !same_input {
                    return Err(Error::WorkflowIdConflict(new.id));
                }
            }
        }
        Ok(created)
    }

    /// The workflow `id` once its status is final, or as it is when `wait` ends.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`], [`Error::Store`].
    pub async fn wait_final(&self, id: &WorkflowId, wait: Duration) -> Result<WorkflowRecord, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribe before reading, so a workflow settling in between is seen.
        let mut settled = self.inner.settled.subscribe();
        loop {
            let record =
                self.inner.store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
            if record.status.is_final() {
                return Ok(record);
            }
            // Read the store again only when this workflow settled (or when
            // too many others settled to tell).
            loop {
                tokio::select! {
                    settled_id = tokio::time::timeout_at(deadline, settled.recv()) => match settled_id {
                        Ok(Ok(settled_id)) if settled_id == *id => break,
                        Ok(Ok(_)) => continue,
                        Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                        Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return Ok(record),
                    },
                    () = self.inner.shutdown.cancelled() => return Ok(record),
                }
            }
        }
    }

    /// Journal entries of workflow `id` with `seq > after` (from the start
    /// when `None`), in order, at most `limit`.
    ///
    /// # Errors
    /// [`Error::UnknownWorkflow`]; [`Error::Store`], including a payload that
    /// does not decode.
    pub async fn journal(
        &self,
        id: &WorkflowId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Entry>, Error> {
        let store = &self.inner.store;
        store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
        Ok(StoredEntry::decode_all(&store.journal(id, after, limit).await?)?)
    }

    /// Begins shutdown: stops scheduling, cancels runs in flight (they replay
    /// at the next start), and ends result waits with the current status.
    /// Idempotent; [`Self::shutdown`] also waits for everything to stop.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Shuts down: [`Self::begin_shutdown`], then waits up to 10 s for the
    /// runs to stop and up to 10 s more to commit what they finished.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        self.inner.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.inner.tasks.wait()).await.is_err() {
            tracing::warn!("runs still in flight after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
        self.inner.committer.close(SHUTDOWN_GRACE).await;
    }
}

impl Inner {
    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashSet<WorkflowId>> {
        // Held only for a set operation; a panic elsewhere cannot corrupt a HashSet insert.
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
