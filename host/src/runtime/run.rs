//! The life of one run: claim, prepare, load, replay and continue,
//! checkpoint, commit.
//!
//! Every write of a run is compare-and-set against the workflow state it
//! continues from ([`WorkflowState`]); the run tracks that state as its
//! checkpoints commit. A commit the database cannot take now is retried with
//! backoff, keeping the run's report; one it refuses for good fails the
//! workflow with a host-side error; a stale one is dropped and counted. A
//! run that cannot proceed for a host-side reason (the database, a trap or
//! the CPU budget during replay) leaves the workflow `running` with the
//! reason in its `error`, and is retried after an exponential backoff.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::committer::CommitError;
use super::inbox::{RunInbox, RunLink, commit_effects};
use super::stats::Counters;
use super::{Error, Inner, lock};
use crate::clock;
use crate::executor::{
    self, ActivityUnavailable, CheckpointError, Checkpointer, Prepared, RunHooks, RunOutcome, RunReport,
    Suspension, Waiting,
};
use crate::ids::{ComponentDigest, HostId, WorkflowId};
use crate::journal::{Entry, LogLine, Usage};
use crate::store::{
    CommitEffects, ComponentKind, RunCommit, StatusUpdate, StoredEntry, WaitSet, WorkflowRecord,
    WorkflowState, WorkflowStatus,
};
use crate::telemetry::metrics;

/// Largest workflow output stored, in bytes (JSON text); larger fails the
/// workflow. Temporal's payload limit is 2 MB; the input limit is 1 MiB.
const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Longest error message stored, in bytes; longer ones are cut.
const MAX_ERROR_BYTES: usize = 64 << 10;
/// First pause before retrying a commit the database could not take.
const COMMIT_RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest pause between two tries of one commit.
const COMMIT_RETRY_MAX: Duration = Duration::from_secs(5);
/// First backoff of a workflow whose run failed for a host-side reason; it
/// doubles with each failure in a row.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest backoff of a workflow.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// When a workflow whose runs failed for host-side reasons may run again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    pub(super) until: Instant,
    failures: u32,
}

/// How many workflows are waiting out a backoff now.
pub(super) fn backing_off(inner: &Inner) -> usize {
    let now = Instant::now();
    lock(&inner.backoff).values().filter(|backoff| backoff.until > now).count()
}

/// One run of `workflow`, which this host has claimed; host-side failures
/// release it to run again after a backoff (on any host), with the reason
/// noted as its error.
pub(super) async fn run_workflow(inner: &Arc<Inner>, workflow: WorkflowRecord) {
    let span = tracing::info_span!("run", workflow = %workflow.id, component = %workflow.component);
    crate::telemetry::traces::set_parent(&span, workflow.trace_parent.as_deref());
    run_in_span(inner, workflow).instrument(span).await;
}

/// [`run_workflow`], inside the run's span.
async fn run_in_span(inner: &Arc<Inner>, workflow: WorkflowRecord) {
    let id = &workflow.id.clone();
    let started = Instant::now();
    let attempted = attempt(inner, workflow).await;
    metrics::run_finished(started.elapsed());
    lock(&inner.waiting).remove(id);
    match attempted {
        Ok(()) => {
            lock(&inner.backoff).remove(id);
        }
        Err(Error::ShuttingDown) => {}
        Err(error) => {
            Counters::bump(&inner.counters.host_retries);
            let backoff = {
                let mut backoffs = lock(&inner.backoff);
                let failures = backoffs.get(id).map_or(0, |backoff| backoff.failures).saturating_add(1);
                let delay = BACKOFF_FIRST.saturating_mul(1 << (failures - 1).min(16)).min(BACKOFF_MAX);
                let backoff = Backoff { until: Instant::now() + delay, failures };
                backoffs.insert(id.clone(), backoff);
                delay
            };
            tracing::warn!(workflow = %id, %error, retry_in = ?backoff, "run failed on the host side; will retry");
            let note = format!("retrying in {backoff:?} after a host-side failure: {error}");
            let due_ms =
                clock::now_ms().saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX));
            let note = truncate(note, MAX_ERROR_BYTES);
            if let Err(error) = inner.store.release(&inner.lease.host(), id, due_ms, Some(&note)).await {
                // The workflow stays owned here; the orphan sweep gives it up.
                tracing::warn!(workflow = %id, %error, "cannot release the workflow for a retry");
            }
        }
    }
}

