//! Operating duro against a real `duro serve`: API tokens and roles, the
//! Prometheus metrics, the JSON log.
//!
//! Access control, metrics and logs sit above the store, so those tests
//! run on SQLite only; deletes and retention run on both stores.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Database, Server, ShopService, TempDir};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    ended_workflows_are_deleted_by_hand_and_by_retention_with_all_their_rows,
    only_unused_components_are_deleted_and_names_move_back,
);

const READER: &str = "reader-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const DEPLOYER: &str = "deployer-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

/// A token file granting each role one token; the deployer's is listed by
/// its digest, as `duro token new` prints it.
fn token_file(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path().join("tokens");
    let deployer_line = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["token", "new", "--role", "deployer", "--name", "ci"])
        .output()
        .unwrap();
    assert!(deployer_line.status.success());
    let printed = String::from_utf8(deployer_line.stdout).unwrap();
    let mut lines = printed.lines();
    let (token, line) = (lines.next().unwrap(), lines.next().unwrap());
    assert_eq!(token.len(), 43, "{printed}");
    assert!(line.starts_with("deployer sha256:") && line.ends_with(" ci"), "{printed}");
    assert!(!line.contains(token), "the file line must not hold the token: {printed}");
    let digest = line.split_whitespace().nth(1).unwrap();
    let deployer_digest = sha256_line(DEPLOYER);
    assert_ne!(digest, deployer_digest);
    std::fs::write(
        &path,
        format!(
            "# role token name\nreader {READER} dashboards\noperator {OPERATOR}\ndeployer {deployer_digest} ci\nadmin {ADMIN} root\n"
        ),
    )
    .unwrap();
    path
}

