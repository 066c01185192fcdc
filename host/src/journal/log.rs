//! Workflow log lines: `log` calls and guest stdout/stderr.
//!
//! Log lines are not journal entries (they answer nothing), but they travel
//! with the journal: the replay [`Cursor`](super::Cursor) drops lines written
//! while the workflow is replaying, and keeps the rest until they are committed
//! with the entries that follow them. So each line is stored exactly once.

use serde::Serialize;

/// Severity of a log line, lowest first (mirrors `duro:workflow/runtime.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress; also guest stdout.
    Info,
    /// Something unexpected; also guest stderr.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The level's name, e.g. `"info"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Parses a name written by [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" => Self::Warn,
            "error" => Self::Error,
            _ => return None,
        })
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// A `duro:workflow/runtime.log` call.
    Log,
    /// The guest's `wasi:cli/stdout`.
    Stdout,
    /// The guest's `wasi:cli/stderr`.
    Stderr,
}

impl LogStream {
    /// The stream's name, e.g. `"stdout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    /// Parses a name written by [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "log" => Self::Log,
            "stdout" => Self::Stdout,
            "stderr" => Self::Stderr,
            _ => return None,
        })
    }
}

/// One line of a workflow's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the line was written, in ns since the Unix epoch.
    pub at_ns: u64,
    /// Severity.
    pub level: LogLevel,
    /// Origin.
    pub stream: LogStream,
    /// The text, without a trailing newline.
    pub message: String,
}
