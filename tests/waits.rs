//! Waiting on the world end to end, on a real `duro serve`: signals (before
//! and after the receive, across a crash, deduplicated by key, a thousand in
//! order), races, durable events, cancellation with compensation,
//! termination, execution timeouts, child workflows under `kill -9`, and
//! thousands of waiting workflows that hold no wasm instance.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::{Database, Server};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    a_signal_sent_before_or_after_the_receive_is_delivered,
    a_signal_wakes_a_waiting_workflow_after_a_crash,
    a_race_takes_the_timeout_branch_or_the_signal_branch,
    a_duplicate_signal_with_the_same_key_is_delivered_once,
    a_thousand_signals_are_each_delivered_once_and_in_order,
    an_event_is_read_and_long_polled,
    cancelling_a_sleep_lets_the_workflow_compensate,
    terminate_stops_a_workflow_without_its_cooperation,
    an_execution_timeout_cancels_and_then_terminates,
    a_crash_during_fan_out_starts_no_child_twice,
    cancelling_a_parent_cancels_its_children,
    approval_and_fan_out_run_from_the_cli,
    thousands_of_waiting_workflows_hold_no_wasm_instance,
);

async fn server_with_waiter(database: &Database) -> Server {
    let server = Server::start(database).await;
    server.push_example("waiter").await;
    server
}

/// Sends signal `name` with `payload`; the answer's status and body.
async fn signal(server: &Server, id: &str, name: &str, payload: Value, key: Option<&str>) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().post(server.url(&format!("/v1/workflows/{id}/signals/{name}"))).json(&payload);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn signal_ok(server: &Server, id: &str, name: &str, payload: Value) -> Value {
    let (status, body) = signal(server, id, name, payload, None).await;
    assert_eq!(status, 202, "{body}");
    body
}

async fn wait_status(server: &Server, id: &str, status: &str) -> Value {
    server.wait_for(id, status, |workflow| workflow["status"] == status).await
}

async fn a_signal_sent_before_or_after_the_receive_is_delivered(database: Database) {
    let server = server_with_waiter(&database).await;
    let input = json!({ "op": "receive", "name": "go", "count": 2, "sleep_every": 1, "sleep_ms": 1500 });
    server.start_workflow("waiter", "two", input).await;
    // After: the workflow is waiting for it, unloaded.
    let waiting = wait_status(&server, "two", "waiting").await;
    assert_eq!(waiting["waits_for"]["signals"], json!(["go"]), "{waiting}");
    signal_ok(&server, "two", "go", json!("first")).await;
    // Before: the workflow sleeps between the receives.
    wait_status(&server, "two", "sleeping").await;
    signal_ok(&server, "two", "go", json!("second")).await;
    let result = server.result("two", 30).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["output"], json!({ "payloads": ["first", "second"] }));
    let journal = server.journal("two").await;
    let arrivals: Vec<Option<u64>> = journal
        .iter()
        .filter(|entry| entry["kind"] == "wait_any")
        .filter_map(|entry| entry["response"]["outcome"].get("signal"))
        .map(|signal| signal["arrival"].as_u64())
        .collect();
    assert_eq!(arrivals, [Some(1), Some(2)], "{journal:?}");
}

async fn a_signal_wakes_a_waiting_workflow_after_a_crash(database: Database) {
    let mut server = server_with_waiter(&database).await;
    server.start_workflow("waiter", "parked", json!({ "op": "wait" })).await;
    wait_status(&server, "parked", "waiting").await;
    server.crash_and_restart().await;
    signal_ok(&server, "parked", "go", json!({ "by": "ops" })).await;
    let result = server.result("parked", 30).await;
    assert_eq!(result["output"], json!({ "got": { "by": "ops" } }), "{result}");
    // A signal to a workflow that has ended is refused and stores nothing.
    let (status, body) = signal(&server, "parked", "go", json!(1), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("workflow_ended")), "{body}");
    let (status, _) = signal(&server, "nobody", "go", json!(1), None).await;
    assert_eq!(status, 404);
}

