//! `duro-bench waits`: what waiting costs, through a real `duro serve`.
//!
//! 1. **Signal wake-up latency.** One at a time, a `waiter` workflow
//!    (`{"op":"wait"}`) is started and left until it is `waiting` (unloaded,
//!    no instance); then the bench notes the wall clock and `POST`s the
//!    signal. Reported: from the `POST` to the guest running again (the
//!    `recorded_at` of the `wait_any` entry that received the signal, taken
//!    by the host when the resumed guest's wait returned; same machine, same
//!    clock), and from the `POST` to the result (the end commit included).
//! 2. **Memory of waiting workflows.** Many `wait` workflows are started
//!    and left waiting; the server's VmRSS (from `/proc/<pid>/status`) is
//!    read before and after, with the runtime's count of live wasm
//!    instances.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{Scratch, push_component, start_server};

/// Runs both measurements on `database` (a fresh SQLite file when `None`)
/// and prints one table row each.
pub(super) async fn waits(
    examples: &std::path::Path,
    duro: &std::path::Path,
    database: Option<String>,
    signals: usize,
    waiting: usize,
) -> anyhow::Result<()> {
    let scratch = Scratch::new("waits", database)?;
    let database = &scratch.url;
    let http = reqwest::Client::new();
    let (server, base) = start_server(duro, database, &[], &http).await?;
    let bytes =
        std::fs::read(examples.join("waiter.wasm")).context("waiter.wasm: build tests/workflows/waiter")?;
    push_component(&http, &base, "waiter", bytes).await?;
    let backend = scratch.backend().to_owned();

    let mut to_guest = Vec::with_capacity(signals);
    let mut to_result = Vec::with_capacity(signals);
    for n in 0..signals {
        let id = format!("wake-{n}");
        start(&http, &base, &id).await?;
        wait_until_waiting(&http, &base, &id).await?;
        let sent_ns = now_ns();
        let sent = Instant::now();
        http.post(format!("{base}/v1/workflows/{id}/signals/go"))
            .json(&json!(n))
            .send()
            .await?
            .error_for_status()?;
        let result: Value =
            http.get(format!("{base}/v1/workflows/{id}/result?wait=60")).send().await?.json().await?;
        to_result.push(sent.elapsed());
        if result["status"] != "completed" {
            bail!("workflow {id} did not complete: {result}");
        }
        let journal: Value =
            http.get(format!("{base}/v1/workflows/{id}/journal")).send().await?.json().await?;
        let received = journal["entries"]
            .as_array()
            .and_then(|entries| entries.iter().rev().find(|entry| entry["kind"] == "wait_any"))
            .and_then(|entry| entry["recorded_at"].as_str())
            .context("no wait_any entry")?;
        let received_ns = parse_rfc3339_ns(received)?;
        to_guest.push(Duration::from_nanos(received_ns.saturating_sub(sent_ns)));
    }
    to_guest.sort();
    to_result.sort();
    let ms = |latencies: &[Duration], p: f64| {
        latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3
    };
    println!(
        "| {backend} | signal wake-up, {signals} workflows one at a time | POST → guest running: p50 {:.1} ms, p99 {:.1} ms | POST → result: p50 {:.1} ms, p99 {:.1} ms |",
        ms(&to_guest, 0.5),
        ms(&to_guest, 0.99),
        ms(&to_result, 0.5),
        ms(&to_result, 0.99),
    );

    let before = rss_mib(server.0.id())?;
    let started = Instant::now();
    let mut starts = tokio::task::JoinSet::new();
    for n in 0..waiting {
        if starts.len() >= 32 {
            starts.join_next().await.context("no task")???;
        }
        let (http, base) = (http.clone(), base.clone());
        starts.spawn(async move { start(&http, &base, &format!("park-{n}")).await });
    }
    while let Some(started) = starts.join_next().await {
        started??;
    }
    let health = loop {
        let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        let running: Value =
            http.get(format!("{base}/v1/workflows?status=running&limit=1")).send().await?.json().await?;
        let idle = running["workflows"].as_array().is_some_and(Vec::is_empty);
        if idle && health["runtime"]["runs_in_flight"] == 0 {
            break health;
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("workflows still running after 15 minutes: {health}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let after = rss_mib(server.0.id())?;
    println!(
        "| {backend} | {waiting} workflows waiting for a signal | all waiting after {:.1} s, live instances {} | VmRSS {before:.1} MiB idle → {after:.1} MiB ({:.2} KiB per waiting workflow) |",
        started.elapsed().as_secs_f64(),
        health["runtime"]["live_instances"],
        (after - before).max(0.0) * 1024.0 / waiting as f64,
    );
    drop(server);
    Ok(())
}

async fn start(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let body = json!({ "component": "waiter", "id": id, "input": { "op": "wait" } });
    http.post(format!("{base}/v1/workflows")).json(&body).send().await?.error_for_status()?;
    Ok(())
}

async fn wait_until_waiting(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let begun = Instant::now();
    loop {
        let workflow: Value = http.get(format!("{base}/v1/workflows/{id}")).send().await?.json().await?;
        if workflow["status"] == "waiting" {
            return Ok(());
        }
        if begun.elapsed() > Duration::from_secs(30) {
            bail!("workflow {id} is not waiting: {workflow}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

/// `2026-11-22T13:00:00.123456789Z` in ns since the Unix epoch.
fn parse_rfc3339_ns(text: &str) -> anyhow::Result<u64> {
    let time = humantime::parse_rfc3339(text).with_context(|| format!("bad time {text:?}"))?;
    Ok(time.duration_since(UNIX_EPOCH)?.as_nanos() as u64)
}

/// The VmRSS of process `pid`, in MiB.
pub(super) fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kib / 1024.0)
}
