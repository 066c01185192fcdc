//! Durability end to end: a real `duro serve` killed with SIGKILL mid-sleep,
//! and a recorded journal replayed against a component that calls differently.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    repeated_sigkills_under_load_lose_nothing,
    sigterm_stops_gracefully_and_sleeping_workflows_resume,
    countdown_survives_sigkill_mid_sleep,
    changed_component_is_nondeterministic,
    split_stdout_line_is_logged_once_across_a_suspension,
);

#[cfg(feature = "postgres-tests")]
#[tokio::test]
async fn database_outage_answers_503_and_loses_nothing_postgres() {
    let database = Database::postgres().await;
    let server = Server::start(&database).await;
    server.push_example("countdown").await;
    server.start_workflow("countdown", "outage", json!({ "n": 1, "seconds": 2 })).await;
    server.wait_for("outage", "sleeping", |w| w["status"] == "sleeping").await;

    // The database goes away while the timer runs, and stays away past it.
    database.set_reachable(false).await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, &body["error"]["code"]), (503, &json!("database_unavailable")), "{body}");
    let (status, body) = server.get("/v1/workflows/outage").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    let start = json!({ "component": "countdown", "id": "during-outage", "input": {} });
    let (status, body) = server.post_json("/v1/workflows", &start).await;
    assert_eq!((status, &body["error"]["code"]), (503, &json!("database_unavailable")), "{body}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    // Back again: the workflow wakes and completes, every step journaled once.
    database.set_reachable(true).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    let result = server.result("outage", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let kinds: Vec<Value> = server.journal("outage").await.iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, [json!("sleep"), json!("now")]);
    let (status, _) = server.get("/v1/workflows/during-outage").await;
    assert_eq!(status, 404, "the start refused during the outage must not exist");
}

/// The kind and request of each entry: what a run asked, without what it got.
fn calls(journal: &[Value]) -> Vec<(Value, Value)> {
    journal.iter().map(|entry| (entry["kind"].clone(), entry["request"].clone())).collect()
}

/// The `now` outcomes recorded in a countdown journal.
fn recorded_ticks(journal: &[Value]) -> Vec<u64> {
    journal.iter().filter(|e| e["kind"] == "now").map(|e| e["response"]["ns"].as_u64().unwrap()).collect()
}

