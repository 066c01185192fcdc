//! Retention: ended workflows are deleted once they are older than the
//! retention period (`duro serve --retention 30d`), as Temporal's
//! namespace retention does.
//!
//! Every tenth of the period, at most every [`SWEEP_EVERY`] and at least
//! every [`SWEEP_MIN`], the sweep walks the workflows created before now
//! minus the period, oldest first, [`BATCH`] at a time with a pause
//! between batches, and deletes those that ended before then: each batch
//! is one short transaction, so runs and API calls never wait long behind
//! it. `stuck` workflows are kept (an upgrade can still save them); delete
//! one by hand. Every host sweeps; on a shared database they may delete the
//! same rows, which is harmless.

use std::sync::Arc;
use std::time::Duration;

use super::Inner;
use crate::clock;

/// Longest time between two sweeps (the first comes one interval after
/// start).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Shortest time between two sweeps.
const SWEEP_MIN: Duration = Duration::from_millis(100);
/// Workflows read, and at most deleted in one transaction, per batch.
const BATCH: u32 = 500;
/// Pause between two batches of a sweep.
const BATCH_PAUSE: Duration = Duration::from_millis(100);

/// Sweeps until shutdown, deleting what ended more than `period` ago.
pub(super) async fn sweep(inner: Arc<Inner>, period: Duration) {
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let every = (period / 10).clamp(SWEEP_MIN, SWEEP_EVERY);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = inner.shutdown.cancelled() => return,
        }
        let before_ms = clock::now_ms().saturating_sub(period_ms);
        let (mut deleted, mut after) = (0, 0);
        loop {
            match inner.store.delete_ended_before(before_ms, after, BATCH).await {
                Ok(step) => {
                    deleted += step.deleted;
                    match step.next {
                        Some(next) => after = next,
                        None => break,
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "retention sweep failed; trying again at the next one");
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(BATCH_PAUSE) => {}
                () = inner.shutdown.cancelled() => return,
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, retention = ?period, "ended workflows deleted");
        }
    }
}