/// `sha256:HEX` of `token`, as the token file may hold it.
fn sha256_line(token: &str) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Sends `method path` with `token` (if any) and `body`; the status, the
/// `WWW-Authenticate` header and the JSON body.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<reqwest::Body>,
    content_type: &str,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge =
        response.headers().get("www-authenticate").map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (status, challenge, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn each_role_may_do_what_it_grants_and_no_more() {
    let database = Database::sqlite();
    let dir = TempDir::new();
    let tokens = token_file(&dir);
    let server = Server::start_with(&database, &["--auth-tokens", tokens.to_str().unwrap()]).await;
    let get = |path: &'static str, token: Option<&'static str>| {
        let server = &server;
        async move { call(server, reqwest::Method::GET, path, token, None, "").await }
    };

    // Open paths need no token.
    assert_eq!(get("/healthz", None).await.0, 200);

    // No token, a wrong token, a malformed header: 401 with a challenge.
    for token in [None, Some("not-a-token-at-all-0123"), Some(&READER[1..])] {
        let (status, challenge, body) = get("/v1/workflows", token).await;
        assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")), "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    let raw = reqwest::Client::new()
        .get(server.url("/v1/workflows"))
        .header("authorization", format!("Basic {READER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 401);

    // Every role reads.
    for token in [READER, OPERATOR, DEPLOYER, ADMIN] {
        assert_eq!(get("/v1/components", Some(token)).await.0, 200, "{token}");
    }

    // Pushing a component needs deployer.
    let push = |token: &'static str| {
        let server = &server;
        async move {
            let body = reqwest::Body::from(common::example("hello"));
            call(
                server,
                reqwest::Method::POST,
                "/v1/components?name=hello",
                Some(token),
                Some(body),
                "application/wasm",
            )
            .await
        }
    };
    for token in [READER, OPERATOR] {
        let (status, _, body) = push(token).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("needs the deployer role"), "{body}");
    }
    let (status, _, pushed) = push(DEPLOYER).await;
    assert_eq!(status, 201, "{pushed}");
    assert_eq!(push(ADMIN).await.0, 200);

    // Starting, signalling and cancelling need operator.
    let start = |token: &'static str, id: &'static str| {
        let server = &server;
        async move {
            let body = json!({ "component": "hello", "id": id, "input": "ops" }).to_string();
            call(
                server,
                reqwest::Method::POST,
                "/v1/workflows",
                Some(token),
                Some(body.into()),
                "application/json",
            )
            .await
        }
    };
    let (status, _, body) = start(READER, "by-reader").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(get("/v1/workflows/by-reader", Some(ADMIN)).await.0, 404, "a refused start must not start");
    for (token, id) in [(OPERATOR, "by-operator"), (DEPLOYER, "by-deployer"), (ADMIN, "by-admin")] {
        let (status, _, body) = start(token, id).await;
        assert_eq!(status, 201, "{token}: {body}");
    }
    let cancel = |token: &'static str| {
        let server = &server;
        async move {
            call(server, reqwest::Method::POST, "/v1/workflows/by-admin/cancel", Some(token), None, "").await
        }
    };
    assert_eq!(cancel(READER).await.0, 403);
    assert_ne!(cancel(OPERATOR).await.0, 403);

    // Upgrading a workflow to other code needs deployer.
    let upgrade = |token: &'static str| {
        let server = &server;
        async move {
            let body = json!({ "component": "hello" }).to_string();
            call(
                server,
                reqwest::Method::POST,
                "/v1/workflows/by-admin/upgrade",
                Some(token),
                Some(body.into()),
                "application/json",
            )
            .await
        }
    };
    assert_eq!(upgrade(OPERATOR).await.0, 403);
    assert_ne!(upgrade(DEPLOYER).await.0, 403);

    // The CLI sends DURO_TOKEN.
    let cli = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_duro"));
        command.args(["component", "list"]).env("DURO_SERVER", &server.base).env_remove("DURO_TOKEN");
        if let Some(token) = token {
            command.env("DURO_TOKEN", token);
        }
        let output = command.output().unwrap();
        (
            output.status.success(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };
    let (ok, text) = cli(Some(READER));
    assert!(ok && text.contains("hello"), "{text}");
    let (ok, text) = cli(None);
    assert!(!ok && text.contains("401") && text.contains("unauthorized"), "{text}");
}

#[tokio::test]
async fn sighup_reads_the_token_file_again_and_keeps_the_old_tokens_on_a_bad_file() {
    let database = Database::sqlite();
    let dir = TempDir::new();
    let tokens = token_file(&dir);
    let server = Server::start_with(&database, &["--auth-tokens", tokens.to_str().unwrap()]).await;
    let status_with = |token: &'static str| {
        let server = &server;
        async move { call(server, reqwest::Method::GET, "/v1/workflows", Some(token), None, "").await.0 }
    };
    assert_eq!(status_with(READER).await, 200);

    // The reader's token is revoked; a new one is added.
    let fresh = "fresh-reader-token-0123456789";
    std::fs::write(&tokens, format!("admin {ADMIN}\nreader {fresh}\n")).unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_with(READER).await != 401 {
        assert!(Instant::now() < deadline, "SIGHUP did not revoke the token: {}", server.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status_with(fresh).await, 200);

    // A file that does not parse changes nothing.
    std::fs::write(&tokens, "superuser whatever\n").unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("NOT read again") {
        assert!(Instant::now() < deadline, "no log of the refused file: {}", server.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.log_text().contains("unknown role"), "{}", server.log_text());
    assert_eq!(status_with(fresh).await, 200);
    assert_eq!(status_with(ADMIN).await, 200);
    assert_eq!(status_with(READER).await, 401);
}

#[tokio::test]
async fn an_open_api_is_refused_on_a_reachable_address_unless_asked_for() {
    let database = Database::sqlite();
    let output = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["serve", "--listen", "0.0.0.0:0", "--database", &database.url])
        .env_remove("DURO_AUTH_TOKENS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("refusing to serve an open API") && stderr.contains("--auth-tokens"), "{stderr}");

    // With --insecure-open-api it serves, and says so.
    let dir = TempDir::new();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-open-api",
            "--no-compile-cache",
            "--database",
            &database.url,
        ])
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("duro listening") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains("OPEN to every host") && text.contains("duro listening"), "{text}");

    let dir = TempDir::new();
    std::fs::write(dir.path().join("bad"), "admin short\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["serve", "--database", &Database::sqlite().url, "--auth-tokens"])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("line 1: a token must be at least 16 bytes"),
        "{stderr}"
    );
}