/// Runs and commits; `Err` for host-side failures.
async fn attempt(inner: &Arc<Inner>, workflow: WorkflowRecord) -> Result<(), Error> {
    let id = workflow.id.clone();
    let link = inner.arrivals.enter(&id);
    let attempted = attempt_linked(inner, workflow, link.clone()).await;
    inner.arrivals.leave(&id, &link);
    attempted
}

/// [`attempt`], with the run reachable through `link`.
async fn attempt_linked(
    inner: &Arc<Inner>,
    workflow: WorkflowRecord,
    link: Arc<RunLink>,
) -> Result<(), Error> {
    let checkpoints = Arc::new(RunCheckpoints {
        inner: inner.clone(),
        workflow_id: workflow.id.clone(),
        state: Mutex::new(workflow.state),
        claimed_by: inner.lease.host(),
        stopped: link.terminate.clone(),
    });
    let inbox = Arc::new(RunInbox { store: inner.store.clone(), workflow_id: workflow.id.clone(), link });
    let report = match load_and_run(inner, &workflow, checkpoints.clone(), inbox).await? {
        Run::Reported(report) => report,
        Run::Unrunnable(error) => {
            let commit = failure(checkpoints.state(), &workflow.id, error);
            return finish(inner, &workflow.component, commit).await;
        }
        Run::Cancelled => return Ok(()),
    };
    let RunReport { outcome, entries, logs } = report;
    let update = match outcome {
        RunOutcome::ReplayFailed(error) | RunOutcome::HostFailed(error) => {
            return Err(Error::HostSide(error));
        }
        RunOutcome::CheckpointFailed(CheckpointError::Stale(_) | CheckpointError::ShuttingDown) => {
            return Ok(());
        }
        RunOutcome::CheckpointFailed(error @ CheckpointError::Failed(_)) => {
            let commit = failure(checkpoints.state(), &workflow.id, error.to_string());
            return finish(inner, &workflow.component, commit).await;
        }
        RunOutcome::Completed(output) => completed(output),
        RunOutcome::Failed(error) => StatusUpdate::Failed { error: truncate(error, MAX_ERROR_BYTES) },
        RunOutcome::Stuck(diverged) => StatusUpdate::Stuck { error: diverged.to_string() },
        RunOutcome::Cancelled(returned) => StatusUpdate::Cancelled {
            returned: match returned.map(completed) {
                Ok(StatusUpdate::Completed { output }) => Ok(output),
                Ok(StatusUpdate::Failed { error }) => Err(error),
                Ok(_) => Err("the workflow returned an output the host cannot store".to_owned()),
                Err(error) => Err(truncate(error, MAX_ERROR_BYTES)),
            },
        },
        RunOutcome::Suspended(suspension) => suspended(suspension),
    };
    // A stuck run commits no entries: they would continue a journal the
    // workflow no longer follows.
    let entries = match update {
        StatusUpdate::Stuck { .. } => Vec::new(),
        _ => entries,
    };
    let commit = run_commit(&workflow.id, checkpoints.state(), &entries, logs, update);
    finish(inner, &workflow.component, commit).await
}

/// The commit of `entries` and `logs` recorded by a run of `workflow_id`
/// that continues from `expected`, setting `update`, with what the entries
/// do to other rows.
fn run_commit(
    workflow_id: &WorkflowId,
    expected: WorkflowState,
    entries: &[Entry],
    logs: Vec<LogLine>,
    update: StatusUpdate,
) -> RunCommit {
    RunCommit {
        workflow_id: workflow_id.clone(),
        expected,
        effects: commit_effects(workflow_id, entries),
        entries: entries.iter().map(StoredEntry::encode).collect(),
        logs,
        update,
    }
}

/// The status of a workflow whose run suspended: `waiting` if it waits for
/// signals or children, else `sleeping` until its timer.
fn suspended(suspension: Suspension) -> StatusUpdate {
    let to_ms = |ns: u64| i64::try_from(ns.div_ceil(1_000_000)).unwrap_or(i64::MAX);
    let Suspension { wake_at_ns, signals, children, cancellable } = suspension;
    match wake_at_ns {
        Some(wake_at_ns) if signals.is_empty() && children.is_empty() => {
            StatusUpdate::Sleeping { wake_at_ms: to_ms(wake_at_ns), cancellable }
        }
        _ => StatusUpdate::Waiting {
            wake_at_ms: wake_at_ns.map(to_ms),
            on: WaitSet {
                signals,
                children: children.into_iter().map(WorkflowId::from_stored).collect(),
                cancellable,
            },
        },
    }
}

