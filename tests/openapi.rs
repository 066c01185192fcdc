//! The OpenAPI document (`GET /v1/openapi.json`) against a real `duro
//! serve`: it names every route, and schemathesis finds no answer it does
//! not describe.
//!
//! schemathesis comes from a virtual environment that `scripts/setup.sh`
//! (`install_schemathesis`) creates under `target/schemathesis-venv`;
//! `DURO_SCHEMATHESIS` names another `st` binary. It runs every check, in
//! every phase (examples, coverage, fuzzing, stateful), with a fixed seed
//! (`DURO_SCHEMATHESIS_SEED` picks another); `tests/schemathesis_hooks.py`
//! tells it what a valid component upload is.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Database, Server, TempDir};
use serde_json::{Value, json};

/// Largest component upload of the server under test, in bytes: small, so
/// that an oversize body is cheap to send.
const MAX_COMPONENT_BYTES: usize = 2 << 20;
/// Largest JSON body (the server's default), in bytes.
const MAX_JSON_BYTES: usize = 1 << 20;
/// Longest the schemathesis run may take before the test fails.
const SCHEMATHESIS_TIMEOUT: Duration = Duration::from_secs(180);

/// The `st` binary: `DURO_SCHEMATHESIS`, else the one `scripts/setup.sh` installs.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("DURO_SCHEMATHESIS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/schemathesis-venv/bin/st")
    });
    assert!(
        path.is_file(),
        "no schemathesis at {}: run `source scripts/setup.sh && install_schemathesis` (scripts/test.sh does)",
        path.display()
    );
    path
}

async fn start_server(database: &Database) -> Server {
    let upload_limit = MAX_COMPONENT_BYTES.to_string();
    let server = Server::start_with(database, &["--max-component-bytes", &upload_limit]).await;
    // Things to find: a workflow and an activity component, and a workflow
    // that has ended, so that not every request is about something unknown.
    server.push_example("hello").await;
    server.push_example("probe_activity").await;
    server.start_workflow("hello", "greet-1", json!({ "name": "Ada" })).await;
    server.result("greet-1", 30).await;
    server
}

#[tokio::test]
async fn document_names_every_route_with_its_errors_and_auth() {
    let database = Database::sqlite();
    let server = start_server(&database).await;
    let (status, document) = server.get("/v1/openapi.json").await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["openapi"], "3.1.0");
    let expected = [
        ("/v1/components", vec!["get", "post"]),
        ("/v1/components/{key}", vec!["get", "delete"]),
        ("/v1/workflows", vec!["get", "post"]),
        ("/v1/workflows/{id}", vec!["get", "delete"]),
        ("/v1/workflow-counts", vec!["get"]),
        ("/v1/workflows/{id}/result", vec!["get"]),
        ("/v1/workflows/{id}/journal", vec!["get"]),
        ("/v1/workflows/{id}/logs", vec!["get"]),
        ("/v1/workflows/{id}/signals/{name}", vec!["post"]),
        ("/v1/workflows/{id}/cancel", vec!["post"]),
        ("/v1/workflows/{id}/events/{key}", vec!["get"]),
        ("/v1/workflows/{id}/replay", vec!["post"]),
        ("/v1/workflows/{id}/upgrade", vec!["post"]),
        ("/v1/schedules", vec!["get", "post"]),
        ("/v1/schedules/{id}", vec!["get", "delete"]),
        ("/v1/schedules/{id}/pause", vec!["post"]),
        ("/v1/schedules/{id}/resume", vec!["post"]),
        ("/v1/schedules/{id}/trigger", vec!["post"]),
        ("/v1/hosts", vec!["get"]),
        ("/v1/openapi.json", vec!["get"]),
        ("/healthz", vec!["get"]),
        ("/metrics", vec!["get"]),
    ];
    let paths = document["paths"].as_object().unwrap();
    let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut expected_names: Vec<&str> = expected.iter().map(|(path, _)| *path).collect();
    names.sort_unstable();
    expected_names.sort_unstable();
    assert_eq!(names, expected_names);
    for (path, methods) in expected {
        let open = !path.starts_with("/v1/") || path == "/v1/openapi.json";
        for method in methods {
            let operation = &paths[path][method];
            let responses = operation["responses"].as_object().unwrap();
            for status in ["500", "503"] {
                assert!(responses.contains_key(status), "{method} {path} lacks {status}");
            }
            // `/metrics` is open unless the server protects it: its 401 is its own.
            if path != "/metrics" {
                for status in ["401", "403"] {
                    assert_eq!(responses.contains_key(status), !open, "{method} {path}: {status}");
                }
            }
            let security = operation["security"].as_array().map(|s| s.contains(&json!({ "bearer": [] })));
            assert_eq!(security, (!open).then_some(true), "{method} {path}");
        }
    }
    let bearer = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!((&bearer["type"], &bearer["scheme"]), (&json!("http"), &json!("bearer")), "{bearer}");
    let error = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["error"]), "{error}");
}