async fn countdown_survives_sigkill_mid_sleep(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("countdown").await;
    let input = json!({ "n": 3, "seconds": 2 });

    // First the same countdown without a crash, to compare with.
    server.start_workflow("countdown", "uninterrupted", input.clone()).await;
    let uninterrupted = server.result("uninterrupted", 60).await;
    let uninterrupted_journal = server.journal("uninterrupted").await;

    server.start_workflow("countdown", "countdown-1", input).await;

    // Kill while the workflow sleeps before its second tick: the first timer
    // and tick are journaled, the second timer is set and has not fired.
    let journal_before = loop {
        server.wait_for("countdown-1", "sleeping", |w| w["status"] == "sleeping").await;
        let journal = server.journal("countdown-1").await;
        if journal.len() == 3 {
            break journal;
        }
        assert!(journal.len() < 3, "missed the second sleep: {journal:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    server.crash_and_restart().await;

    let result = server.result("countdown-1", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let ticks: Vec<u64> =
        result["output"]["ticks"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
    assert_eq!(ticks.len(), 3);

    // The journal holds every step exactly once, and the steps journaled before
    // the crash are unchanged: they were replayed, not re-run.
    let journal = server.journal("countdown-1").await;
    let kinds: Vec<&str> = journal.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sleep", "now", "sleep", "now", "sleep", "now"]);
    let seqs: Vec<u64> = journal.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    assert_eq!(journal[..journal_before.len()], journal_before[..]);

    // The output is exactly what the journal recorded, and each tick came after its timer.
    assert_eq!(ticks, recorded_ticks(&journal));
    for pair in journal.chunks(2) {
        let wake_at = pair[0]["response"]["wake_at_ns"].as_u64().unwrap();
        let tick = pair[1]["response"]["ns"].as_u64().unwrap();
        assert!(tick >= wake_at, "tick {tick} before its timer {wake_at}");
        assert_eq!(pair[0]["request"]["duration_ns"], 2_000_000_000u64);
    }

    // Each log line is stored once although the first tick was replayed.
    let logs = server.logs("countdown-1").await;
    let messages: Vec<(&str, &str)> =
        logs.iter().map(|l| (l["stream"].as_str().unwrap(), l["message"].as_str().unwrap())).collect();
    let stdout: Vec<&str> = messages.iter().filter(|(s, _)| *s == "stdout").map(|(_, m)| *m).collect();
    assert_eq!(stdout, ["tick 1", "tick 2", "tick 3"]);
    assert_eq!(messages.iter().filter(|(s, _)| *s == "log").count(), 3);

    // Same as the run without a crash: the same calls in the same order, and
    // an output made of the journal's values in the same way.
    assert_eq!(calls(&journal), calls(&uninterrupted_journal));
    assert_eq!(uninterrupted["status"], "completed");
    assert_eq!(uninterrupted["output"], json!({ "ticks": recorded_ticks(&uninterrupted_journal) }));
}

async fn changed_component_is_nondeterministic(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("countdown").await;
    let hello = server.push_example("hello").await;
    server.start_workflow("countdown", "diverges", json!({ "n": 1, "seconds": 600 })).await;
    server.wait_for("diverges", "sleeping", |w| w["status"] == "sleeping").await;
    let journal = server.journal("diverges").await;
    assert_eq!(journal.len(), 1);

    // Deploy different code under the workflow while the host is down: its
    // journal starts with a 600 s timer, the new component reads the clock first.
    server.kill9();
    let mut connection = database.connect().await;
    sqlx::query(
        "UPDATE workflows SET component = $1, input = '{\"name\":\"Ada\"}', status = 'running', wake_at_ms = NULL,
             due_at_ms = 0
         WHERE id = 'diverges'",
    )
        .bind(&hello)
        .execute(&mut connection)
        .await
        .unwrap();
    drop(connection);
    server.crash_and_restart().await;

    let result = server.result("diverges", 60).await;
    assert_eq!(result["status"], "stuck", "{result}");
    assert_eq!(
        result["error"],
        "non-determinism at seq 0: the journal recorded sleep(duration_ns: 600000000000) \
         but the workflow now calls wasi:clocks/wall-clock.now()"
    );
    assert_eq!(result["output"], Value::Null);
    // The recorded journal is left as it was, for an operator to inspect.
    assert_eq!(server.journal("diverges").await, journal);
}

async fn split_stdout_line_is_logged_once_across_a_suspension(database: Database) {
    let server = Server::start(&database).await;
    server.push_example("misbehave").await;
    server.start_workflow("misbehave", "split", json!({ "split_line_across_sleep_ms": 1500 })).await;
    let result = server.result("split", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    // The first half was written before the workflow suspended, and written
    // again (and dropped) when it was replayed; the second half is new.
    let stdout: Vec<Value> = server
        .logs("split")
        .await
        .into_iter()
        .filter(|l| l["stream"] == "stdout")
        .map(|l| l["message"].clone())
        .collect();
    assert_eq!(stdout, [json!("before the timer, "), json!("after the timer")]);
}

async fn sigterm_stops_gracefully_and_sleeping_workflows_resume(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("countdown").await;
    server.start_workflow("countdown", "across-restart", json!({ "n": 1, "seconds": 3 })).await;
    server.wait_for("across-restart", "sleeping", |w| w["status"] == "sleeping").await;

    // A long poll in flight does not hold the shutdown up: it is answered
    // with the current status and the server exits with success.
    let poll = tokio::spawn({
        let url = server.url("/v1/workflows/across-restart/result?wait=300");
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let exit = server.terminate().await;
    assert!(exit.success(), "duro serve exited with {exit}");
    assert_eq!(poll.await.unwrap(), 202);

    server.restart().await;
    let result = server.result("across-restart", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let kinds: Vec<Value> =
        server.journal("across-restart").await.iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, [json!("sleep"), json!("now")]);
}

async fn repeated_sigkills_under_load_lose_nothing(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("countdown").await;
    server.push_example("misbehave").await;
    // Countdowns suspend on 2 s timers; the others wait in memory (20 ms
    // timers) and commit only when they finish.
    for n in 0..8 {
        server.start_workflow("countdown", &format!("count-{n}"), json!({ "n": 2, "seconds": 2 })).await;
        server.start_workflow("misbehave", &format!("short-{n}"), json!({ "short_sleeps": 15 })).await;
    }
    // Crash at fixed moments spread over the workflows' lives; the first
    // three certainly find workflows in flight.
    for (crash, pause_ms) in [150, 1900, 700, 2100].into_iter().enumerate() {
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        let (_, listed) = server.get("/v1/workflows?limit=100").await;
        let unfinished = listed["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["status"] == "running" || w["status"] == "sleeping")
            .count();
        assert!(crash == 3 || unfinished > 0, "crash {crash} would hit no workflow");
        server.crash_and_restart().await;
    }

    for n in 0..8 {
        let id = format!("count-{n}");
        let result = server.result(&id, 60).await;
        assert_eq!(result["status"], "completed", "{id}: {result}");
        let journal = server.journal(&id).await;
        let kinds: Vec<&str> = journal.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["sleep", "now", "sleep", "now"], "{id}");
        assert_eq!(result["output"], json!({ "ticks": recorded_ticks(&journal) }), "{id}");
        let stdout: Vec<Value> = server
            .logs(&id)
            .await
            .into_iter()
            .filter(|l| l["stream"] == "stdout")
            .map(|l| l["message"].clone())
            .collect();
        assert_eq!(stdout, [json!("tick 1"), json!("tick 2")], "{id}");

        let id = format!("short-{n}");
        let result = server.result(&id, 60).await;
        assert_eq!(result["status"], "completed", "{id}: {result}");
        assert_eq!(result["output"], json!([15]), "{id}");
        assert_eq!(server.journal(&id).await.len(), 15, "{id}");
    }
}