/// The samples of `name` in `metrics` whose labels include `labels`.
fn samples<'a>(
    metrics: &'a prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a prometheus_parse::Sample> {
    metrics
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| labels.iter().all(|(key, value)| sample.labels.get(key) == Some(*value)))
        .collect()
}

/// The one value of `name` with `labels`, a counter or a gauge.
fn value(metrics: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(metrics, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match found[0].value {
        prometheus_parse::Value::Counter(value)
        | prometheus_parse::Value::Gauge(value)
        | prometheus_parse::Value::Untyped(value) => value,
        ref other => panic!("{name} is not a counter or gauge: {other:?}"),
    }
}

/// The number of observations of histogram `name`.
fn observations(metrics: &prometheus_parse::Scrape, name: &str) -> f64 {
    samples(metrics, name, &[])
        .iter()
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|bucket| bucket.count).fold(0.0, f64::max)
            }
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .sum()
}

/// `GET /metrics` with `token`: the status, the parsed metrics and the text.
async fn scrape(server: &Server, token: Option<&str>) -> (u16, prometheus_parse::Scrape, String) {
    let mut request = reqwest::Client::new().get(server.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    if status == 200 {
        assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4; charset=utf-8"));
    }
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    (status, prometheus_parse::Scrape::parse(lines).unwrap(), text)
}

#[tokio::test]
async fn metrics_count_workflows_effects_commits_and_requests_in_the_prometheus_format() {
    let database = Database::sqlite();
    let shop = ShopService::start();
    let server = Server::start_with(&database, &["--allow-http", shop.authority()]).await;
    let saga = server.push_example("order_saga").await;
    let hello = server.push_example("hello").await;
    // One charge fails with a 500 and is retried.
    shop.fault(json!({ "path": "/payments/charge", "status": 500, "times": 1 })).await;
    let order = json!({
        "shop": shop.base, "sku": "sku-1", "quantity": 2, "amount_cents": 2598, "card": "4242",
        "address": "1 Main St", "retry_initial_ms": 100, "max_attempts": 5,
    });
    server.start_workflow("order_saga", "order", order).await;
    assert_eq!(server.result("order", 60).await["status"], "completed");
    server.start_workflow("hello", "hello-1", json!({ "name": "metrics" })).await;
    assert_eq!(server.result("hello-1", 60).await["status"], "completed");
    let (status, _) = server.get("/v1/workflows/nope").await;
    assert_eq!(status, 404);

    let (status, metrics, text) = scrape(&server, None).await;
    assert_eq!(status, 200);
    for (component, _) in [(&saga, "order"), (&hello, "hello-1")] {
        assert_eq!(value(&metrics, "duro_workflows_started_total", &[("component", component)]), 1.0);
        let ended = [("component", component.as_str()), ("status", "completed")];
        assert_eq!(value(&metrics, "duro_workflows_ended_total", &ended), 1.0);
    }
    assert_eq!(value(&metrics, "duro_workflows", &[("status", "completed")]), 2.0);
    assert!(observations(&metrics, "duro_run_duration_seconds") >= 2.0);
    assert!(observations(&metrics, "duro_run_replayed_entries") >= 2.0);
    assert!(observations(&metrics, "duro_commit_batch_size") >= 2.0);
    assert!(value(&metrics, "duro_commit_transactions_total", &[]) >= 2.0);
    assert!(value(&metrics, "duro_journal_entries_appended_total", &[]) >= 4.0);
    assert!(value(&metrics, "duro_commits_total", &[]) >= 2.0);
    // The saga's requests: reserve, charge (500, then 200), ship.
    assert_eq!(value(&metrics, "duro_effect_attempts_total", &[("kind", "http"), ("outcome", "retry")]), 1.0);
    assert!(value(&metrics, "duro_effect_attempts_total", &[("kind", "http"), ("outcome", "ok")]) >= 3.0);
    let requests = |labels: &[(&str, &str)]| value(&metrics, "duro_http_requests_total", labels);
    assert_eq!(requests(&[("method", "POST"), ("route", "/v1/workflows"), ("status", "201")]), 2.0);
    // prometheus-parse cuts label sets at the first `}`, which a route
    // pattern holds (the format allows it): this one is read as text.
    let line = r#"duro_http_requests_total{method="GET",route="/v1/workflows/{id}",status="404"} 1"#;
    assert!(text.lines().any(|candidate| candidate == line), "{text}");
    assert!(observations(&metrics, "duro_http_request_duration_seconds") >= 5.0);
    assert!(observations(&metrics, "duro_db_acquire_seconds") >= 2.0);
    assert_eq!(value(&metrics, "duro_runs_in_flight", &[]), 0.0);
    assert!(value(&metrics, "duro_run_slots", &[]) >= 1.0);
    for pool in ["read", "write", "lease"] {
        samples(&metrics, "duro_db_connections", &[("pool", pool), ("state", "idle")]).first().unwrap();
    }
    assert!(metrics.docs.contains_key("duro_workflows_started_total"), "{:?}", metrics.docs);
}

#[tokio::test]
async fn metrics_can_be_closed_behind_a_token() {
    let database = Database::sqlite();
    let dir = TempDir::new();
    let tokens = token_file(&dir);
    let open = Server::start_with(&database, &["--auth-tokens", tokens.to_str().unwrap()]).await;
    assert_eq!(scrape(&open, None).await.0, 200);
    drop(open);
    let other = Database::sqlite();
    let closed =
        Server::start_with(&other, &["--auth-tokens", tokens.to_str().unwrap(), "--protect-metrics"]).await;
    assert_eq!(scrape(&closed, None).await.0, 401);
    assert_eq!(scrape(&closed, Some(READER)).await.0, 200);
}

#[tokio::test]
async fn json_logs_name_the_workflow_and_component_of_each_run_line() {
    let database = Database::sqlite();
    let server = Server::start_with(&database, &["--log-format", "json"]).await;
    let digest = server.push_example("hello").await;
    server.start_workflow("hello", "json-log", json!({ "name": "logs" })).await;
    assert_eq!(server.result("json-log", 60).await["status"], "completed");
    let log = server.log_text();
    let lines: Vec<Value> = log.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ended = lines
        .iter()
        .find(|line| line["fields"]["message"] == "workflow ended")
        .unwrap_or_else(|| panic!("no end line: {log}"));
    assert_eq!(ended["level"], "INFO", "{ended}");
    assert_eq!(ended["span"]["name"], "run", "{ended}");
    assert_eq!(ended["span"]["workflow"], "json-log", "{ended}");
    assert_eq!(ended["span"]["component"], digest.as_str(), "{ended}");
}

/// Rows left for workflow `id` in each table that holds its rows.
async fn rows_of(database: &Database, id: &str) -> Vec<(&'static str, i64)> {
    let mut connection = database.connect().await;
    let mut counts = Vec::new();
    for (table, column) in [
        ("workflows", "id"),
        ("journal", "workflow_id"),
        ("logs", "workflow_id"),
        ("signals", "workflow_id"),
        ("events", "workflow_id"),
    ] {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = '{id}'");
        let row = sqlx::query(&sql).fetch_one(&mut connection).await.unwrap();
        counts.push((table, sqlx::Row::get::<i64, _>(&row, "n")));
    }
    counts
}

async fn delete(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new().delete(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn ended_workflows_are_deleted_by_hand_and_by_retention_with_all_their_rows(database: Database) {
    let server = Server::start_with(&database, &["--retention", "3s"]).await;
    server.push_example("hello").await;
    server.push_example("countdown").await;
    server.push_example("approval").await;
    server.start_workflow("countdown", "alive", json!({ "n": 1, "seconds": 600 })).await;
    // A workflow with a signal, an event, a journal and logs.
    server.start_workflow("approval", "signalled", json!({ "request": "r", "timeout_s": 600 })).await;
    server.wait_for("signalled", "waiting", |w| w["status"] == "waiting").await;
    let (status, body) = server
        .post_json("/v1/workflows/signalled/signals/reject", &json!({ "by": "ops", "comment": "no" }))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(server.result("signalled", 60).await["status"], "completed");
    let before = rows_of(&database, "signalled").await;
    assert!(before.iter().all(|(_, n)| *n > 0), "every table should hold rows of the workflow: {before:?}");

    // Not ended: refused, nothing lost.
    let (status, body) = delete(&server, "/v1/workflows/alive").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("workflow_not_final")), "{body}");
    assert_eq!(server.get("/v1/workflows/alive").await.0, 200);

    let (status, body) = delete(&server, "/v1/workflows/signalled").await;
    assert_eq!(status, 204, "{body}");
    assert!(rows_of(&database, "signalled").await.iter().all(|(_, n)| *n == 0));
    let (status, body) = delete(&server, "/v1/workflows/signalled").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("workflow_not_found")), "{body}");

    // The CLI.
    server.start_workflow("hello", "by-cli", json!({ "name": "cli" })).await;
    assert_eq!(server.result("by-cli", 60).await["status"], "completed");
    let (stdout, stderr, ok) = server.cli(&["workflow", "delete", "by-cli"]);
    assert!(ok && stdout.contains("deleted workflow by-cli"), "{stdout}{stderr}");
    assert_eq!(server.get("/v1/workflows/by-cli").await.0, 404);

    // Retention: an ended workflow goes once it is 3 s old; the living one stays.
    server.start_workflow("hello", "aged", json!({ "name": "old" })).await;
    assert_eq!(server.result("aged", 60).await["status"], "completed");
    assert_eq!(server.get("/v1/workflows/aged").await.0, 200, "deleted before its time");
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.get("/v1/workflows/aged").await.0 != 404 {
        assert!(Instant::now() < deadline, "retention did not delete the workflow: {}", server.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rows_of(&database, "aged").await.iter().all(|(_, n)| *n == 0));
    assert_eq!(server.get("/v1/workflows/alive").await.0, 200);
    assert!(server.log_text().contains("ended workflows deleted"), "{}", server.log_text());
}

