//! Shipping new code while old workflows run, on a real `duro serve`:
//! versions of a component name, replay checks against a stored journal,
//! upgrades that move a workflow (a stuck one included) to a component its
//! journal replays on and refuse one it does not, and compiled components
//! kept on disk across a `kill -9`.
//!
//! `waiter` with input `{"op":"events"}` sets event `stage`, receives
//! signal `finish` and returns `{"finished":P}`; `waiter_v2` makes the same
//! calls up to that receive and returns `{"finished":P,"release":2,…}`;
//! `hello` fails at once on that input (no `name`), so it diverges from
//! both at seq 0 by returning without a call.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Database, Server, TempDir};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    a_new_version_serves_new_workflows_while_running_ones_keep_theirs,
    a_divergent_upgrade_is_refused_with_its_divergence,
    a_stuck_workflow_upgraded_to_a_fixed_component_completes,
);

mod sqlite_only {
    /// The disk cache is per machine, not per database: SQLite shows it.
    #[tokio::test]
    async fn a_restart_loads_compiled_components_from_disk() {
        super::a_restart_loads_compiled_components_from_disk(crate::common::Database::sqlite()).await;
    }
}

/// Pushes example `file` (its `.wasm` name) under component `name`; its digest.
async fn push_as(server: &Server, file: &str, name: &str) -> String {
    let (status, body) =
        server.post_bytes(&format!("/v1/components?name={name}"), common::example(file)).await;
    assert!(status == 201 || status == 200, "push {file} as {name}: {status} {body}");
    body["digest"].as_str().unwrap().to_owned()
}

/// Starts `waiter`'s `events` op on `component` as `id` and waits until it
/// is unloaded, waiting for signal `finish`.
async fn start_waiting(server: &Server, component: &str, id: &str) -> Value {
    server.start_workflow(component, id, json!({ "op": "events" })).await;
    server.wait_for(id, "waiting", |w| w["status"] == "waiting").await
}

/// Sends signal `finish` to `id` and returns its output once it completes.
async fn finish(server: &Server, id: &str) -> Value {
    let (status, body) = server.post_json(&format!("/v1/workflows/{id}/signals/finish"), &json!("now")).await;
    assert_eq!(status, 202, "{body}");
    let result = server.result(id, 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    result["output"].clone()
}

async fn a_new_version_serves_new_workflows_while_running_ones_keep_theirs(database: Database) {
    let server = Server::start(&database).await;
    let first = push_as(&server, "waiter", "waiter").await;
    let old = start_waiting(&server, "waiter", "on-first").await;
    assert_eq!(old["component"], first);

    let second = push_as(&server, "waiter_v2", "waiter").await;
    let (status, component) = server.get("/v1/components/waiter").await;
    assert_eq!(status, 200, "{component}");
    assert_eq!(component["digest"], second, "the name points at the latest push: {component}");
    let versions: Vec<&Value> =
        component["versions"].as_array().unwrap().iter().map(|v| &v["digest"]).collect();
    assert_eq!(versions, [&json!(second), &json!(first)], "{component}");
    // A digest has no versions of its own.
    let (_, by_digest) = server.get(&format!("/v1/components/{first}")).await;
    assert_eq!(by_digest["versions"], Value::Null, "{by_digest}");
    let (stdout, stderr, ok) = server.cli(&["component", "versions", "waiter"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.lines().next().is_some_and(|line| line.starts_with(&second) && line.ends_with("(current)"))
    );

    let new = start_waiting(&server, "waiter", "on-second").await;
    assert_eq!(new["component"], second);
    let (_, still_old) = server.get("/v1/workflows/on-first").await;
    assert_eq!(still_old["component"], first, "a push never moves a running workflow");
    assert_eq!(finish(&server, "on-first").await, json!({ "finished": "now" }));
    assert_eq!(finish(&server, "on-second").await["release"], 2);
}

async fn a_divergent_upgrade_is_refused_with_its_divergence(database: Database) {
    let server = Server::start(&database).await;
    let waiter = push_as(&server, "waiter", "waiter").await;
    let hello = server.push_example("hello").await;
    start_waiting(&server, "waiter", "steady").await;
    let journal = server.journal("steady").await;

    // A replay check names the first call that differs, and changes nothing.
    let (status, report) =
        server.post_json("/v1/workflows/steady/replay", &json!({ "component": "hello" })).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["component"], hello);
    let divergence = &report["divergence"];
    assert_eq!(divergence["seq"], 0, "{report}");
    assert_eq!(divergence["recorded"], "set-event(\"stage\")", "{report}");
    assert_eq!(divergence["attempted"], Value::Null, "hello returns at once: {report}");
    assert_eq!(
        divergence["message"],
        "non-determinism at seq 0: the journal recorded set-event(\"stage\") but the workflow now returns without making it"
    );

    // The next release replays cleanly, sent as bytes that are not stored.
    let (status, report) =
        server.post_bytes("/v1/workflows/steady/replay", common::example("waiter_v2")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((&report["ok"], &report["replayed"]), (&json!(true), &json!(journal.len())), "{report}");
    assert_eq!(report["returned"], Value::Null, "it goes on past the journal: {report}");
    let (_, components) = server.get("/v1/components").await;
    assert_eq!(
        components["components"].as_array().unwrap().len(),
        2,
        "the checked bytes were stored: {components}"
    );

    // The CLI exits 1 on a divergence and 0 on a clean replay.
    let hello_file = common::examples_dir().join("hello.wasm");
    let (stdout, _, ok) = server.cli(&["replay", "steady", "--component", hello_file.to_str().unwrap()]);
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("non-determinism at seq 0"), "{stdout}");
    let v2_file = common::examples_dir().join("waiter_v2.wasm");
    let (stdout, stderr, ok) = server.cli(&["replay", "steady", "--component", v2_file.to_str().unwrap()]);
    assert!(ok, "{stdout} {stderr}");

    // An upgrade to the divergent component is refused with the same
    // divergence, and the workflow carries on untouched.
    let (status, refused) =
        server.post_json("/v1/workflows/steady/upgrade", &json!({ "component": hello })).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "replay_diverged", "{refused}");
    assert_eq!(refused["error"]["divergence"], *divergence, "{refused}");
    let (_, workflow) = server.get("/v1/workflows/steady").await;
    assert_eq!(
        (&workflow["component"], &workflow["status"]),
        (&json!(waiter), &json!("waiting")),
        "{workflow}"
    );
    assert_eq!(server.journal("steady").await, journal);
    assert_eq!(finish(&server, "steady").await, json!({ "finished": "now" }));

    // An ended workflow cannot move.
    let (status, ended) =
        server.post_json("/v1/workflows/steady/upgrade", &json!({ "component": "waiter" })).await;
    assert_eq!((status, &ended["error"]["code"]), (409, &json!("workflow_ended")), "{ended}");
}

