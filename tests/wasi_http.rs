//! Standard HTTP clients are durable: a workflow written in JavaScript,
//! built with componentize-js's defaults (what `jco componentize` runs),
//! calls the real `shop-service` with plain `fetch` through `wasi:http`,
//! and a real `duro serve` journals each request. The shop logs every
//! request it receives with its idempotency key, so the tests count what
//! reached the network.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{Database, Server, ShopService};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    a_javascript_fetch_workflow_sends_each_request_once,
    a_kill_mid_fetch_resends_only_that_request_with_the_same_key,
);

/// An order for the JavaScript workflow against `shop`.
fn order(shop: &ShopService) -> Value {
    json!({ "shop": shop.base, "sku": "sku-1", "quantity": 2, "amount_cents": 2598, "card": "4242", "address": "1 Main St" })
}

/// A server that admits the shop, with the JavaScript workflow pushed. The
/// upload compiles the 12 MB component in the debug build, four tests at a
/// time on a machine that may be busy: it gets two minutes, not the default
/// 30 s.
async fn server_for(database: &Database, shop: &ShopService) -> Server {
    let args = ["--allow-http", shop.authority(), "--request-timeout-ms", "120000"];
    let server = Server::start_with(database, &args).await;
    server.push_example("fetch_js").await;
    server
}

/// `<workflow id>/<seq>` of each HTTP entry of `id`'s journal.
async fn journaled_keys(server: &Server, id: &str) -> Vec<String> {
    let journal = server.journal(id).await;
    journal.iter().filter(|e| e["kind"] == "http").map(|e| format!("{id}/{}", e["seq"])).collect()
}

async fn a_javascript_fetch_workflow_sends_each_request_once(database: Database) {
    let shop = ShopService::start();
    let server = server_for(&database, &shop).await;
    server.start_workflow("fetch_js", "js-1", order(&shop)).await;
    let result = server.result("js-1", 120).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(
        result["output"]["payment_id"].as_str().map(|id| id.starts_with("pay-")),
        Some(true),
        "{result}"
    );

    let requests = shop.keyed_paths().await;
    let paths: Vec<&str> = requests.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["/inventory/reserve", "/payments/charge", "/shipping/ship"]);
    let keys: Vec<String> = requests.into_iter().map(|(_, key)| key).collect();
    assert_eq!(
        keys,
        journaled_keys(&server, "js-1").await,
        "each request carries the key of its journal entry"
    );
    let (logs, stderr, ok) = server.cli(&["workflow", "logs", "js-1"]);
    assert!(ok && logs.contains("reserved res-"), "{logs}{stderr}");
}

async fn a_kill_mid_fetch_resends_only_that_request_with_the_same_key(database: Database) {
    let shop = ShopService::start();
    let mut server = server_for(&database, &shop).await;
    // Shipping answers after 30 s, long after the kill.
    shop.fault(json!({ "path": "/shipping/ship", "delay_ms": 30_000, "times": 1 })).await;
    server.start_workflow("fetch_js", "js-2", order(&shop)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !shop.paths().await.contains(&"/shipping/ship".to_owned()) {
        assert!(Instant::now() < deadline, "the shipping request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Reserve and charge were answered and journaled; ship is in flight.
    server.crash_and_restart().await;
    let result = server.result("js-2", 120).await;
    assert_eq!(result["status"], "completed", "{result}");

    let requests = shop.keyed_paths().await;
    let paths: Vec<&str> = requests.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["/inventory/reserve", "/payments/charge", "/shipping/ship", "/shipping/ship"]);
    assert_eq!(requests[2].1, requests[3].1, "the re-sent request must carry the same idempotency key");
    let keys = journaled_keys(&server, "js-2").await;
    assert_eq!(keys.len(), 3, "one entry per request answered: {keys:?}");
    assert_eq!(keys[2], requests[3].1);
}
