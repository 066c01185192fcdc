//! Activities end to end: the `activity-caller` workflow calls the
//! `probe-activity` component through a real `duro serve`, with timeouts,
//! heartbeats and retries; the journal records every attempt.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server, ShopService};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    an_activity_is_retried_until_it_succeeds_and_gets_the_last_heartbeat,
    an_activity_past_its_start_to_close_timeout_is_retried_then_fails,
    an_activity_silent_past_its_heartbeat_timeout_is_retried_then_fails,
    a_non_retryable_activity_error_is_not_retried,
    an_activity_in_flight_at_a_kill_counts_as_lost_and_hands_on_its_heartbeat,
    an_activity_fetches_json_with_wasi_http_through_the_allowlist,
    a_spinning_activity_is_stopped_at_the_hosts_attempt_cap,
    an_unknown_activity_fails_the_call_without_retries,
);

/// A server with the caller workflow and the probe activity (as `probe`).
async fn server_with_activity(database: &Database) -> Server {
    server_with_activity_and(database, &[]).await
}

async fn server_with_activity_and(database: &Database, args: &[&str]) -> Server {
    let server = Server::start_with(database, args).await;
    server.push_example("activity_caller").await;
    let (status, body) =
        server.post_bytes("/v1/components?name=probe", common::example("probe_activity")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "activity");
    server
}

