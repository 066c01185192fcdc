//! [`RunState`]: the data of one run's wasmtime `Store`, and the
//! implementation of the `duro:workflow/runtime` imports on it (every
//! version: older ones delegate to the newest).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Error;
use super::bindings::{Level, RuntimeHost, v0_1};
use super::checkpoint::{CHECKPOINT_BYTES, CheckpointError, CheckpointPolicy, Checkpointer};
use super::cpu::CpuMeter;
use super::inbox::Inbox;
use super::journal_handle::JournalHandle;
use super::waits::WaitState;
use super::wasi::MAX_LINE_BYTES;
use super::workflow_http::WorkflowHttp;
use crate::clock;
use crate::effects::HttpClient;
use crate::engine::Engine;
use crate::journal::{Call, LogLevel, LogStream, Outcome};

/// A wait longer than the inline limit (or whose run gives up its slot):
/// the run unwinds, its `Store` is dropped and the workflow is stored as a
/// row that waits for what the [`Suspension`] names.
#[derive(Debug, thiserror::Error)]
#[error("workflow suspended: {0:?}")]
pub(crate) struct Suspend(pub(crate) Suspension);

/// What a suspended workflow waits for: the first of these to arrive
/// resumes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suspension {
    /// The earliest timer, in ns since the Unix epoch.
    pub wake_at_ns: Option<u64>,
    /// Names of signals it receives.
    pub signals: Vec<String>,
    /// Ids of children whose end it waits for.
    pub children: Vec<String>,
    /// Whether a cancellation request wakes it: it waits in a `wait-any`
    /// and has not been told of one yet.
    pub cancellable: bool,
}

/// Counts the wasm instances alive in this process: one per `Store`.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveInstances(Arc<std::sync::atomic::AtomicUsize>);

impl LiveInstances {
    /// Counts one more until the guard is dropped.
    pub(crate) fn enter(&self) -> InstanceGuard {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InstanceGuard(self.0.clone())
    }

    /// How many are alive now.
    pub(crate) fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One live instance, counted while it exists.
pub(crate) struct InstanceGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A checkpoint failed: the run unwinds and the runtime decides what the
/// failure means for the workflow.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct Abandon(pub(crate) CheckpointError);

/// A host call cannot proceed for a host-side reason: the run unwinds,
/// nothing of the call is journaled, and the run is retried later.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HostFailure(pub(crate) String);

/// Everything a run's `Store` holds.
pub(crate) struct RunState {
    /// The workflow's id: part of its effects' idempotency keys and of the
    /// digests of redacted headers.
    pub(crate) workflow_id: String,
    pub(crate) journal: JournalHandle,
    pub(crate) http: Arc<HttpClient>,
    /// The engine, for running activities.
    pub(crate) engine: Engine,
    pub(crate) wasi: WasiCtx,
    /// `wasi:http` for standard HTTP clients (`workflow_http.rs`).
    pub(crate) wasi_http: WorkflowHttp,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) cpu: CpuMeter,
    pub(super) settings: RunSettings,
    pub(super) checkpointer: Arc<dyn Checkpointer>,
    /// Timers, signals and children the workflow waits on (`waits.rs`).
    pub(crate) waits: WaitState,
    /// Counts this run among the live instances while the `Store` lives.
    _instance: InstanceGuard,
    /// When this activation began.
    started: Instant,
    last_checkpoint: Instant,
    /// The last monotonic clock reading the guest saw, replayed or live.
    last_monotonic_ns: u64,
}

/// The executor's settings that each run applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSettings {
    /// Timers due within this wait in memory; longer ones suspend the run.
    pub(crate) inline_sleep_max: Duration,
    pub(crate) checkpoints: CheckpointPolicy,
    /// The longest one activity attempt may run, whatever the workflow asks.
    pub(crate) max_activity_attempt: Duration,
}

/// What a run is given besides its journal and WASI context.
pub(crate) struct RunDeps {
    pub(crate) workflow_id: String,
    pub(crate) engine: Engine,
    pub(crate) http: Arc<HttpClient>,
    pub(crate) limits: StoreLimits,
    pub(crate) cpu: CpuMeter,
    pub(crate) settings: RunSettings,
    pub(crate) checkpointer: Arc<dyn Checkpointer>,
    pub(crate) inbox: Arc<dyn Inbox>,
    pub(crate) live: LiveInstances,
}

