//! [`RunState`]: the data of one run's wasmtime `Store`, and the
//! implementation of the `duro:workflow/runtime` imports on it.

use std::time::{Duration, Instant};

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Error;
use super::bindings::{Level, RuntimeHost};
use super::journal_handle::JournalHandle;
use crate::journal::{Call, LogLevel, LogStream, Outcome, wall_clock_ns};

/// A timer whose remaining wait exceeds the inline limit: the run unwinds, its
/// `Store` is dropped and the workflow sleeps as a row until `wake_at_ns`.
#[derive(Debug, thiserror::Error)]
#[error("workflow suspended until {wake_at_ns} ns since the Unix epoch")]
pub(crate) struct Suspend {
    pub(crate) wake_at_ns: u64,
}

/// Everything a run's `Store` holds.
pub(crate) struct RunState {
    pub(crate) journal: JournalHandle,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// Timers due within this wait in memory; longer ones suspend the run.
    pub(crate) inline_sleep_max: Duration,
    /// When this activation started.
    pub(crate) started: Instant,
    /// Time spent waiting in host calls in this activation: not CPU time.
    pub(crate) host_wait: Duration,
}

impl RunState {
    /// Wasm execution time used by this activation so far.
    pub(crate) fn cpu_used(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_wait)
    }

    fn journaled(&self, call: Call, live: impl FnOnce() -> Outcome) -> wasmtime::Result<Outcome> {
        Ok(self.journal.call(call, live)?)
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl RuntimeHost for RunState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        match self.journaled(Call::Now, || Outcome::Time { ns: wall_clock_ns() })? {
            Outcome::Time { ns } => Ok(ns),
            other => Err(Error::CorruptJournal { call: Call::Now, outcome: other }.into()),
        }
    }

    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        let live = || Outcome::Random { value: rand_core::Rng::next_u64(&mut wasmtime_wasi::thread_rng()) };
        match self.journaled(Call::RandomU64, live)? {
            Outcome::Random { value } => Ok(value),
            other => Err(Error::CorruptJournal { call: Call::RandomU64, outcome: other }.into()),
        }
    }

    async fn sleep(&mut self, duration_ns: u64) -> wasmtime::Result<()> {
        let call = Call::Sleep { duration_ns };
        let live = || Outcome::Timer { wake_at_ns: wall_clock_ns().saturating_add(duration_ns) };
        let wake_at_ns = match self.journaled(call.clone(), live)? {
            Outcome::Timer { wake_at_ns } => wake_at_ns,
            other => return Err(Error::CorruptJournal { call, outcome: other }.into()),
        };
        let remaining = Duration::from_nanos(wake_at_ns.saturating_sub(wall_clock_ns()));
        if remaining.is_zero() {
            return Ok(());
        }
        if remaining > self.inline_sleep_max {
            return Err(Suspend { wake_at_ns }.into());
        }
        let waited = Instant::now();
        tokio::time::sleep(remaining).await;
        self.host_wait += waited.elapsed();
        Ok(())
    }

    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.journal.log(level, LogStream::Log, message);
        Ok(())
    }
}
