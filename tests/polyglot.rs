//! Workflows in Python and JavaScript, built with their SDKs
//! (`guest-sdk/python`, `guest-sdk/js`) by `scripts/setup.sh`, end to end on
//! a real `duro serve`: the approval example in all three languages through
//! the same steps and to the same outputs, events and journal of duro
//! calls, across a `kill -9`; an HTTP workflow per language with a retried
//! request; and each language's own clock and randomness replaying as
//! recorded.
//!
//! The Python components are about 18 MB and the JavaScript ones 12 MB: a
//! debug host compiles each for 25 s or more at its first upload (later
//! ones, and restarts, read the host's disk cache), so the tests share
//! servers and restarts between workflows, and PostgreSQL runs only the
//! approval test.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::{Database, Server, ShopService};
use serde_json::{Value, json};

on_sqlite_and_postgres!(approval_in_rust_python_and_javascript_survives_a_kill_9);

/// A server that admits `allow_http` and gives a compilation five minutes:
/// a large component takes 25 to 35 s in the debug build on two busy cores,
/// and the tests compile several at once.
async fn server(database: &Database, allow_http: Option<&str>) -> Server {
    let mut args = vec!["--request-timeout-ms", "300000", "--compile-timeout-ms", "300000"];
    if let Some(authority) = allow_http {
        args.extend(["--allow-http", authority]);
    }
    Server::start_with(database, &args).await
}

/// Sends signal `name` with `payload` and checks it was accepted.
async fn signal(server: &Server, id: &str, name: &str, payload: Value) {
    let (status, body) = server.post_json(&format!("/v1/workflows/{id}/signals/{name}"), &payload).await;
    assert_eq!(status, 202, "signal {name} to {id}: {body}");
}

/// The value of event `key` of `id`, waiting up to 60 s for one.
async fn event(server: &Server, id: &str, key: &str) -> Value {
    let (status, body) = server.get(&format!("/v1/workflows/{id}/events/{key}?wait=60")).await;
    assert_eq!(status, 200, "event {key} of {id}: {body}");
    body["value"].clone()
}

async fn wait_until_waiting(server: &Server, id: &str) {
    server.wait_for(id, "waiting", |workflow| workflow["status"] == "waiting").await;
}