async fn only_unused_components_are_deleted_and_names_move_back(database: Database) {
    let server = Server::start(&database).await;
    let hello = server.push_example("hello").await;
    server.start_workflow("hello", "runs-hello", json!({ "name": "x" })).await;
    let (status, body) = delete(&server, &format!("/v1/components/{hello}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("component_in_use")), "{body}");

    // Two versions under one name: deleting the newer moves the name back.
    let (_, older) = server.post_bytes("/v1/components?name=tool", common::example("fan_out")).await;
    let (_, newer) = server.post_bytes("/v1/components?name=tool", common::example("countdown")).await;
    let (older, newer) = (older["digest"].as_str().unwrap(), newer["digest"].as_str().unwrap());
    assert_eq!(server.get("/v1/components/tool").await.1["digest"], newer);
    let (status, body) = delete(&server, &format!("/v1/components/{newer}")).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(server.get(&format!("/v1/components/{newer}")).await.0, 404);
    assert_eq!(server.get("/v1/components/tool").await.1["digest"], older);
    let (stdout, stderr, ok) = server.cli(&["component", "delete", older]);
    assert!(ok && stdout.contains("deleted component"), "{stdout}{stderr}");
    assert_eq!(server.get("/v1/components/tool").await.0, 404);

    // Names and unknown digests are not deleted.
    let (status, body) = delete(&server, "/v1/components/hello").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("component_not_found")), "{body}");
    let unknown = format!("sha256:{}", "0".repeat(64));
    assert_eq!(delete(&server, &format!("/v1/components/{unknown}")).await.0, 404);
    assert_eq!(server.get(&format!("/v1/components/{hello}")).await.0, 200);
}

