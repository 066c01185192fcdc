//! Fair scheduling: a timer that fires while a bulk start of 20,000
//! workflows is queued runs in the next dispatch round, not after the queue.
//! The test asserts the order of events (what ran between the timer firing
//! and the timer's workflow running), never a duration.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server};
use serde_json::json;
use sqlx::Row;

on_sqlite_and_postgres!(a_due_timer_is_not_delayed_by_a_bulk_start);

/// Instance slots: how many workflows one dispatch round can start.
const SLOTS: usize = 4;
const BULK: i64 = 20_000;

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
    // the timer's workflow ran: at most those already in flight when it
    // fired and one round's worth, never the queue.
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
        overtaking <= 2 * SLOTS as i64,
        "{overtaking} bulk workflows ran between the timer firing and its run"
    );
    let (_, listed) = server.get("/v1/workflows?status=running&limit=500").await;
    assert_eq!(listed["workflows"].as_array().unwrap().len(), 500, "the bulk start was still queued");
}
