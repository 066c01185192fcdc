//! The `duro` CLI against a real server: each command's output and exit status.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Database, Server};
use serde_json::Value;

fn duro(server: &Server, args: &[&str]) -> (String, String, bool) {
    server.cli(args)
}

#[tokio::test]
async fn cli_drives_the_api() {
    let database = Database::sqlite();
    let server = Server::start(&database).await;
    let hello = common::examples_dir().join("hello.wasm");
    let hello = hello.to_str().unwrap();

    let (stdout, _, ok) = duro(&server, &["component", "push", hello, "--name", "hello"]);
    assert!(ok && stdout.starts_with("stored sha256:") && stdout.contains("name hello"), "{stdout}");
    let (stdout, _, ok) = duro(&server, &["component", "push", hello]);
    assert!(ok && stdout.starts_with("already stored sha256:"), "{stdout}");
    let (stdout, _, ok) = duro(&server, &["component", "list"]);
    assert!(ok && stdout.lines().count() == 1 && stdout.contains("hello"), "{stdout}");

    let (stdout, stderr, ok) = duro(
        &server,
        &["workflow", "start", "hello", "--input", r#"{"name":"Ada"}"#, "--id", "cli-1", "--wait"],
    );
    assert!(ok, "{stderr}");
    let output: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(output["greeting"], "Hello, Ada!");

    let (stdout, _, ok) = duro(&server, &["workflow", "get", "cli-1"]);
    assert!(ok && stdout.contains("status      completed"), "{stdout}");
    let (stdout, _, ok) = duro(&server, &["workflow", "list", "--status", "completed"]);
    assert!(ok && stdout.starts_with("cli-1  completed"), "{stdout}");
    let (stdout, _, ok) = duro(&server, &["workflow", "journal", "cli-1"]);
    assert!(ok && stdout.contains("wasi_wall_clock"), "{stdout}");
    let (stdout, _, ok) = duro(&server, &["workflow", "logs", "cli-1"]);
    assert!(ok && stdout.contains("Hello, Ada!"), "{stdout}");
    let (stdout, _, ok) = duro(&server, &["--json", "workflow", "result", "cli-1"]);
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert!(ok && result["status"] == "completed", "{stdout}");

    // Errors: the API's message on stderr and exit status 1.
    let (_, stderr, ok) = duro(&server, &["workflow", "get", "nope"]);
    assert!(
        !ok && stderr.contains("no workflow has id \"nope\"") && stderr.contains("workflow_not_found"),
        "{stderr}"
    );
    let (_, stderr, ok) = duro(&server, &["workflow", "start", "hello", "--input", "{not json"]);
    assert!(!ok && stderr.contains("--input is not valid JSON"), "{stderr}");
    let (_, stderr, ok) = duro(&server, &["component", "push", "/no/such/file.wasm"]);
    assert!(!ok && stderr.contains("cannot read /no/such/file.wasm"), "{stderr}");
    let (_, stderr, ok) = duro(&server, &["--server", "http://127.0.0.1:9", "workflow", "list"]);
    assert!(!ok && stderr.contains("cannot reach the duro server at http://127.0.0.1:9"), "{stderr}");
}
