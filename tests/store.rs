//! The store's contract on both backends: commits are compare-and-set on the
//! workflow's state, so a stale run's commit is rejected and writes nothing
//! (also the run of a host whose lease expired and whose workflow another
//! host took over), and the scheduler's and the API's queries are index
//! range scans.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::Database;
use duro_host::clock;
use duro_host::ids::{ComponentDigest, HostId, WorkflowId};
use duro_host::journal::{Call, Entry, Outcome};
use duro_host::store::{
    self, ComponentKind, NewStart, NewWorkflow, QueryPlan, RunCommit, SignalSent, SqlStore, StatusUpdate,
    Store, StoredEntry, WaitSet, WorkflowState, WorkflowStatus,
};

on_sqlite_and_postgres!(
    stale_commits_are_rejected_and_write_nothing,
    scheduler_and_list_queries_use_indexes,
    a_signal_racing_a_suspension_is_never_lost,
    a_host_that_lost_its_lease_is_fenced_out,
    one_write_holds_starts_and_the_commits_of_many_runs,
);

fn entry(seq: u64) -> StoredEntry {
    StoredEntry::encode(&Entry {
        seq,
        call: Call::Now,
        outcome: Outcome::Time { ns: seq },
        recorded_at_ns: 0,
    })
}

fn commit(
    id: &WorkflowId,
    expected: WorkflowState,
    seqs: std::ops::Range<u64>,
    update: StatusUpdate,
) -> RunCommit {
    RunCommit {
        workflow_id: id.clone(),
        expected,
        entries: seqs.map(entry).collect(),
        logs: Vec::new(),
        update,
        effects: Default::default(),
    }
}

/// Stores a component and returns workflow `id` of it, to create.
async fn new_workflow(store: &dyn Store, id: &str) -> (WorkflowId, NewWorkflow) {
    let digest = ComponentDigest::of(b"component");
    store.put_component(&digest, ComponentKind::Workflow, None, b"component").await.unwrap();
    let id = WorkflowId::parse(id).unwrap();
    let new = NewWorkflow {
        id: id.clone(),
        component: digest,
        input: "null".into(),
        parent: None,
        deadline_ms: None,
        trace_parent: None,
        scheduled_by: None,
    };
    (id, new)
}

