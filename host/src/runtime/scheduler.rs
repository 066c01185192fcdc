//! The scheduler loop and the life of one run.
//!
//! The loop asks the store for due workflows (status `running`, or `sleeping`
//! with `wake_at` passed), starts a run for each one not already in flight,
//! then waits for the earliest wake-up, a local nudge (a start, a run ending)
//! or the sweep interval, whichever comes first.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::{Error, Inner};
use crate::clock;
use crate::executor::{self, RunOutcome, RunReport};
use crate::ids::WorkflowId;
use crate::store::{RunCommit, StatusUpdate, StoredEntry, WorkflowRecord};

/// Longest the loop sleeps without looking at the store: the fallback for
/// wake-ups it was not told about.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Largest workflow output stored, in bytes (JSON text); larger fails the
/// workflow. Temporal's payload limit is 2 MB; the input limit is 1 MiB.
const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Longest error message stored, in bytes; longer ones are cut.
const MAX_ERROR_BYTES: usize = 64 << 10;
/// Shortest pause between two looks at the store.
const MIN_DELAY: Duration = Duration::from_millis(5);
/// Pause after a run failed for a host-side reason (database down), before
/// the workflow is eligible again, so a broken database is not hammered.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Runs until shutdown.
pub(super) async fn run(inner: Arc<Inner>) {
    loop {
        let delay = match dispatch_due(&inner).await {
            Ok(delay) => delay,
            Err(error) => {
                tracing::error!(%error, "scheduler cannot read due workflows");
                RETRY_PAUSE
            }
        };
        tokio::select! {
            () = inner.shutdown.cancelled() => break,
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Starts runs for due workflows; returns how long to wait before looking again.
async fn dispatch_due(inner: &Arc<Inner>) -> Result<Duration, Error> {
    let now_ms = clock::now_ms();
    let free = inner.run_slots.available_permits();
    if free == 0 {
        // A finishing run frees a slot and nudges the loop.
        return Ok(SWEEP_INTERVAL);
    }
    // Workflows in flight here are still `running` in the store: ask for
    // enough rows to find `free` that are not.
    let in_flight = inner.lock_active().len();
    let limit = u32::try_from(free + in_flight).unwrap_or(u32::MAX);
    for id in inner.store.due_workflows(now_ms, limit).await? {
        if !inner.lock_active().insert(id.clone()) {
            continue;
        }
        let Ok(slot) = inner.run_slots.clone().try_acquire_owned() else {
            inner.lock_active().remove(&id);
            break;
        };
        let guard = ActiveRun { inner: inner.clone(), id, _slot: slot };
        inner.tasks.spawn(async move {
            if let Err(error) = run_workflow(&guard.inner, &guard.id).await {
                tracing::error!(workflow = %guard.id, %error, "run failed; will retry");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = guard.inner.shutdown.cancelled() => {}
                }
            }
        });
    }
    let next_wake_ms = inner.store.next_wake_at_ms().await?;
    let until_wake = next_wake_ms.map_or(SWEEP_INTERVAL, |wake_ms| {
        Duration::from_millis(u64::try_from(wake_ms.saturating_sub(now_ms)).unwrap_or(0))
    });
    Ok(until_wake.clamp(MIN_DELAY, SWEEP_INTERVAL))
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
        self.inner.wake.notify_one();
    }
}

/// One run: load, replay and continue, commit.
async fn run_workflow(inner: &Inner, id: &WorkflowId) -> Result<(), Error> {
    let Some(workflow) = inner.store.claim(id, clock::now_ms()).await? else { return Ok(()) };
    let commit = match load_and_run(inner, &workflow).await? {
        Run::Reported(report) => commit_for(workflow.id, report),
        Run::Unrunnable(error) => RunCommit {
            workflow_id: workflow.id,
            entries: Vec::new(),
            logs: Vec::new(),
            update: StatusUpdate::Failed { error },
        },
        Run::Cancelled => return Ok(()),
    };
    let status = commit.update.status();
    let new_entries = commit.entries.len();
    inner.committer.commit(commit).await?;
    if status.is_final() {
        // No receiver means nobody is waiting for a result: nothing to do.
        let _ = inner.settled.send(id.clone());
        tracing::info!(workflow = %id, status = status.as_str(), new_entries, "workflow ended");
    } else {
        tracing::debug!(workflow = %id, status = status.as_str(), new_entries, "run suspended");
    }
    Ok(())
}

/// How a run attempt went, short of host-side errors.
enum Run {
    /// The executor ran the workflow.
    Reported(RunReport),
    /// The workflow cannot run at all: its component or journal is unusable.
    /// It fails with this message.
    Unrunnable(String),
    /// Shutdown cancelled the run; it replays at the next start.
    Cancelled,
}

/// Prepares the component, loads the journal and runs.
async fn load_and_run(inner: &Inner, workflow: &WorkflowRecord) -> Result<Run, Error> {
    let digest = &workflow.component;
    if !inner.executor.is_prepared(digest) {
        let Some(bytes) = inner.store.component_bytes(digest).await? else {
            return Ok(Run::Unrunnable(format!("component {digest} is missing from the store")));
        };
        match inner.executor.prepare(digest, bytes.into()).await {
            Ok(()) => {}
            Err(error @ executor::Error::NoInstanceSlot) => return Err(error.into()),
            Err(error) => return Ok(Run::Unrunnable(error.to_string())),
        }
    }
    let stored = inner.store.journal(&workflow.id, None, u32::MAX).await?;
    let recorded = match StoredEntry::decode_all(&stored) {
        Ok(recorded) => recorded,
        Err(error) => return Ok(Run::Unrunnable(format!("cannot read the journal: {error}"))),
    };
    if let Some((expected, entry)) = recorded.iter().enumerate().find(|(i, entry)| entry.seq != *i as u64) {
        return Ok(Run::Unrunnable(format!(
            "the journal has a gap: expected seq {expected}, found {}",
            entry.seq
        )));
    }
    tokio::select! {
        report = inner.executor.run(digest, &workflow.input, recorded) => match report {
            Ok(report) => Ok(Run::Reported(report)),
            // No instance to be had now: a host-side condition, retried.
            Err(error @ executor::Error::NoInstanceSlot) => Err(error.into()),
            Err(error) => Ok(Run::Unrunnable(error.to_string())),
        },
        () = inner.shutdown.cancelled() => Ok(Run::Cancelled),
    }
}

/// What a run's report commits. A stuck run commits no entries: they would
/// continue a journal the workflow no longer follows.
fn commit_for(workflow_id: WorkflowId, report: RunReport) -> RunCommit {
    let (update, keep_entries) = match report.outcome {
        RunOutcome::Completed(output) if output.len() > MAX_OUTPUT_BYTES => {
            let error = format!(
                "the workflow's output is {} bytes; the limit is {MAX_OUTPUT_BYTES} bytes",
                output.len()
            );
            (StatusUpdate::Failed { error }, true)
        }
        RunOutcome::Completed(output) => match serde_json::from_str::<serde::de::IgnoredAny>(&output) {
            Ok(_) => (StatusUpdate::Completed { output }, true),
            Err(error) => {
                let shown: String = output.chars().take(200).collect();
                let error = format!("the workflow returned output that is not JSON ({error}): {shown}");
                (StatusUpdate::Failed { error }, true)
            }
        },
        RunOutcome::Failed(error) => (StatusUpdate::Failed { error: truncate(error, MAX_ERROR_BYTES) }, true),
        RunOutcome::Stuck(diverged) => (StatusUpdate::Stuck { error: diverged.to_string() }, false),
        RunOutcome::Suspended { wake_at_ns } => {
            let wake_at_ms = i64::try_from(wake_at_ns.div_ceil(1_000_000)).unwrap_or(i64::MAX);
            (StatusUpdate::Sleeping { wake_at_ms }, true)
        }
    };
    let entries =
        if keep_entries { report.entries.iter().map(StoredEntry::encode).collect() } else { Vec::new() };
    RunCommit { workflow_id, entries, logs: report.logs, update }
}

/// `text` cut to at most `max` bytes, saying so.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        text.truncate(text.floor_char_boundary(max));
        text.push_str(" [truncated]");
    }
    text
}
