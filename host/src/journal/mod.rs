//! The journal: what a workflow asked of its host and what it got back.
//!
//! A journal is a dense sequence of [`Entry`]s, one per host call, numbered by
//! `seq` from 0. This module owns the entry types ([`Call`], [`Outcome`]), their
//! postcard encoding behind a version byte ([`codec`]), and the replay
//! [`Cursor`] that feeds recorded outcomes back in order and detects
//! non-determinism. It knows nothing of SQL, HTTP or wasm, so it can be tested
//! and reasoned about on its own.

pub mod codec;
mod cursor;
mod effect;
mod entry;
mod log;
mod wait;

pub use codec::Error;
pub use cursor::{
    Budget, BudgetExceeded, Cursor, Divergence, HistoryEnd, Nondeterminism, ReplayError, Reservation, Usage,
};
pub use effect::{
    ActivityAttempt, ActivityCall, ActivityError, Attempt, FieldValue, Fields, HttpAttempt, HttpCall,
    HttpError, HttpResponse, InFlight, RetryPolicy,
};
pub use entry::{Call, Entry, EntryKind, Outcome};
pub use log::{LogLevel, LogLine, LogStream};
pub use wait::{ChildCall, ChildEnd, ChildStart, ChildStatus, MAX_NAME_BYTES, WaitOutcome, Won, check_name};
