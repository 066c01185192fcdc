//! [`JournalHandle`]: the run's replay cursor, shared by every host call.
//!
//! wasmtime-wasi's clock, random and stdio hooks are synchronous objects owned
//! by the WASI context, so the cursor is shared behind a std `Mutex`. The lock
//! is only held for a cursor operation and never across an `.await`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::journal::{Call, Cursor, LogLevel, LogLine, LogStream, Nondeterminism, Outcome, wall_clock_ns};

/// A clone of the run's cursor; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct JournalHandle(Arc<Mutex<Cursor>>);

impl JournalHandle {
    pub(crate) fn new(cursor: Cursor) -> Self {
        Self(Arc::new(Mutex::new(cursor)))
    }

    /// Replays `call`, or performs it with `live` and records the outcome.
    pub(crate) fn call(&self, call: Call, live: impl FnOnce() -> Outcome) -> Result<Outcome, Nondeterminism> {
        let mut cursor = self.lock();
        if let Some(recorded) = cursor.replay(&call)? {
            return Ok(recorded);
        }
        let outcome = live();
        cursor.record(call, outcome.clone(), wall_clock_ns());
        Ok(outcome)
    }

    /// Adds a log line (dropped while replaying).
    pub(crate) fn log(&self, level: LogLevel, stream: LogStream, message: String) {
        self.lock().log(LogLine { at_ns: wall_clock_ns(), level, stream, message });
    }

    /// The cursor itself, for the end of the run.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Cursor> {
        // A panic while holding the lock cannot leave the cursor half-updated
        // in a way that matters: the run is abandoned and nothing is committed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