async fn a_race_takes_the_timeout_branch_or_the_signal_branch(database: Database) {
    let server = server_with_waiter(&database).await;
    // Longer than the inline threshold: the workflow waits unloaded.
    server
        .start_workflow("waiter", "late", json!({ "op": "race", "name": "approve", "timeout_ms": 1500 }))
        .await;
    server
        .start_workflow("waiter", "early", json!({ "op": "race", "name": "approve", "timeout_ms": 600_000 }))
        .await;
    let waiting = wait_status(&server, "early", "waiting").await;
    assert!(waiting["waits_for"]["timer_at"].is_string(), "{waiting}");
    signal_ok(&server, "early", "approve", json!("yes")).await;
    let early = server.result("early", 30).await;
    assert_eq!(early["output"], json!({ "winner": "signal", "payload": "yes" }), "{early}");
    let late = server.result("late", 30).await;
    assert_eq!(late["output"], json!({ "winner": "timeout" }), "{late}");
    // The timer won: a signal sent now is not taken by the finished race.
    let (status, _) = signal(&server, "late", "approve", json!("too late"), None).await;
    assert_eq!(status, 409);
}

async fn a_duplicate_signal_with_the_same_key_is_delivered_once(database: Database) {
    let server = server_with_waiter(&database).await;
    let input = json!({ "op": "receive", "name": "pay", "count": 2 });
    server.start_workflow("waiter", "dedup", input).await;
    let (status, first) = signal(&server, "dedup", "pay", json!("a"), Some("k-1")).await;
    assert_eq!((status, &first["duplicate"]), (202, &json!(false)), "{first}");
    let (status, again) = signal(&server, "dedup", "pay", json!("a"), Some("k-1")).await;
    assert_eq!((status, &again["duplicate"]), (202, &json!(true)), "{again}");
    assert_eq!(again["arrival"], first["arrival"]);
    let (status, _) = signal(&server, "dedup", "pay", json!("b"), Some("k-2")).await;
    assert_eq!(status, 202);
    let result = server.result("dedup", 30).await;
    assert_eq!(result["output"], json!({ "payloads": ["a", "b"] }), "{result}");
}

async fn a_thousand_signals_are_each_delivered_once_and_in_order(database: Database) {
    // Frequent checkpoints, and a sleep past the inline threshold every 250
    // signals: the sends race with commits, suspensions and resumptions.
    let server = Server::start_with(&database, &["--checkpoint-interval-ms", "20"]).await;
    server.push_example("waiter").await;
    let input = json!({ "op": "receive", "name": "n", "count": 1000, "sleep_every": 250, "sleep_ms": 1100 });
    server.start_workflow("waiter", "many", input).await;
    for n in 0..1000 {
        signal_ok(&server, "many", "n", json!(n)).await;
    }
    let result = server.result("many", 120).await;
    assert_eq!(result["status"], "completed", "{result}");
    let expected: Vec<Value> = (0..1000).map(|n| json!(n)).collect();
    assert_eq!(result["output"]["payloads"], Value::Array(expected));
    let mut journal = Vec::new();
    loop {
        let after = journal.last().map_or(-1, |entry: &Value| entry["seq"].as_i64().unwrap());
        let (_, page) = server.get(&format!("/v1/workflows/many/journal?after={after}")).await;
        let entries = page["entries"].as_array().unwrap();
        if entries.is_empty() {
            break;
        }
        journal.extend(entries.iter().cloned());
    }
    let mut arrivals: Vec<u64> = journal
        .iter()
        .filter_map(|entry| entry["response"]["outcome"]["signal"]["arrival"].as_u64())
        .collect();
    assert_eq!(arrivals.len(), 1000);
    arrivals.dedup();
    assert_eq!(arrivals, (1..=1000).collect::<Vec<u64>>(), "each arrival received once, in order");
}

async fn an_event_is_read_and_long_polled(database: Database) {
    let server = server_with_waiter(&database).await;
    server.start_workflow("waiter", "ev", json!({ "op": "events" })).await;
    let (status, event) = server.get("/v1/workflows/ev/events/stage?wait=30").await;
    assert_eq!((status, &event["value"]), (200, &json!("started")), "{event}");
    let (status, missing) = server.get("/v1/workflows/ev/events/other").await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("event_not_found")), "{missing}");
    let (status, _) = server.get("/v1/workflows/nobody/events/stage").await;
    assert_eq!(status, 404);
    signal_ok(&server, "ev", "finish", json!(7)).await;
    let result = server.result("ev", 30).await;
    assert_eq!(result["output"], json!({ "finished": 7 }), "{result}");
    let (_, event) = server.get("/v1/workflows/ev/events/stage").await;
    assert_eq!(event["value"], "done", "{event}");
    let (stdout, stderr, ok) = server.cli(&["workflow", "event", "ev", "stage"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "\"done\"");
}