/// The kinds of `id`'s journal entries that are duro calls, in order: the
/// clock and randomness a language runtime reads on its own
/// (`wasi_*` entries) differ between languages, the rest must not.
async fn duro_calls(server: &Server, id: &str) -> Vec<String> {
    let journal = server.journal(id).await;
    let seqs: Vec<u64> = journal.iter().map(|entry| entry["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "each entry once, in order");
    journal
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap().to_owned())
        .filter(|kind| !kind.starts_with("wasi_"))
        .collect()
}

/// How many of `id`'s log lines contain `text`.
async fn log_count(server: &Server, id: &str, text: &str) -> usize {
    let lines = server.logs(id).await;
    lines.iter().filter(|line| line["message"].as_str().is_some_and(|m| m.contains(text))).count()
}

/// The approval example in `component` (`approval`, `approval_py`,
/// `approval_js`), three workflows on one server: one rejected after an
/// approval with a bad payload, one timed out, one cancelled, with a
/// `kill -9` while all three wait. Returns the id of the rejected one.
async fn approval_flow(server: &mut Server, component: &str) -> String {
    server.push_example(component).await;
    let [asked, late, stopped] = ["ask", "late", "stop"].map(|id| format!("{component}-{id}"));
    server.start_workflow(component, &asked, json!({ "request": "deploy v2", "timeout_s": 600 })).await;
    server.start_workflow(component, &late, json!({ "request": "deploy v3", "timeout_s": 1 })).await;
    server.start_workflow(component, &stopped, json!({ "request": "deploy v4" })).await;
    for id in [&asked, &stopped] {
        assert_eq!(event(server, id, "status").await, "pending", "{id}");
        wait_until_waiting(server, id).await;
    }

    server.crash_and_restart().await;
    signal(server, &asked, "approve", json!({ "nope": 1 })).await;
    signal(server, &asked, "reject", json!({ "by": "bob", "comment": "not on a Friday" })).await;
    let (status, body) = server.post_json(&format!("/v1/workflows/{stopped}/cancel"), &json!(null)).await;
    assert_eq!(status, 202, "{body}");

    let result = server.result(&asked, 120).await;
    assert_eq!(result["status"], "completed", "{result}");
    let expected =
        json!({ "request": "deploy v2", "decision": "rejected", "by": "bob", "comment": "not on a Friday" });
    assert_eq!(result["output"], expected, "{component}");
    assert_eq!(event(server, &asked, "status").await, "rejected");
    // Replayed after the restart, the lines written before it are not
    // logged again.
    assert_eq!(log_count(server, &asked, "waiting up to 600 s").await, 1, "{component}");
    assert_eq!(log_count(server, &asked, "ignoring signal approve").await, 1, "{component}");

    let result = server.result(&late, 120).await;
    let expected = json!({ "request": "deploy v3", "decision": "timed_out", "by": null, "comment": null });
    assert_eq!((&result["status"], &result["output"]), (&json!("completed"), &expected), "{component}");

    let result = server.result(&stopped, 120).await;
    assert_eq!((&result["status"], &result["error"]), (&json!("cancelled"), &json!("cancelled")), "{result}");
    assert_eq!(event(server, &stopped, "status").await, "cancelled");

    // Input the Rust types refuse is refused in every language, before any call.
    for (n, input) in
        [json!({ "timeout_s": 5 }), json!({ "request": 42 }), json!({ "request": "x", "timeout_s": -1 })]
            .into_iter()
            .enumerate()
    {
        let id = format!("{component}-bad-{n}");
        server.start_workflow(component, &id, input.clone()).await;
        let result = server.result(&id, 120).await;
        assert_eq!(result["status"], "failed", "{component} {input}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("invalid input: "), "{component} {input}: {error}");
        assert_eq!(duro_calls(server, &id).await, Vec::<String>::new(), "{component} {input}");
    }
    asked
}

async fn approval_in_rust_python_and_javascript_survives_a_kill_9(database: Database) {
    let mut server = server(&database, None).await;
    let rust = approval_flow(&mut server, "approval").await;
    let python = approval_flow(&mut server, "approval_py").await;
    let javascript = approval_flow(&mut server, "approval_js").await;
    let expected = [
        "set_event",
        "start_timer",
        "receive_signal",
        "receive_signal",
        "wait_any",
        "receive_signal",
        "receive_signal",
        "wait_any",
        "set_event",
    ];
    for id in [&rust, &python, &javascript] {
        assert_eq!(duro_calls(&server, id).await, expected, "{id}");
    }
    report_journal(&server, &database, &python).await;
    report_journal(&server, &database, &javascript).await;
}

/// Prints `id`'s journal entries by kind: how many, the bytes of their
/// JSON in `GET /v1/workflows/{id}/journal` and of their stored payloads.
/// JavaScript's engine reads the clock on its own; this shows what that
/// costs.
async fn report_journal(server: &Server, database: &Database, id: &str) {
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for entry in server.journal(id).await {
        let kind = kinds.entry(entry["kind"].as_str().unwrap().to_owned()).or_default();
        kind.0 += 1;
        kind.1 += entry.to_string().len();
    }
    let rows = sqlx::query(&format!(
        "SELECT kind, CAST(SUM(LENGTH(payload)) AS BIGINT) AS bytes FROM journal \
         WHERE workflow_id = '{id}' GROUP BY kind"
    ))
    .fetch_all(&mut database.connect().await)
    .await
    .unwrap();
    let stored: BTreeMap<String, i64> = rows
        .iter()
        .map(|row| (sqlx::Row::get::<String, _>(row, "kind"), sqlx::Row::get::<i64, _>(row, "bytes")))
        .collect();
    eprintln!("journal of {id}: kind, entries, JSON bytes, stored payload bytes");
    for (kind, (entries, bytes)) in kinds {
        eprintln!("  {kind:<22} {entries:>5} {bytes:>8} {:>8}", stored.get(&kind).copied().unwrap_or(0));
    }
}

/// The Python and JavaScript fetch examples, GETting the shop's catalog: a
/// 500 is retried under the workflow's policy, both attempts journaled and
/// sent with one idempotency key. SQLite only: PostgreSQL journals HTTP the
/// same way, and tests/effects.rs covers it there.
#[tokio::test]
async fn http_workflows_in_python_and_javascript_retry_under_their_policy() {
    let database = Database::sqlite();
    let shop = ShopService::start();
    let server = server(&database, Some(shop.authority())).await;
    let url = format!("{}/catalog/sku-9", shop.base);
    for component in ["fetch_json_py", "fetch_json_js"] {
        server.push_example(component).await;
        shop.fault(json!({ "path": "/catalog/sku-9", "status": 500, "times": 1 })).await;
        let input = json!({ "url": url, "max_attempts": 3, "retry_initial_ms": 100 });
        server.start_workflow(component, component, input).await;
        let result = server.result(component, 120).await;
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(result["output"]["status"], 200, "{result}");
        assert_eq!(result["output"]["body"]["sku"], "sku-9", "{result}");

        let journal = server.journal(component).await;
        let attempts: Vec<(u64, u64)> = journal
            .iter()
            .filter(|entry| entry["kind"] == "http")
            .map(|entry| {
                (entry["request"]["attempt"].as_u64().unwrap(), entry["response"]["status"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(attempts, [(1, 500), (2, 200)], "{component}");
        let first = journal.iter().find(|entry| entry["kind"] == "http").unwrap();
        let key = format!("{component}/{}", first["seq"]);
        let keys: Vec<String> = shop.keyed_paths().await.into_iter().map(|(_, key)| key).collect();
        assert_eq!(keys.iter().filter(|k| **k == key).count(), 2, "both attempts carry {key}: {keys:?}");
    }
}

/// Each language's own clock and randomness (Python's `time.time_ns()`,
/// `random.random()`, `os.urandom`; JavaScript's `Date.now()`,
/// `Math.random()`, `crypto.getRandomValues`), read before a durable wait
/// and published, come back the same from the replay after a `kill -9`;
/// two workflows get different random values, so they come from the
/// journal and not from the build. SQLite only: replay reads the journal
/// the same way from either backend.
#[tokio::test]
async fn std_clocks_and_randomness_replay_as_recorded() {
    let database = Database::sqlite();
    let mut server = server(&database, None).await;
    let mut observed = BTreeMap::new();
    for component in ["std_clock_py", "std_clock_js"] {
        server.push_example(component).await;
        for run in ["a", "b"] {
            let id = format!("{component}-{run}");
            server.start_workflow(component, &id, json!({})).await;
            observed.insert(id.clone(), event(&server, &id, "observed").await);
            wait_until_waiting(&server, &id).await;
        }
    }
    server.crash_and_restart().await;
    for (id, before) in &observed {
        signal(&server, id, "go", json!(null)).await;
        let result = server.result(id, 120).await;
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(&result["output"], before, "{id}: the replay read other values");
    }
    for component in ["std_clock_py", "std_clock_js"] {
        let (a, b) = (&observed[&format!("{component}-a")], &observed[&format!("{component}-b")]);
        for (field, value) in a.as_object().unwrap() {
            if !field.contains("now") && !field.contains("time") && !field.contains("monotonic") {
                assert_ne!(value, &b[field], "{component}: {field} is the same in two workflows");
            }
        }
    }
}
