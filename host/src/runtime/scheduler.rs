//! The scheduler loop: which due workflow runs next, on this host; and
//! [`start`], which runs a workflow started through this host at once when
//! a slot is free, without a claim.
//!
//! Each round claims up to the free instance slots' worth of due workflows
//! owned by nobody ([`Store::claim_due`](crate::store::Store::claim_due)):
//! new starts, woken workflows, fired timers, retries whose backoff ended,
//! and what dead hosts left, earliest due first, in one statement that skips
//! rows other hosts are claiming at that moment. A claim makes this host the
//! workflow's owner and bumps its revision, and a run starts for each. A
//! batch that filled every slot is followed by another round at once; when
//! due work is left waiting for a slot, runs in flight are told to give
//! their slots up at their next inline wait. A host that does not hold its
//! lease claims nothing.
//!
//! Each round first acts on execution timeouts that passed (a cancellation
//! request, then after the grace period a termination), and every few
//! seconds releases the workflows this host owns without a run (see
//! [`lease::release_orphans`]). The loop then waits for the earliest due
//! time or deadline, a nudge (a start that found no free slot, a
//! suspension, a run ending while due work waited for a slot, an arrival
//! here or announced by another host) or the sweep interval, whichever
//! comes first.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::{Error, Inner, lease, run};
use crate::clock;
use crate::ids::WorkflowId;
use crate::store::{Created, NewStart, NewWorkflow, WorkflowRecord};
use crate::telemetry::metrics;

/// Longest the loop sleeps without looking at the store: the fallback for
/// wake-ups it was not told about (another host's start, a lost
/// notification).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest pause between two looks at the store.
const MIN_DELAY: Duration = Duration::from_millis(5);
/// Pause after the store could not be read.
const STORE_RETRY: Duration = Duration::from_secs(1);
/// Most workflows claimed in one statement.
const CLAIM_BATCH: usize = 100;
/// How often workflows owned without a run are looked for.
const ORPHAN_INTERVAL: Duration = Duration::from_secs(5);

