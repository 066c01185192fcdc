//! `duro-bench e2e`: workflows through real `duro serve` processes: `hello`
//! (one journaled clock call), or with `--steps K` the `steps` workflow,
//! K durable steps each a call of the `echo` activity (the workload of
//! issue 10 and of the DBOS comparison: a step's outcome is committed
//! before the workflow goes on).
//!
//! `--hosts` processes (one by default) are started one after the other on
//! one database, each with `--listen 127.0.0.1:0` on a port of its own. More
//! than one is refused on SQLite, which allows one host per database file.
//! The components are uploaded through each host's API, so that every host has
//! compiled it before the clock starts, and the bench waits until `GET
//! /v1/hosts` lists them all. Then `--workflows` workflows, `--concurrency`
//! in flight over all hosts: workflow n is started through host n mod N
//! (`POST /v1/workflows`) and its result awaited through the same host
//! (`GET …/result?wait=60`). Whichever host claims a workflow runs it: the
//! one whose API started it is nudged at once and usually does.
//!
//! One table row: throughput, p50 and p99 from start request to result, the
//! runs each host ended (`commits − checkpoints` from its `/healthz`, over
//! the timed part), and the CPU time per workflow of each host, of the
//! PostgreSQL processes serving the database, of the bench client, and of
//! everything else, with how many of the machine's cores were busy on
//! average (see [`cpu`](super::cpu)).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::cpu::{self, Snapshot};
use super::{Scratch, ServerProcess, push_component, run_workflows, start_server};

/// Longest wait for every host to be listed by `GET /v1/hosts`.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `duro-bench e2e`.
#[derive(clap::Args)]
pub(super) struct Options {
    /// The `duro` binary.
    #[arg(long, default_value = "target/release/duro")]
    duro: PathBuf,
    /// Database URL; a fresh SQLite file when absent.
    #[arg(long)]
    database: Option<String>,
    /// Workflows to run.
    #[arg(long, default_value_t = 2000)]
    workflows: usize,
    /// Workflows started and awaited at once, over all hosts.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// `duro serve` processes on the one database, each on a port of its
    /// own: starts go round robin across their APIs, and each result is
    /// awaited on the host that started it. More than one needs
    /// PostgreSQL (SQLite allows one host).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    hosts: u16,
    /// Runs the `steps` workflow with this many durable steps (calls of
    /// the `echo` activity) instead of `hello`.
    #[arg(long)]
    steps: Option<u32>,
    /// Also appends the row as one line of JSON to this file (created if
    /// missing): backend, hosts, steps (0 for `hello`), workflows,
    /// concurrency, seconds, workflows_per_s, steps_per_s, p50_ms, p99_ms
    /// (latencies in ms); what `duro-bench compare` reads.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs the benchmark as `options` say, on `--database` (a fresh SQLite
/// file when absent) with `--hosts` servers, and prints one table row.
pub(super) async fn e2e(examples: &std::path::Path, options: Options) -> anyhow::Result<()> {
    let Options { duro, database, workflows, concurrency, hosts, steps, json: json_file } = options;
    let duro = duro.as_path();
    let scratch = Scratch::new("e2e", database)?;
    let database = &scratch.url;
    if hosts > 1 && database.starts_with("sqlite:") {
        bail!(
            "--hosts {hosts} needs PostgreSQL: SQLite allows one duro host per database file; \
             pass --database postgres://… to run several"
        );
    }
    let http = reqwest::Client::new();
    let servers = start_hosts(duro, database, hosts, &http).await?;
    let bases: Vec<String> = servers.iter().map(|(_, base)| base.clone()).collect();
    let pids: Vec<u32> = servers.iter().map(|(server, _)| server.0.id()).collect();
    let (components, workflow, input): (&[&str], _, _) = match steps {
        Some(steps) => (&["echo", "steps"], "steps", json!({ "steps": steps })),
        None => (&["hello"], "hello", json!({ "name": "Ada" })),
    };
    for name in components {
        let bytes =
            std::fs::read(examples.join(format!("{name}.wasm"))).with_context(|| format!("{name}.wasm"))?;
        for base in &bases {
            push_component(&http, base, name, bytes.clone()).await?;
        }
    }
    wait_until_registered(&http, &bases).await?;

    let postgres = if database.starts_with("sqlite:") { None } else { cpu::database_name(database) };
    let counters_before = counters(&http, &bases).await?;
    let cpu_before = Snapshot::take(&pids, postgres)?;
    let (elapsed, latencies) = run_workflows(&http, &bases, workflow, &input, workflows, concurrency).await?;
    let cpu_used = Snapshot::take(&pids, postgres)?.since(&cpu_before);
    let counters_after = counters(&http, &bases).await?;

    for (base, counters) in bases.iter().zip(&counters_after) {
        warn_of_trouble(base, counters);
    }
    let runs: Vec<String> = counters_before
        .iter()
        .zip(&counters_after)
        .map(|(before, after)| runs_between(before, after).to_string())
        .collect();
    let percentile = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    let backend = scratch.backend();
    let seconds = elapsed.as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let steps_per_s = match steps {
        Some(steps) => format!("{:.0} /s", f64::from(steps) * workflows as f64 / seconds),
        None => "-".to_owned(),
    };
    println!(
        "| {backend} | {hosts} | {} | {workflows} | {concurrency} | {:.0} /s | {steps_per_s} | {:.1} ms | {:.1} ms | {} | {} | {:.2} of {cores} |",
        steps
            .map_or("hello".to_owned(), |steps| format!("{steps} step{}", if steps == 1 { "" } else { "s" })),
        workflows as f64 / seconds,
        percentile(0.5),
        percentile(0.99),
        runs.join(" + "),
        cpu_per_workflow(&cpu_used, workflows),
        cpu_used.machine / seconds,
    );
    if let Some(path) = json_file {
        let record = json!({
            "backend": backend, "hosts": hosts, "steps": steps.unwrap_or(0), "workflows": workflows,
            "concurrency": concurrency, "seconds": seconds, "workflows_per_s": workflows as f64 / seconds,
            "steps_per_s": f64::from(steps.unwrap_or(0)) * workflows as f64 / seconds,
            "p50_ms": percentile(0.5), "p99_ms": percentile(0.99),
        });
        append_line(&path, &record.to_string())?;
    }
    Ok(())
}

/// Appends `line` and a newline to the file at `path`, created if missing.
fn append_line(path: &std::path::Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))
}

