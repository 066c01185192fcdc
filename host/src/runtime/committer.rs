//! Group commit: one writer task turns the reports of concurrent runs into
//! one transaction.
//!
//! Each run sends its [`RunCommit`] and waits for the acknowledgement. The
//! writer takes whatever has queued up (up to [`MAX_BATCH`]) and commits it
//! with one [`Store::commit`], so under load many workflows share one fsync;
//! with a single run in flight it is one transaction as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::inbox::Arrivals;
use crate::store::{self, RunCommit, Store};

/// Most run commits written in one transaction.
const MAX_BATCH: usize = 256;

/// The writer's answer: `Ok`, or the error and the commit handed back, so
/// the caller can retry it without having kept a copy.
type Ack = oneshot::Sender<Result<(), (store::Error, RunCommit)>>;

/// Why a commit did not happen.
#[derive(Debug)]
pub(super) enum CommitError {
    /// The transaction failed; nothing of the commit was written. The
    /// commit comes back for a retry.
    Store(store::Error, Box<RunCommit>),
    /// The writer has stopped (shutdown).
    Stopped,
}

/// Handle to the writer task.
pub(super) struct Committer {
    queue: mpsc::Sender<(RunCommit, Ack)>,
    /// Transactions committed: each holds one or more commits.
    transactions: Arc<AtomicU64>,
    stop: CancellationToken,
    writer: TaskTracker,
}

impl Committer {
    /// Starts the writer task; what arrives for workflows through the
    /// commits (a parent's child ended, say) is told to `arrivals`.
    pub(super) fn spawn(store: Arc<dyn Store>, arrivals: Arc<Arrivals>) -> Self {
        let (queue, requests) = mpsc::channel(MAX_BATCH * 4);
        let stop = CancellationToken::new();
        let writer = TaskTracker::new();
        let transactions = Arc::new(AtomicU64::new(0));
        writer.spawn(write_batches(store, requests, stop.clone(), transactions.clone(), arrivals));
        writer.close();
        Self { queue, transactions, stop, writer }
    }

    /// Transactions committed since the start: with
    /// [`Stats::commits`](super::Stats::commits), how well commits are grouped.
    pub(super) fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
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
    /// [`CommitError::Store`] if the transaction failed (nothing of the run
    /// was written), [`CommitError::Stopped`] if the writer has stopped.
    pub(super) async fn commit(&self, commit: RunCommit) -> Result<(), CommitError> {
        let (ack, acked) = oneshot::channel();
        self.queue.send((commit, ack)).await.map_err(|_| CommitError::Stopped)?;
        acked
            .await
            .map_err(|_| CommitError::Stopped)?
            .map_err(|(error, commit)| CommitError::Store(error, Box::new(commit)))
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    mut requests: mpsc::Receiver<(RunCommit, Ack)>,
    stop: CancellationToken,
    transactions: Arc<AtomicU64>,
    arrivals: Arc<Arrivals>,
) {
    let mut commits = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            request = requests.recv() => request,
            () = stop.cancelled() => requests.try_recv().ok(),
        };
        let Some((commit, ack)) = first else { break };
        commits.push(commit);
        acks.push(ack);
        while commits.len() < MAX_BATCH {
            let Ok((commit, ack)) = requests.try_recv() else { break };
            commits.push(commit);
            acks.push(ack);
        }
        write_batch(store.as_ref(), &mut commits, &mut acks, &transactions, &arrivals).await;
    }
}

/// Commits `commits` in one transaction and answers `acks` (one per commit).
/// If that fails for a reason other than the database being unavailable,
/// commits each run on its own, so one bad commit (a stale run, say) fails
/// only its own run.
async fn write_batch(
    store: &dyn Store,
    commits: &mut Vec<RunCommit>,
    acks: &mut Vec<Ack>,
    transactions: &AtomicU64,
    arrivals: &Arrivals,
) {
    let result = store.commit(commits).await;
    let error = match result {
        Ok(arrived) => {
            transactions.fetch_add(1, Ordering::Relaxed);
            commits.clear();
            for ack in acks.drain(..) {
                // A run that stopped waiting has nothing left to do with the answer.
                let _ = ack.send(Ok(()));
            }
            // After the acks, so a run that ended is gone before the
            // scheduler looks (it skips workflows still in a run here).
            arrivals.poke(&arrived);
            return;
        }
        Err(error) => error,
    };
    if commits.len() == 1 || error.is_unavailable() {
        tracing::warn!(%error, runs = commits.len(), "commit failed");
        let shared = Arc::new(error);
        for (commit, ack) in commits.drain(..).zip(acks.drain(..)) {
            let _ = ack.send(Err((store::Error::Shared(shared.clone()), commit)));
        }
        return;
    }
    for (commit, ack) in commits.drain(..).zip(acks.drain(..)) {
        let result = match store.commit(std::slice::from_ref(&commit)).await {
            Ok(arrived) => {
                transactions.fetch_add(1, Ordering::Relaxed);
                arrivals.poke(&arrived);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, workflow = %commit.workflow_id, "commit failed");
                Err((error, commit))
            }
        };
        let _ = ack.send(result);
    }
}