/// Commits a run's last commit, of a workflow of `component`; announces
/// and counts a final status.
async fn finish(inner: &Inner, component: &ComponentDigest, commit: RunCommit) -> Result<(), Error> {
    let id = commit.workflow_id.clone();
    let status = commit.update.status();
    let new_entries = commit.entries.len();
    let committed = match commit_durably(inner, commit).await {
        Committed::Yes => true,
        Committed::Stale => return Ok(()),
        Committed::ShuttingDown => return Err(Error::ShuttingDown),
        Committed::Refused(error, commit) => {
            // Fail the workflow instead, with nothing of the run's work.
            let failed = failure(commit.expected, &id, format!("the host could not commit the run: {error}"));
            match commit_durably(inner, failed).await {
                Committed::Yes => false,
                Committed::Stale => return Ok(()),
                Committed::ShuttingDown => return Err(Error::ShuttingDown),
                Committed::Refused(error, _) => return Err(Error::Store(Arc::new(error))),
            }
        }
    };
    let status = if committed { status } else { crate::store::WorkflowStatus::Failed };
    if status.is_final() {
        inner.settled.tell(&id);
        metrics::workflow_ended(component.as_str(), status.as_str());
        tracing::info!(workflow = %id, status = status.as_str(), new_entries, "workflow ended");
    } else {
        // Its timer may be due before the scheduler looks again.
        inner.arrivals.scheduler.notify_one();
        tracing::debug!(workflow = %id, status = status.as_str(), new_entries, "run suspended");
    }
    Ok(())
}

/// How [`commit_durably`] ended.
enum Committed {
    Yes,
    /// The workflow has moved on: nothing was written (counted).
    Stale,
    ShuttingDown,
    /// The database refused the commit for good (counted); it comes back.
    Refused(crate::store::Error, Box<RunCommit>),
}

/// Commits `commit`, retrying with backoff while the database is
/// unavailable (the commit is kept, not re-executed).
async fn commit_durably(inner: &Inner, mut commit: RunCommit) -> Committed {
    let mut pause = COMMIT_RETRY_FIRST;
    let mut retried = false;
    let sets_events = !commit.effects.events.is_empty();
    let children: Vec<ComponentDigest> =
        commit.effects.children.iter().map(|child| child.component.clone()).collect();
    let workflow_id = commit.workflow_id.clone();
    loop {
        match inner.committer.commit(commit).await {
            Ok(()) => {
                Counters::bump(&inner.counters.commits);
                for child in &children {
                    metrics::workflow_started(child.as_str());
                }
                if sets_events {
                    inner.events_set.tell(&workflow_id);
                }
                return Committed::Yes;
            }
            Err(CommitError::Stopped) => return Committed::ShuttingDown,
            Err(CommitError::Store(error, returned)) if error.is_stale() => {
                // A connection lost after the database committed looks like
                // a failure; the retry then finds the workflow already in
                // the state this commit sets.
                if retried && already_applied(inner, &returned).await {
                    Counters::bump(&inner.counters.commits);
                    return Committed::Yes;
                }
                Counters::bump(&inner.counters.stale_commits);
                tracing::warn!(%error, "stale commit rejected");
                return Committed::Stale;
            }
            Err(CommitError::Store(error, returned)) if error.is_unavailable() => {
                Counters::bump(&inner.counters.commit_retries);
                tracing::warn!(%error, workflow = %returned.workflow_id, retry_in = ?pause, "commit failed; retrying");
                commit = *returned;
                retried = true;
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = inner.shutdown.cancelled() => return Committed::ShuttingDown,
                }
                pause = (pause * 2).min(COMMIT_RETRY_MAX);
            }
            Err(CommitError::Store(error, returned)) => {
                Counters::bump(&inner.counters.failed_commits);
                tracing::error!(%error, workflow = %returned.workflow_id, "commit refused");
                return Committed::Refused(error, returned);
            }
        }
    }
}

/// Whether the workflow is already in the state `commit` sets, with its
/// entries: the commit was applied by an earlier try. A suspension may have
/// left it `running` instead (what it waits for had already arrived). A
/// checkpoint applied leaves the workflow owned by this host: a release or
/// a reclaim bumps the revision just as a commit without entries does, and
/// must not pass for one.
async fn already_applied(inner: &Inner, commit: &RunCommit) -> bool {
    let next = commit.next_state();
    match inner.store.workflow(&commit.workflow_id).await {
        Ok(Some(record)) => {
            let woken = next.status.is_suspended() && record.state.status == WorkflowStatus::Running;
            let state = WorkflowState { status: next.status, ..record.state };
            let owned = next.status != WorkflowStatus::Running || record.owner == Some(inner.lease.host());
            state == next && (record.state.status == next.status || woken) && owned
        }
        Ok(None) | Err(_) => false,
    }
}

