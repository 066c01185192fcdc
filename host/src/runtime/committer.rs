//! Group commit: one writer task turns the reports of concurrent runs, and
//! the workflows started meanwhile, into one transaction.
//!
//! Each run sends its [`RunCommit`] (each start its [`NewStart`]) and waits
//! for the acknowledgement. The writer takes whatever has queued up (up to
//! [`MAX_BATCH`]) and writes it with one [`Store::write`], so under load
//! many workflows share one fsync; with a single request in flight it is
//! one transaction of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Error;
use super::inbox::Arrivals;
use crate::store::{self, Created, NewStart, RunCommit, Store, WorkflowRecord};
use crate::telemetry::metrics;

/// Most run commits and starts written in one transaction.
const MAX_BATCH: usize = 256;

/// The writer's answer to a commit: `Ok`, or the error and the commit
/// handed back, so the caller can retry it without having kept a copy.
type Ack = oneshot::Sender<Result<(), (store::Error, RunCommit)>>;
/// The writer's answer to a start.
type StartAck = oneshot::Sender<Result<Created<WorkflowRecord>, store::Error>>;

/// What the writer is asked to write.
enum Request {
    Commit(RunCommit, Ack),
    Start(NewStart, StartAck),
}

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
    queue: mpsc::Sender<Request>,
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
        self.queue.send(Request::Commit(commit, ack)).await.map_err(|_| CommitError::Stopped)?;
        acked
            .await
            .map_err(|_| CommitError::Stopped)?
            .map_err(|(error, commit)| CommitError::Store(error, Box::new(commit)))
    }

    /// Creates the workflow of `start` durably, together with whatever
    /// else is queued; the existing one if its id is taken.
    ///
    /// # Errors
    /// [`Error::Store`] if the transaction failed (nothing was written),
    /// [`Error::ShuttingDown`] if the writer has stopped.
    pub(super) async fn start(&self, start: NewStart) -> Result<Created<WorkflowRecord>, Error> {
        let (ack, acked) = oneshot::channel();
        self.queue.send(Request::Start(start, ack)).await.map_err(|_| Error::ShuttingDown)?;
        Ok(acked.await.map_err(|_| Error::ShuttingDown)??)
    }
}

/// One batch's requests, sorted by kind.
#[derive(Default)]
struct Batch {
    starts: Vec<NewStart>,
    start_acks: Vec<StartAck>,
    commits: Vec<RunCommit>,
    acks: Vec<Ack>,
}

impl Batch {
    fn push(&mut self, request: Request) {
        match request {
            Request::Commit(commit, ack) => {
                self.commits.push(commit);
                self.acks.push(ack);
            }
            Request::Start(start, ack) => {
                self.starts.push(start);
                self.start_acks.push(ack);
            }
        }
    }

    fn len(&self) -> usize {
        self.starts.len() + self.commits.len()
    }
}

/// The writer: takes what has queued up (waiting for the first request)
/// and writes it, until the queue is closed, or drained after `stop`. One
/// transaction at a time: measured on PostgreSQL (`bench/README.md`), a
/// second writer only split the batches, for more transactions and more
/// of the database's CPU per step.
async fn write_batches(
    store: Arc<dyn Store>,
    mut requests: mpsc::Receiver<Request>,
    stop: CancellationToken,
    transactions: Arc<AtomicU64>,
    arrivals: Arc<Arrivals>,
) {
    loop {
        let first = tokio::select! {
            request = requests.recv() => request,
            () = stop.cancelled() => requests.try_recv().ok(),
        };
        let Some(first) = first else { break };
        let mut batch = Batch::default();
        batch.push(first);
        while batch.len() < MAX_BATCH {
            let Ok(request) = requests.try_recv() else { break };
            batch.push(request);
        }
        write_batch(store.as_ref(), batch, &transactions, &arrivals).await;
    }
}

/// Writes `batch` in one transaction and answers each request. If that
/// fails for a reason other than the database being unavailable, writes
/// each request on its own, so one bad commit (a stale run, say) fails only
/// its own run.
async fn write_batch(store: &dyn Store, batch: Batch, transactions: &AtomicU64, arrivals: &Arrivals) {
    let error = match store.write(&batch.starts, &batch.commits).await {
        Ok(written) => {
            transactions.fetch_add(1, Ordering::Relaxed);
            let entries = batch.commits.iter().map(|commit| commit.entries.len()).sum();
            metrics::group_commit(batch.len(), entries);
            for (created, ack) in written.started.into_iter().zip(batch.start_acks) {
                // A caller that stopped waiting has nothing left to do with the answer.
                let _ = ack.send(Ok(created));
            }
            for ack in batch.acks {
                let _ = ack.send(Ok(()));
            }
            // After the acks, so a run that ended is gone before the
            // scheduler looks (it skips workflows still in a run here).
            arrivals.poke(&written.arrived);
            return;
        }
        Err(error) => error,
    };
    if batch.len() == 1 || error.is_unavailable() {
        tracing::warn!(%error, requests = batch.len(), "commit failed");
        let shared = Arc::new(error);
        for ack in batch.start_acks {
            let _ = ack.send(Err(store::Error::Shared(shared.clone())));
        }
        for (commit, ack) in batch.commits.into_iter().zip(batch.acks) {
            let _ = ack.send(Err((store::Error::Shared(shared.clone()), commit)));
        }
        return;
    }
    for (start, ack) in batch.starts.into_iter().zip(batch.start_acks) {
        let result = store.start(&start).await;
        match &result {
            Ok(_) => {
                transactions.fetch_add(1, Ordering::Relaxed);
                metrics::group_commit(1, 0);
            }
            Err(error) => tracing::warn!(%error, workflow = %start.workflow.id, "start failed"),
        }
        let _ = ack.send(result);
    }
    for (commit, ack) in batch.commits.into_iter().zip(batch.acks) {
        let result = match store.commit(std::slice::from_ref(&commit)).await {
            Ok(arrived) => {
                transactions.fetch_add(1, Ordering::Relaxed);
                metrics::group_commit(1, commit.entries.len());
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
