//! Moving a workflow to another component: replay checks and upgrades.
//!
//! A workflow is pinned to the component digest it started with, so new
//! code never reaches a workflow by accident. To move one on purpose, the
//! host first replays its journal against the new component
//! ([`check`]): the new code must make every recorded call, in order,
//! with the same arguments, or the workflow would get `stuck` at its next
//! replay. Only a clean replay lets [`upgrade`] pin the workflow to the new
//! digest, compared and set against the revision whose journal was checked,
//! so a run that committed meanwhile sends the check round again. This is
//! the check Temporal leaves to a replayer in the author's test suite;
//! here the host does it against the real journal at the moment of the move.

use std::sync::Arc;

use bytes::Bytes;

use super::{Error, Inner, run};
use crate::executor::{Prepared, ReplayCheck};
use crate::ids::{ComponentDigest, WorkflowId};
use crate::store::{ComponentKind, WorkflowRecord, WorkflowStatus};

/// How many times [`upgrade`] checks again after the workflow moved on
/// under its check, before it gives up with [`Error::WorkflowChanged`].
const UPGRADE_TRIES: usize = 3;

/// The component a replay check runs: a stored one, by digest or name, or
/// bytes that are compiled for the check and not stored.
#[derive(Debug, Clone)]
pub enum CheckedComponent {
    /// A stored component's digest or name.
    Stored(String),
    /// A component's bytes.
    Bytes(Bytes),
}

/// What a replay check of a workflow found.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// The workflow as it was when its journal was read.
    pub workflow: WorkflowRecord,
    /// The digest of the component checked.
    pub component: ComponentDigest,
    /// The verdict.
    pub check: ReplayCheck,
}

/// Replays workflow `id`'s journal against `component`; changes nothing.
pub(super) async fn check(
    inner: &Arc<Inner>,
    id: &WorkflowId,
    component: CheckedComponent,
) -> Result<ReplayReport, Error> {
    let prepared = prepare(inner, component).await?;
    let workflow = inner.store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
    check_prepared(inner, workflow, &prepared).await
}

/// Pins workflow `id` to the stored `component` (digest or name) if its
/// journal replays cleanly on it; see the module docs and
/// [`crate::store::Store::upgrade`] for what happens to its status. A run
/// of the old component in this process is stopped at once; one on another
/// host is fenced out by the new revision.
pub(super) async fn upgrade(
    inner: &Arc<Inner>,
    id: &WorkflowId,
    component: &str,
) -> Result<WorkflowRecord, Error> {
    let prepared = prepare(inner, CheckedComponent::Stored(component.to_owned())).await?;
    for _ in 0..UPGRADE_TRIES {
        let workflow =
            inner.store.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_string()))?;
        let status = workflow.state.status;
        if status.is_final() && status != WorkflowStatus::Stuck {
            return Err(Error::WorkflowEnded { id: id.clone(), status });
        }
        if workflow.component == *prepared.digest() && status != WorkflowStatus::Stuck {
            return Ok(workflow);
        }
        let report = check_prepared(inner, workflow, &prepared).await?;
        match report.check {
            ReplayCheck::Clean { .. } => {}
            ReplayCheck::Diverged(divergence) => {
                return Err(Error::ReplayDiverged { id: id.clone(), divergence: Box::new(divergence) });
            }
            ReplayCheck::Failed(error) => return Err(Error::ReplayFailed { id: id.clone(), error }),
        }
        let expected = &report.workflow.state;
        if let Some(upgraded) = inner.store.upgrade(id, expected, prepared.digest()).await? {
            tracing::info!(workflow = %id, from = %report.workflow.component, to = %prepared.digest(), "workflow upgraded");
            inner.arrivals.terminate(id);
            inner.arrivals.scheduler.notify_one();
            return Ok(upgraded);
        }
    }
    Err(Error::WorkflowChanged(id.clone()))
}

/// Runs the replay check of `workflow` on `prepared`.
async fn check_prepared(
    inner: &Inner,
    workflow: WorkflowRecord,
    prepared: &Prepared,
) -> Result<ReplayReport, Error> {
    let recorded = run::load_journal(inner, &workflow).await?.map_err(Error::HostSide)?;
    let check =
        inner.executor.check_replay(prepared, workflow.id.as_str(), &workflow.input, recorded).await?;
    Ok(ReplayReport { workflow, component: prepared.digest().clone(), check })
}

/// The workflow component `component` names, compiled.
async fn prepare(inner: &Inner, component: CheckedComponent) -> Result<Prepared, Error> {
    let prepared = match component {
        CheckedComponent::Stored(key) => {
            let record =
                inner.store.component(&key).await?.ok_or_else(|| Error::UnknownComponent(key.clone()))?;
            run::prepare(inner, &record.digest).await?.map_err(Error::InvalidComponent)?
        }
        CheckedComponent::Bytes(bytes) => {
            let digest = ComponentDigest::of(&bytes);
            inner.executor.prepare(&digest, bytes).await?
        }
    };
    if prepared.kind() != ComponentKind::Workflow {
        return Err(Error::InvalidComponent(format!(
            "component {} is an activity, not a workflow",
            prepared.digest()
        )));
    }
    Ok(prepared)
}
