//! The HTTP API against a real `duro serve`: success shapes and every error case.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    component_upload_validates_and_deduplicates,
    workflow_start_is_idempotent_by_id_and_rejects_bad_requests,
    unknown_workflows_and_bad_queries_are_errors,
    workflow_list_filters_and_paginates,
);

/// Asserts the uniform error body and returns its code.
fn error_code(status: u16, body: &Value, expected_status: u16) -> String {
    assert_eq!(status, expected_status, "{body}");
    let error = &body["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    error["code"].as_str().unwrap().to_owned()
}

async fn component_upload_validates_and_deduplicates(database: Database) {
    let server = Server::start_with(&database, &["--max-component-bytes", "1000000"]).await;
    let bytes = common::example("hello");

    let (status, first) = server.post_bytes("/v1/components?name=hello", bytes.clone()).await;
    assert_eq!(status, 201, "{first}");
    let digest = first["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(first["name"], "hello");
    assert_eq!(first["size"], bytes.len());

    let (status, again) = server.post_bytes("/v1/components", bytes).await;
    assert_eq!(status, 200);
    assert_eq!(again["digest"], digest.as_str());

    let (status, by_name) = server.get("/v1/components/hello").await;
    assert_eq!(status, 200);
    assert_eq!(by_name["digest"], digest.as_str());
    let (status, by_digest) = server.get(&format!("/v1/components/{digest}")).await;
    assert_eq!((status, &by_digest["digest"]), (200, &json!(digest)));
    let (status, list) = server.get("/v1/components").await;
    assert_eq!(status, 200);
    assert_eq!(list["components"].as_array().unwrap().len(), 1);

    let (status, body) = server.get("/v1/components/nope").await;
    assert_eq!(error_code(status, &body, 404), "component_not_found");

    let (status, body) = server.post_bytes("/v1/components", b"just some text".to_vec()).await;
    assert_eq!(error_code(status, &body, 400), "invalid_component");
    assert!(body["error"]["message"].as_str().unwrap().contains("not a WebAssembly binary"), "{body}");

    // The smallest core module: magic and version 1.
    let (status, body) = server.post_bytes("/v1/components", b"\0asm\x01\0\0\0".to_vec()).await;
    assert_eq!(error_code(status, &body, 400), "invalid_component");
    assert!(body["error"]["message"].as_str().unwrap().contains("core WebAssembly module"), "{body}");

    // The smallest component: valid, but it exports no `run`.
    let (status, body) = server.post_bytes("/v1/components", b"\0asm\x0d\0\x01\0".to_vec()).await;
    assert_eq!(error_code(status, &body, 400), "invalid_component");
    assert!(body["error"]["message"].as_str().unwrap().contains("duro:workflow/workflow"), "{body}");

    // A truncated component.
    let (status, body) = server.post_bytes("/v1/components", common::example("hello")[..5000].to_vec()).await;
    assert_eq!(error_code(status, &body, 400), "invalid_component");

    let (status, body) = server.post_bytes("/v1/components", Vec::new()).await;
    assert_eq!(error_code(status, &body, 400), "bad_request");

    let (status, body) = server.post_bytes("/v1/components", vec![0; 1_000_001]).await;
    assert_eq!(error_code(status, &body, 413), "payload_too_large");

    let (status, body) = server.post_bytes("/v1/components?name=bad%20name", common::example("hello")).await;
    assert_eq!(error_code(status, &body, 400), "bad_request");
}

async fn workflow_start_is_idempotent_by_id_and_rejects_bad_requests(database: Database) {
    let server = Server::start(&database).await;
    let digest = server.push_example("hello").await;

    let started = server.start_workflow("hello", "greet-1", json!({ "name": "Ada" })).await;
    assert_eq!(started["id"], "greet-1");
    assert_eq!(started["component"], digest.as_str());

    // Same id, component (by digest this time) and input: the existing workflow.
    let same = json!({ "component": digest, "id": "greet-1", "input": { "name": "Ada" } });
    let (status, body) = server.post_json("/v1/workflows", &same).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "greet-1");

    let other_input = json!({ "component": "hello", "id": "greet-1", "input": { "name": "Bob" } });
    let (status, body) = server.post_json("/v1/workflows", &other_input).await;
    assert_eq!(error_code(status, &body, 409), "workflow_id_conflict");

    let unknown = json!({ "component": "nope", "input": {} });
    let (status, body) = server.post_json("/v1/workflows", &unknown).await;
    assert_eq!(error_code(status, &body, 404), "component_not_found");

    let bad_id = json!({ "component": "hello", "id": "a/b", "input": {} });
    let (status, body) = server.post_json("/v1/workflows", &bad_id).await;
    assert_eq!(error_code(status, &body, 400), "invalid_workflow_id");

    let malformed = reqwest::Client::new()
        .post(server.url("/v1/workflows"))
        .header("content-type", "application/json")
        .body("{\"component\": ")
        .send()
        .await
        .unwrap();
    let status = malformed.status().as_u16();
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(error_code(status, &body, 400), "bad_request");

    let (status, body) = server.post_json("/v1/workflows", &json!({ "input": 1 })).await;
    assert_eq!(error_code(status, &body, 400), "bad_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("component"), "{body}");

    let huge = json!({ "component": "hello", "input": "x".repeat(2 << 20) });
    let (status, body) = server.post_json("/v1/workflows", &huge).await;
    assert_eq!(error_code(status, &body, 413), "payload_too_large");

    // The started workflow completes; its result, journal and logs are there.
    let result = server.result("greet-1", 30).await;
    assert_eq!(result["status"], "completed");
    assert_eq!(result["output"]["greeting"], "Hello, Ada!");
    let journal = server.journal("greet-1").await;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["kind"], "wasi_wall_clock");
    assert_eq!(journal[0]["response"]["ns"], result["output"]["at_ns"]);
    let logs = server.logs("greet-1").await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["message"], "Hello, Ada!");
    assert_eq!(logs[0]["level"], "info");

    let (status, workflow) = server.get("/v1/workflows/greet-1").await;
    assert_eq!(status, 200);
    for key in
        ["id", "component", "status", "input", "output", "error", "created_at", "updated_at", "wake_at"]
    {
        assert!(workflow.get(key).is_some(), "missing {key}: {workflow}");
    }
    assert_eq!(workflow["input"], json!({ "name": "Ada" }));
}

