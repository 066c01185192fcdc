//! Counters of what the runtime did, so that conditions the host absorbs
//! (a stale commit, a commit retried, a replay that failed) are counted and
//! visible rather than silent.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::engine::CompileCacheStats;

/// Since the process started, unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Commits applied: checkpoints and run ends (many may share one
    /// transaction of the group committer).
    pub commits: u64,
    /// Checkpoints committed by runs still in progress.
    pub checkpoints: u64,
    /// Transactions the group committer wrote; `commits / transactions` is
    /// how many commits shared one.
    pub transactions: u64,
    /// Commits retried after the database was unavailable.
    pub commit_retries: u64,
    /// Commits rejected because their run was stale: never applied.
    pub stale_commits: u64,
    /// Commits the database refused for good; their workflows were failed
    /// with a host-side error.
    pub failed_commits: u64,
    /// Runs that stopped for a host-side reason (database, replay trap or
    /// replay CPU budget) and were retried after a backoff.
    pub host_retries: u64,
    /// Runs in flight now.
    pub runs_in_flight: usize,
    /// Workflows waiting out a backoff now.
    pub workflows_backing_off: usize,
    /// Components compiled and cached now.
    pub compiled_components: usize,
    /// Bytes of compiled code cached now.
    pub compiled_bytes: usize,
    /// Uses of the disk cache of compiled code.
    pub compile_cache: CompileCacheStats,
    /// Workflow instances alive now (one per wasm `Store`): waiting and
    /// sleeping workflows hold none.
    pub live_instances: usize,
}

/// The runtime's counters; see [`Stats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) checkpoints: AtomicU64,
    pub(super) commit_retries: AtomicU64,
    pub(super) stale_commits: AtomicU64,
    pub(super) failed_commits: AtomicU64,
    pub(super) host_retries: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`.
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(
        &self,
        runs_in_flight: usize,
        workflows_backing_off: usize,
        compiled_components: usize,
        compiled_bytes: usize,
    ) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            commits: read(&self.commits),
            checkpoints: read(&self.checkpoints),
            transactions: 0,
            commit_retries: read(&self.commit_retries),
            stale_commits: read(&self.stale_commits),
            failed_commits: read(&self.failed_commits),
            host_retries: read(&self.host_retries),
            runs_in_flight,
            workflows_backing_off,
            compiled_components,
            compiled_bytes,
            compile_cache: CompileCacheStats::default(),
            live_instances: 0,
        }
    }
}
