//! Operating duro against a real `duro serve`: API tokens and roles.
//!
//! Access control sits in the API layer, in front of the store, so these
//! tests run on SQLite only.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Database, Server, TempDir};
use serde_json::{Value, json};

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
