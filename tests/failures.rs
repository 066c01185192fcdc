//! How workflows fail: a panic, the CPU limit, the memory limit and an `err`
//! from `run`, each reported with a message that says what happened.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server};
use serde_json::{Value, json};

async fn failed_with(server: &Server, id: &str, input: Value) -> String {
    server.start_workflow("misbehave", id, input).await;
    let result = server.result(id, 60).await;
    assert_eq!(result["status"], "failed", "{result}");
    result["error"].as_str().unwrap().to_owned()
}

on_sqlite_and_postgres!(guest_failures_fail_the_workflow_with_a_clear_error);

async fn guest_failures_fail_the_workflow_with_a_clear_error(database: Database) {
    let server = Server::start_with(&database, &["--cpu-limit-ms", "300", "--max-memory-mib", "16"]).await;
    server.push_example("misbehave").await;

    let error = failed_with(&server, "panics", json!({ "panic": "boom at step 3" })).await;
    assert!(error.starts_with("wasm trap: wasm `unreachable` instruction executed"), "{error}");
    assert!(error.contains("wasm backtrace"), "{error}");
    assert!(error.contains("misbehave.wasm!run"), "{error}");
    assert!(error.contains("last stderr lines:"), "{error}");
    assert!(error.contains("boom at step 3"), "the panic message must be in the error: {error}");
    let logs = server.logs("panics").await;
    assert!(logs.iter().any(|l| l["stream"] == "stderr" && l["message"] == "boom at step 3"), "{logs:?}");

    let error = failed_with(&server, "spins", json!("spin")).await;
    assert!(error.starts_with("the workflow used more than 300ms of CPU time in one activation"), "{error}");

    // Waiting in memory is not CPU time: 40 × 20 ms of timers under a 300 ms budget.
    server.start_workflow("misbehave", "waits", json!({ "short_sleeps": 40 })).await;
    let result = server.result("waits", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(server.journal("waits").await.len(), 40);

    let error = failed_with(&server, "allocates", json!({ "alloc_mib": 64 })).await;
    assert!(error.starts_with("forcing trap when growing memory"), "{error}");

    let error = failed_with(&server, "refuses", json!({ "fail": "no stock left" })).await;
    assert_eq!(error, "no stock left");

    let error = failed_with(&server, "blocks", json!({ "thread_sleep_ms": 10 })).await;
    assert!(error.starts_with("wasi:clocks/monotonic-clock.subscribe-duration"), "{error}");
    assert!(error.contains("use the durable sleep"), "{error}");

    let error = failed_with(&server, "too-big", json!({ "output_zeros": 600_000 })).await;
    assert!(error.starts_with("the workflow's output is"), "{error}");
    assert!(error.ends_with("bytes; the limit is 1048576 bytes"), "{error}");

    // PostgreSQL cannot store NUL in text; the host replaces it.
    let error = failed_with(&server, "nul", json!({ "fail": "a\u{0}b" })).await;
    assert_eq!(error, "a\u{fffd}b");

    // Nothing here is retried or left running.
    let (_, running) = server.get("/v1/workflows?status=running").await;
    assert_eq!(running["workflows"], json!([]));
}
