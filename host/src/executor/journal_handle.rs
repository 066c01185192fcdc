//! [`JournalHandle`]: the run's replay cursor, shared by the host calls and
//! the guest's stdout/stderr streams.
//!
//! wasmtime-wasi owns the output streams, so the cursor is shared behind a std
//! `Mutex`. The lock is only held for a cursor operation, never across an `.await`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::Error;
use crate::clock;
use crate::journal::{Call, Cursor, LogLevel, LogLine, LogStream, Outcome};

/// A clone of the run's cursor; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct JournalHandle(Arc<Mutex<Cursor>>);

impl JournalHandle {
    pub(crate) fn new(cursor: Cursor) -> Self {
        Self(Arc::new(Mutex::new(cursor)))
    }

    /// Replays `call`, or performs it with `live` and records the outcome.
    /// `payload_bytes` is the size the entry will have, or a bound on it:
    /// a call that cannot fit the journal's budget is refused before `live`
    /// does any work.
    ///
    /// # Errors
    /// [`Nondeterminism`](crate::journal::Nondeterminism) if the journal
    /// recorded another call here; [`Error::Budget`] if the entry does not
    /// fit. Both end the run when returned from a host call.
    pub(crate) fn call(
        &self,
        call: Call,
        payload_bytes: u64,
        live: impl FnOnce() -> Outcome,
    ) -> wasmtime::Result<Outcome> {
        let mut cursor = self.lock();
        if let Some(recorded) = cursor.replay(&call)? {
            return Ok(recorded);
        }
        cursor.admit(&call, payload_bytes).map_err(Error::Budget)?;
        let _span =
            tracing::debug_span!("duro.call", kind = call.kind().as_str(), seq = cursor.next_seq()).entered();
        let outcome = live();
        cursor.record(call, outcome.clone(), clock::now_ns()).map_err(Error::Budget)?;
        Ok(outcome)
    }

    /// Adds a log line written now (dropped while replaying or past the log
    /// budget).
    pub(crate) fn log(&self, level: LogLevel, stream: LogStream, message: String) {
        self.lock().log(LogLine { at_ns: clock::now_ns(), level, stream, message });
    }

    /// As [`Self::log`] for guest output: the text is decoded only if kept.
    pub(crate) fn log_output(&self, stream: LogStream, bytes: &[u8]) {
        let level = if stream == LogStream::Stderr { LogLevel::Warn } else { LogLevel::Info };
        self.lock().log_with(bytes.len() as u64, || LogLine {
            at_ns: clock::now_ns(),
            level,
            stream,
            message: String::from_utf8_lossy(bytes).trim_end_matches('\r').to_owned(),
        });
    }

    /// The cursor itself.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Cursor> {
        // A panic while holding the lock cannot leave the cursor half-updated
        // in a way that matters: the run is abandoned and nothing is committed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