async fn cancelling_a_sleep_lets_the_workflow_compensate(database: Database) {
    let server = server_with_waiter(&database).await;
    server.start_workflow("waiter", "nap", json!({ "op": "sleep", "sleep_ms": 600_000 })).await;
    let (_, event) = server.get("/v1/workflows/nap/events/stage?wait=30").await;
    assert_eq!(event["value"], "sleeping", "{event}");
    wait_status(&server, "nap", "sleeping").await;
    let (status, body) = server.post_json("/v1/workflows/nap/cancel", &json!(null)).await;
    assert_eq!(status, 202, "{body}");
    // Cancelling twice is the same request.
    let (status, _) = server.post_json("/v1/workflows/nap/cancel", &json!(null)).await;
    assert!(status == 202 || status == 409, "{status}");
    let result = server.result("nap", 30).await;
    assert_eq!(result["status"], "cancelled", "{result}");
    assert_eq!(result["output"], json!({ "cancelled": true }));
    let (_, event) = server.get("/v1/workflows/nap/events/stage").await;
    assert_eq!(event["value"], "compensated", "{event}");
    assert!(server.logs("nap").await.iter().any(|line| line["message"] == "compensating"));
    let (status, body) = server.post_json("/v1/workflows/nap/cancel", &json!(null)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("workflow_ended")), "{body}");
}

