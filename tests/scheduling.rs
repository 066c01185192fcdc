//! Fair scheduling: a timer that fires while a bulk start of 20,000
//! workflows is queued runs in the next dispatch round, not after the queue;
//! a workflow waiting in memory gives its instance slot up when others wait
//! for one. The tests assert the order of events, never a duration.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server};
use serde_json::json;
use sqlx::Row;

on_sqlite_and_postgres!(
    a_due_timer_is_not_delayed_by_a_bulk_start,
    inline_waits_give_up_their_slot_to_waiting_work
);

/// Instance slots: how many workflows one dispatch round can start.
const SLOTS: usize = 4;
const BULK: i64 = 20_000;
/// Most bulk workflows that may start between the timer firing and its run
/// recording a step: far below the queue of [`BULK`].
const OVERTAKING_MAX: i64 = 25 * SLOTS as i64;

async fn a_due_timer_is_not_delayed_by_a_bulk_start(database: Database) {
    let server = Server::start_with(&database, &["--max-instances", &SLOTS.to_string()]).await;
    server.push_example("countdown").await;
    let hello = server.push_example("hello").await;
    server.start_workflow("countdown", "timer", json!({ "n": 1, "seconds": 2 })).await;
    server.wait_for("timer", "asleep", |w| w["status"] == "sleeping").await;

    // 20,000 starts land at once, all queued before the timer fires.
    let mut connection = database.connect().await;
    let now_ms = duro_host::clock::now_ms();
    let insert = if database.is_postgres() {
        "INSERT INTO workflows (id, component, input, status, created_at_ms, updated_at_ms)
         SELECT 'bulk-' || i, $1, '{\"name\":\"bulk\"}', 'running', $2, $2 FROM generate_series(1, $3) AS i"
    } else {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
         INSERT INTO workflows (id, component, input, status, created_at_ms, updated_at_ms)
         SELECT 'bulk-' || i, $1, '{\"name\":\"bulk\"}', 'running', $2, $2 FROM n"
    };
    sqlx::query(insert).bind(&hello).bind(now_ms).bind(BULK).execute(&mut connection).await.unwrap();
    // A start through the API nudges the scheduler.
    server.start_workflow("hello", "nudge", json!({ "name": "nudge" })).await;

    let result = server.result("timer", 120).await;
    assert_eq!(result["status"], "completed", "{result}");
    let journal = server.journal("timer").await;
    let wake_at_ns = journal[0]["response"]["wake_at_ns"].as_i64().unwrap();
    let ran_at_ns: i64 =
        sqlx::query("SELECT recorded_at_ns FROM journal WHERE workflow_id = 'timer' AND seq = 1")
            .fetch_one(&mut connection)
            .await
            .unwrap()
            .get(0);

    // Bulk workflows that began running after the timer fired and before
    // the timer's workflow recorded its next step. That window includes the
    // timer's own run (claim, instantiate, replay), during which the other
    // slots keep running short bulk workflows, so under load it holds a few
    // dozen; waiting behind the queue would make it 20,000.
    let overtaking: i64 = sqlx::query(
        "SELECT COUNT(*) FROM journal WHERE seq = 0 AND workflow_id LIKE 'bulk-%'
         AND recorded_at_ns > $1 AND recorded_at_ns < $2",
    )
    .bind(wake_at_ns)
    .bind(ran_at_ns)
    .fetch_one(&mut connection)
    .await
    .unwrap()
    .get(0);
    assert!(
        overtaking <= OVERTAKING_MAX,
        "{overtaking} bulk workflows ran between the timer firing and its run"
    );
    let (_, listed) = server.get("/v1/workflows?status=running&limit=500").await;
    assert_eq!(listed["workflows"].as_array().unwrap().len(), 500, "the bulk start was still queued");
}

/// One instance slot, held by a workflow that waits in memory between its
/// steps: a workflow started meanwhile runs in one of those waits (once the
/// holder has run for a checkpoint interval), not after the holder ends.
async fn inline_waits_give_up_their_slot_to_waiting_work(database: Database) {
    let server =
        Server::start_with(&database, &["--max-instances", "1", "--checkpoint-interval-ms", "300"]).await;
    server.push_example("hostile").await;
    server.push_example("hello").await;
    server
        .start_workflow("hostile", "waiter", json!({ "inline_sleeps": { "count": 40, "sleep_ms": 50 } }))
        .await;
    server.wait_for("waiter", "some progress", |w| w["status"] == "running").await;
    server.start_workflow("hello", "newcomer", json!({ "name": "newcomer" })).await;
    let newcomer = server.result("newcomer", 60).await;
    assert_eq!(newcomer["status"], "completed", "{newcomer}");
    let waiter = server.result("waiter", 60).await;
    assert_eq!(waiter["status"], "completed", "{waiter}");
    let newcomer_ran_at = server.journal("newcomer").await[0]["recorded_at"].as_str().unwrap().to_owned();
    let waiter_ended_at = server.journal("waiter").await[39]["recorded_at"].as_str().unwrap().to_owned();
    // RFC 3339 times in UTC with fixed-width fractions sort as text.
    assert!(newcomer_ran_at < waiter_ended_at, "{newcomer_ran_at} is not before {waiter_ended_at}");
}
