//! `duro-bench resume`: how long a workflow with a long journal takes to
//! resume after its host was killed, through real `duro serve` processes.
//!
//! 1. A server (its compile cache in a scratch directory) gets `shapes`;
//!    `--rounds` workflows `{"now_calls": N, "signal": true}` (N journaled
//!    clock reads, then a receive of signal `go`: N + 1 entries while it
//!    waits) and as many `{"signal": true}` (1 entry) are started and left
//!    until each is `waiting`, unloaded.
//! 2. The server is killed with SIGKILL and a new one started on the same
//!    database and compile cache. One `{}` workflow is run to its result
//!    first, so the component is loaded (from the disk cache) before the
//!    clock starts.
//! 3. Round by round, the short workflow, then the long one: the time from
//!    the signal's `POST` to its result (`GET …/result?wait=60`), which is
//!    the claim, loading the journal, instantiating, replaying it, the
//!    `wait-any` that takes the signal, and the final commit.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{Scratch, percentile_ms, push_component, start_server};

/// Longest wait for a workflow to be left `waiting`.
const WAITING_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the benchmark on `database` (a fresh SQLite file when `None`) with
/// journals of `entries` clock reads, `rounds` workflows of each length;
/// prints one table row per length.
pub(super) async fn resume(
    examples: &std::path::Path,
    duro: &std::path::Path,
    database: Option<String>,
    entries: u32,
    rounds: usize,
) -> anyhow::Result<()> {
    let scratch = Scratch::new("resume", database)?;
    let database = &scratch.url;
    let cache = scratch.dir.join("compile-cache");
    let cache_arg = cache.to_str().context("the compile cache path is not UTF-8")?;
    let server_args = ["--compile-cache-dir", cache_arg];
    let http = reqwest::Client::new();
    let backend = scratch.backend().to_owned();

    let (mut first, base) = start_server(duro, database, &server_args, &http).await?;
    let bytes = std::fs::read(examples.join("shapes.wasm")).context("shapes.wasm")?;
    push_component(&http, &base, "shapes", bytes).await?;
    let long_input = json!({ "now_calls": entries, "signal": true });
    let short_input = json!({ "signal": true });
    let recording = Instant::now();
    for round in 0..rounds {
        start(&http, &base, &format!("long-{round}"), &long_input).await?;
        start(&http, &base, &format!("short-{round}"), &short_input).await?;
    }
    for round in 0..rounds {
        wait_until_waiting(&http, &base, &format!("long-{round}")).await?;
        wait_until_waiting(&http, &base, &format!("short-{round}")).await?;
    }
    eprintln!(
        "resume: {rounds} workflows of {entries} entries recorded and waiting after {:.1} s",
        recording.elapsed().as_secs_f64()
    );
    first.0.kill().context("cannot kill duro serve")?;
    first.0.wait()?;

    let (_second, base) = start_server(duro, database, &server_args, &http).await?;
    start(&http, &base, "warm-up", &json!({})).await?;
    result(&http, &base, "warm-up").await?;
    let mut long = Vec::with_capacity(rounds);
    let mut short = Vec::with_capacity(rounds);
    for round in 0..rounds {
        short.push(signal_to_result(&http, &base, &format!("short-{round}")).await?);
        long.push(signal_to_result(&http, &base, &format!("long-{round}")).await?);
    }
    let ms = |times: &[Duration]| -> Vec<String> {
        times.iter().map(|time| format!("{:.1}", time.as_secs_f64() * 1e3)).collect()
    };
    eprintln!("resume ({backend}), ms in order: short {:?}, long {:?}", ms(&short), ms(&long));
    let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
    let cache_hits = &health["runtime"]["compile_cache"]["hits"];
    for (what, journal, times) in
        [("long journal", u64::from(entries) + 1, &mut long), ("short journal", 1, &mut short)]
    {
        times.sort();
        let size = if journal == 1 { "1 entry".to_owned() } else { format!("{journal} entries") };
        println!(
            "| {backend} | {what}: {size} while waiting | {rounds} | {:.1} ms | {:.1}–{:.1} ms | {cache_hits} |",
            percentile_ms(times, 0.5),
            percentile_ms(times, 0.0),
            percentile_ms(times, 1.0),
        );
    }
    Ok(())
}

/// Starts a `shapes` workflow `id` on `input`.
async fn start(http: &reqwest::Client, base: &str, id: &str, input: &Value) -> anyhow::Result<()> {
    let body = json!({ "component": "shapes", "id": id, "input": input });
    http.post(format!("{base}/v1/workflows")).json(&body).send().await?.error_for_status()?;
    Ok(())
}

/// Sends signal `go` to workflow `id` and waits for its result: the time
/// from the `POST` to the result.
async fn signal_to_result(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    http.post(format!("{base}/v1/workflows/{id}/signals/go"))
        .json(&json!("go"))
        .send()
        .await?
        .error_for_status()?;
    result(http, base, id).await?;
    Ok(sent.elapsed())
}

/// Waits for workflow `id`'s result; fails unless it completed.
pub(super) async fn result(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<Value> {
    let result: Value =
        http.get(format!("{base}/v1/workflows/{id}/result?wait=60")).send().await?.json().await?;
    if result["status"] != "completed" {
        bail!("workflow {id} did not complete: {result}");
    }
    Ok(result)
}

/// Waits until workflow `id` is `waiting`.
async fn wait_until_waiting(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let begun = Instant::now();
    loop {
        let workflow: Value = http.get(format!("{base}/v1/workflows/{id}")).send().await?.json().await?;
        match workflow["status"].as_str() {
            Some("waiting") => return Ok(()),
            Some("running" | "sleeping") | None => {}
            Some(_) => bail!("workflow {id} ended before its signal: {workflow}"),
        }
        if begun.elapsed() > WAITING_TIMEOUT {
            bail!("workflow {id} is not waiting after {WAITING_TIMEOUT:?}: {workflow}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