async fn terminate_stops_a_workflow_without_its_cooperation(database: Database) {
    let server = server_with_waiter(&database).await;
    server.start_workflow("waiter", "stop", json!({ "op": "wait" })).await;
    wait_status(&server, "stop", "waiting").await;
    let (stdout, stderr, ok) = server.cli(&["workflow", "cancel", "stop", "--force"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("terminated"), "{stdout}");
    let result = server.result("stop", 5).await;
    assert_eq!(result["status"], "terminated", "{result}");
    let (status, _) = signal(&server, "stop", "go", json!(1), None).await;
    assert_eq!(status, 409);
    let (status, _) = server.post_json("/v1/workflows/stop/cancel?force=true", &json!(null)).await;
    assert_eq!(status, 409);
}

async fn an_execution_timeout_cancels_and_then_terminates(database: Database) {
    let server = Server::start_with(&database, &["--timeout-grace-ms", "1000"]).await;
    server.push_example("waiter").await;
    server.push_example("countdown").await;
    // The waiter hears the cancellation in its wait and ends cancelled.
    let request = json!({ "component": "waiter", "id": "slow", "input": { "op": "wait" }, "timeout_s": 1 });
    let (status, body) = server.post_json("/v1/workflows", &request).await;
    assert_eq!(status, 201, "{body}");
    let result = server.result("slow", 30).await;
    assert_eq!(result["status"], "cancelled", "{result}");
    // `countdown` sleeps with `runtime.sleep`, which cannot be told: it is
    // terminated once the grace period has passed too.
    let input = json!({ "n": 1, "seconds": 600 });
    let request = json!({ "component": "countdown", "id": "deaf", "input": input, "timeout_s": 1 });
    let (status, body) = server.post_json("/v1/workflows", &request).await;
    assert_eq!(status, 201, "{body}");
    let result = server.result("deaf", 30).await;
    assert_eq!(result["status"], "terminated", "{result}");
    let (status, body) =
        server.post_json("/v1/workflows", &json!({ "component": "waiter", "timeout_s": -1 })).await;
    assert_eq!(status, 400, "{body}");
}

async fn a_crash_during_fan_out_starts_no_child_twice(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("hello").await;
    server.push_example("fan_out").await;
    let names: Vec<String> = (0..20).map(|n| format!("n{n}")).collect();
    server.start_workflow("fan_out", "fan", json!({ "names": names })).await;
    server
        .wait_for("fan", "a first child", |workflow| !workflow["children"].as_array().unwrap().is_empty())
        .await;
    server.crash_and_restart().await;
    let result = server.result("fan", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let greetings: Vec<Value> = result["output"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|output| output["greeting"].clone())
        .collect();
    let expected: Vec<Value> = names.iter().map(|name| json!(format!("Hello, {name}!"))).collect();
    assert_eq!(greetings, expected);
    let (_, fan) = server.get("/v1/workflows/fan").await;
    let children = fan["children"].as_array().unwrap();
    assert_eq!(children.len(), 20, "{fan}");
    assert!(children.iter().all(|child| child["status"] == "completed"), "{fan}");
    let (_, listed) = server.get("/v1/workflows?component=hello&limit=500").await;
    assert_eq!(listed["workflows"].as_array().unwrap().len(), 20, "no child was started twice");
    let (_, child) = server.get(&format!("/v1/workflows/{}", children[0]["id"].as_str().unwrap())).await;
    assert_eq!(child["parent"], "fan", "{child}");
}

async fn cancelling_a_parent_cancels_its_children(database: Database) {
    let server = server_with_waiter(&database).await;
    let input = json!({ "op": "children", "component": "waiter", "names": ["a", "b"], "child_input": { "op": "wait" } });
    server.start_workflow("waiter", "parent", input).await;
    let parent = server
        .wait_for("parent", "two waiting children", |workflow| {
            let children = workflow["children"].as_array().unwrap();
            children.len() == 2 && children.iter().all(|child| child["status"] == "waiting")
        })
        .await;
    let children: Vec<String> =
        parent["children"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(children, ["parent:0", "parent:1"], "ids derive from the parent and the start's seq");
    let (status, body) = server.post_json("/v1/workflows/parent/cancel", &json!(null)).await;
    assert_eq!(status, 202, "{body}");
    let result = server.result("parent", 30).await;
    assert_eq!((&result["status"], &result["error"]), (&json!("cancelled"), &json!("cancelled")), "{result}");
    for child in &children {
        let result = server.result(child, 30).await;
        assert_eq!(result["status"], "cancelled", "{child}: {result}");
    }
}

async fn approval_and_fan_out_run_from_the_cli(database: Database) {
    let server = Server::start(&database).await;
    for name in ["approval", "fan_out", "hello"] {
        let path = common::examples_dir().join(format!("{name}.wasm"));
        let (_, stderr, ok) = server.cli(&["component", "push", path.to_str().unwrap(), "--name", name]);
        assert!(ok, "{stderr}");
    }
    let input = r#"{"request":"deploy v2","timeout_s":600}"#;
    let (_, stderr, ok) = server.cli(&["workflow", "start", "approval", "--input", input, "--id", "ask"]);
    assert!(ok, "{stderr}");
    let (stdout, stderr, ok) = server.cli(&["workflow", "event", "ask", "status", "--wait", "30"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "\"pending\"");
    let (_, stderr, ok) = server.cli(&["workflow", "signal", "ask", "approve", r#"{"by":"alice"}"#]);
    assert!(ok, "{stderr}");
    let (stdout, stderr, ok) = server.cli(&["workflow", "result", "ask", "--wait", "30"]);
    assert!(ok, "{stderr}");
    let output: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((&output["decision"], &output["by"]), (&json!("approved"), &json!("alice")), "{output}");
    let input = r#"{"names":["Ada","Grace"]}"#;
    let (stdout, stderr, ok) = server.cli(&["workflow", "start", "fan_out", "--input", input, "--wait"]);
    assert!(ok, "{stderr}");
    let output: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(output["outputs"][1]["greeting"], "Hello, Grace!", "{output}");
}

async fn thousands_of_waiting_workflows_hold_no_wasm_instance(database: Database) {
    const WORKFLOWS: usize = 10_000;
    let server = server_with_waiter(&database).await;
    let client = reqwest::Client::new();
    let mut starts = tokio::task::JoinSet::new();
    for n in 0..WORKFLOWS {
        if starts.len() >= 32 {
            assert_eq!(starts.join_next().await.unwrap().unwrap(), 201);
        }
        let request = json!({ "component": "waiter", "id": format!("w{n}"), "input": { "op": "wait" } });
        let post = client.post(server.url("/v1/workflows")).json(&request).send();
        starts.spawn(async move { post.await.unwrap().status().as_u16() });
    }
    while let Some(status) = starts.join_next().await {
        assert_eq!(status.unwrap(), 201);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let (_, health) = server.get("/healthz").await;
        let (_, running) = server.get("/v1/workflows?status=running&limit=1").await;
        let none_running = running["workflows"].as_array().unwrap().is_empty();
        if none_running && health["runtime"]["runs_in_flight"] == 0 {
            assert_eq!(health["runtime"]["live_instances"], 0, "{health}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "workflows still running: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut waiting = 0;
    let mut cursor = String::new();
    loop {
        let (_, page) = server.get(&format!("/v1/workflows?status=waiting&limit=500{cursor}")).await;
        waiting += page["workflows"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(waiting, WORKFLOWS);
    // They still wake: a signal resumes one by replay.
    signal_ok(&server, "w123", "go", json!("now")).await;
    let result = server.result("w123", 30).await;
    assert_eq!(result["output"], json!({ "got": "now" }), "{result}");
}