/// A run's [`Checkpointer`]: commits through the group committer and keeps
/// the state the run continues from.
struct RunCheckpoints {
    inner: Arc<Inner>,
    workflow_id: WorkflowId,
    state: Mutex<WorkflowState>,
    /// The host id under which the workflow was claimed: the run may act
    /// only while the host holds its lease under that id.
    claimed_by: HostId,
    /// Cancelled when the run must stop (terminated, or abandoned).
    stopped: CancellationToken,
}

impl RunCheckpoints {
    fn state(&self) -> WorkflowState {
        *lock(&self.state)
    }
}

#[async_trait]
impl Checkpointer for RunCheckpoints {
    async fn commit(&self, entries: Vec<Entry>, logs: Vec<LogLine>) -> Result<(), CheckpointError> {
        let commit = run_commit(&self.workflow_id, self.state(), &entries, logs, StatusUpdate::Running);
        let next = commit.next_state();
        match commit_durably(&self.inner, commit).await {
            Committed::Yes => {
                Counters::bump(&self.inner.counters.checkpoints);
                *lock(&self.state) = next;
                Ok(())
            }
            Committed::Stale => {
                Err(CheckpointError::Stale(format!("workflow {} has moved on", self.workflow_id)))
            }
            Committed::ShuttingDown => Err(CheckpointError::ShuttingDown),
            Committed::Refused(error, _) => Err(CheckpointError::Failed(error.to_string())),
        }
    }

    fn slots_contended(&self) -> bool {
        self.inner.slots_contended.load(Ordering::Relaxed)
    }

    fn lease_held(&self) -> bool {
        let lease = &self.inner.lease;
        lease.held() && lease.host() == self.claimed_by && !self.stopped.is_cancelled()
    }

    async fn activity(&self, component: &str) -> Result<Prepared, ActivityUnavailable> {
        let record = match self.inner.components.resolve(component).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Err(ActivityUnavailable::Unrunnable(format!(
                    "no component has digest or name {component:?}"
                )));
            }
            Err(error) => {
                return Err(ActivityUnavailable::HostSide(format!(
                    "cannot look up component {component:?}: {error}"
                )));
            }
        };
        if record.kind != ComponentKind::Activity {
            return Err(ActivityUnavailable::Unrunnable(format!(
                "component {component:?} is a workflow, not an activity"
            )));
        }
        match prepare(&self.inner, &record.digest).await {
            Ok(Ok(prepared)) => Ok(prepared),
            Ok(Err(message)) => Err(ActivityUnavailable::Unrunnable(message)),
            Err(error) => {
                Err(ActivityUnavailable::HostSide(format!("cannot prepare activity {component:?}: {error}")))
            }
        }
    }

    fn waiting(&self, waiting: Option<Waiting>) {
        let mut all = lock(&self.inner.waiting);
        match waiting {
            Some(waiting) => all.insert(self.workflow_id.clone(), waiting),
            None => all.remove(&self.workflow_id),
        };
    }
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
async fn load_and_run(
    inner: &Inner,
    workflow: &WorkflowRecord,
    checkpoints: Arc<RunCheckpoints>,
    inbox: Arc<RunInbox>,
) -> Result<Run, Error> {
    let component = match prepare(inner, &workflow.component).await? {
        Ok(component) => component,
        Err(unrunnable) => return Ok(Run::Unrunnable(unrunnable)),
    };
    let recorded = match load_journal(inner, workflow).await? {
        Ok(recorded) => recorded,
        Err(unrunnable) => return Ok(Run::Unrunnable(unrunnable)),
    };
    metrics::run_loaded(recorded.len());
    let usage = Usage { log_bytes: workflow.log_bytes };
    let terminated = inbox.link.terminate.clone();
    let hooks = RunHooks { checkpointer: checkpoints, inbox };
    tokio::select! {
        // A stop is seen before a report that raced it.
        biased;
        () = inner.shutdown.cancelled() => Ok(Run::Cancelled),
        () = terminated.cancelled() => Ok(Run::Cancelled),
        report = inner.executor.run(&component, workflow.id.as_str(), &workflow.input, recorded, usage, hooks) => match report {
            Ok(report) => Ok(Run::Reported(report)),
            // The component passed its checks at upload: failing to
            // instantiate it now (no slot, a limit lowered since) is the
            // host's condition, retried.
            Err(error) => Err(error.into()),
        },
    }
}