/// A group commit's transaction: starts (one owned by the host that runs
/// it, so nobody claims it; one due; one whose id was taken in the same
/// batch) and the commits of several runs, two of them of one workflow in
/// order, written with one statement per table.
async fn one_write_holds_starts_and_the_commits_of_many_runs(database: Database) {
    let store = store::connect(&database.url).await.unwrap();
    let host = HostId::generate();
    store.register_host(&host, "test", 60_000).await.unwrap();
    let mut running = Vec::new();
    for name in ["w1", "w2", "w3"] {
        let (id, new) = new_workflow(store.as_ref(), name).await;
        running.push((id, store.create_workflow(&new).await.unwrap().into_inner().state));
    }
    assert_eq!(store.claim_due(&host, clock::now_ms(), 10).await.unwrap().len(), 3);
    let running: Vec<_> =
        running.into_iter().map(|(id, state)| (id, WorkflowState { revision: 1, ..state })).collect();

    let (owned, owned_new) = new_workflow(store.as_ref(), "owned").await;
    let (due, due_new) = new_workflow(store.as_ref(), "due").await;
    let (unleased, unleased_new) = new_workflow(store.as_ref(), "unleased").await;
    let starts = [
        NewStart { workflow: owned_new.clone(), owner: Some(host.clone()) },
        NewStart { workflow: due_new, owner: None },
        NewStart { workflow: owned_new, owner: None },
        // A host without a valid lease does not get the workflow: it is due.
        NewStart { workflow: unleased_new, owner: Some(HostId::generate()) },
    ];
    let (w1, s1) = &running[0];
    let first = commit(w1, *s1, 0..2, StatusUpdate::Running);
    let second = commit(w1, first.next_state(), 2..3, StatusUpdate::Completed { output: "1".into() });
    let commits = [
        first,
        commit(&running[1].0, running[1].1, 0..1, StatusUpdate::Completed { output: "2".into() }),
        second,
        commit(
            &running[2].0,
            running[2].1,
            0..3,
            StatusUpdate::Sleeping { wake_at_ms: 0, cancellable: false },
        ),
    ];
    let written = store.write(&starts, &commits).await.unwrap();
    assert_eq!(
        written.started.iter().map(|created| created.is_new()).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    assert_eq!(written.started[3].clone().into_inner().owner, None);
    let owned_record = written.started[0].clone().into_inner();
    assert_eq!(owned_record.owner.as_ref(), Some(&host));
    assert_eq!(
        owned_record.state,
        WorkflowState { status: WorkflowStatus::Running, next_seq: 0, revision: 0 }
    );
    assert_eq!(written.started[2].clone().into_inner().id, owned);

    let outputs = [("w1", 3, "1"), ("w2", 1, "2")];
    for (name, next_seq, output) in outputs {
        let record = store.workflow(&WorkflowId::parse(name).unwrap()).await.unwrap().unwrap();
        assert_eq!((record.state.status, record.state.next_seq), (WorkflowStatus::Completed, next_seq));
        assert_eq!(record.output.as_deref(), Some(output));
        let journal = store.journal(&record.id, None, 10, u64::MAX).await.unwrap();
        assert_eq!(
            journal.iter().map(|entry| entry.seq).collect::<Vec<_>>(),
            (0..next_seq).collect::<Vec<_>>()
        );
    }
    // The sleeper (due at once) and the due starts are claimed; the owned
    // start is not: its host runs it.
    let mut claimed: Vec<WorkflowId> = store
        .claim_due(&host, clock::now_ms(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.id)
        .collect();
    claimed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(claimed, [due.clone(), unleased.clone(), running[2].0.clone()]);

    // A reclaim that deleted the host's row just before a start or claim of
    // it committed (simulated: the row deleted behind its back) leaves
    // workflows owned by a host that is gone: the next reclaim releases them.
    let mut connection = database.connect().await;
    sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(host.as_str())
        .execute(&mut connection)
        .await
        .unwrap();
    let mut released = store.reclaim(None).await.unwrap();
    released.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(released, [due, owned, unleased, running[2].0.clone()]);
    let other = HostId::generate();
    store.register_host(&other, "other", 60_000).await.unwrap();
    assert_eq!(store.claim_due(&other, clock::now_ms(), 10).await.unwrap().len(), 4);
}

/// The two orders of a signal and the commit of a run that looked, found
/// nothing and suspends: either way the workflow ends up `running`, because
/// both take the workflow row's lock and each checks for the other.
async fn a_signal_racing_a_suspension_is_never_lost(database: Database) {
    let store = store::connect(&database.url).await.unwrap();
    let (id, new) = new_workflow(store.as_ref(), "racer").await;
    let created = store.create_workflow(&new).await.unwrap().into_inner();
    let waiting = || StatusUpdate::Waiting {
        wake_at_ms: None,
        on: WaitSet { signals: vec!["go".into()], children: Vec::new(), cancellable: true },
    };
    // The signal lands after the run looked but before it commits.
    let sent = store.send_signal(&id, "go", "1", None).await.unwrap();
    assert_eq!(sent, SignalSent::Stored { arrival: 1, new: true });
    let arrived = store.commit(&[commit(&id, created.state, 0..1, waiting())]).await.unwrap();
    assert_eq!(arrived, std::slice::from_ref(&id));
    let record = store.workflow(&id).await.unwrap().unwrap();
    assert_eq!(record.state.status, WorkflowStatus::Running, "the suspension saw the signal");
    // The signal is consumed by the commit of the wait that received it.
    let mut received = commit(&id, record.state, 1..2, StatusUpdate::Running);
    received.effects.consumed.push((1, 1));
    store.commit(&[received]).await.unwrap();
    assert_eq!(store.next_signal(&id, "go", 0).await.unwrap(), None);
    // The signal lands after the suspension committed: it wakes the workflow.
    let record = store.workflow(&id).await.unwrap().unwrap();
    store.commit(&[commit(&id, record.state, 2..3, waiting())]).await.unwrap();
    let record = store.workflow(&id).await.unwrap().unwrap();
    assert_eq!(record.state.status, WorkflowStatus::Waiting);
    store.send_signal(&id, "other", "2", None).await.unwrap();
    assert_eq!(store.workflow(&id).await.unwrap().unwrap().state.status, WorkflowStatus::Waiting);
    let sent = store.send_signal(&id, "go", "3", Some("key")).await.unwrap();
    assert_eq!(sent, SignalSent::Stored { arrival: 3, new: true });
    let woken = store.workflow(&id).await.unwrap().unwrap();
    assert_eq!(woken.state.status, WorkflowStatus::Running);
    assert_eq!(woken.state.revision, record.state.revision + 1, "waking is a new revision");
    let again = store.send_signal(&id, "go", "3", Some("key")).await.unwrap();
    assert_eq!(again, SignalSent::Stored { arrival: 3, new: false });
    let next = store.next_signal(&id, "go", 0).await.unwrap().unwrap();
    assert_eq!((next.arrival, next.payload.as_str()), (3, "3"));
}

async fn stale_commits_are_rejected_and_write_nothing(database: Database) {
    let store = store::connect(&database.url).await.unwrap();
    let (id, new) = new_workflow(store.as_ref(), "cas").await;
    let start = store.create_workflow(&new).await.unwrap().into_inner().state;
    assert_eq!(start, WorkflowState { status: WorkflowStatus::Running, next_seq: 0, revision: 0 });

    // Two runs continue from the same state; the first to commit wins.
    let first = commit(&id, start, 0..2, StatusUpdate::Running);
    let after_first = first.next_state();
    store.commit(&[first]).await.unwrap();
    let late = commit(&id, start, 0..1, StatusUpdate::Failed { error: "late".into() });
    let error = store.commit(&[late]).await.unwrap_err();
    assert!(error.is_stale(), "{error}");
    assert_eq!(
        error.to_string(),
        "stale commit for workflow cas: it continues from running at seq 0, revision 0, but the workflow has moved on"
    );

    // The workflow sleeps and is woken: it is `running` at seq 2 again, but
    // a run that continued from the state before the sleep is still stale.
    let sleep = commit(&id, after_first, 2..3, StatusUpdate::Sleeping { wake_at_ms: 0, cancellable: false });
    store.commit(&[sleep]).await.unwrap();
    let host = HostId::generate();
    store.register_host(&host, "test", 60_000).await.unwrap();
    let claimed = store.claim_due(&host, clock::now_ms(), 10).await.unwrap();
    assert_eq!(claimed.iter().map(|record| &record.id).collect::<Vec<_>>(), [&id]);
    assert_eq!(claimed[0].owner.as_ref(), Some(&host));
    let woken = claimed[0].state;
    assert_eq!(woken, WorkflowState { status: WorkflowStatus::Running, next_seq: 3, revision: 3 });
    let stale = WorkflowState { next_seq: 3, ..after_first };
    let error = store.commit(&[commit(&id, stale, 3..4, StatusUpdate::Running)]).await.unwrap_err();
    assert!(error.is_stale(), "{error}");

    // A batch with a stale commit writes nothing at all.
    let other_id = WorkflowId::parse("other").unwrap();
    let other = NewWorkflow {
        id: other_id.clone(),
        component: ComponentDigest::of(b"component"),
        input: "1".into(),
        parent: None,
        deadline_ms: None,
        trace_parent: None,
        scheduled_by: None,
    };
    let other_start = store.create_workflow(&other).await.unwrap().into_inner().state;
    let batch = [
        commit(&other_id, other_start, 0..1, StatusUpdate::Completed { output: "1".into() }),
        commit(&id, stale, 3..4, StatusUpdate::Running),
    ];
    assert!(store.commit(&batch).await.unwrap_err().is_stale());
    assert_eq!(store.workflow(&other_id).await.unwrap().unwrap().state, other_start);
    assert!(store.journal(&other_id, None, 10, u64::MAX).await.unwrap().is_empty());

    let journal = store.journal(&id, None, 10, u64::MAX).await.unwrap();
    assert_eq!(journal.iter().map(|entry| entry.seq).collect::<Vec<_>>(), [0, 1, 2]);
    let record = store.workflow(&id).await.unwrap().unwrap();
    assert_eq!(record.state, woken);
    assert_eq!(record.error, None);

    // The winner goes on from the current state.
    store.commit(&[commit(&id, woken, 3..4, StatusUpdate::Completed { output: "3".into() })]).await.unwrap();
    let record = store.workflow(&id).await.unwrap().unwrap();
    assert_eq!(record.state.status, WorkflowStatus::Completed);
    assert_eq!(record.state.next_seq, 4);
    // Final is final.
    let error = store.commit(&[commit(&id, record.state, 4..5, StatusUpdate::Running)]).await.unwrap_err();
    assert!(error.to_string().contains("stale commit"), "{error}");
}

async fn scheduler_and_list_queries_use_indexes(database: Database) {
    let store = SqlStore::connect(&database.url).await.unwrap();
    // Enough rows, and fresh statistics, for the planner to choose as it
    // would in production.
    let digest = ComponentDigest::of(b"component");
    store.put_component(&digest, ComponentKind::Workflow, None, b"component").await.unwrap();
    let mut connection = database.connect().await;
    let insert = if database.is_postgres() {
        "INSERT INTO workflows (id, component, input, status, wake_at_ms, due_at_ms, created_at_ms, updated_at_ms)
         SELECT 'w-' || i, $1, 'null', CASE WHEN i % 10 = 0 THEN 'sleeping' ELSE 'completed' END,
                CASE WHEN i % 10 = 0 THEN i END, CASE WHEN i % 10 = 0 THEN i END, 0, 0
         FROM generate_series(1, 20000) AS i"
    } else {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO workflows (id, component, input, status, wake_at_ms, due_at_ms, created_at_ms, updated_at_ms)
         SELECT 'w-' || i, $1, 'null', CASE WHEN i % 10 = 0 THEN 'sleeping' ELSE 'completed' END,
                CASE WHEN i % 10 = 0 THEN i END, CASE WHEN i % 10 = 0 THEN i END, 0, 0
         FROM n"
    };
    sqlx::query(insert).bind(digest.as_str()).execute(&mut connection).await.unwrap();
    sqlx::query("ANALYZE").execute(&mut connection).await.unwrap();

    let plans = store.query_plans().await.unwrap();
    assert_eq!(plans.len(), 8);
    for QueryPlan { statement, plan } in plans {
        // PostgreSQL (sequential scans disabled): no Seq Scan; whether it
        // sorts the rows an index found or reads them in order is the
        // planner's choice by its statistics. SQLite: a filtered statement
        // SEARCHes (a range of an index or of the primary key), never SCANs
        // and never sorts apart; an unfiltered page walks the primary key
        // from its end.
        let ok = if database.is_postgres() {
            !plan.contains("Seq Scan")
        } else if statement.contains("WHERE") {
            plan.contains("SEARCH workflows") && !plan.contains("SCAN") && !plan.contains("TEMP B-TREE")
        } else {
            !plan.contains("TEMP B-TREE")
        };
        assert!(ok, "{statement}\nis not an index range scan:\n{plan}");
    }
}

async fn a_host_that_lost_its_lease_is_fenced_out(database: Database) {
    let store = store::connect(&database.url).await.unwrap();
    let (id, new) = new_workflow(store.as_ref(), "fenced").await;
    store.create_workflow(&new).await.unwrap();
    let (a, b) = (HostId::generate(), HostId::generate());
    store.register_host(&a, "a", 60_000).await.unwrap();
    store.register_host(&b, "b", 60_000).await.unwrap();

    // A claims the workflow and checkpoints; B finds nothing to claim.
    let claimed = store.claim_due(&a, clock::now_ms(), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let a_state = claimed[0].state;
    store.commit(&[commit(&id, a_state, 0..2, StatusUpdate::Running)]).await.unwrap();
    let a_state = WorkflowState { next_seq: 2, revision: a_state.revision + 1, ..a_state };
    assert!(store.claim_due(&b, clock::now_ms(), 10).await.unwrap().is_empty(), "owned work is not due");
    let hosts = store.hosts().await.unwrap();
    let mut leases: Vec<_> = hosts.iter().map(|host| (host.name.as_str(), host.leases)).collect();
    leases.sort();
    assert_eq!(leases, [("a", 1), ("b", 0)]);

    // A's lease expires (it was paused, say): B reclaims and claims it.
    let mut connection = database.connect().await;
    sqlx::query("UPDATE hosts SET lease_expires_at_ms = 0 WHERE id = $1")
        .bind(a.as_str())
        .execute(&mut connection)
        .await
        .unwrap();
    assert!(!store.renew_lease(&a, 60_000).await.unwrap(), "an expired lease is never revived");
    let (spare, new) = new_workflow(store.as_ref(), "spare").await;
    store.create_workflow(&new).await.unwrap();
    assert!(store.claim_due(&a, clock::now_ms(), 10).await.unwrap().is_empty(), "no claims without a lease");
    assert!(store.release(&b, &spare, 0, None).await.is_ok_and(|released| !released), "B does not own it");
    assert_eq!(store.reclaim(None).await.unwrap(), std::slice::from_ref(&id));
    let claimed = store.claim_due(&b, clock::now_ms(), 10).await.unwrap();
    let mut ids: Vec<_> = claimed.iter().map(|record| record.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["fenced", "spare"]);
    let b_state = claimed.iter().find(|record| record.id == id).unwrap().state;
    assert_eq!(b_state.next_seq, 2, "B continues from A's last commit");
    assert_eq!(b_state.revision, a_state.revision + 2, "the reclaim and the claim each bump the revision");

    // A wakes up and commits seq 2: refused, and nothing of it is written.
    let error = store.commit(&[commit(&id, a_state, 2..3, StatusUpdate::Running)]).await.unwrap_err();
    assert!(error.is_stale(), "{error}");
    assert!(!store.release(&a, &id, 0, Some("late")).await.unwrap(), "A owns it no more");
    store
        .commit(&[commit(&id, b_state, 2..4, StatusUpdate::Completed { output: "4".into() })])
        .await
        .unwrap();
    let journal = store.journal(&id, None, 10, u64::MAX).await.unwrap();
    assert_eq!(journal.iter().map(|entry| entry.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let record = store.workflow(&id).await.unwrap().unwrap();
    assert_eq!((record.state.status, record.owner, record.error), (WorkflowStatus::Completed, None, None));

    // A graceful shutdown gives the host's workflows up at once.
    let (other, new) = new_workflow(store.as_ref(), "retired").await;
    store.create_workflow(&new).await.unwrap();
    assert_eq!(store.claim_due(&b, clock::now_ms(), 10).await.unwrap().len(), 1);
    let mut owned = store.owned(&b).await.unwrap();
    owned.sort();
    assert_eq!(owned, [other.clone(), spare.clone()]);
    let mut released = store.retire_host(&b).await.unwrap();
    released.sort();
    assert_eq!(released, owned);
    assert!(store.hosts().await.unwrap().is_empty());
    let record = store.workflow(&other).await.unwrap().unwrap();
    assert_eq!((record.state.status, record.owner), (WorkflowStatus::Running, None));
}