impl RunState {
    pub(crate) fn new(journal: JournalHandle, wasi: WasiCtx, table: ResourceTable, deps: RunDeps) -> Self {
        let RunDeps { workflow_id, engine, http, limits, cpu, settings, checkpointer, inbox, live } = deps;
        let wasi_http =
            WorkflowHttp::new(workflow_id.clone(), journal.clone(), http.clone(), checkpointer.clone());
        Self {
            wasi_http,
            workflow_id,
            engine,
            http,
            journal,
            wasi,
            table,
            limits,
            cpu,
            settings,
            checkpointer,
            waits: WaitState::new(inbox),
            _instance: live.enter(),
            started: Instant::now(),
            last_checkpoint: Instant::now(),
            last_monotonic_ns: 0,
        }
    }

    /// A journaled clock reading in ns. The live monotonic clock reads the
    /// wall clock (comparable across hosts), never going back from the last
    /// reading this workflow saw.
    pub(crate) async fn journaled_time(&mut self, call: Call) -> wasmtime::Result<u64> {
        let floor = match call {
            Call::WasiMonotonicClock => self.last_monotonic_ns,
            _ => 0,
        };
        let live = || Outcome::Time { ns: clock::now_ns().max(floor) };
        let ns = match self.journal.call(call.clone(), SMALL_ENTRY_BYTES, live)? {
            Outcome::Time { ns } => ns,
            outcome => return Err(Error::CorruptJournal { call, outcome }.into()),
        };
        if call == Call::WasiMonotonicClock {
            self.last_monotonic_ns = ns;
        }
        self.checkpoint_if_due().await?;
        Ok(ns)
    }

    /// A journaled random number.
    pub(crate) async fn journaled_random_u64(&mut self) -> wasmtime::Result<u64> {
        let live = || Outcome::Random { value: rand_core::Rng::next_u64(&mut wasmtime_wasi::thread_rng()) };
        let value = match self.journal.call(Call::RandomU64, SMALL_ENTRY_BYTES, live)? {
            Outcome::Random { value } => value,
            outcome => return Err(Error::CorruptJournal { call: Call::RandomU64, outcome }.into()),
        };
        self.checkpoint_if_due().await?;
        Ok(value)
    }

    /// `len` journaled random bytes, one entry for the whole request; a
    /// request over the entry or journal budget is refused before any byte
    /// is generated.
    pub(crate) async fn journaled_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        let call = Call::WasiRandomBytes { len };
        let live = || {
            let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
            rand_core::Rng::fill_bytes(&mut wasmtime_wasi::thread_rng(), &mut bytes);
            Outcome::Bytes(bytes)
        };
        let bytes = match self.journal.call(call.clone(), len.saturating_add(SMALL_ENTRY_BYTES), live)? {
            Outcome::Bytes(bytes) if bytes.len() as u64 == len => bytes,
            outcome => return Err(Error::CorruptJournal { call, outcome }.into()),
        };
        self.checkpoint_if_due().await?;
        Ok(bytes)
    }

    /// Charges the CPU time since the last epoch tick, before a wait (after
    /// which the meter resumes): the guest's work just before a wait is
    /// charged like any other.
    ///
    /// # Errors
    /// A CPU limit, as [`CpuMeter::charge`].
    pub(super) fn charge_cpu(&mut self) -> wasmtime::Result<()> {
        let replaying = self.journal.lock().is_replaying();
        Ok(self.cpu.charge(replaying)?)
    }

    /// Commits what the run recorded if the [`CheckpointPolicy`] says so.
    ///
    /// # Errors
    /// [`Abandon`] if the commit failed: the run must stop.
    pub(super) async fn checkpoint_if_due(&mut self) -> wasmtime::Result<()> {
        let due = {
            let (entries, lines, bytes) = self.journal.lock().pending_size();
            let policy = self.settings.checkpoints;
            entries + lines > 0
                && (entries >= policy.max_entries
                    || bytes >= CHECKPOINT_BYTES
                    || self.last_checkpoint.elapsed() >= policy.interval)
        };
        if due { self.commit_recorded().await } else { Ok(()) }
    }

    /// Checks that the host still holds its lease, then commits every entry
    /// and log line recorded and not yet committed, if any, first waiting for the answers of `wasi:http` requests in flight
    /// (bounded by their timeouts): an effect's outcome is durable before
    /// the guest sees it, and an effect's journal position is durable before
    /// it is performed.
    ///
    /// # Errors
    /// [`Abandon`] if the lease is lost or the commit failed: the run must
    /// stop.
    pub(super) async fn commit_pending(&mut self) -> wasmtime::Result<()> {
        if !self.checkpointer.lease_held() {
            let lost = CheckpointError::Stale("the host no longer holds its lease".to_owned());
            return Err(Abandon(lost).into());
        }
        if self.journal.lock().has_holes() {
            self.charge_cpu()?;
            self.answered().await;
            self.cpu.resume();
        }
        self.commit_recorded().await
    }

    /// Commits what can be committed now: every entry before the first
    /// `wasi:http` request still in flight, and the log lines.
    ///
    /// # Errors
    /// [`Abandon`] if the commit failed: the run must stop.
    async fn commit_recorded(&mut self) -> wasmtime::Result<()> {
        let (entries, lines, _) = self.journal.lock().pending_size();
        if entries + lines == 0 {
            return Ok(());
        }
        // CPU first: a limit hit here must not drop what was taken.
        self.charge_cpu()?;
        let (entries, logs) = self.journal.lock().take_pending();
        self.last_checkpoint = Instant::now();
        if entries.is_empty() && logs.is_empty() {
            // Everything recorded waits behind a request in flight.
            self.cpu.resume();
            return Ok(());
        }
        let committed = self.checkpointer.commit(entries, logs).await;
        self.cpu.resume();
        committed.map_err(Abandon)?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}