/// Runs the caller with `call` to a final status; its output.
async fn call(server: &Server, id: &str, call: Value) -> Value {
    server.start_workflow("activity_caller", id, call).await;
    let result = server.result(id, 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    result["output"].clone()
}

/// The entries of finished activity attempts (not the in-flight markers).
fn results(journal: &[Value]) -> Vec<&Value> {
    journal
        .iter()
        .filter(|entry| entry["kind"] == "activity" && entry["response"]["in_flight"].is_null())
        .collect()
}

/// `(attempt, error type or "ok")` of each finished activity attempt.
fn attempts(journal: &[Value]) -> Vec<(u64, String)> {
    results(journal)
        .into_iter()
        .map(|entry| {
            let answer = entry["response"]["error"]["type"].as_str().unwrap_or("ok").to_owned();
            (entry["request"]["attempt"].as_u64().unwrap(), answer)
        })
        .collect()
}

async fn an_activity_is_retried_until_it_succeeds_and_gets_the_last_heartbeat(database: Database) {
    let server = server_with_activity(&database).await;
    let (status, body) = server.get("/v1/components/probe").await;
    assert_eq!((status, &body["kind"]), (200, &json!("activity")), "{body}");
    let (status, body) =
        server.post_json("/v1/workflows", &json!({ "component": "probe", "input": {}, "id": "nope" })).await;
    assert_eq!(status, 400, "an activity cannot be started as a workflow: {body}");

    let output = call(
        &server,
        "flaky",
        json!({
            "component": "probe",
            "input": { "fail_until_attempt": 3, "heartbeat": "step" },
            "start_to_close_ms": 10_000, "max_attempts": 5, "initial_ms": 50,
        }),
    )
    .await;
    assert_eq!(output["ok"]["attempt"], 3, "{output}");
    assert_eq!(output["ok"]["last_heartbeat"], "step (attempt 2)", "{output}");
    assert_eq!(output["ok"]["idempotency_key"], "flaky/0", "{output}");
    let journal = server.journal("flaky").await;
    assert_eq!(attempts(&journal), [(1, "flaky".into()), (2, "flaky".into()), (3, "ok".into())]);
    let finished = results(&journal);
    let digest = finished[2]["response"]["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{}", finished[2]);
    assert_eq!(finished[0]["response"]["error"]["details"], json!({ "attempt": 1 }), "{}", finished[0]);
    // An attempt shorter than 100 ms is journaled once, when it ends: no
    // in-flight marker (a kill during one runs it again; see the test of a
    // lost attempt for the marker of a long one).
    let started = journal.iter().filter(|entry| !entry["response"]["in_flight"].is_null()).count();
    assert_eq!((started, journal.len()), (0, 3), "one entry per short attempt: {journal:?}");

    // An activity may ask for its own wait before the next attempt.
    let call = json!({
        "component": "probe",
        "input": { "fail_until_attempt": 2, "retry_delay_ms": 1_500 },
        "start_to_close_ms": 10_000, "max_attempts": 5, "initial_ms": 50,
    });
    assert_eq!(self::call(&server, "delayed", call).await["ok"]["attempt"], 2);
    let journal = server.journal("delayed").await;
    let first = &results(&journal)[0]["response"];
    let retry_at = humantime::parse_rfc3339(first["retry_at"].as_str().unwrap()).unwrap();
    let started = humantime::parse_rfc3339(first["started_at"].as_str().unwrap()).unwrap();
    let wait = retry_at.duration_since(started).unwrap();
    assert!(wait >= std::time::Duration::from_millis(1_500), "waited {wait:?}, not the 1.5 s asked for");
}

async fn an_activity_past_its_start_to_close_timeout_is_retried_then_fails(database: Database) {
    let server = server_with_activity(&database).await;
    let output = call(
        &server,
        "slow",
        json!({
            "component": "probe", "input": { "sleep_ms": 30_000 },
            "start_to_close_ms": 300, "max_attempts": 2, "initial_ms": 50,
        }),
    )
    .await;
    assert_eq!(output["error"]["type"], "start-to-close-timeout", "{output}");
    let journal = server.journal("slow").await;
    assert_eq!(
        attempts(&journal),
        [(1, "start-to-close-timeout".into()), (2, "start-to-close-timeout".into())]
    );
    assert!(results(&journal).iter().all(|e| e["response"]["duration_ms"].as_u64().unwrap() < 10_000));
}

async fn an_activity_silent_past_its_heartbeat_timeout_is_retried_then_fails(database: Database) {
    let server = server_with_activity(&database).await;
    let output = call(
        &server,
        "silent",
        json!({
            "component": "probe", "input": { "heartbeat": "alive", "hang": true },
            "start_to_close_ms": 30_000, "heartbeat_ms": 300, "max_attempts": 2, "initial_ms": 50,
        }),
    )
    .await;
    assert_eq!(output["error"]["type"], "heartbeat-timeout", "{output}");
    let journal = server.journal("silent").await;
    assert_eq!(attempts(&journal), [(1, "heartbeat-timeout".into()), (2, "heartbeat-timeout".into())]);
    let last = results(&journal)[1];
    assert_eq!(last["response"]["heartbeat"], "alive (attempt 2)", "{last}");
}

async fn a_non_retryable_activity_error_is_not_retried(database: Database) {
    let server = server_with_activity(&database).await;
    let output = call(
        &server,
        "declined",
        json!({
            "component": "probe", "input": { "non_retryable": "card declined" },
            "start_to_close_ms": 5_000, "max_attempts": 5, "initial_ms": 50,
        }),
    )
    .await;
    assert_eq!(
        output["error"],
        json!({ "type": "declined", "message": "card declined", "non_retryable": true })
    );
    assert_eq!(attempts(&server.journal("declined").await), [(1, "declined".into())]);
}

async fn an_activity_in_flight_at_a_kill_counts_as_lost_and_hands_on_its_heartbeat(database: Database) {
    let mut server = server_with_activity(&database).await;
    // Attempt 1 heartbeats forever; attempt 2 returns at once.
    let call = json!({
        "component": "probe", "input": { "heartbeat": "step", "beat_until_attempt": 2 },
        "start_to_close_ms": 60_000, "heartbeat_ms": 1_000,
    });
    server.start_workflow("activity_caller", "killed", call).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let journal = server.journal("killed").await;
        if journal.iter().any(|e| e["response"]["in_flight"]["heartbeat"] == "step (attempt 1)") {
            assert!(attempts(&journal).is_empty(), "attempt 1 is still running: {journal:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the heartbeat was never journaled: {journal:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.crash_and_restart().await;
    let result = server.result("killed", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let output = &result["output"]["ok"];
    assert_eq!(output["attempt"], 2, "the lost attempt counts: {result}");
    assert_eq!(
        output["last_heartbeat"], "step (attempt 1)",
        "the journaled heartbeat reaches the next attempt"
    );
    assert_eq!(output["idempotency_key"], "killed/0", "the same key on every attempt");
    let journal = server.journal("killed").await;
    assert_eq!(attempts(&journal), [(1, "host-lost".into()), (2, "ok".into())]);
    assert_eq!(results(&journal)[0]["response"]["heartbeat"], "step (attempt 1)");
}

async fn an_activity_fetches_json_with_wasi_http_through_the_allowlist(database: Database) {
    let shop = ShopService::start();
    let server = Server::start_with(&database, &["--allow-http", shop.authority()]).await;
    server.push_example("activity_caller").await;
    let (status, body) =
        server.post_bytes("/v1/components?name=fetch-json", common::example("fetch_json")).await;
    assert_eq!((status, &body["kind"]), (201, &json!("activity")), "{body}");

    let url = format!("{}/catalog/sku-9", shop.base);
    let call = json!({ "component": "fetch-json", "input": { "url": url }, "start_to_close_ms": 10_000 });
    let output = self::call(&server, "fetch", call).await;
    assert_eq!(output["ok"]["status"], 200, "{output}");
    assert_eq!(output["ok"]["body"]["sku"], "sku-9", "{output}");
    let requests = shop.requests(None).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["idempotency_key"], "fetch/0", "the activity call's key rides on its requests");

    // `localhost` is not in the allowlist, though it is the same server.
    let url = format!("http://localhost:{}/catalog/sku-9", shop.authority().rsplit(':').next().unwrap());
    let call = json!({ "component": "fetch-json", "input": { "url": url }, "start_to_close_ms": 10_000 });
    let output = self::call(&server, "fetch-denied", call).await;
    assert_eq!(output["error"]["type"], "http", "{output}");
    assert!(output["error"]["message"].as_str().unwrap().contains("HttpRequestDenied"), "{output}");
    assert_eq!(shop.requests(None).await.len(), 1, "a denied request reached the network");
}

async fn a_spinning_activity_is_stopped_at_the_hosts_attempt_cap(database: Database) {
    // The workflow asks for an hour; the host allows 500 ms.
    let server = server_with_activity_and(&database, &["--max-activity-attempt-ms", "500"]).await;
    let call = json!({ "component": "probe", "input": { "spin": true }, "start_to_close_ms": 3_600_000 });
    let output = self::call(&server, "spin", call).await;
    assert_eq!(output["error"]["type"], "start-to-close-timeout", "{output}");
    let journal = server.journal("spin").await;
    let attempt = results(&journal)[0];
    let ran = attempt["response"]["duration_ms"].as_u64().unwrap();
    assert!((400..30_000).contains(&ran), "the attempt ran {ran} ms");
    assert_eq!(
        attempt["request"]["start_to_close_timeout_ms"], 3_600_000,
        "the journal keeps what was asked"
    );
}

async fn an_unknown_activity_fails_the_call_without_retries(database: Database) {
    let server = server_with_activity(&database).await;
    for (id, component) in [("unknown", "no-such-activity"), ("not-an-activity", "activity_caller")] {
        let call = json!({
            "component": component, "input": {}, "start_to_close_ms": 1_000, "max_attempts": 5, "initial_ms": 50,
        });
        let output = self::call(&server, id, call).await;
        assert_eq!(output["error"]["type"], "unknown-component", "{output}");
        assert_eq!(output["error"]["non_retryable"], true, "{output}");
        assert_eq!(attempts(&server.journal(id).await), [(1, "unknown-component".into())]);
    }
}
