//! Group commit: one writer task turns the reports of concurrent runs into
//! one transaction.
//!
//! Each run sends its [`RunCommit`] and waits for the acknowledgement. The
//! writer takes whatever has queued up (up to [`MAX_BATCH`]) and commits it
//! with one [`Store::commit`], so under load many workflows share one fsync;
//! with a single run in flight it is one transaction as before.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{self, RunCommit, Store};

/// Most run commits written in one transaction.
const MAX_BATCH: usize = 256;

type Ack = oneshot::Sender<Result<(), Arc<store::Error>>>;

/// Handle to the writer task.
pub(super) struct Committer {
    queue: mpsc::Sender<(RunCommit, Ack)>,
    stop: CancellationToken,
    writer: TaskTracker,
}

impl Committer {
    /// Starts the writer task.
    pub(super) fn spawn(store: Arc<dyn Store>) -> Self {
        let (queue, requests) = mpsc::channel(MAX_BATCH * 4);
        let stop = CancellationToken::new();
        let writer = TaskTracker::new();
        writer.spawn(write_batches(store, requests, stop.clone()));
        writer.close();
        Self { queue, stop, writer }
    }

    /// Commits what is queued, then stops the writer; gives up after
    /// `grace` (the runs not committed are replayed at the next start). Call
    /// once no run is left to commit.
    pub(super) async fn close(&self, grace: std::time::Duration) {
        self.stop.cancel();
        if tokio::time::timeout(grace, self.writer.wait()).await.is_err() {
            tracing::warn!("commits still pending after {grace:?}; their runs will be replayed");
        }
    }

    /// Commits `commit` durably, together with whatever else is queued.
    ///
    /// # Errors
    /// The store's error if the batch's transaction failed (nothing of the
    /// batch was written), or [`store::Error::Corrupt`] if the writer has stopped.
    pub(super) async fn commit(&self, commit: RunCommit) -> Result<(), Arc<store::Error>> {
        let stopped = || Arc::new(store::Error::Corrupt("the journal writer has stopped".into()));
        let (ack, acked) = oneshot::channel();
        self.queue.send((commit, ack)).await.map_err(|_| stopped())?;
        acked.await.map_err(|_| stopped())?
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    mut requests: mpsc::Receiver<(RunCommit, Ack)>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            request = requests.recv() => request,
            () = stop.cancelled() => requests.try_recv().ok(),
        };
        let Some(request) = first else { break };
        batch.push(request);
        while batch.len() < MAX_BATCH {
            let Ok(request) = requests.try_recv() else { break };
            batch.push(request);
        }
        write_batch(store.as_ref(), &mut batch).await;
    }
}

/// Commits `batch` in one transaction. If that fails for a reason other than
/// the database being unavailable, commits each run on its own, so one bad
/// commit (say, a workflow another run already finished) fails only its own run.
async fn write_batch(store: &dyn Store, batch: &mut Vec<(RunCommit, Ack)>) {
    let commits: Vec<RunCommit> = batch.iter().map(|(commit, _)| commit.clone()).collect();
    let result = store.commit(&commits).await.map_err(Arc::new);
    let unavailable = result.as_ref().is_err_and(|error| error.is_unavailable());
    if result.is_ok() || batch.len() == 1 || unavailable {
        if let Err(error) = &result {
            tracing::warn!(%error, "commit failed");
        }
        for (_, ack) in batch.drain(..) {
            // A run that stopped waiting has nothing left to do with the answer.
            let _ = ack.send(result.clone());
        }
        return;
    }
    for (commit, ack) in batch.drain(..) {
        let result = store.commit(std::slice::from_ref(&commit)).await.map_err(Arc::new);
        if let Err(error) = &result {
            tracing::warn!(%error, workflow = %commit.workflow_id, "commit failed");
        }
        let _ = ack.send(result);
    }
}