async fn unknown_workflows_and_bad_queries_are_errors(database: Database) {
    let server = Server::start(&database).await;
    for path in [
        "/v1/workflows/nope",
        "/v1/workflows/nope/result",
        "/v1/workflows/nope/journal",
        "/v1/workflows/nope/logs",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(error_code(status, &body, 404), "workflow_not_found", "{path}");
    }
    let (status, body) = server.get("/v1/workflows?status=bogus").await;
    assert_eq!(error_code(status, &body, 400), "bad_request");
    let (status, body) = server.get("/v1/workflows?limit=many").await;
    assert_eq!(error_code(status, &body, 400), "bad_request");
    let (status, body) = server.get("/v1/workflows?cursor=x").await;
    assert_eq!(error_code(status, &body, 400), "bad_request");
    let (status, body) = server.get("/v1/nothing-here").await;
    assert_eq!(error_code(status, &body, 404), "not_found");
    let (status, body) = server.post_json("/v1/workflows/nope", &json!({})).await;
    assert_eq!(error_code(status, &body, 405), "method_not_allowed");
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

async fn workflow_list_filters_and_paginates(database: Database) {
    let server = Server::start(&database).await;
    server.push_example("hello").await;
    server.push_example("countdown").await;
    for n in 0..3 {
        server.start_workflow("hello", &format!("h{n}"), json!({ "name": format!("n{n}") })).await;
    }
    server.start_workflow("countdown", "long", json!({ "n": 1, "seconds": 600 })).await;
    server.wait_for("long", "sleeping", |w| w["status"] == "sleeping").await;
    for n in 0..3 {
        server.result(&format!("h{n}"), 30).await;
    }

    let (status, page) = server.get("/v1/workflows?limit=2").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        page["workflows"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["long", "h2"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = server.get(&format!("/v1/workflows?limit=2&cursor={cursor}")).await;
    let ids: Vec<&str> =
        next["workflows"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["h1", "h0"]);

    let (_, sleeping) = server.get("/v1/workflows?status=sleeping").await;
    let ids: Vec<&str> =
        sleeping["workflows"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["long"]);
    assert!(sleeping["workflows"][0]["wake_at"].is_string());
    let (_, by_component) = server.get("/v1/workflows?component=hello").await;
    assert_eq!(by_component["workflows"].as_array().unwrap().len(), 3);

    // By id prefix: exact, case and all, with the other filters and pages.
    let ids_of = |page: &Value| -> Vec<String> {
        page["workflows"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, prefixed) = server.get("/v1/workflows?id_prefix=h").await;
    assert_eq!(ids_of(&prefixed), ["h2", "h1", "h0"]);
    let (_, prefixed) = server.get("/v1/workflows?id_prefix=h1").await;
    assert_eq!(ids_of(&prefixed), ["h1"]);
    let (_, prefixed) = server.get("/v1/workflows?id_prefix=H").await;
    assert_eq!(ids_of(&prefixed), Vec::<String>::new());
    let (_, prefixed) = server.get("/v1/workflows?id_prefix=h&status=sleeping").await;
    assert_eq!(ids_of(&prefixed), Vec::<String>::new());
    let (_, first) = server.get("/v1/workflows?id_prefix=h&limit=2").await;
    assert_eq!(ids_of(&first), ["h2", "h1"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = server.get(&format!("/v1/workflows?id_prefix=h&limit=2&cursor={cursor}")).await;
    assert_eq!(ids_of(&rest), ["h0"]);
    let (status, body) = server.get(&format!("/v1/workflows?id_prefix={}", "h".repeat(129))).await;
    assert_eq!(error_code(status, &body, 400), "bad_request");

    // Counts by status, every status present, of all or of one component.
    let (status, counts) = server.get("/v1/workflow-counts").await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["total"], 4, "{counts}");
    assert_eq!((&counts["counts"]["completed"], &counts["counts"]["sleeping"]), (&json!(3), &json!(1)));
    assert_eq!(counts["counts"].as_object().unwrap().len(), 8, "{counts}");
    assert_eq!(counts["counts"]["failed"], 0, "{counts}");
    let (_, counts) = server.get("/v1/workflow-counts?component=countdown").await;
    assert_eq!((&counts["total"], &counts["counts"]["sleeping"]), (&json!(1), &json!(1)), "{counts}");
    let (status, counts) = server.get("/v1/workflow-counts?component=nothing").await;
    assert_eq!((status, &counts["total"]), (200, &json!(0)), "{counts}");

    // A long poll on a sleeping workflow ends with 202 and the current status.
    let (status, body) = server.get("/v1/workflows/long/result?wait=0.2").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "sleeping");
}