#[tokio::test]
async fn schemathesis_finds_nothing() {
    let database = Database::sqlite();
    let server = start_server(&database).await;
    let report_dir = TempDir::new();
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/schemathesis_hooks.py");
    // Uploads are drawn from `hello` alone: a workflow component that ends
    // at once, so that no long poll on a workflow started from it waits.
    let samples = common::examples_dir().join("hello.wasm");
    let seed = std::env::var("DURO_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".to_owned());
    let mut command = tokio::process::Command::new(schemathesis());
    command
        // Its reports and caches go to a directory removed afterwards.
        .current_dir(report_dir.path())
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("DURO_COMPONENT_SAMPLES", samples)
        .kill_on_drop(true)
        .args(["run", &server.url("/v1/openapi.json"), "--checks", "all", "--max-examples", "100"])
        .args(["--seed", &seed, "--request-timeout", "30", "--generation-database", "none", "--no-color"])
        // One worker: with two, hypothesis describes strategies from two
        // threads at once, and CPython 3.11's `ast.parse` is not safe for
        // that (SystemError "AST constructor recursion depth mismatch").
        .args(["--workers", "1"]);
    let output = tokio::time::timeout(SCHEMATHESIS_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis took over {SCHEMATHESIS_TIMEOUT:?}"))
        .unwrap();
    // Reproductions spell uploads out byte by byte: cut long lines short.
    let text: String = [output.stdout, output.stderr]
        .iter()
        .flat_map(|bytes| String::from_utf8_lossy(bytes).lines().map(shorten).collect::<Vec<_>>())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(output.status.success(), "schemathesis failed ({}):\n{text}", output.status);
}

/// `line`, or its first 400 characters and a mark.
fn shorten(line: &str) -> String {
    match line.char_indices().nth(400) {
        Some((end, _)) => format!("{} […]", &line[..end]),
        None => line.to_owned(),
    }
}

/// Sends `request` and checks the answer: `status`, the error shape, and
/// that the document lists `status` for the operation at `path` (its
/// template) and `method`.
async fn assert_refused(
    document: &Value,
    (method, path): (&str, &str),
    request: reqwest::RequestBuilder,
    status: u16,
) {
    let response = request.send().await.unwrap();
    let actual = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{method} {path}: {text}");
    assert_eq!(content_type, "application/json", "{method} {path}");
    assert!(text.len() < 2_000, "{method} {path}: the answer echoes the input ({} bytes)", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    let error = body["error"].as_object().unwrap();
    assert!(error["code"].is_string() && error["message"].is_string(), "{body}");
    let responses = &document["paths"][path][method]["responses"];
    assert!(responses.get(status.to_string()).is_some(), "{method} {path} does not document {status}");
}

#[tokio::test]
async fn hostile_requests_get_documented_errors() {
    let database = Database::sqlite();
    let server = start_server(&database).await;
    let (_, document) = server.get("/v1/openapi.json").await;
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let post = |path: &str| http.post(server.url(path));
    let get = |path: &str| http.get(server.url(path));
    let json = |request: reqwest::RequestBuilder, body: Vec<u8>| {
        request.header("content-type", "application/json").body(body)
    };
    let start = ("post", "/v1/workflows");
    let signal = ("post", "/v1/workflows/{id}/signals/{name}");

    // Oversize bodies.
    let big_json = format!("{{\"component\":\"hello\",\"input\":\"{}\"}}", "x".repeat(MAX_JSON_BYTES));
    assert_refused(&document, start, json(post("/v1/workflows"), big_json.clone().into_bytes()), 413).await;
    let big_signal = json(post("/v1/workflows/greet-1/signals/go"), big_json.clone().into_bytes());
    assert_refused(&document, signal, big_signal, 413).await;
    let upgrade = json(post("/v1/workflows/greet-1/upgrade"), big_json.into_bytes());
    assert_refused(&document, ("post", "/v1/workflows/{id}/upgrade"), upgrade, 413).await;
    let upload = post("/v1/components").body(vec![0; MAX_COMPONENT_BYTES + 1]);
    assert_refused(&document, ("post", "/v1/components"), upload, 413).await;
    let replay = post("/v1/workflows/greet-1/replay").body(vec![0; MAX_COMPONENT_BYTES + 1]);
    assert_refused(&document, ("post", "/v1/workflows/{id}/replay"), replay, 413).await;

    // Invalid UTF-8: in a JSON body, a path, a query and a header.
    let bad_body = json(post("/v1/workflows"), b"{\"component\":\"\xff\"}".to_vec());
    assert_refused(&document, start, bad_body, 400).await;
    let bad_payload = json(post("/v1/workflows/greet-1/signals/go"), b"\"\xfe\"".to_vec());
    assert_refused(&document, signal, bad_payload, 400).await;
    assert_refused(&document, ("get", "/v1/workflows/{id}"), get("/v1/workflows/%FF%FE"), 400).await;
    let bad_name = post("/v1/workflows/greet-1/signals/%C3%28");
    assert_refused(&document, signal, json(bad_name, b"1".to_vec()), 400).await;
    assert_refused(&document, ("get", "/v1/workflows"), get("/v1/workflows?status=%FF"), 400).await;
    let bad_key = post("/v1/workflows/greet-1/signals/go")
        .header("idempotency-key", reqwest::header::HeaderValue::from_bytes(b"key-\xff").unwrap());
    assert_refused(&document, signal, json(bad_key, b"1".to_vec()), 400).await;

    // Very long ids and names.
    let long_id = "x".repeat(129);
    let unknown = get(&format!("/v1/workflows/{long_id}"));
    assert_refused(&document, ("get", "/v1/workflows/{id}"), unknown, 404).await;
    let unknown = get(&format!("/v1/workflows/{}/result", "y".repeat(10_000)));
    assert_refused(&document, ("get", "/v1/workflows/{id}/result"), unknown, 404).await;
    let long_start = serde_json::to_vec(&json!({ "component": "hello", "id": long_id })).unwrap();
    assert_refused(&document, start, json(post("/v1/workflows"), long_start), 400).await;
    let long_name = post(&format!("/v1/workflows/greet-1/signals/{}", "n".repeat(257)));
    assert_refused(&document, signal, json(long_name, b"1".to_vec()), 400).await;
    let long_key = get(&format!("/v1/workflows/greet-1/events/{}", "k".repeat(257)));
    assert_refused(&document, ("get", "/v1/workflows/{id}/events/{key}"), long_key, 400).await;
    let long_component = post(&format!("/v1/components?name={}", "c".repeat(10_000))).body("x");
    assert_refused(&document, ("post", "/v1/components"), long_component, 400).await;

    // Unknown fields and out-of-range numbers.
    let unknown_field = json(post("/v1/workflows"), br#"{"component":"hello","inptu":1}"#.to_vec());
    assert_refused(&document, start, unknown_field, 400).await;
    let huge_limit = get("/v1/workflows?limit=99999999999");
    assert_refused(&document, ("get", "/v1/workflows"), huge_limit, 400).await;

    // Deep JSON: past serde_json's nesting limit, in an input and a payload.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_start = format!("{{\"component\":\"hello\",\"input\":{deep}}}");
    assert_refused(&document, start, json(post("/v1/workflows"), deep_start.into_bytes()), 400).await;
    let deep_signal = json(post("/v1/workflows/greet-1/signals/go"), deep.clone().into_bytes());
    assert_refused(&document, signal, deep_signal, 400).await;
    let deep_replay =
        json(post("/v1/workflows/greet-1/replay"), format!("{{\"component\":{deep}}}").into_bytes());
    assert_refused(&document, ("post", "/v1/workflows/{id}/replay"), deep_replay, 400).await;

    // None of them started anything: `greet-1` is still the only workflow.
    let (_, list) = server.get("/v1/workflows").await;
    let ids: Vec<&Value> = list["workflows"].as_array().unwrap().iter().map(|w| &w["id"]).collect();
    assert_eq!(ids, [&json!("greet-1")]);
}
