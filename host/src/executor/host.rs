//! [`RunState`]: the data of one run's wasmtime `Store`, and the
//! implementation of the `duro:workflow/runtime` imports on it.

use std::time::Duration;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Error;
use super::bindings::{Level, RuntimeHost};
use super::journal_handle::JournalHandle;
use super::wasi::{MAX_LINE_BYTES, MAX_RANDOM_BYTES};
use crate::clock;
use crate::journal::{Call, LogLevel, LogStream, Outcome};

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
    /// Epoch ticks in which this activation ran wasm: its CPU time in
    /// [`EPOCH_TICK`](crate::engine::EPOCH_TICK)s.
    pub(crate) cpu_ticks: u64,
    /// Set after a host call waited; the next epoch check is not charged.
    pub(crate) waited: bool,
    /// The last monotonic clock reading the guest saw, replayed or live.
    last_monotonic_ns: u64,
}

impl RunState {
    pub(crate) fn new(
        journal: JournalHandle,
        wasi: WasiCtx,
        limits: StoreLimits,
        inline_sleep_max: Duration,
    ) -> Self {
        Self {
            journal,
            wasi,
            table: ResourceTable::new(),
            limits,
            inline_sleep_max,
            cpu_ticks: 0,
            waited: false,
            last_monotonic_ns: 0,
        }
    }

    /// A journaled clock reading in ns. The live monotonic clock reads the
    /// wall clock (comparable across hosts), never going back from the last
    /// reading this workflow saw.
    pub(crate) fn journaled_time(&mut self, call: Call) -> wasmtime::Result<u64> {
        let floor = match call {
            Call::WasiMonotonicClock => self.last_monotonic_ns,
            _ => 0,
        };
        let ns = match self.journal.call(call.clone(), || Outcome::Time { ns: clock::now_ns().max(floor) })? {
            Outcome::Time { ns } => ns,
            outcome => return Err(Error::CorruptJournal { call, outcome }.into()),
        };
        if call == Call::WasiMonotonicClock {
            self.last_monotonic_ns = ns;
        }
        Ok(ns)
    }

    /// A journaled random number.
    pub(crate) fn journaled_random_u64(&mut self) -> wasmtime::Result<u64> {
        let live = || Outcome::Random { value: rand_core::Rng::next_u64(&mut wasmtime_wasi::thread_rng()) };
        match self.journal.call(Call::RandomU64, live)? {
            Outcome::Random { value } => Ok(value),
            outcome => Err(Error::CorruptJournal { call: Call::RandomU64, outcome }.into()),
        }
    }

    /// `len` journaled random bytes, one entry for the whole request.
    pub(crate) fn journaled_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            return Err(Error::RandomTooLarge { len, limit: MAX_RANDOM_BYTES }.into());
        }
        let call = Call::WasiRandomBytes { len };
        let live = || {
            let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
            rand_core::Rng::fill_bytes(&mut wasmtime_wasi::thread_rng(), &mut bytes);
            Outcome::Bytes(bytes)
        };
        match self.journal.call(call.clone(), live)? {
            Outcome::Bytes(bytes) if bytes.len() as u64 == len => Ok(bytes),
            outcome => Err(Error::CorruptJournal { call, outcome }.into()),
        }
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl RuntimeHost for RunState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        self.journaled_time(Call::Now)
    }

    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        self.journaled_random_u64()
    }

    async fn sleep(&mut self, duration_ns: u64) -> wasmtime::Result<()> {
        let call = Call::Sleep { duration_ns };
        let live = || Outcome::Timer { wake_at_ns: clock::now_ns().saturating_add(duration_ns) };
        let wake_at_ns = match self.journal.call(call.clone(), live)? {
            Outcome::Timer { wake_at_ns } => wake_at_ns,
            outcome => return Err(Error::CorruptJournal { call, outcome }.into()),
        };
        let remaining = Duration::from_nanos(wake_at_ns.saturating_sub(clock::now_ns()));
        if remaining.is_zero() {
            return Ok(());
        }
        if remaining > self.inline_sleep_max {
            return Err(Suspend { wake_at_ns }.into());
        }
        tokio::time::sleep(remaining).await;
        self.waited = true;
        Ok(())
    }

    fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        message.truncate(message.floor_char_boundary(MAX_LINE_BYTES));
        self.journal.log(level, LogStream::Log, message);
        Ok(())
    }
}