/// Starts `hosts` servers on `database`, one after the other; each process
/// with its base URL.
async fn start_hosts(
    duro: &std::path::Path,
    database: &str,
    hosts: u16,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<(ServerProcess, String)>> {
    let mut servers = Vec::with_capacity(usize::from(hosts));
    for n in 0..hosts {
        let server = start_server(duro, database, &[], http).await.with_context(|| format!("host {n}"))?;
        servers.push(server);
    }
    Ok(servers)
}

/// Waits until `GET /v1/hosts` on the first host lists every host in
/// `bases` (a host's name is the address it listens on).
async fn wait_until_registered(http: &reqwest::Client, bases: &[String]) -> anyhow::Result<()> {
    let Some(first) = bases.first() else { return Ok(()) };
    let begun = std::time::Instant::now();
    loop {
        let listed: Value = http.get(format!("{first}/v1/hosts")).send().await?.json().await?;
        let names: Vec<&str> = listed["hosts"]
            .as_array()
            .map(|hosts| hosts.iter().filter_map(|host| host["name"].as_str()).collect())
            .unwrap_or_default();
        let missing = bases.iter().filter(|base| !names.contains(&base.trim_start_matches("http://")));
        if missing.count() == 0 {
            return Ok(());
        }
        if begun.elapsed() > REGISTRATION_TIMEOUT {
            bail!("GET /v1/hosts does not list every host after {REGISTRATION_TIMEOUT:?}: {listed}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The runtime counters of each host (`runtime` of its `/healthz`).
async fn counters(http: &reqwest::Client, bases: &[String]) -> anyhow::Result<Vec<Value>> {
    let mut counters = Vec::with_capacity(bases.len());
    for base in bases {
        let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        counters.push(health["runtime"].clone());
    }
    Ok(counters)
}

/// The runs a host ended between two readings of its counters: its commits
/// that were not checkpoints.
fn runs_between(before: &Value, after: &Value) -> u64 {
    let runs = |counters: &Value| {
        let count = |name: &str| counters[name].as_u64().unwrap_or(0);
        count("commits").saturating_sub(count("checkpoints"))
    };
    runs(after).saturating_sub(runs(before))
}

/// Warns on stderr of commits retried, refused as stale or failed, and of
/// runs retried after a host-side failure: a clean run has none.
fn warn_of_trouble(base: &str, counters: &Value) {
    for trouble in ["commit_retries", "stale_commits", "failed_commits", "host_retries"] {
        let count = counters[trouble].as_u64().unwrap_or(0);
        if count > 0 {
            eprintln!("warning: the host at {base} counts {trouble} = {count}");
        }
    }
}

/// `used`, in ms of CPU per workflow: each host (`a + b` with two), then
/// PostgreSQL, the bench client, and what else the machine did.
fn cpu_per_workflow(used: &Snapshot, workflows: usize) -> String {
    let ms = |seconds: f64| format!("{:.2}", seconds * 1e3 / workflows.max(1) as f64);
    let hosts: Vec<String> = used.hosts.iter().map(|&seconds| ms(seconds)).collect();
    let mut parts = vec![format!("host{} {}", if hosts.len() > 1 { "s" } else { "" }, hosts.join(" + "))];
    if let Some(postgres) = used.postgres {
        parts.push(format!("postgres {}", ms(postgres)));
    }
    parts.push(format!("bench {}", ms(used.bench)));
    parts.push(format!("other {}", ms(used.other())));
    parts.join(", ")
}
