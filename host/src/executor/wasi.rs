//! The WASI surface of a workflow: no ambient authority, and every source of
//! nondeterminism served through the journal.
//!
//! Language toolchains import `wasi:clocks`, `wasi:random` and `wasi:cli`
//! stdio even when the author never asked for them (Rust's std does). A
//! workflow gets no filesystem, no sockets, no environment, no arguments and
//! an empty stdin (wasmtime-wasi's defaults). On top of wasmtime-wasi's
//! implementation [`add_to_linker`] shadows the functions that would let the
//! outside world in:
//!
//! - `wasi:clocks/wall-clock.now` and `monotonic-clock.now` are journaled
//!   (so `SystemTime::now()` and `Instant::now()` replay identically);
//! - `wasi:random` bytes and numbers, secure and insecure, are journaled, one
//!   entry per call (a request must fit the journal's entry budget);
//! - `monotonic-clock.subscribe-*` (what `std::thread::sleep` uses) trap:
//!   a real-time wait is neither durable nor replayable, so workflows use the
//!   durable `sleep` instead;
//! - the insecure random seed (which seeds Rust's `HashMap`) is a constant;
//! - `wasi:io/poll` waits (for a `wasi:http` answer, `workflow_http.rs`) are
//!   not charged to the guest's CPU time.
//!
//! Stdout and stderr become the workflow's log, line by line ([`GuestOutput`]).
//! A write is bounded as WASI specifies: at most what `check-write` permits
//! ([`WRITE_PERMIT_BYTES`]), or the guest traps, and splitting it into lines
//! costs time linear in its length.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_io::bindings::wasi::io::poll as io_poll;

use super::host::RunState;
use super::journal_handle::JournalHandle;
use crate::journal::{Call, LogStream};

/// What `check-write` permits per write to stdout or stderr, in bytes; a
/// larger `write` traps, as the WASI 0.2 `output-stream.write` precondition says.
pub const WRITE_PERMIT_BYTES: usize = 64 << 10;
/// How many of the guest's last stderr lines a failure message quotes.
const STDERR_TAIL_LINES: usize = 20;
/// Longest log line kept, in bytes: longer stdout/stderr lines are split,
/// longer `log` messages cut.
pub(crate) const MAX_LINE_BYTES: usize = 16 << 10;
/// The version of the WASI 0.2 interfaces wasmtime-wasi 48.0.8 defines;
/// guests importing any 0.2.x version link to them (semver matching). It must
/// match exactly, or the shadowing lands in an unused instance: wasmtime is
/// pinned in host/Cargo.toml, and `tests/replay.rs` (std_system_time_is_journaled)
/// fails if clocks stop being journaled.
const WASI_VERSION: &str = "0.2.12";

/// The guest's last stderr lines in this activation, replayed or not.
type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// Builds the WASI context of one run; returns it with the two output
/// streams (to flush their last partial line when the run ends).
pub(crate) fn context(journal: &JournalHandle) -> (WasiCtx, GuestOutput, GuestOutput) {
    let stdout = GuestOutput::new(journal.clone(), LogStream::Stdout, None);
    let stderr = GuestOutput::new(journal.clone(), LogStream::Stderr, Some(StderrTail::default()));
    let mut builder = WasiCtxBuilder::new();
    builder.insecure_random_seed(0).stdout(stdout.clone()).stderr(stderr.clone());
    (builder.build(), stdout, stderr)
}