impl RunState {
    /// Waits until every `wasi:http` request handed over has its answer
    /// recorded (bounded by the requests' timeouts).
    pub(super) async fn answered(&mut self) {
        self.wasi_http.answered(&self.journal).await;
    }

    /// Whether the run should give its instance slot up at a wait: other
    /// workflows wait for one, and this run has held its slot for a
    /// checkpoint interval (each resumption replays the journal, so yielding
    /// at every short wait would make progress quadratic).
    pub(super) fn should_yield_slot(&self) -> bool {
        self.checkpointer.slots_contended() && self.started.elapsed() >= self.settings.checkpoints.interval
    }

    /// Waits until `wake_at_ns` (ns since the Unix epoch): in memory if that
    /// is within the inline limit, else by unwinding with [`Suspend`], so
    /// the workflow sleeps as a row. Commits what is due first.
    ///
    /// # Errors
    /// [`Suspend`], or a failed checkpoint or CPU limit.
    pub(super) async fn wait_until(&mut self, wake_at_ns: u64) -> wasmtime::Result<()> {
        let remaining = Duration::from_nanos(wake_at_ns.saturating_sub(clock::now_ns()));
        if !remaining.is_zero() && (remaining > self.settings.inline_sleep_max || self.should_yield_slot()) {
            let suspension = Suspension { wake_at_ns: Some(wake_at_ns), ..Suspension::default() };
            return Err(Suspend(suspension).into());
        }
        self.checkpoint_if_due().await?;
        if !remaining.is_zero() {
            self.charge_cpu()?;
            tokio::time::sleep(remaining).await;
            self.cpu.resume();
        }
        Ok(())
    }
}

/// A bound on the payload of a clock or random-number entry, in bytes.
pub(super) const SMALL_ENTRY_BYTES: u64 = 32;

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl RuntimeHost for RunState {
    async fn now(&mut self) -> wasmtime::Result<u64> {
        self.journaled_time(Call::Now).await
    }

    async fn random_u64(&mut self) -> wasmtime::Result<u64> {
        self.journaled_random_u64().await
    }

    async fn sleep(&mut self, duration_ns: u64) -> wasmtime::Result<()> {
        let call = Call::Sleep { duration_ns };
        let live = || Outcome::Timer { wake_at_ns: clock::now_ns().saturating_add(duration_ns) };
        let wake_at_ns = match self.journal.call(call.clone(), SMALL_ENTRY_BYTES, live)? {
            Outcome::Timer { wake_at_ns } => wake_at_ns,
            outcome => return Err(Error::CorruptJournal { call, outcome }.into()),
        };
        self.wait_until(wake_at_ns).await
    }

    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        message.truncate(message.floor_char_boundary(MAX_LINE_BYTES));
        self.journal.log(level, LogStream::Log, message);
        self.checkpoint_if_due().await
    }
}

impl v0_1::duro::workflow::runtime::Host for RunState {
    async fn now(&mut self) -> wasmtime::Result<u64> {
        RuntimeHost::now(self).await
    }

    async fn random_u64(&mut self) -> wasmtime::Result<u64> {
        RuntimeHost::random_u64(self).await
    }

    async fn sleep(&mut self, duration_ns: u64) -> wasmtime::Result<()> {
        RuntimeHost::sleep(self, duration_ns).await
    }

    async fn log(
        &mut self,
        level: v0_1::duro::workflow::runtime::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        use v0_1::duro::workflow::runtime::Level as V0_1;
        let level = match level {
            V0_1::Trace => Level::Trace,
            V0_1::Debug => Level::Debug,
            V0_1::Info => Level::Info,
            V0_1::Warn => Level::Warn,
            V0_1::Error => Level::Error,
        };
        RuntimeHost::log(self, level, message).await
    }
}
