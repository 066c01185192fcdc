//! The WASI context of a workflow: no ambient authority, and every source of
//! nondeterminism served through the journal.
//!
//! Language toolchains import `wasi:clocks`, `wasi:random` and `wasi:cli` stdio
//! even when the author never asked for them (Rust's std does). A workflow gets
//! no filesystem, no sockets, no environment and no arguments; its clocks and
//! random sources are journaled exactly like `duro:workflow/runtime.now` and
//! `random-u64`, so `SystemTime::now()` replays identically; stdout and stderr
//! become the workflow's log (once, not again on replay). The insecure random
//! seed (which seeds Rust's `HashMap`) is a fixed value, the same on every run.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::journal_handle::JournalHandle;
use crate::journal::{Call, LogLevel, LogStream, Outcome, wall_clock_ns};

/// How many of the guest's last stderr lines a failure message quotes.
const STDERR_TAIL_LINES: usize = 20;
/// Longest line kept from guest stdout/stderr, in bytes; longer lines are split.
const MAX_LINE_BYTES: usize = 16 << 10;

/// The guest's last stderr lines in this activation, replayed or not.
pub(crate) type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// Builds the WASI context of one run; returns it with the stderr tail and
/// the two output streams (to flush their last partial line at the end).
pub(crate) fn context(journal: &JournalHandle) -> (WasiCtx, GuestOutput, GuestOutput) {
    let stdout = GuestOutput::new(journal.clone(), LogStream::Stdout, None);
    let stderr = GuestOutput::new(journal.clone(), LogStream::Stderr, Some(StderrTail::default()));
    let mut builder = WasiCtxBuilder::new();
    builder
        .wall_clock(JournaledWallClock(journal.clone()))
        .monotonic_clock(JournaledMonotonicClock(journal.clone()))
        .secure_random(JournaledRandom(journal.clone()))
        .insecure_random(JournaledRandom(journal.clone()))
        .insecure_random_seed(0)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    (builder.build(), stdout, stderr)
}

/// Reads a journaled clock; a divergence is remembered by the cursor (and
/// reported at the next duro host call or when `run` returns) since WASI's
/// clock hooks cannot fail.
fn journaled_time(journal: &JournalHandle, call: Call) -> u64 {
    match journal.call(call, || Outcome::Time { ns: wall_clock_ns() }) {
        Ok(Outcome::Time { ns }) => ns,
        Ok(Outcome::Random { .. } | Outcome::Timer { .. } | Outcome::Bytes(_)) | Err(_) => 0,
    }
}

struct JournaledWallClock(JournalHandle);

impl HostWallClock for JournaledWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(journaled_time(&self.0, Call::WasiWallClock))
    }
}

/// The monotonic clock reads the wall clock when live: its readings are
/// journaled, so they only need to be monotonic within one host's lifetime of
/// a workflow, and wall time keeps them comparable across hosts.
struct JournaledMonotonicClock(JournalHandle);

impl HostMonotonicClock for JournaledMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        journaled_time(&self.0, Call::WasiMonotonicClock)
    }
}

struct JournaledRandom(JournalHandle);

impl rand_core::TryRng for JournaledRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // The low half of a journaled u64: one entry kind for both widths.
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let outcome = self.0.call(Call::RandomU64, || Outcome::Random {
            value: rand_core::Rng::next_u64(&mut wasmtime_wasi::thread_rng()),
        });
        Ok(match outcome {
            Ok(Outcome::Random { value }) => value,
            Ok(Outcome::Time { .. } | Outcome::Timer { .. } | Outcome::Bytes(_)) | Err(_) => 0,
        })
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let len = dst.len();
        let outcome = self.0.call(Call::WasiRandomBytes { len: len as u64 }, || {
            let mut bytes = vec![0; len];
            rand_core::Rng::fill_bytes(&mut wasmtime_wasi::thread_rng(), &mut bytes);
            Outcome::Bytes(bytes)
        });
        match outcome {
            Ok(Outcome::Bytes(bytes)) if bytes.len() == len => dst.copy_from_slice(&bytes),
            Ok(Outcome::Bytes(_) | Outcome::Time { .. } | Outcome::Random { .. } | Outcome::Timer { .. })
            | Err(_) => dst.fill(0),
        }
        Ok(())
    }
}

/// Guest stdout or stderr: split into lines, each line a log entry.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    journal: JournalHandle,
    stream: LogStream,
    /// Bytes written since the last newline.
    partial: Arc<Mutex<Vec<u8>>>,
    /// For stderr: the last lines, for failure messages.
    tail: Option<StderrTail>,
}

impl GuestOutput {
    fn new(journal: JournalHandle, stream: LogStream, tail: Option<StderrTail>) -> Self {
        Self { journal, stream, partial: Arc::default(), tail }
    }

    fn write(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
        partial.extend_from_slice(bytes);
        while let Some(end) = partial
            .iter()
            .position(|&b| b == b'\n')
            .or_else(|| (partial.len() >= MAX_LINE_BYTES).then_some(MAX_LINE_BYTES))
        {
            let line: Vec<u8> = partial.drain(..end).collect();
            if partial.first() == Some(&b'\n') {
                partial.remove(0);
            }
            self.emit(&line);
        }
    }

    /// Emits what follows the last newline, if anything.
    pub(crate) fn flush_partial(&self) {
        let line = std::mem::take(&mut *self.partial.lock().unwrap_or_else(PoisonError::into_inner));
        if !line.is_empty() {
            self.emit(&line);
        }
    }

    /// The last stderr lines, oldest first (empty for stdout).
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail
            .as_ref()
            .map(|tail| tail.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect())
            .unwrap_or_default()
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line).trim_end_matches('\r').to_owned();
        if let Some(tail) = &self.tail {
            let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        let level = match self.stream {
            LogStream::Stderr => LogLevel::Warn,
            LogStream::Stdout | LogStream::Log => LogLevel::Info,
        };
        self.journal.log(level, self.stream, line);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        GuestOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(MAX_LINE_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        GuestOutput::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
