//! The scheduler loop: which due workflow runs next.
//!
//! Each round asks the store for the two queues of due work (timers that
//! fired, earliest first; `running` workflows, oldest first: new starts,
//! woken sleepers and recoveries), each one index range scan of at most
//! the free slots plus the runs in flight, and takes from them in turn,
//! timers first. So a timer that fires while thousands of starts are queued
//! runs in the next round that has a free slot, and a stream of timers cannot
//! starve starts either. Workflows in flight here or waiting out a backoff are
//! skipped. When due work is left waiting for a slot, runs in flight are told
//! to give up their slots at their next inline wait.
//!
//! Each round first acts on execution timeouts that passed (a cancellation
//! request, then after the grace period a termination). The loop then waits
//! for the earliest wake-up (a timer, a deadline or a backoff), a local
//! nudge (a start, a run ending, an arrival) or the sweep interval,
//! whichever comes first.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::{Error, Inner, lock, run};
use crate::clock;
use crate::ids::WorkflowId;
use crate::store::DueWorkflows;

/// Longest the loop sleeps without looking at the store: the fallback for
/// wake-ups it was not told about.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Shortest pause between two looks at the store.
const MIN_DELAY: Duration = Duration::from_millis(5);
/// Pause after the store could not be read.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Runs until shutdown.
pub(super) async fn run(inner: Arc<Inner>) {
    loop {
        let delay = match dispatch_due(&inner).await {
            Ok(delay) => delay,
            Err(error) => {
                tracing::error!(%error, "scheduler cannot read due workflows");
                STORE_RETRY
            }
        };
        tokio::select! {
            () = inner.shutdown.cancelled() => break,
            () = inner.arrivals.scheduler.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One round: starts runs for due workflows; returns how long to wait
/// before the next round.
async fn dispatch_due(inner: &Arc<Inner>) -> Result<Duration, Error> {
    expire_due(inner).await?;
    let now_ms = clock::now_ms();
    let free = inner.run_slots.available_permits();
    // Workflows in flight or backing off are still due in the store: ask for
    // enough rows to find `free` others, and one more to tell whether work
    // is left waiting.
    let skip: HashSet<WorkflowId> = {
        let mut skip = inner.lock_active().clone();
        let now = tokio::time::Instant::now();
        skip.extend(lock(&inner.backoff).iter().filter(|(_, b)| b.until > now).map(|(id, _)| id.clone()));
        skip
    };
    let limit = u32::try_from(free + skip.len() + 1).unwrap_or(u32::MAX);
    let due = inner.store.due_workflows(now_ms, limit).await?;
    let mut waiting = 0;
    for id in in_turn(due).filter(|id| !skip.contains(id)) {
        let Ok(slot) = inner.run_slots.clone().try_acquire_owned() else {
            waiting += 1;
            continue;
        };
        if !inner.lock_active().insert(id.clone()) {
            continue;
        }
        let guard = ActiveRun { inner: inner.clone(), id, _slot: slot };
        inner.tasks.spawn(async move { run::run_workflow(&guard.inner, &guard.id).await });
    }
    inner.slots_contended.store(waiting > 0, Ordering::Relaxed);
    let next_timer = inner
        .store
        .next_wake_at_ms()
        .await?
        .map(|wake_ms| Duration::from_millis(u64::try_from(wake_ms.saturating_sub(now_ms)).unwrap_or(0)));
    let next_backoff = run::next_backoff_end(inner);
    let until = [next_timer, next_backoff].into_iter().flatten().min().unwrap_or(SWEEP_INTERVAL);
    Ok(until.clamp(MIN_DELAY, SWEEP_INTERVAL))
}

/// Most passed execution timeouts acted on in one round.
const DEADLINES_PER_ROUND: u32 = 256;

/// Acts on execution timeouts that passed: cancels the workflow, or, once
/// its grace period passed too, terminates it.
async fn expire_due(inner: &Inner) -> Result<(), Error> {
    let now_ms = clock::now_ms();
    let grace_ms = i64::try_from(inner.timeout_grace.as_millis()).unwrap_or(i64::MAX);
    for id in inner.store.due_deadlines(now_ms, DEADLINES_PER_ROUND).await? {
        // One workflow's failure (a deadlock, a corrupt row) must not hold
        // up the others, nor the round's dispatch: it is tried next round.
        let arrived = match inner.store.expire(&id, now_ms, grace_ms).await {
            Ok(arrived) => arrived,
            Err(error) => {
                tracing::warn!(workflow = %id, %error, "cannot act on the execution timeout; retrying");
                continue;
            }
        };
        let terminated =
            matches!(inner.store.status(&id).await, Ok(Some((crate::store::WorkflowStatus::Terminated, _))));
        if terminated {
            inner.terminated(&id);
        } else {
            tracing::info!(workflow = %id, "execution timeout passed; cancellation requested");
        }
        inner.arrivals.poke(&arrived);
    }
    Ok(())
}

/// The two queues taken in turn, timers first, each in its own order.
fn in_turn(due: DueWorkflows) -> impl Iterator<Item = WorkflowId> {
    let mut timers = due.timers.into_iter();
    let mut ready = due.ready.into_iter();
    let mut seen = HashSet::new();
    std::iter::from_fn(move || match (timers.next(), ready.next()) {
        (None, None) => None,
        (timer, ready) => Some(timer.into_iter().chain(ready)),
    })
    .flatten()
    .filter(move |id| seen.insert(id.clone()))
}

/// A run in flight: holds its slot, and on drop (also when the run panics)
/// leaves the in-flight set and nudges the scheduler.
struct ActiveRun {
    inner: Arc<Inner>,
    id: WorkflowId,
    _slot: OwnedSemaphorePermit,
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        self.inner.lock_active().remove(&self.id);
        self.inner.arrivals.scheduler.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<WorkflowId> {
        names.iter().map(|name| WorkflowId::from_stored((*name).to_owned())).collect()
    }

    #[test]
    fn queues_are_taken_in_turn_timers_first() {
        let due = DueWorkflows { timers: ids(&["t1", "t2"]), ready: ids(&["r1", "r2", "r3", "r4"]) };
        assert_eq!(in_turn(due).collect::<Vec<_>>(), ids(&["t1", "r1", "t2", "r2", "r3", "r4"]));
        let due = DueWorkflows { timers: ids(&["t1", "t2", "t3"]), ready: ids(&["r1"]) };
        assert_eq!(in_turn(due).collect::<Vec<_>>(), ids(&["t1", "r1", "t2", "t3"]));
    }
}
