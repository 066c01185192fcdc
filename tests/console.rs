//! The web console in a real browser: headless Chromium, driven by Playwright
//! for Python (`tests/console_browser.py`), against a real `duro serve` on
//! SQLite (the console reads the same API on either store).
//!
//! This test sets the scene through the API (components, and workflows that
//! complete, fail with a trap, get `stuck`, and wait for signals), runs the
//! browser script, and then checks through the API that what the script did
//! in the page happened: a component uploaded by drag and drop, a signal
//! sent, a cancel, a terminate and an upgrade. The script takes a screenshot
//! of each page into `target/console-screenshots`.
//!
//! Playwright comes from the virtual environment that `scripts/setup.sh`
//! (`install_browser_tests`) makes under `target/browser-venv`, or the
//! Python that `DURO_BROWSER_PYTHON` names; Chromium is Debian's
//! `chromium`, or the binary `DURO_CHROMIUM` names.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Database, Server, ShopService, TempDir};
use serde_json::{Value, json};

/// Longest the browser script may take before the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(240);
/// The API token of the server that asks for one.
const TOKEN: &str = "console-reader-token-0123456789";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with Playwright: `DURO_BROWSER_PYTHON`, else the one
/// `scripts/setup.sh` installs.
fn browser_python() -> PathBuf {
    let path = std::env::var_os("DURO_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("target/browser-venv/bin/python"));
    assert!(
        path.is_file(),
        "no Playwright Python at {}: run `source scripts/setup.sh && install_browser_tests` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The Chromium binary: `DURO_CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    let path =
        std::env::var_os("DURO_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        path.is_file(),
        "no Chromium at {}: run `source scripts/setup.sh && install_browser_tests` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Waits for `id` to be waiting for a signal.
async fn until_waiting(server: &Server, id: &str) {
    server.wait_for(id, "waiting", |w| w["status"] == "waiting").await;
}

#[tokio::test]
async fn the_console_shows_and_steers_workflows_in_chromium() {
    let database = Database::sqlite();
    let shop = ShopService::start();
    let server = Server::start_with(&database, &["--allow-http", shop.authority()]).await;
    let hello = server.push_example("hello").await;
    server.push_example("misbehave").await;
    let (status, waiter) = server.post_bytes("/v1/components?name=waiter", common::example("waiter")).await;
    assert_eq!(status, 201, "{waiter}");
    let waiter = waiter["digest"].as_str().unwrap().to_owned();

    for name in ["ada", "grace", "edsger"] {
        let id = format!("greet-{name}");
        server.start_workflow("hello", &id, json!({ "name": name })).await;
        assert_eq!(server.result(&id, 30).await["status"], "completed");
    }
    // An order whose payment is refused twice before it goes through.
    server.push_example("order_saga").await;
    shop.fault(json!({ "path": "/payments/charge", "status": 500, "times": 2 })).await;
    let order = json!({
        "shop": shop.base, "sku": "sku-1", "quantity": 2, "amount_cents": 2598, "card": "4242",
        "address": "1 Main St", "retry_initial_ms": 100, "max_attempts": 5,
    });
    server.start_workflow("order_saga", "order-1", order).await;
    assert_eq!(server.result("order-1", 60).await["status"], "completed");
    // A workflow started by a schedule's one tick.
    let (status, schedule) = server
        .post_json(
            "/v1/schedules",
            &json!({ "id": "greeter", "component": "hello", "input": { "name": "cron" },
                     "spec": { "interval_s": 1 }, "max_runs": 1 }),
        )
        .await;
    assert_eq!(status, 201, "{schedule}");
    let scheduled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (_, page) = server.get("/v1/workflows?schedule=greeter").await;
            if let Some(id) = page["workflows"][0]["id"].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the schedule started no workflow within 30 s");
    assert_eq!(server.result(&scheduled, 30).await["status"], "completed");
    server.start_workflow("misbehave", "crash-1", json!({ "panic": "the console test's trap" })).await;
    assert_eq!(server.result("crash-1", 30).await["status"], "failed");
    for id in ["approve-1", "cancel-me", "terminate-me", "broken"] {
        server.start_workflow(&waiter, id, json!({ "op": "wait" })).await;
        until_waiting(&server, id).await;
    }
    // Deploy divergent code under `broken` behind duro's back, as a host
    // change to how a call is journaled would: its replay gets stuck.
    database.swap_component("broken", &hello).await;
    let stuck = server.result("broken", 60).await;
    assert_eq!(stuck["status"], "stuck", "{stuck}");

    // A second server on its own database asks for a token.
    let token_dir = TempDir::new();
    let tokens = token_dir.path().join("tokens");
    std::fs::write(&tokens, format!("reader {TOKEN} console\n")).unwrap();
    let guarded_database = Database::sqlite();
    let guarded = Server::start_with(&guarded_database, &["--auth-tokens", tokens.to_str().unwrap()]).await;
    let (status, refused) = guarded.get("/v1/workflows").await;
    assert_eq!(status, 401, "{refused}");

    let screenshots = repository().join("target/console-screenshots");
    // No screenshot (nor failure.png) of an earlier run may pass for this one's.
    std::fs::remove_dir_all(&screenshots).ok();
    std::fs::create_dir_all(&screenshots).unwrap();
    let scenario = json!({
        "url": server.url(""),
        "guarded_url": guarded.url(""),
        "token": TOKEN,
        "chromium": chromium(),
        "screenshots": screenshots,
        "upload": common::examples_dir().join("countdown.wasm"),
        "hello": hello,
        "scheduled": scheduled,
        "waiter": waiter,
    });
    let mut command = tokio::process::Command::new(browser_python());
    command.arg(repository().join("tests/console_browser.py")).arg(scenario.to_string()).kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the browser script took over {BROWSER_TIMEOUT:?}"))
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{text}");
    assert!(output.status.success(), "the browser script failed ({}):\n{text}", output.status);

    // What the page did, seen through the API.
    let (_, countdown) = server.get("/v1/components/countdown").await;
    assert_eq!(countdown["kind"], "workflow", "the drag-and-drop upload: {countdown}");
    let approved = server.result("approve-1", 30).await;
    assert_eq!(
        (&approved["status"], &approved["output"]),
        (&json!("completed"), &json!({ "got": { "approved": true } })),
        "{approved}"
    );
    assert_eq!(server.result("cancel-me", 30).await["status"], "cancelled");
    assert_eq!(server.result("terminate-me", 30).await["status"], "terminated");
    let (_, upgraded) = server.get("/v1/workflows/broken").await;
    assert_eq!(
        (&upgraded["status"], &upgraded["component"]),
        (&json!("waiting"), &Value::String(waiter.clone())),
        "{upgraded}"
    );
    for page in [
        "workflows",
        "workflow",
        "workflow-signal",
        "schedule",
        "workflow-failed",
        "workflow-stuck",
        "components",
        "dark",
        "phone",
    ] {
        let shot = screenshots.join(format!("{page}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1_000, "no screenshot at {}", shot.display());
        println!("screenshot: {}", shot.display());
    }
}
