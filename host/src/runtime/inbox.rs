//! What arrives for workflows, and how runs hear of it.
//!
//! Signals, children's ends and cancellation requests are stored first (the
//! store orders each against the workflow's commits under its row's lock,
//! and wakes a suspended workflow that waits for it); then [`Arrivals`]
//! tells the run in flight in this process, if any, so that a run waiting
//! in memory looks again at once, and nudges the scheduler, which picks up
//! a workflow the store made `running`. A lost nudge costs latency, never
//! a wake-up: the scheduler sweeps the store every few seconds.
//!
//! [`RunInbox`] is the executor's [`Inbox`] for one run: looks into the
//! store for that workflow. [`commit_effects`] derives from a run's journal
//! entries what its commit does to other rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Inner, lock};
use crate::executor::{ChildAdmission, EndedChild, Inbox, InboxError, InboxSignal};
use crate::ids::{ComponentDigest, WorkflowId};
use crate::journal::{Call, ChildEnd, ChildStart, ChildStatus, Entry, Outcome, WaitOutcome};
use crate::store::{CommitEffects, ComponentKind, NewWorkflow, Store, WorkflowStatus};

/// A run in flight, as others reach it.
#[derive(Debug, Default)]
pub(super) struct RunLink {
    /// One permit whenever something may have arrived for the workflow.
    pub(super) arrivals: Arc<Notify>,
    /// Cancelled when the workflow is terminated, or the host lost its
    /// lease: the run stops at once.
    pub(super) terminate: CancellationToken,
}

/// The runs in flight and the scheduler's nudge; see the module docs.
#[derive(Default)]
pub(super) struct Arrivals {
    runs: Mutex<HashMap<WorkflowId, Arc<RunLink>>>,
    /// Wakes the scheduler.
    pub(super) scheduler: Arc<Notify>,
}

impl Arrivals {
    /// Registers the run of `id` now starting.
    pub(super) fn enter(&self, id: &WorkflowId) -> Arc<RunLink> {
        let link = Arc::new(RunLink::default());
        lock(&self.runs).insert(id.clone(), link.clone());
        link
    }

    /// Forgets the run of `id` that `link` reaches, which has ended (and
    /// not a newer run of the same workflow).
    pub(super) fn leave(&self, id: &WorkflowId, link: &Arc<RunLink>) {
        let mut runs = lock(&self.runs);
        if runs.get(id).is_some_and(|current| Arc::ptr_eq(current, link)) {
            runs.remove(id);
        }
    }

    /// Something may have arrived for each of `ids`: tells their runs in
    /// flight and nudges the scheduler.
    pub(super) fn poke(&self, ids: &[WorkflowId]) {
        if ids.is_empty() {
            return;
        }
        {
            let runs = lock(&self.runs);
            for id in ids {
                if let Some(link) = runs.get(id) {
                    link.arrivals.notify_one();
                }
            }
        }
        self.scheduler.notify_one();
    }

    /// Stops the run of `id` in flight, if any, committing nothing: it was
    /// terminated, or moved to another component.
    pub(super) fn terminate(&self, id: &WorkflowId) {
        if let Some(link) = lock(&self.runs).get(id) {
            link.terminate.cancel();
        }
    }

    /// Whether a run of `id` is in flight here.
    pub(super) fn runs(&self, id: &WorkflowId) -> bool {
        lock(&self.runs).contains_key(id)
    }

    /// Stops every run in flight: the host lost its lease, so their
    /// workflows may be another host's by now.
    pub(super) fn abandon_all(&self) {
        for link in lock(&self.runs).values() {
            link.terminate.cancel();
        }
    }
}

/// Pause before listening again after the listener failed.
const LISTEN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Until shutdown, tells [`Arrivals`], and the result and event waiters,
/// what the commits of every process announce on the database
/// (PostgreSQL's `NOTIFY`): a run of this host may wait for a signal sent
/// through another host's API, and a result waiter here for a workflow
/// another host runs. Returns at once on SQLite.
pub(super) async fn listen(inner: Arc<Inner>) {
    loop {
        let mut listener = tokio::select! {
            listener = inner.store.arrivals() => match listener {
                Ok(Some(listener)) => listener,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for arrivals; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(LISTEN_RETRY) => continue,
                        () = inner.shutdown.cancelled() => return,
                    }
                }
            },
            () = inner.shutdown.cancelled() => return,
        };
        loop {
            tokio::select! {
                arrived = listener.next() => match arrived {
                    Ok(id) => inner.heard(id).await,
                    Err(error) => {
                        tracing::warn!(%error, "arrivals listener failed; listening again");
                        tokio::select! {
                            () = tokio::time::sleep(LISTEN_RETRY) => break,
                            () = inner.shutdown.cancelled() => return,
                        }
                    }
                },
                () = inner.shutdown.cancelled() => return,
            }
        }
    }
}