/// The journal of `workflow`, dense from seq 0 and as long as its record
/// says, or why it cannot be read (a row this build cannot decode, a gap).
pub(super) async fn load_journal(
    inner: &Inner,
    workflow: &WorkflowRecord,
) -> Result<Result<Vec<Entry>, String>, Error> {
    if workflow.state.next_seq == 0 {
        // A workflow's first run: nothing to read (commits are
        // compare-and-set on `next_seq`, so none can have been written).
        return Ok(Ok(Vec::new()));
    }
    let recorded = match inner.store.journal(&workflow.id, None, u32::MAX, u64::MAX).await {
        Ok(stored) => match StoredEntry::decode_all(&stored) {
            Ok(recorded) => recorded,
            Err(error) => return Ok(Err(format!("cannot read the journal: {error}"))),
        },
        Err(error) if error.is_unavailable() => return Err(error.into()),
        // A row this build cannot read will not read better later.
        Err(error) => return Ok(Err(format!("cannot read the journal: {error}"))),
    };
    if let Some((expected, entry)) = recorded.iter().enumerate().find(|(i, entry)| entry.seq != *i as u64) {
        return Ok(Err(format!("the journal has a gap: expected seq {expected}, found {}", entry.seq)));
    }
    if recorded.len() as u64 != workflow.state.next_seq {
        return Ok(Err(format!(
            "the journal has {} entries but the workflow recorded {}",
            recorded.len(),
            workflow.state.next_seq
        )));
    }
    Ok(Ok(recorded))
}

/// The prepared component `digest`, or why it can never run: fetches its
/// bytes and compiles it once, under a lock per component, so concurrent
/// runs of a component not yet compiled (at recovery, say) neither fetch nor
/// compile it twice.
pub(super) async fn prepare(
    inner: &Inner,
    digest: &ComponentDigest,
) -> Result<Result<Prepared, String>, Error> {
    if let Some(prepared) = inner.executor.prepared(digest) {
        return Ok(Ok(prepared));
    }
    let turn = lock(&inner.preparing).entry(digest.clone()).or_default().clone();
    let result = {
        let _turn = turn.lock().await;
        prepare_locked(inner, digest).await
    };
    let mut preparing = lock(&inner.preparing);
    if preparing.get(digest).is_some_and(|turn| Arc::strong_count(turn) <= 2) {
        preparing.remove(digest);
    }
    result
}

async fn prepare_locked(inner: &Inner, digest: &ComponentDigest) -> Result<Result<Prepared, String>, Error> {
    if let Some(prepared) = inner.executor.prepared(digest) {
        return Ok(Ok(prepared));
    }
    let Some(bytes) = inner.store.component_bytes(digest).await? else {
        return Ok(Err(format!("component {digest} is missing from the store")));
    };
    match inner.executor.prepare(digest, bytes.into()).await {
        Ok(prepared) => Ok(Ok(prepared)),
        Err(
            error @ (executor::Error::NoInstanceSlot
            | executor::Error::CompileTimeout { .. }
            | executor::Error::CompileInterrupted(_)),
        ) => Err(Error::Executor(error)),
        Err(error) => Ok(Err(error.to_string())),
    }
}

/// A commit that fails the workflow with `error`, keeping nothing of the run.
fn failure(expected: WorkflowState, workflow_id: &WorkflowId, error: String) -> RunCommit {
    RunCommit {
        workflow_id: workflow_id.clone(),
        expected,
        entries: Vec::new(),
        logs: Vec::new(),
        update: StatusUpdate::Failed { error: truncate(error, MAX_ERROR_BYTES) },
        effects: CommitEffects::default(),
    }
}

/// The update for a run that returned `output`: completed, unless the
/// output is too large or not JSON.
fn completed(output: String) -> StatusUpdate {
    if output.len() > MAX_OUTPUT_BYTES {
        let error =
            format!("the workflow's output is {} bytes; the limit is {MAX_OUTPUT_BYTES} bytes", output.len());
        return StatusUpdate::Failed { error };
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(&output) {
        Ok(_) => StatusUpdate::Completed { output },
        Err(error) => {
            let shown: String = output.chars().take(200).collect();
            StatusUpdate::Failed {
                error: format!("the workflow returned output that is not JSON ({error}): {shown}"),
            }
        }
    }
}

/// `text` cut to at most `max` bytes, saying so.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        text.truncate(text.floor_char_boundary(max));
        text.push_str(" [truncated]");
    }
    text
}
