//! `duro-bench cold-start`: a new component's first run in a fresh process,
//! compiled, against the same after a restart, loaded from the disk cache
//! of compiled code.
//!
//! For each component, on a fresh SQLite database and an empty
//! `--compile-cache-dir`:
//!
//! 1. A fresh `duro serve`: the time of `POST /v1/components` of the bytes
//!    (compile, check, store), then of the first workflow, from its start
//!    request to its result (with the signal its input needs sent right after
//!    the start), and the `compile_cache` counters of `/healthz`.
//! 2. The server is killed (SIGKILL, once the cache directory holds a
//!    file) and a new one started on the same database and cache
//!    directory: the same `POST` (the component is stored already; the
//!    host prepares it again, from the cache) and a second first workflow.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::resume::result;
use super::{Scratch, ServerProcess, start_server};

/// Longest wait for the compile cache to hold a file after a compilation.
const CACHE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A component to start cold: a name, its file, a workflow input, and a
/// signal to send after the start if its run waits for one.
struct Subject {
    label: &'static str,
    name: &'static str,
    file: PathBuf,
    input: Value,
    signal: Option<&'static str>,
}

/// Runs the benchmark for `hello` (Rust) and, when `python` exists, for it
/// (`std_clock_py`, which waits for signal `go`); prints two table rows per
/// component.
pub(super) async fn cold_start(examples: &Path, duro: &Path, python: &Path) -> anyhow::Result<()> {
    let mut subjects = vec![Subject {
        label: "Rust",
        name: "hello",
        file: examples.join("hello.wasm"),
        input: json!({ "name": "Ada" }),
        signal: None,
    }];
    if python.exists() {
        subjects.push(Subject {
            label: "Python",
            name: "std_clock_py",
            file: python.to_owned(),
            input: json!({}),
            signal: Some("go"),
        });
    } else {
        println!(
            "| Python: {} not found (build it with scripts/setup.sh's build_python), skipped | - | - | - | - |",
            python.display()
        );
    }
    for subject in &subjects {
        measure(duro, subject).await.with_context(|| format!("cold start of {}", subject.name))?;
    }
    Ok(())
}

/// Both rows of one component.
async fn measure(duro: &Path, subject: &Subject) -> anyhow::Result<()> {
    let scratch = Scratch::new(&format!("cold-start-{}", subject.name), None)?;
    let cache = scratch.dir.join("compile-cache");
    let cache_arg = cache.to_str().context("the compile cache path is not UTF-8")?;
    let args = ["--compile-cache-dir", cache_arg];
    let bytes =
        std::fs::read(&subject.file).with_context(|| format!("cannot read {}", subject.file.display()))?;
    let http = reqwest::Client::new();
    let what = format!("{}: {} ({:.1} MB)", subject.label, subject.name, bytes.len() as f64 / 1e6);

    let (mut server, base) = start_server(duro, &scratch.url, &args, &http).await?;
    first_run(&http, &base, subject, &bytes, "fresh process, empty cache", &what, 1).await?;
    wait_for_a_file(&cache).await?;
    kill(&mut server)?;

    let (_server, base) = start_server(duro, &scratch.url, &args, &http).await?;
    first_run(&http, &base, subject, &bytes, "restarted, same cache", &what, 2).await
}

/// Uploads the component, runs workflow number `n`, and prints the row.
async fn first_run(
    http: &reqwest::Client,
    base: &str,
    subject: &Subject,
    bytes: &[u8],
    process: &str,
    what: &str,
    n: u32,
) -> anyhow::Result<()> {
    let uploading = Instant::now();
    http.post(format!("{base}/v1/components?name={}", subject.name))
        .body(bytes.to_vec())
        .send()
        .await?
        .error_for_status()?;
    let upload = uploading.elapsed();
    let id = format!("cold-{n}");
    let starting = Instant::now();
    let body = json!({ "component": subject.name, "id": id, "input": subject.input });
    http.post(format!("{base}/v1/workflows")).json(&body).send().await?.error_for_status()?;
    if let Some(signal) = subject.signal {
        http.post(format!("{base}/v1/workflows/{id}/signals/{signal}"))
            .json(&json!(signal))
            .send()
            .await?
            .error_for_status()?;
    }
    result(http, base, &id).await?;
    let run = starting.elapsed();
    let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
    let cache = &health["runtime"]["compile_cache"];
    println!(
        "| {what} | {process} | {:.0} ms | {:.1} ms | {} hits, {} misses |",
        upload.as_secs_f64() * 1e3,
        run.as_secs_f64() * 1e3,
        cache["hits"],
        cache["misses"],
    );
    Ok(())
}

/// Waits until some file exists under `dir` (the compile cache written).
async fn wait_for_a_file(dir: &Path) -> anyhow::Result<()> {
    let begun = Instant::now();
    while !holds_a_file(dir) {
        if begun.elapsed() > CACHE_WRITE_TIMEOUT {
            bail!("the compile cache {} is still empty after {CACHE_WRITE_TIMEOUT:?}", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Whether `dir` or a directory under it holds a file.
fn holds_a_file(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(Result::ok).any(|entry| {
        let path = entry.path();
        if path.is_dir() { holds_a_file(&path) } else { true }
    })
}

/// Kills the server with SIGKILL and reaps it.
fn kill(server: &mut ServerProcess) -> anyhow::Result<()> {
    server.0.kill().context("cannot kill duro serve")?;
    server.0.wait().context("cannot reap duro serve")?;
    Ok(())
}