/// Runs until shutdown.
pub(super) async fn run(inner: Arc<Inner>) {
    let mut orphans_at = Instant::now() + ORPHAN_INTERVAL;
    loop {
        if Instant::now() >= orphans_at && inner.lease.held() {
            if let Err(error) = lease::release_orphans(&inner).await {
                tracing::warn!(%error, "cannot look for workflows owned without a run");
            }
            orphans_at = Instant::now() + ORPHAN_INTERVAL;
        }
        let delay = match dispatch_due(&inner).await {
            Ok(delay) => delay,
            Err(error) => {
                tracing::error!(%error, "scheduler cannot claim due workflows");
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

/// One round: claims due workflows and starts their runs; returns how long
/// to wait before the next round.
async fn dispatch_due(inner: &Arc<Inner>) -> Result<Duration, Error> {
    expire_due(inner).await?;
    if !inner.lease.held() {
        return Ok(SWEEP_INTERVAL);
    }
    let now_ms = clock::now_ms();
    // The slots are taken before the claim: starts run at once in a free
    // slot too (see `start` below).
    let mut slots: Vec<OwnedSemaphorePermit> =
        (0..CLAIM_BATCH).map_while(|_| inner.run_slots.clone().try_acquire_owned().ok()).collect();
    let free = slots.len();
    let mut claimed = 0;
    if free > 0 {
        let host = inner.lease.host();
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        for workflow in inner.store.claim_due(&host, now_ms, limit).await? {
            claimed += 1;
            let id = workflow.id.clone();
            let spawned = slots.pop().is_some_and(|slot| spawn_run(inner, workflow, slot));
            if !spawned {
                // Its previous run here has committed its end or suspension
                // but not yet left: give it back, to be claimed once it has.
                inner.store.release(&host, &id, now_ms, None).await?;
                inner.redispatch.store(true, Ordering::Relaxed);
            }
        }
    }
    drop(slots);
    if free > 0 && claimed == free {
        // The batch was full: more may be due.
        return Ok(MIN_DELAY);
    }
    let next_due = inner.store.next_due_at_ms().await?;
    let waiting_for_slot = free == 0 && next_due.is_some_and(|due| due <= now_ms);
    inner.slots_contended.store(waiting_for_slot, Ordering::Relaxed);
    if free == 0 {
        // The next run to end nudges the loop.
        inner.redispatch.store(true, Ordering::Relaxed);
        return Ok(SWEEP_INTERVAL);
    }
    let until = next_due
        .map(|due_ms| Duration::from_millis(u64::try_from(due_ms.saturating_sub(now_ms)).unwrap_or(0)))
        .unwrap_or(SWEEP_INTERVAL);
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

/// Creates workflow `new` through the group commit. With a slot free and
/// nothing due waiting for one, it is created owned by this host and runs
/// at once: no claim and no scheduler round between the start and its run.
/// Otherwise (or if the lease lapsed meanwhile, judged by the store) it is
/// due now, and the loop is nudged. The id joins the runs in flight before
/// the start commits, so the orphan sweep never finds the workflow owned
/// here without a run; and the start runs in a task of its own, so a
/// caller dropped meanwhile (a client gone, the API's timeout) still runs
/// what it created, or gives its place back.
///
/// # Errors
/// [`Error::Store`], [`Error::ShuttingDown`]; [`Error::HostSide`] if the
/// task failed.
pub(super) async fn start(inner: &Arc<Inner>, new: &NewWorkflow) -> Result<Created<WorkflowRecord>, Error> {
    let slot = (inner.lease.held()
        && !inner.shutdown.is_cancelled()
        && !inner.slots_contended.load(Ordering::Relaxed))
    .then(|| inner.run_slots.clone().try_acquire_owned().ok())
    .flatten()
    .filter(|_| inner.lock_active().insert(new.id.clone()));
    let owner = slot.as_ref().map(|_| inner.lease.host());
    let start = NewStart { workflow: new.clone(), owner: owner.clone() };
    let task_inner = inner.clone();
    let started = inner.tasks.spawn(async move {
        let inner = task_inner;
        let id = start.workflow.id.clone();
        match (inner.committer.start(start).await, slot) {
            (Ok(Created::New(record)), Some(slot)) if record.owner.is_some() && record.owner == owner => {
                metrics::workflow_started(record.component.as_str());
                spawn_reserved(&inner, record.clone(), slot);
                Ok(Created::New(record))
            }
            (started, slot) => {
                if slot.is_some() {
                    inner.lock_active().remove(&id);
                }
                if matches!(started, Ok(Created::New(_))) {
                    inner.arrivals.scheduler.notify_one();
                }
                if let Ok(Created::New(record)) = &started {
                    metrics::workflow_started(record.component.as_str());
                }
                started
            }
        }
    });
    started.await.map_err(|error| Error::HostSide(format!("the start failed: {error}")))?
}

/// Starts a run of `workflow`, which this host owns, holding `slot`;
/// `false` (and nothing started) if a run of it is still here.
fn spawn_run(inner: &Arc<Inner>, workflow: WorkflowRecord, slot: OwnedSemaphorePermit) -> bool {
    if !inner.lock_active().insert(workflow.id.clone()) {
        return false;
    }
    spawn_reserved(inner, workflow, slot);
    true
}

/// Starts a run of `workflow`, which this host owns and has already added
/// to its runs in flight, holding `slot`.
fn spawn_reserved(inner: &Arc<Inner>, workflow: WorkflowRecord, slot: OwnedSemaphorePermit) {
    let guard = ActiveRun { inner: inner.clone(), id: workflow.id.clone(), _slot: slot };
    inner.tasks.spawn(async move { run::run_workflow(&guard.inner, workflow).await });
}

/// A run in flight: holds its slot, and on drop (also when the run panics)
/// leaves the in-flight set, and nudges the scheduler if due work waits
/// for the slot or for this run to leave. (A run that suspended nudged it
/// already, for its timer.)
struct ActiveRun {
    inner: Arc<Inner>,
    id: WorkflowId,
    _slot: OwnedSemaphorePermit,
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        self.inner.lock_active().remove(&self.id);
        let waited = self.inner.redispatch.swap(false, Ordering::Relaxed);
        if waited || self.inner.slots_contended.load(Ordering::Relaxed) {
            self.inner.arrivals.scheduler.notify_one();
        }
    }
}