/// An OTLP/HTTP receiver of traces (JSON protocol) on 127.0.0.1: every
/// span it was sent, flattened.
struct Collector {
    endpoint: String,
    spans: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Collector {
    async fn start() -> Self {
        let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let received = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    let export: Value = serde_json::from_slice(&body).unwrap();
                    for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                            received
                                .lock()
                                .unwrap()
                                .extend(scope["spans"].as_array().into_iter().flatten().cloned());
                        }
                    }
                    ([("content-type", "application/json")], "{}")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { endpoint, spans }
    }

    /// The spans of trace `trace_id` received so far.
    fn trace(&self, trace_id: &str) -> Vec<Value> {
        self.spans.lock().unwrap().iter().filter(|span| span["traceId"] == trace_id).cloned().collect()
    }
}

#[tokio::test]
async fn a_workflow_is_traced_under_its_start_request_with_a_span_per_effect_and_the_context_sent_on() {
    let collector = Collector::start().await;
    let shop = ShopService::start();
    let database = Database::sqlite();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = Server::start_with_env(&database, &["--allow-http", shop.authority()], &env).await;
    server.push_example("order_saga").await;
    let (trace_id, caller) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let order = json!({
        "shop": shop.base, "sku": "sku-1", "quantity": 2, "amount_cents": 2598, "card": "4242",
        "address": "1 Main St", "retry_initial_ms": 100, "max_attempts": 5,
    });
    // Three starts from the caller's span: the saga (HTTP effects), a
    // countdown (journaled sleeps) and an activity that fetches from the shop.
    server.push_example("countdown").await;
    server.push_example("activity_caller").await;
    server.post_bytes("/v1/components?name=fetch-json", common::example("fetch_json")).await;
    let url = format!("{}/catalog/sku-9", shop.base);
    let fetch = json!({ "component": "fetch-json", "input": { "url": url }, "start_to_close_ms": 10_000 });
    let starts = [
        ("traced", "order_saga", order),
        ("ticks", "countdown", json!({ "n": 2, "seconds": 0 })),
        ("fetched", "activity_caller", fetch),
    ];
    for (id, component, input) in starts {
        let started = reqwest::Client::new()
            .post(server.url("/v1/workflows"))
            .header("traceparent", format!("00-{trace_id}-{caller}-01"))
            .json(&json!({ "component": component, "id": id, "input": input }))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status().as_u16(), 201);
        assert_eq!(server.result(id, 60).await["status"], "completed");
    }
    let requests = shop.requests(None).await;
    assert!(requests.len() >= 3, "{requests:?}");

    // One call span per journaled call that is not an effect.
    let mut calls = 0;
    for id in ["traced", "ticks", "fetched"] {
        let journal = server.journal(id).await;
        calls += journal
            .iter()
            .filter(|entry| !["http", "activity"].contains(&entry["kind"].as_str().unwrap()))
            .count();
    }
    assert!(calls > 0, "the countdown journals its sleeps");

    // Wait until every span has reached the collector.
    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = collector.trace(trace_id);
        let count = |name: &str| spans.iter().filter(|span| span["name"] == name).count();
        let effects = count("duro.http") + count("duro.activity");
        if effects >= requests.len() && count("duro.call") >= calls && count("run") >= 3 {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans missing after 30 s: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let named = |name: &str| spans.iter().filter(|span| span["name"] == name).collect::<Vec<_>>();
    let ids = |spans: &[&Value]| {
        spans.iter().map(|span| span["spanId"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };

    // The start requests are children of the caller's span, and each run a
    // child of one of them.
    let starts: Vec<&Value> =
        named("http.request").into_iter().filter(|span| span["parentSpanId"] == caller).collect();
    assert_eq!(starts.len(), 3, "{spans:#?}");
    let start_ids = ids(&starts);
    let runs = named("run");
    assert!(runs.len() >= 3, "{spans:#?}");
    for run in &runs {
        assert!(start_ids.contains(&run["parentSpanId"].as_str().unwrap().to_owned()), "{run:#}");
    }
    // Each effect attempt and each journaled call is a child of a run.
    let run_ids = ids(&runs);
    let mut effects = named("duro.http");
    let activities = named("duro.activity");
    assert_eq!(activities.len(), 1, "{spans:#?}");
    effects.extend(activities);
    for child in effects.iter().chain(named("duro.call").iter()) {
        assert!(run_ids.contains(&child["parentSpanId"].as_str().unwrap().to_owned()), "{child:#}");
    }
    assert_eq!(named("duro.call").len(), calls, "one call span per journaled call that is not an effect");
    // Each request the shop received carries its attempt's span as parent.
    let effect_ids = ids(&effects);
    for request in &requests {
        let traceparent = request["traceparent"].as_str().unwrap_or_else(|| panic!("{request}"));
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts[1], trace_id, "{traceparent}");
        assert!(effect_ids.contains(&parts[2].to_owned()), "{traceparent} is no effect span: {effect_ids:?}");
    }
}