async fn a_stuck_workflow_upgraded_to_a_fixed_component_completes(database: Database) {
    let mut server = Server::start(&database).await;
    push_as(&server, "waiter", "waiter").await;
    let hello = server.push_example("hello").await;
    start_waiting(&server, "waiter", "broken").await;

    // Deploy divergent code under the workflow behind duro's back, as a
    // host change to how a call is journaled would: its replay gets stuck.
    database.swap_component("broken", &hello).await;
    let stuck = server.result("broken", 60).await;
    assert_eq!(stuck["status"], "stuck", "{stuck}");
    // The workflow shows where its replay diverged, read back from its error.
    let (_, detail) = server.get("/v1/workflows/broken").await;
    assert_eq!(
        detail["divergence"],
        json!({
            "seq": 0,
            "recorded": "set-event(\"stage\")",
            "attempted": null,
            "message": detail["error"],
        }),
        "{detail}"
    );

    let fixed = common::examples_dir().join("waiter_v2.wasm");
    let (stdout, stderr, ok) = server.cli(&["workflow", "upgrade", "broken", fixed.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("now runs sha256:"), "{stdout}");
    let upgraded = server.wait_for("broken", "waiting again", |w| w["status"] == "waiting").await;
    assert_eq!(upgraded["error"], Value::Null, "{upgraded}");

    // The move is durable: it survives a crash.
    server.crash_and_restart().await;
    let output = finish(&server, "broken").await;
    assert_eq!((&output["finished"], &output["release"]), (&json!("now"), &json!(2)), "{output}");
}

async fn a_restart_loads_compiled_components_from_disk(database: Database) {
    let cache = TempDir::new();
    let cache_dir = cache.path().to_str().unwrap().to_owned();
    let mut server = Server::start_with(&database, &["--compile-cache-dir", &cache_dir]).await;
    server.push_example("hello").await;
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["runtime"]["compile_cache"], json!({ "hits": 0, "misses": 1 }), "{health}");

    server.crash_and_restart().await;
    server.start_workflow("hello", "greet", json!({ "name": "Ada" })).await;
    assert_eq!(server.result("greet", 60).await["status"], "completed");
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["runtime"]["compile_cache"], json!({ "hits": 1, "misses": 0 }), "{health}");
}
