//! `duro-bench memory`: the resident memory of a `duro serve` holding
//! sleeping and running workflows (VmRSS from `/proc/<pid>/status`).
//!
//! 1. **Sleeping.** A server gets `shapes` (idle VmRSS read then), then
//!    `--sleeping` workflows `{"sleeps": 1, "sleep_ms": 3600000}` are
//!    started, 32 requests at a time; each runs to its one-hour timer and is
//!    unloaded (`sleeping`, no instance). Once none runs, VmRSS again.
//! 2. **Running.** A new server on the same database gets `shapes` (idle
//!    VmRSS), then `--running` workflows `{"sleeps": K, "sleep_ms": 500}`
//!    (K = `--running-sleeps`): every sleep is under the inline threshold
//!    (1 s), so each run holds its wasm instance for K × 0.5 s. Once the
//!    runtime counts that many live instances, VmRSS is read five times,
//!    200 ms apart, and the highest kept; then again once they all ended.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::waits::rss_mib;
use super::{Scratch, push_component, start_server};

/// Longest wait for started workflows to settle (sleeping, or ended).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(900);

/// Requests in flight while starting many workflows.
const STARTS_IN_FLIGHT: usize = 32;

/// Each inline sleep of a running workflow, in ms: under the host's inline
/// threshold of 1 s.
const INLINE_SLEEP_MS: u64 = 500;

/// Runs both measurements on `database` (a fresh SQLite file when `None`);
/// prints one table row each.
pub(super) async fn memory(
    examples: &std::path::Path,
    duro: &std::path::Path,
    database: Option<String>,
    sleeping: usize,
    running: usize,
    running_sleeps: u32,
) -> anyhow::Result<()> {
    let scratch = Scratch::new("memory", database)?;
    let database = &scratch.url;
    let http = reqwest::Client::new();
    let backend = scratch.backend().to_owned();
    let bytes = std::fs::read(examples.join("shapes.wasm")).context("shapes.wasm")?;

    let (server, base) = start_server(duro, database, &[], &http).await?;
    upload(&http, &base, &bytes).await?;
    let idle = rss_mib(server.0.id())?;
    let begun = Instant::now();
    let input = json!({ "sleeps": 1, "sleep_ms": 3_600_000 });
    start_many(&http, &base, "sleeping", sleeping, &input).await?;
    let health = settle(&http, &base).await?;
    let after = rss_mib(server.0.id())?;
    println!(
        "| {backend} | {sleeping} workflows sleeping (a 1 h timer) | all sleeping after {:.1} s, live instances {} | VmRSS {idle:.1} MiB idle → {after:.1} MiB ({:.2} KiB per sleeping workflow) |",
        begun.elapsed().as_secs_f64(),
        health["runtime"]["live_instances"],
        (after - idle).max(0.0) * 1024.0 / sleeping.max(1) as f64,
    );
    drop(server);

    let (server, base) = start_server(duro, database, &[], &http).await?;
    upload(&http, &base, &bytes).await?;
    let idle = rss_mib(server.0.id())?;
    let input = json!({ "sleeps": running_sleeps, "sleep_ms": INLINE_SLEEP_MS });
    start_many(&http, &base, "running", running, &input).await?;
    let live = wait_until_live(&http, &base, running).await?;
    let mut peak: f64 = 0.0;
    for _ in 0..5 {
        peak = peak.max(rss_mib(server.0.id())?);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    settle(&http, &base).await?;
    let ended = rss_mib(server.0.id())?;
    println!(
        "| {backend} | {running} workflows running, each in inline sleeps of {INLINE_SLEEP_MS} ms | {live} live instances | VmRSS {idle:.1} MiB idle → {peak:.1} MiB running ({:.0} KiB per running workflow); {ended:.1} MiB once they ended |",
        (peak - idle).max(0.0) * 1024.0 / running.max(1) as f64,
    );
    Ok(())
}

/// Uploads `shapes`.
async fn upload(http: &reqwest::Client, base: &str, bytes: &[u8]) -> anyhow::Result<()> {
    push_component(http, base, "shapes", bytes.to_vec()).await
}

/// Starts `count` `shapes` workflows `{prefix}-{n}` on `input`,
/// [`STARTS_IN_FLIGHT`] requests at a time.
async fn start_many(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    count: usize,
    input: &Value,
) -> anyhow::Result<()> {
    let mut starts = tokio::task::JoinSet::new();
    for n in 0..count {
        if starts.len() >= STARTS_IN_FLIGHT {
            starts.join_next().await.context("no task")???;
        }
        let (http, base) = (http.clone(), base.to_owned());
        let body = json!({ "component": "shapes", "id": format!("{prefix}-{n}"), "input": input });
        starts.spawn(async move {
            http.post(format!("{base}/v1/workflows")).json(&body).send().await?.error_for_status()?;
            anyhow::Ok(())
        });
    }
    while let Some(started) = starts.join_next().await {
        started??;
    }
    Ok(())
}

/// Waits until no workflow is `running` and no run is in flight; answers
/// the last `/healthz`.
async fn settle(http: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    let begun = Instant::now();
    loop {
        let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        let running: Value =
            http.get(format!("{base}/v1/workflows?status=running&limit=1")).send().await?.json().await?;
        let idle = running["workflows"].as_array().is_some_and(Vec::is_empty);
        if idle && health["runtime"]["runs_in_flight"] == 0 {
            return Ok(health);
        }
        if begun.elapsed() > SETTLE_TIMEOUT {
            bail!("workflows still running after {SETTLE_TIMEOUT:?}: {health}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the runtime counts at least `count` live instances; answers
/// the count.
async fn wait_until_live(http: &reqwest::Client, base: &str, count: usize) -> anyhow::Result<u64> {
    let begun = Instant::now();
    loop {
        let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        let live = health["runtime"]["live_instances"].as_u64().unwrap_or(0);
        if live >= count as u64 {
            return Ok(live);
        }
        if begun.elapsed() > Duration::from_secs(60) {
            bail!("{live} live instances after 60 s, not {count}: {health}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