/// The executor's [`Inbox`] for one run.
pub(super) struct RunInbox {
    pub(super) store: Arc<dyn Store>,
    pub(super) workflow_id: WorkflowId,
    pub(super) link: Arc<RunLink>,
}

fn host_side(error: impl std::fmt::Display) -> InboxError {
    format!("cannot read the workflow's inbox: {error}")
}

fn ms_to_ns(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

#[async_trait]
impl Inbox for RunInbox {
    async fn next_signal(&self, name: &str, after: u64) -> Result<Option<InboxSignal>, InboxError> {
        let signal = self.store.next_signal(&self.workflow_id, name, after).await.map_err(host_side)?;
        Ok(signal.map(|signal| InboxSignal {
            arrival: signal.arrival,
            payload: signal.payload,
            arrived_at_ns: ms_to_ns(signal.created_at_ms),
        }))
    }

    async fn child_end(&self, id: &str) -> Result<Option<EndedChild>, InboxError> {
        let child = WorkflowId::from_stored(id.to_owned());
        // The light read first: a running child is looked at often.
        match self.store.status(&child).await.map_err(host_side)? {
            Some((status, _)) if status.is_final() => {}
            Some(_) | None => return Ok(None),
        }
        let Some(record) = self.store.workflow(&child).await.map_err(host_side)? else { return Ok(None) };
        let status = match record.state.status {
            WorkflowStatus::Running | WorkflowStatus::Sleeping | WorkflowStatus::Waiting => return Ok(None),
            WorkflowStatus::Completed => ChildStatus::Completed,
            WorkflowStatus::Failed => ChildStatus::Failed,
            WorkflowStatus::Stuck => ChildStatus::Stuck,
            WorkflowStatus::Cancelled => ChildStatus::Cancelled,
            WorkflowStatus::Terminated => ChildStatus::Terminated,
        };
        let end = ChildEnd { id: id.to_owned(), status, output: record.output, error: record.error };
        Ok(Some(EndedChild { end, ended_at_ns: ms_to_ns(record.updated_at_ms) }))
    }

    async fn cancel_requested(&self) -> Result<bool, InboxError> {
        let status = self.store.status(&self.workflow_id).await.map_err(host_side)?;
        Ok(status.is_some_and(|(_, cancel_requested_ms)| cancel_requested_ms.is_some()))
    }

    async fn admit_child(&self, component: &str, id: &str) -> Result<ChildAdmission, InboxError> {
        let Some(record) = self.store.component(component).await.map_err(host_side)? else {
            return Ok(ChildAdmission::Refused(format!("no component has digest or name {component:?}")));
        };
        if record.kind != ComponentKind::Workflow {
            return Ok(ChildAdmission::Refused(format!(
                "component {component:?} is an activity: call it with activities.call"
            )));
        }
        let child = WorkflowId::from_stored(id.to_owned());
        if self.store.workflow(&child).await.map_err(host_side)?.is_some() {
            return Ok(ChildAdmission::Refused(format!("a workflow with id {id} already exists")));
        }
        Ok(ChildAdmission::Admitted { digest: record.digest.as_str().to_owned() })
    }

    fn arrivals(&self) -> Arc<Notify> {
        self.link.arrivals.clone()
    }
}

/// What committing `entries` of workflow `id` does to other rows: the
/// children their starts created, the signals their waits received, the
/// events they set, the children they asked to cancel.
pub(super) fn commit_effects(id: &WorkflowId, entries: &[Entry]) -> CommitEffects {
    let mut effects = CommitEffects::default();
    for entry in entries {
        match (&entry.call, &entry.outcome) {
            (Call::StartChild(call), Outcome::Child(start)) => {
                if let ChildStart::Started { id: child, digest } = start.as_ref() {
                    effects.children.push(NewWorkflow {
                        id: WorkflowId::from_stored(child.clone()),
                        component: ComponentDigest::from_stored(digest.clone()),
                        input: call.input.clone(),
                        parent: Some(id.clone()),
                        deadline_ms: None,
                        trace_parent: crate::telemetry::traces::current_traceparent(),
                        scheduled_by: None,
                    });
                }
            }
            (Call::WaitAny { .. }, Outcome::Won(won)) => {
                if let WaitOutcome::Signal { arrival, .. } = won.outcome {
                    effects.consumed.push((arrival, entry.seq));
                }
            }
            (Call::SetEvent { key, value }, _) => {
                effects.events.push((key.clone(), value.clone(), entry.seq))
            }
            (Call::CancelChild { id: child }, _) => {
                effects.cancels.push(WorkflowId::from_stored(child.clone()))
            }
            _ => {}
        }
    }
    effects
}
