//! Effects end to end: the `order-saga` workflow calls the real
//! `shop-service` over HTTP through a real `duro serve`, which is killed
//! with SIGKILL where durability is claimed. The shop logs every request it
//! receives with its idempotency key, so the tests count what reached the
//! network.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::{Database, Server, ShopService};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    a_normal_run_sends_each_request_once,
    a_kill_mid_request_resends_only_that_request_with_the_same_key,
    server_errors_are_retried_with_backoff_and_counted_in_the_journal,
    a_429_retry_after_sets_the_least_wait,
    a_kill_during_a_backoff_resumes_the_schedule,
    a_kill_during_an_in_memory_backoff_resumes_the_schedule,
    a_non_retryable_error_runs_the_compensations_in_reverse,
    a_destination_outside_the_allowlist_is_refused_and_nothing_is_sent,
    a_redacted_header_value_is_stored_nowhere,
    a_component_built_against_wit_0_1_still_runs,
);

/// An order for the saga against `shop`, with `overrides` applied.
fn order(shop: &ShopService, overrides: Value) -> Value {
    let mut order = json!({
        "shop": shop.base,
        "sku": "sku-1",
        "quantity": 2,
        "amount_cents": 2598,
        "card": "4242",
        "address": "1 Main St",
        "retry_initial_ms": 100,
        "max_attempts": 5,
    });
    for (key, value) in overrides.as_object().unwrap() {
        order[key] = value.clone();
    }
    order
}

/// A server that admits the shop, with the saga pushed.
async fn server_for(database: &Database, shop: &ShopService) -> Server {
    let server = Server::start_with(database, &["--allow-http", shop.authority()]).await;
    server.push_example("order_saga").await;
    server
}

/// The HTTP entries of a journal as `(url path, attempt, status or error type)`.
fn http_attempts(journal: &[Value]) -> Vec<(String, u64, String)> {
    journal
        .iter()
        .filter(|entry| entry["kind"] == "http")
        .map(|entry| {
            let url = entry["request"]["url"].as_str().unwrap();
            let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
            let answer = match entry["response"]["status"].as_u64() {
                Some(status) => status.to_string(),
                None => entry["response"]["error"]["type"].as_str().unwrap().to_owned(),
            };
            (path, entry["request"]["attempt"].as_u64().unwrap(), answer)
        })
        .collect()
}

async fn a_normal_run_sends_each_request_once(database: Database) {
    let shop = ShopService::start();
    let server = server_for(&database, &shop).await;
    server.start_workflow("order_saga", "order-1", order(&shop, json!({}))).await;
    let result = server.result("order-1", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["output"]["payment_id"].as_str().map(|id| id.starts_with("pay-")), Some(true));

    let requests = shop.keyed_paths().await;
    let paths: Vec<&str> = requests.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["/inventory/reserve", "/payments/charge", "/shipping/ship"]);
    let journal = server.journal("order-1").await;
    // Each request carries `<workflow id>/<seq of its first attempt>`.
    let seqs: Vec<String> =
        journal.iter().filter(|e| e["kind"] == "http").map(|e| format!("order-1/{}", e["seq"])).collect();
    let keys: Vec<String> = requests.into_iter().map(|(_, key)| key).collect();
    assert_eq!(keys, seqs);
}

