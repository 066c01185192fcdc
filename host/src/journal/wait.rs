//! The journal's types for waiting: child workflow starts and the winner of
//! a `wait-any`.
//!
//! A wait source (a timer, a signal receive, a child) is one entry made by
//! the call that creates it; its journal position is the handle's key. A
//! `wait-any` entry records the keys it was given and which one won with
//! what, so replay hands back the same winner whatever has arrived since.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest signal name or event key, in bytes; names are 1 to this long,
/// whether the workflow or the API passes them.
pub const MAX_NAME_BYTES: usize = 256;

/// Checks a signal name or event key (`what` says which, for the message).
///
/// # Errors
/// A message saying the name is empty or longer than [`MAX_NAME_BYTES`].
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("the {what} is {} bytes long; it must be 1 to {MAX_NAME_BYTES}", name.len()));
    }
    Ok(())
}

/// `waits.start-child`, as journaled and compared on replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildCall {
    /// The component as the workflow named it (a digest or a name).
    pub component: String,
    /// The child's input, JSON text: journaled whole, since the commit that
    /// holds this entry creates the child from it.
    pub input: String,
    /// The id the workflow asked for, if any.
    pub id: Option<String>,
}

/// How a child start went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildStart {
    /// The child exists under `id`, running component `digest`; the commit
    /// that holds this entry creates it.
    Started {
        /// The child's workflow id.
        id: String,
        /// The digest of its component, resolved at the call.
        digest: String,
    },
    /// The child could not start; the message says why.
    Refused(String),
}

/// A child workflow's final status, as its parent sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildStatus {
    /// It returned `ok`.
    Completed,
    /// It returned `err` or trapped.
    Failed,
    /// Its replay diverged.
    Stuck,
    /// It was cancelled and returned.
    Cancelled,
    /// It was terminated.
    Terminated,
}

/// How a child workflow ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildEnd {
    /// The child's workflow id.
    pub id: String,
    /// Its final status.
    pub status: ChildStatus,
    /// Its output (JSON text), if it returned `ok`.
    pub output: Option<String>,
    /// Its error, if it has one.
    pub error: Option<String>,
}

/// What a wait source came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitOutcome {
    /// A timer fired.
    Fired,
    /// A signal was received and consumed: its arrival number in the
    /// workflow's inbox and its payload (JSON text).
    Signal {
        /// Arrival number, from 1, per workflow.
        arrival: u64,
        /// The payload.
        payload: String,
    },
    /// A child workflow ended.
    Child(ChildEnd),
}

/// The winner of a `wait-any`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Won {
    /// Its index in the list the workflow passed.
    pub index: u32,
    /// Its outcome.
    pub outcome: WaitOutcome,
}

impl fmt::Display for ChildCall {
    /// `child hello`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child {}", self.component)
    }
}

impl ChildStatus {
    /// The status's name, as in the workflow API (`completed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Stuck => "stuck",
            Self::Cancelled => "cancelled",
            Self::Terminated => "terminated",
        }
    }
}