/// Adds wasmtime-wasi's WASI 0.2 and shadows the nondeterministic parts; see
/// the module docs.
///
/// # Errors
/// If wasmtime-wasi's interfaces cannot be added or a signature is rejected.
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    linker.allow_shadowing(true);

    let mut wall_clock = linker.instance(&format!("wasi:clocks/wall-clock@{WASI_VERSION}"))?;
    wall_clock.func_wrap_async("now", |mut store: StoreContextMut<'_, RunState>, (): ()| {
        Box::new(async move {
            let ns = store.data_mut().journaled_time(Call::WasiWallClock).await?;
            let nanoseconds = u32::try_from(ns % 1_000_000_000).unwrap_or(0);
            Ok((Datetime { seconds: ns / 1_000_000_000, nanoseconds },))
        })
    })?;
    wall_clock.func_wrap("resolution", |_: StoreContextMut<'_, RunState>, (): ()| {
        Ok((Datetime { seconds: 0, nanoseconds: 1 },))
    })?;

    let mut monotonic = linker.instance(&format!("wasi:clocks/monotonic-clock@{WASI_VERSION}"))?;
    monotonic.func_wrap_async("now", |mut store: StoreContextMut<'_, RunState>, (): ()| {
        Box::new(async move { Ok((store.data_mut().journaled_time(Call::WasiMonotonicClock).await?,)) })
    })?;
    monotonic.func_wrap("resolution", |_: StoreContextMut<'_, RunState>, (): ()| Ok((1u64,)))?;
    for name in ["subscribe-instant", "subscribe-duration"] {
        monotonic.func_wrap(name, move |_: StoreContextMut<'_, RunState>, (_,): (u64,)| {
            Err::<(Resource<DynPollable>,), _>(wasmtime::format_err!(
                "wasi:clocks/monotonic-clock.{name} (e.g. std::thread::sleep) is not available to \
                 workflows: a real-time wait is not durable; use the durable sleep (duro_sdk::sleep)"
            ))
        })?;
    }

    for (interface, prefix) in [("random", "get-random"), ("insecure", "get-insecure-random")] {
        let mut random = linker.instance(&format!("wasi:random/{interface}@{WASI_VERSION}"))?;
        random.func_wrap_async(
            &format!("{prefix}-bytes"),
            |mut store: StoreContextMut<'_, RunState>, (len,): (u64,)| {
                Box::new(async move { Ok((store.data_mut().journaled_random_bytes(len).await?,)) })
            },
        )?;
        random.func_wrap_async(
            &format!("{prefix}-u64"),
            |mut store: StoreContextMut<'_, RunState>, (): ()| {
                Box::new(async move { Ok((store.data_mut().journaled_random_u64().await?,)) })
            },
        )?;
    }
    // Waiting in `poll` (for a `wasi:http` answer) is not the guest's CPU
    // time: charge what ran before the wait, and start again after it. The
    // wait is bounded (`poll_limit`).
    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI_VERSION}"))?;
    poll.func_wrap_async(
        "poll",
        |mut store: StoreContextMut<'_, RunState>, (pollables,): (Vec<Resource<DynPollable>>,)| {
            Box::new(async move {
                let state = store.data_mut();
                state.charge_cpu()?;
                let limit = poll_limit(state);
                let ready =
                    tokio::time::timeout(limit, io_poll::Host::poll(&mut state.table, pollables)).await;
                state.cpu.resume();
                Ok((ready.map_err(|_| poll_stuck(limit))??,))
            })
        },
    )?;
    poll.func_wrap_async(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, RunState>, (pollable,): (Resource<DynPollable>,)| {
            Box::new(async move {
                let state = store.data_mut();
                state.charge_cpu()?;
                let limit = poll_limit(state);
                let ready =
                    tokio::time::timeout(limit, io_poll::HostPollable::block(&mut state.table, pollable))
                        .await;
                state.cpu.resume();
                ready.map_err(|_| poll_stuck(limit))?
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The longest a workflow may wait in `wasi:io/poll`: what a `wasi:http`
/// request may take (its body, then its answer, each within the HTTP
/// timeout) and a margin. Everything else a workflow can wait on is ready
/// at once, so a longer wait is on something nothing will make ready (a
/// request body written before `handle` and never sent): the run traps.
fn poll_limit(state: &RunState) -> Duration {
    state.http.config().max_timeout.saturating_mul(2).saturating_add(Duration::from_secs(10))
}

/// The trap of a wait past [`poll_limit`].
fn poll_stuck(limit: Duration) -> wasmtime::Error {
    wasmtime::format_err!(
        "the workflow waited in wasi:io/poll for more than {} s on something nothing can make ready \
         (for example a request body that was never handed over)",
        limit.as_secs()
    )
}

/// Guest stdout or stderr: split into lines, each line a log entry.
///
/// A line is logged live only for the bytes written after replay ended:
/// bytes written while replaying were logged by the run that first wrote them
/// (a partial line is flushed when a run ends), so they are skipped.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    journal: JournalHandle,
    stream: LogStream,
    line: Arc<Mutex<PartialLine>>,
    /// For stderr: the last lines, for failure messages.
    tail: Option<StderrTail>,
}

/// Bytes written since the last newline.
#[derive(Default)]
struct PartialLine {
    bytes: Vec<u8>,
    /// How many leading bytes were written while replaying.
    replayed: usize,
}

impl GuestOutput {
    fn new(journal: JournalHandle, stream: LogStream, tail: Option<StderrTail>) -> Self {
        Self { journal, stream, line: Arc::default(), tail }
    }

    /// Appends `bytes` and logs each completed line. Linear in
    /// `bytes.len()`: each byte is scanned for a newline once (bytes kept from
    /// earlier writes are not scanned again) and the consumed prefix is
    /// removed once.
    fn write(&self, bytes: &[u8]) {
        let replaying = self.journal.lock().is_replaying();
        let mut line = self.line.lock().unwrap_or_else(PoisonError::into_inner);
        let mut scan_from = line.bytes.len();
        line.bytes.extend_from_slice(bytes);
        if replaying {
            line.replayed = line.bytes.len();
        }
        let mut start = 0;
        loop {
            // A line ends at a newline within MAX_LINE_BYTES, or is split there.
            let window_end = line.bytes.len().min(start + MAX_LINE_BYTES + 1);
            let newline = line.bytes[scan_from.min(window_end)..window_end].iter().position(|&b| b == b'\n');
            let (end, next) = match newline {
                Some(offset) => {
                    let end = scan_from.min(window_end) + offset;
                    (end, end + 1)
                }
                None if line.bytes.len() - start > MAX_LINE_BYTES => {
                    let end = start + char_boundary_at_or_below(&line.bytes[start..], MAX_LINE_BYTES);
                    (end, end)
                }
                None => break,
            };
            let replayed = line.replayed.saturating_sub(start).min(next - start);
            self.emit(&line.bytes[start..end], replayed);
            start = next;
            scan_from = start;
        }
        line.bytes.drain(..start);
        line.replayed = line.replayed.saturating_sub(start);
    }

    /// Emits what follows the last newline, if anything.
    pub(crate) fn flush_partial(&self) {
        let line = std::mem::take(&mut *self.line.lock().unwrap_or_else(PoisonError::into_inner));
        if !line.bytes.is_empty() {
            self.emit(&line.bytes, line.replayed);
        }
    }

    /// The last stderr lines, oldest first (empty for stdout).
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail
            .as_ref()
            .map(|tail| tail.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Records a completed line of which the first `replayed` bytes (counting
    /// its newline) were written during replay: the rest goes to the log; a
    /// line with nothing live left was logged by the run that first wrote it.
    fn emit(&self, line: &[u8], replayed: usize) {
        if let Some(tail) = &self.tail {
            let text = String::from_utf8_lossy(line).trim_end_matches('\r').to_owned();
            let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        }
        if replayed > 0 && replayed >= line.len() {
            return;
        }
        self.journal.log_output(self.stream, &line[replayed..]);
    }
}

/// The largest index at or below `at` where a UTF-8 character starts, so a
/// split line does not cut a character in two (at most 3 bytes back; `at`
/// itself for bytes that are not UTF-8).
fn char_boundary_at_or_below(bytes: &[u8], at: usize) -> usize {
    let is_continuation = |i: usize| bytes.get(i).is_some_and(|&b| (b & 0xC0) == 0x80);
    (at.saturating_sub(3)..=at).rev().find(|&i| i > 0 && !is_continuation(i)).unwrap_or(at)
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
        if bytes.len() > WRITE_PERMIT_BYTES {
            return Err(StreamError::trap(&format!(
                "the workflow wrote {} bytes to {} at once; check-write permits {WRITE_PERMIT_BYTES}",
                bytes.len(),
                self.stream.as_str()
            )));
        }
        GuestOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT_BYTES)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Budget, Cursor, Entry, Outcome, Usage};

    fn stdout_with(recorded: Vec<Entry>) -> (JournalHandle, GuestOutput) {
        let journal = JournalHandle::new(Cursor::new(recorded, Budget::default(), Usage::default()));
        (journal.clone(), GuestOutput::new(journal, LogStream::Stdout, None))
    }

    fn logged(journal: &JournalHandle) -> Vec<String> {
        journal.lock().take_pending().1.into_iter().map(|line| line.message).collect()
    }

    #[test]
    fn lines_longer_than_the_cap_are_split_without_cutting_characters() {
        let (journal, stdout) = stdout_with(Vec::new());
        let mut text = "a".repeat(MAX_LINE_BYTES - 1);
        text.push('é'); // two bytes straddling the cap
        text.push_str("tail\n");
        stdout.write(text.as_bytes());
        let lines = logged(&journal);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES - 1);
        assert_eq!(lines[1], "étail");
    }

    #[test]
    fn only_the_live_part_of_a_line_begun_during_replay_is_logged() {
        let sleep = Entry {
            seq: 0,
            call: Call::Sleep { duration_ns: 1 },
            outcome: Outcome::Timer { wake_at_ns: 1 },
            recorded_at_ns: 0,
        };
        let (journal, stdout) = stdout_with(vec![sleep]);
        stdout.write(b"done before the timer\nhalf ");
        journal.lock().replay(&Call::Sleep { duration_ns: 1 }).ok();
        stdout.write(b"and half\n");
        assert_eq!(logged(&journal), ["and half"]);
    }
}