async fn a_kill_mid_request_resends_only_that_request_with_the_same_key(database: Database) {
    let shop = ShopService::start();
    let mut server = server_for(&database, &shop).await;
    // Shipping answers after 30 s, long after the kill.
    shop.fault(json!({ "path": "/shipping/ship", "delay_ms": 30_000, "times": 1 })).await;
    server.start_workflow("order_saga", "order-2", order(&shop, json!({}))).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !shop.paths().await.contains(&"/shipping/ship".to_owned()) {
        assert!(std::time::Instant::now() < deadline, "the shipping request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Reserve and charge were answered and journaled; ship is in flight.
    server.crash_and_restart().await;
    let result = server.result("order-2", 60).await;
    assert_eq!(result["status"], "completed", "{result}");

    let requests = shop.keyed_paths().await;
    let paths: Vec<&str> = requests.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["/inventory/reserve", "/payments/charge", "/shipping/ship", "/shipping/ship"]);
    assert_eq!(requests[2].1, requests[3].1, "the re-sent request must carry the same idempotency key");
    let attempts = http_attempts(&server.journal("order-2").await);
    assert_eq!(attempts.len(), 3, "one entry per request answered: {attempts:?}");
}

async fn server_errors_are_retried_with_backoff_and_counted_in_the_journal(database: Database) {
    let shop = ShopService::start();
    let server = server_for(&database, &shop).await;
    shop.fault(json!({ "path": "/payments/charge", "status": 500, "times": 2 })).await;
    server.start_workflow("order_saga", "order-3", order(&shop, json!({}))).await;
    let result = server.result("order-3", 60).await;
    assert_eq!(result["status"], "completed", "{result}");

    let charges = shop.requests(Some("/payments/charge")).await;
    let statuses: Vec<&Value> = charges.iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    assert!(charges.iter().all(|r| r["idempotency_key"] == charges[0]["idempotency_key"]));
    let journal = server.journal("order-3").await;
    let attempts = http_attempts(&journal);
    let charge: Vec<(u64, &str)> = attempts
        .iter()
        .filter(|(path, ..)| path == "/payments/charge")
        .map(|(_, attempt, answer)| (*attempt, answer.as_str()))
        .collect();
    assert_eq!(charge, [(1, "500"), (2, "500"), (3, "200")]);
    // The waits grew: 100 ms, then 200 ms (the retry policy's coefficient 2).
    let retry_gaps: Vec<u64> = journal
        .iter()
        .filter(|e| e["kind"] == "http" && !e["response"]["retry_at"].is_null())
        .map(|e| {
            let at = humantime::parse_rfc3339(e["response"]["retry_at"].as_str().unwrap()).unwrap();
            let recorded = humantime::parse_rfc3339(e["recorded_at"].as_str().unwrap()).unwrap();
            at.duration_since(recorded).unwrap_or_default().as_millis() as u64
        })
        .collect();
    assert_eq!(retry_gaps.len(), 2, "{retry_gaps:?}");
    assert!((90..=110).contains(&retry_gaps[0]) && (190..=210).contains(&retry_gaps[1]), "{retry_gaps:?}");
}

async fn a_429_retry_after_sets_the_least_wait(database: Database) {
    let shop = ShopService::start();
    let server = server_for(&database, &shop).await;
    shop.fault(json!({ "path": "/inventory/reserve", "status": 429, "times": 1, "retry_after_secs": 2 }))
        .await;
    server.start_workflow("order_saga", "order-429", order(&shop, json!({}))).await;
    let result = server.result("order-429", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let journal = server.journal("order-429").await;
    let throttled = journal.iter().find(|e| e["kind"] == "http" && e["response"]["status"] == 429).unwrap();
    let retry_at = humantime::parse_rfc3339(throttled["response"]["retry_at"].as_str().unwrap()).unwrap();
    let recorded = humantime::parse_rfc3339(throttled["recorded_at"].as_str().unwrap()).unwrap();
    // The policy alone would wait 100 ms; the server asked for 2 s.
    let wait = retry_at.duration_since(recorded).unwrap();
    assert!(wait >= Duration::from_millis(1_990), "retried after {wait:?}");
    let statuses: Vec<Value> =
        shop.requests(Some("/inventory/reserve")).await.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, [json!(429), json!(200)]);
}

async fn a_kill_during_a_backoff_resumes_the_schedule(database: Database) {
    let shop = ShopService::start();
    let mut server = server_for(&database, &shop).await;
    shop.fault(json!({ "path": "/payments/charge", "status": 503, "times": 1 })).await;
    let input = order(&shop, json!({ "retry_initial_ms": 10_000 }));
    server.start_workflow("order_saga", "order-4", input).await;
    // The failed attempt is journaled with its retry time; the workflow
    // waits it out unloaded, like a timer.
    let waiting = server.wait_for("order-4", "backing off", |w| w["status"] == "sleeping").await;
    let journal = server.journal("order-4").await;
    let failed = journal.iter().find(|e| e["kind"] == "http" && e["response"]["status"] == 503).unwrap();
    let retry_at = humantime::parse_rfc3339(failed["response"]["retry_at"].as_str().unwrap()).unwrap();
    assert!(!waiting["wake_at"].is_null(), "{waiting}");
    let (_, waiting) = server.get("/v1/workflows/order-4").await;
    let on = &waiting["waiting_on"];
    assert_eq!(
        (&on["state"], &on["attempt"], &on["max_attempts"]),
        (&json!("backing_off"), &json!(2), &json!(5)),
        "{waiting}"
    );
    assert!(on["effect"].as_str().unwrap().starts_with("POST http://"), "{waiting}");
    // The CLI shows both: what the workflow waits on, and the attempts.
    let (stdout, stderr, ok) = server.cli(&["workflow", "get", "order-4"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("/payments/charge, attempt 2 of 5, backing off until"), "{stdout}");
    let (stdout, stderr, ok) = server.cli(&["workflow", "journal", "order-4"]);
    assert!(ok, "{stderr}");
    let charge = stdout.lines().find(|line| line.contains("/payments/charge")).unwrap_or_default();
    assert!(
        charge.contains("(attempt 1, ") && charge.contains("-> 503 (") && charge.contains("retry at"),
        "{stdout}"
    );

    server.crash_and_restart().await;
    let result = server.result("order-4", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let journal = server.journal("order-4").await;
    let charge: Vec<(u64, String)> = http_attempts(&journal)
        .into_iter()
        .filter(|(path, ..)| path == "/payments/charge")
        .map(|(_, attempt, answer)| (attempt, answer))
        .collect();
    assert_eq!(charge, [(1, "503".to_owned()), (2, "200".to_owned())], "resumed at attempt 2, not 1");
    let second = journal.iter().find(|e| e["kind"] == "http" && e["request"]["attempt"] == 2).unwrap();
    let sent = humantime::parse_rfc3339(second["recorded_at"].as_str().unwrap()).unwrap();
    assert!(sent >= retry_at, "attempt 2 ran before the scheduled retry time");
    assert_eq!(shop.requests(Some("/payments/charge")).await.len(), 2);
}

async fn a_kill_during_an_in_memory_backoff_resumes_the_schedule(database: Database) {
    let shop = ShopService::start();
    // Backoffs up to 10 s wait in memory: the workflow stays `running`, and
    // the retry time survives the kill only through the journal.
    let args = ["--allow-http", shop.authority(), "--inline-sleep-max-ms", "10000"];
    let mut server = Server::start_with(&database, &args).await;
    server.push_example("order_saga").await;
    shop.fault(json!({ "path": "/payments/charge", "status": 500, "times": 1 })).await;
    server.start_workflow("order_saga", "order-8", order(&shop, json!({ "retry_initial_ms": 3_000 }))).await;
    let waiting = server
        .wait_for("order-8", "backing off in memory", |w| w["waiting_on"]["state"] == "backing_off")
        .await;
    assert_eq!(waiting["status"], "running", "{waiting}");
    let journal = server.journal("order-8").await;
    let failed = journal.iter().find(|e| e["kind"] == "http" && e["response"]["status"] == 500).unwrap();
    let retry_at = humantime::parse_rfc3339(failed["response"]["retry_at"].as_str().unwrap()).unwrap();

    server.crash_and_restart().await;
    let result = server.result("order-8", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let journal = server.journal("order-8").await;
    let second = journal
        .iter()
        .find(|e| {
            e["kind"] == "http"
                && e["request"]["url"].as_str().unwrap().ends_with("/charge")
                && e["request"]["attempt"] == 2
        })
        .unwrap_or_else(|| panic!("no second charge attempt: {journal:?}"));
    let sent = humantime::parse_rfc3339(second["recorded_at"].as_str().unwrap()).unwrap();
    assert!(sent >= retry_at, "attempt 2 ran before the scheduled retry time");
    assert_eq!(shop.requests(Some("/payments/charge")).await.len(), 2);
}

async fn a_non_retryable_error_runs_the_compensations_in_reverse(database: Database) {
    let shop = ShopService::start();
    let server = server_for(&database, &shop).await;
    server.start_workflow("order_saga", "order-5", order(&shop, json!({ "address": "nowhere" }))).await;
    let result = server.result("order-5", 60).await;
    assert_eq!(result["status"], "failed", "{result}");
    let error = result["error"].as_str().unwrap();
    assert!(error.starts_with("order failed: /shipping/ship answered 422"), "{error}");
    assert!(error.contains("compensated in reverse order: [/payments/refund pay-"), "{error}");
    assert_eq!(
        shop.paths().await,
        [
            "/inventory/reserve",
            "/payments/charge",
            "/shipping/ship",
            "/payments/refund",
            "/inventory/release"
        ]
    );
}

async fn a_destination_outside_the_allowlist_is_refused_and_nothing_is_sent(database: Database) {
    let shop = ShopService::start();
    let server = Server::start_with(&database, &["--allow-http", "*.example.com"]).await;
    server.push_example("order_saga").await;
    server.start_workflow("order_saga", "order-6", order(&shop, json!({}))).await;
    let result = server.result("order-6", 60).await;
    assert_eq!(result["status"], "failed", "{result}");
    assert!(result["error"].as_str().unwrap().contains("not in the host's allowlist"), "{result}");
    assert!(shop.requests(None).await.is_empty(), "a denied request reached the network");
    // The refusal is journaled like any answer, and not retried.
    assert_eq!(
        http_attempts(&server.journal("order-6").await),
        [("/inventory/reserve".into(), 1, "denied".into())]
    );
}

async fn a_redacted_header_value_is_stored_nowhere(database: Database) {
    let shop = ShopService::start();
    let server = server_for(&database, &shop).await;
    // The saga sends `authorization: Bearer sk-live-123` (ROT13-decoded from
    // its input, so the input does not hold it either).
    let secret = "sk-live-123";
    server
        .start_workflow("order_saga", "order-7", order(&shop, json!({ "api_key_rot13": "fx-yvir-123" })))
        .await;
    let result = server.result("order-7", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let charge = &shop.requests(Some("/payments/charge")).await[0];
    assert_eq!(charge["authorization"], format!("Bearer {secret}"), "the wire carries the real value");

    let journal = server.journal("order-7").await;
    let charge = journal
        .iter()
        .find(|e| e["kind"] == "http" && e["request"]["url"].as_str().unwrap().ends_with("/charge"));
    let headers = &charge.unwrap()["request"]["headers"];
    let authorization = headers.as_array().unwrap().iter().find(|h| h[0] == "authorization").unwrap();
    assert_eq!(authorization[1]["sha256"].as_str().map(str::len), Some(64), "{headers}");

    let hex_secret: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let stored = stored_text(&database).await;
    assert!(!stored.is_empty());
    assert!(stored.contains("fx-yvir-123"), "the scan must see the workflow's input");
    assert!(!stored.contains(secret) && !stored.to_lowercase().contains(&hex_secret), "the secret is stored");
}

/// Everything the database holds, as text: SQLite's files byte for byte
/// (lossily decoded), PostgreSQL's tables as rows of text (byte columns in hex).
async fn stored_text(database: &Database) -> String {
    if database.is_postgres() {
        let mut connection = database.connect().await;
        let mut text = String::new();
        for table in ["components", "component_names", "workflows", "journal", "logs"] {
            let query = format!("SELECT COALESCE(string_agg(t::text, ','), '') FROM {table} t");
            let row: (String,) = sqlx::query_as(&query).fetch_one(&mut connection).await.unwrap();
            text.push_str(&row.0);
        }
        text
    } else {
        let file = database.url.trim_start_matches("sqlite://");
        let dir = std::path::Path::new(file).parent().unwrap();
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

async fn a_component_built_against_wit_0_1_still_runs(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("legacy_v0_1").await;
    server.start_workflow("legacy_v0_1", "legacy", json!("ada")).await;
    server.crash_and_restart().await;
    let result = server.result("legacy", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["output"]["greeting"], "hello, ada");
    assert_eq!(result["output"]["slept"], true);
    let kinds: Vec<Value> = server.journal("legacy").await.iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, [json!("now"), json!("random_u64"), json!("sleep"), json!("now")]);
}
