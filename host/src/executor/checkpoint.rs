//! Checkpoints: a run commits its progress before it ends.
//!
//! A run keeps the entries and log lines it records in memory until they are
//! committed. Without checkpoints that is when the run ends, so a workflow
//! that stays in one activation (inline sleeps, a long computation with many
//! clock reads) would show no progress and lose all of it to a `kill -9`. So
//! after each journaled call the run checks its [`CheckpointPolicy`] and, when
//! a checkpoint is due, hands what it recorded to the [`Checkpointer`] and
//! waits until it is durable before the guest goes on. The same path is where
//! effects will commit their outcome before the guest sees it.
//!
//! The executor knows nothing of the database: the runtime implements
//! [`Checkpointer`] with its group committer.

use std::time::Duration;

use async_trait::async_trait;

use super::Prepared;
use crate::journal::{Entry, LogLine};

/// Pending entries' payload bytes that make a checkpoint due whatever the
/// policy says, so a run never holds more than this much uncommitted.
pub(crate) const CHECKPOINT_BYTES: u64 = 4 << 20;

/// When a run commits its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Commit once this many entries are pending (default 1,000).
    pub max_entries: usize,
    /// Commit once this long has passed since the run began or last
    /// committed, at its next journaled call (default 2 s): a `kill -9`
    /// loses at most about this much progress.
    pub interval: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { max_entries: 1_000, interval: Duration::from_secs(2) }
    }
}

/// Why a checkpoint was not committed; the run stops where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The workflow's stored state is not the one this run continues from:
    /// another run moved it on. The run is dropped and commits nothing.
    #[error("stale run: {0}")]
    Stale(String),
    /// The host is shutting down; the run replays at the next start.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The database refused the commit for a reason retrying will not cure.
    #[error("the host could not commit the workflow's progress: {0}")]
    Failed(String),
}

/// What a running workflow waits on: an effect in flight, or the backoff
/// before its next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The effect, e.g. `POST https://example.com/pay`.
    pub effect: String,
    /// The attempt in flight or next, from 1.
    pub attempt: u32,
    /// Most attempts the retry policy allows; 0 means no limit.
    pub max_attempts: u32,
    /// When the next attempt starts, in ns since the Unix epoch; `None`
    /// while the attempt is in flight.
    pub next_attempt_at_ns: Option<u64>,
}

/// Why an activity component cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityUnavailable {
    /// It does not exist, is not an activity, or cannot be compiled: the
    /// attempt fails with this message (`unknown-component`, not retried).
    Unrunnable(String),
    /// The host cannot get it now (the database, a compile timeout): the
    /// run stops and is retried later; nothing is journaled.
    HostSide(String),
}

/// Commits a run's progress; implemented by the runtime.
#[async_trait]
pub trait Checkpointer: Send + Sync {
    /// Durably commits `entries` (dense, continuing the journal) and `logs`,
    /// leaving the workflow `running`. Returns once they are committed;
    /// transient database failures are retried inside.
    ///
    /// # Errors
    /// [`CheckpointError`]: the run must stop.
    async fn commit(&self, entries: Vec<Entry>, logs: Vec<LogLine>) -> Result<(), CheckpointError>;

    /// Whether other workflows are waiting for an instance slot: a run then
    /// suspends at its next inline wait instead of holding its slot.
    fn slots_contended(&self) -> bool;

    /// Whether the host still holds the lease under which it runs this
    /// workflow. Checked before every effect and before the guest sees an
    /// effect's outcome: the database fences commits, but nothing fences an
    /// HTTP request of a host that lost its workflow to another.
    fn lease_held(&self) -> bool;

    /// Tells what the run waits on now (`None`: nothing, it computes), for
    /// the API's view of a running workflow.
    fn waiting(&self, waiting: Option<Waiting>);

    /// The activity component `component` (a digest or a name), prepared.
    ///
    /// # Errors
    /// [`ActivityUnavailable`]: the component cannot run, or the host
    /// cannot get it now.
    async fn activity(&self, component: &str) -> Result<Prepared, ActivityUnavailable>;
}
