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
}

impl Committer {
    /// Starts the writer on `tasks`; it stops when `shutdown` fires.
    pub(super) fn spawn(store: Arc<dyn Store>, tasks: &TaskTracker, shutdown: CancellationToken) -> Self {
        let (queue, requests) = mpsc::channel(MAX_BATCH * 4);
        tasks.spawn(write_batches(store, requests, shutdown));
        Self { queue }
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
    shutdown: CancellationToken,
) {
    let mut commits = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            request = requests.recv() => request,
            () = shutdown.cancelled() => None,
        };
        let Some((commit, ack)) = first else { break };
        commits.push(commit);
        acks.push(ack);
        while commits.len() < MAX_BATCH {
            let Ok((commit, ack)) = requests.try_recv() else { break };
            commits.push(commit);
            acks.push(ack);
        }
        let result = store.commit(&commits).await.map_err(Arc::new);
        if let Err(error) = &result {
            tracing::error!(%error, runs = commits.len(), "group commit failed");
        }
        commits.clear();
        for ack in acks.drain(..) {
            // A run that stopped waiting has nothing left to do with the answer.
            let _ = ack.send(result.clone());
        }
    }
}
