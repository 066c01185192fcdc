//! duro's benchmark harness. Speed is measured here, never asserted in tests.
//!
//! - `executor`: the cost of one run of `hello` (instantiate, one journaled
//!   clock call, return) and of replaying `countdown`'s 6-entry journal,
//!   in-process, no database.
//! - `e2e`: `--hosts` real `duro serve` processes (one by default; more only
//!   on PostgreSQL) on one database; starts `--workflows` `hello` workflows
//!   (or `steps` workflows of `--steps` durable steps)
//!   with `--concurrency` in flight over HTTP, round robin across the hosts,
//!   and waits for each result: workflows per second, start-to-result
//!   latency, and CPU time per workflow of each process; see [`e2e`].
//! - `effects`: a real `duro serve` on SQLite or PostgreSQL and a release
//!   `shop-service`; runs `--workflows` `order-saga` workflows (three
//!   journaled HTTP calls each, every answer committed before the workflow
//!   sees it) with `--concurrency` in flight: sagas and effects per second,
//!   latency, and how many commits shared each transaction.
//! - `replay` and `instantiate` (in process, no database): replaying a
//!   journal of 10,000 entries, and one run of a workflow that returns at
//!   once, Rust and Python; see [`inproc`].
//! - `resume`: a workflow with a 10,000-entry journal waiting for a signal,
//!   its host killed and restarted: signal to result, against a short
//!   journal; see [`resume`].
//! - `memory`: a `duro serve`'s VmRSS with 10,000 sleeping workflows, and
//!   per workflow running; see [`memory`].
//! - `cold-start`: a component's upload and first run in a fresh process,
//!   compiled, and after a restart, from the disk cache; see [`cold_start`].
//! - `compare`: duro's and DBOS's figures side by side; see [`compare`].
//! - `dispatch`: a store of `--workflows` (100,000) workflows on SQLite and,
//!   with `--postgres`, on PostgreSQL: the cost of the scheduler's reads and
//!   of listings, the plans of the scheduler's queries, and the memory of a
//!   `duro serve` that recovered it; see [`dispatch`].
//!
//! Run through `scripts/bench.sh`, which builds everything in release mode.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use duro_host::engine::{Engine, EngineLimits};
use duro_host::executor::{CheckpointPolicy, Executor, ExecutorConfig, RunHooks, RunOutcome};
use duro_host::ids::ComponentDigest;
use duro_host::journal::Usage;
use serde_json::json;

mod cold_start;
mod compare;
mod cpu;
mod dispatch;
mod e2e;
mod inproc;
mod memory;
mod resume;
mod waits;

#[derive(Parser)]
struct Args {
    /// Directory holding hello.wasm and countdown.wasm.
    #[arg(long, default_value = "target/wasm32-wasip2/release")]
    examples: PathBuf,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// In-process run and replay cost.
    Executor {
        /// Runs to time.
        #[arg(long, default_value_t = 2000)]
        runs: u32,
    },
    /// Workflow throughput through a real server.
    E2e(e2e::Options),
    /// Effect throughput: order sagas against the shop service.
    Effects {
        /// The `duro` binary.
        #[arg(long, default_value = "target/release/duro")]
        duro: PathBuf,
        /// The `shop-service` binary.
        #[arg(long, default_value = "target/release/shop-service")]
        shop: PathBuf,
        /// Database URL; a fresh SQLite file when absent.
        #[arg(long)]
        database: Option<String>,
        /// Sagas to run.
        #[arg(long, default_value_t = 1000)]
        workflows: usize,
        /// Sagas started and awaited at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// In process: replay speed of a long journal.
    Replay {
        /// Journal entries (journaled clock reads) to record, then replay.
        #[arg(long, default_value_t = 10_000)]
        entries: u32,
        /// Replays to time.
        #[arg(long, default_value_t = 20)]
        replays: u32,
    },
    /// In process: the time of one run of a workflow that returns at once
    /// (instantiation plus the run's calls), Rust and Python.
    Instantiate {
        /// The Python component (tests/workflows/std-clock-py); its row is
        /// skipped when the file is missing.
        #[arg(long, default_value = "target/wasm32-wasip2/release/std_clock_py.wasm")]
        python: PathBuf,
        /// Runs of the Rust workflow to time.
        #[arg(long, default_value_t = 2000)]
        runs: u32,
        /// Runs of the Python workflow to time.
        #[arg(long, default_value_t = 200)]
        python_runs: u32,
    },
    /// Resuming a workflow with a long journal after its host was killed.
    Resume {
        /// The `duro` binary.
        #[arg(long, default_value = "target/release/duro")]
        duro: PathBuf,
        /// Database URL; a fresh SQLite file when absent.
        #[arg(long)]
        database: Option<String>,
        /// Entries (journaled clock reads) in the long journal.
        #[arg(long, default_value_t = 10_000)]
        entries: u32,
        /// Workflows of each journal length, each resumed once.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Resident memory with sleeping workflows, and per running workflow.
    Memory {
        /// The `duro` binary.
        #[arg(long, default_value = "target/release/duro")]
        duro: PathBuf,
        /// Database URL; a fresh SQLite file when absent.
        #[arg(long)]
        database: Option<String>,
        /// Workflows left sleeping.
        #[arg(long, default_value_t = 10_000)]
        sleeping: usize,
        /// Workflows running at once, each in inline sleeps of 500 ms.
        #[arg(long, default_value_t = 256)]
        running: usize,
        /// Inline sleeps of 500 ms each running workflow makes.
        #[arg(long, default_value_t = 20)]
        running_sleeps: u32,
    },
    /// A new component's first run in a fresh process (compiled) and after a
    /// restart (from the disk cache of compiled code), Rust and Python.
    ColdStart {
        /// The `duro` binary.
        #[arg(long, default_value = "target/release/duro")]
        duro: PathBuf,
        /// The Python component (tests/workflows/std-clock-py); skipped when
        /// the file is missing.
        #[arg(long, default_value = "target/wasm32-wasip2/release/std_clock_py.wasm")]
        python: PathBuf,
    },
    /// The table of duro against DBOS, from the JSON lines of both.
    Compare {
        /// JSON lines of `duro-bench e2e --json`.
        #[arg(long)]
        duro: PathBuf,
        /// JSON lines of `bench/dbos/run.sh`.
        #[arg(long)]
        dbos: PathBuf,
    },
    /// Signal wake-up latency and the memory of waiting workflows.
    Waits {
        /// The `duro` binary.
        #[arg(long, default_value = "target/release/duro")]
        duro: PathBuf,
        /// Database URL; a fresh SQLite file when absent.
        #[arg(long)]
        database: Option<String>,
        /// Workflows woken by a signal, one at a time.
        #[arg(long, default_value_t = 200)]
        signals: usize,
        /// Workflows left waiting for the memory measurement.
        #[arg(long, default_value_t = 10_000)]
        waiting: usize,
    },
    /// Scheduler reads, query plans and server memory with a large store.
    Dispatch {
        /// The `duro` binary, for the memory measurement.
        #[arg(long, default_value = "target/release/duro")]
        duro: PathBuf,
        /// URL of a PostgreSQL server (any database on it) to run on as well
        /// as SQLite: a database of its own is created there and dropped
        /// afterwards.
        #[arg(long)]
        postgres: Option<String>,
        /// Workflows in the store: 90% completed, 9% sleeping over the next
        /// hour, 0.5% sleeping and due, 0.5% running.
        #[arg(long, default_value_t = 100_000)]
        workflows: u32,
        /// Timed calls of each query.
        #[arg(long, default_value_t = 200)]
        calls: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.bench {
        Bench::Executor { runs } => executor(&args.examples, runs).await,
        Bench::E2e(options) => e2e::e2e(&args.examples, options).await,
        Bench::Effects { duro, shop, database, workflows, concurrency } => {
            effects(&args.examples, &duro, &shop, database, workflows, concurrency).await
        }
        Bench::Replay { entries, replays } => inproc::replay(&args.examples, entries, replays).await,
        Bench::Instantiate { python, runs, python_runs } => {
            inproc::instantiate(&args.examples, &python, runs, python_runs).await
        }
        Bench::Resume { duro, database, entries, rounds } => {
            resume::resume(&args.examples, &duro, database, entries, rounds).await
        }
        Bench::Memory { duro, database, sleeping, running, running_sleeps } => {
            memory::memory(&args.examples, &duro, database, sleeping, running, running_sleeps).await
        }
        Bench::ColdStart { duro, python } => cold_start::cold_start(&args.examples, &duro, &python).await,
        Bench::Compare { duro, dbos } => compare::compare(&duro, &dbos),
        Bench::Waits { duro, database, signals, waiting } => {
            waits::waits(&args.examples, &duro, database, signals, waiting).await
        }
        Bench::Dispatch { duro, postgres, workflows, calls } => {
            dispatch::dispatch(&args.examples, &duro, postgres.as_deref(), workflows, calls).await
        }
    }
}

async fn executor(examples: &std::path::Path, runs: u32) -> anyhow::Result<()> {
    // No database here: a policy that never checkpoints keeps every entry
    // in the report.
    let config = ExecutorConfig {
        checkpoints: CheckpointPolicy { max_entries: usize::MAX, interval: Duration::MAX },
        ..ExecutorConfig::default()
    };
    let executor = Executor::new(Engine::new(EngineLimits::default(), None)?, config)?;
    let run = |digest, input, recorded| {
        executor.run(digest, "bench", input, recorded, Usage::default(), RunHooks::detached())
    };
    let mut digests = Vec::new();
    for name in ["hello", "countdown"] {
        let bytes =
            std::fs::read(examples.join(format!("{name}.wasm"))).with_context(|| format!("{name}.wasm"))?;
        let digest = ComponentDigest::of(&bytes);
        let compiling = Instant::now();
        let prepared = executor.prepare(&digest, bytes.into()).await?;
        println!("| compile + check {name} | {:.1} ms |", compiling.elapsed().as_secs_f64() * 1e3);
        digests.push(prepared);
    }
    let hello_input = r#"{"name":"Ada"}"#;
    let started = Instant::now();
    for _ in 0..runs {
        let report = run(&digests[0], hello_input, Vec::new()).await?;
        if !matches!(report.outcome, RunOutcome::Completed(_)) {
            bail!("hello did not complete: {:?}", report.outcome);
        }
    }
    println!(
        "| run hello (1 journaled call) | {:.1} µs |",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
    );

    let countdown_input = r#"{"n":3,"seconds":0}"#;
    let journal = run(&digests[1], countdown_input, Vec::new()).await?.entries;
    let started = Instant::now();
    for _ in 0..runs {
        let report = run(&digests[1], countdown_input, journal.clone()).await?;
        if !report.entries.is_empty() {
            bail!("replay recorded new entries");
        }
    }
    let per_run = started.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    println!("| replay countdown ({} entries) | {per_run:.1} µs |", journal.len());
    Ok(())
}

async fn effects(
    examples: &std::path::Path,
    duro: &std::path::Path,
    shop: &std::path::Path,
    database: Option<String>,
    workflows: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let scratch = Scratch::new("effects", database)?;
    let database = &scratch.url;
    let (_shop, shop_base) = start_shop(shop)?;
    let http = reqwest::Client::new();
    let authority = shop_base.trim_start_matches("http://").to_owned();
    let (mut server, base) = start_server(duro, database, &["--allow-http", &authority], &http).await?;
    let bytes = std::fs::read(examples.join("order_saga.wasm"))?;
    push_component(&http, &base, "order-saga", bytes).await?;
    let input = json!({
        "shop": shop_base, "sku": "sku-1", "quantity": 1, "amount_cents": 1299,
        "card": "4242", "address": "1 Main St",
    });
    let (elapsed, latencies) =
        run_workflows(&http, std::slice::from_ref(&base), "order-saga", &input, workflows, concurrency)
            .await?;
    let stats: serde_json::Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
    let commits = stats["runtime"]["commits"].as_f64().unwrap_or(0.0);
    let transactions = stats["runtime"]["transactions"].as_f64().unwrap_or(1.0).max(1.0);
    let percentile = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    let backend = scratch.backend();
    let seconds = elapsed.as_secs_f64();
    println!(
        "| {backend} | {workflows} | {concurrency} | {:.0} /s | {:.0} /s | {:.1} ms | {:.1} ms | {:.1} |",
        workflows as f64 / seconds,
        3.0 * workflows as f64 / seconds,
        percentile(0.5),
        percentile(0.99),
        commits / transactions
    );
    server.0.kill()?;
    Ok(())
}

/// Starts `workflows` workflows of `component` with `input`, `concurrency`
/// at a time, each awaited: the time it all took, and each workflow's
/// start-to-result latency, sorted. Workflow n is started through the API at
/// `bases[n % bases.len()]` and awaited through the same one.
async fn run_workflows(
    http: &reqwest::Client,
    bases: &[String],
    component: &str,
    input: &serde_json::Value,
    workflows: usize,
    concurrency: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, bases, next) = (http.clone(), bases.to_vec(), next.clone());
        let (component, input) = (component.to_owned(), input.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= workflows {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let base = &bases[n % bases.len()];
                let begun = Instant::now();
                let id = format!("bench-{}-{n}", std::process::id());
                let body = json!({ "component": component, "id": id, "input": input });
                http.post(format!("{base}/v1/workflows")).json(&body).send().await?.error_for_status()?;
                let result = http.get(format!("{base}/v1/workflows/{id}/result?wait=60")).send().await?;
                let result: serde_json::Value = result.json().await?;
                if result["status"] != "completed" {
                    bail!("workflow {id} did not complete: {result}");
                }
                latencies.push(begun.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(workflows);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok((elapsed, latencies))
}

/// The `p` quantile (0 to 1) of `sorted` latencies, in ms; 0 when empty.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return 0.0 };
    sorted[(last as f64 * p) as usize].as_secs_f64() * 1e3
}

/// Starts `shop-service` on a free port; the process and its base URL.
fn start_shop(shop: &std::path::Path) -> anyhow::Result<(ServerProcess, String)> {
    use std::io::BufRead;
    let mut child = Command::new(shop)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", shop.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let process = ServerProcess(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let base =
        line.trim().strip_prefix("listening on ").context("shop-service did not say where it listens")?;
    Ok((process, base.to_owned()))
}

/// Longest wait for a `duro serve` to say where it listens and to answer
/// `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts `duro serve` on `database` with `--listen 127.0.0.1:0`, reads the
/// address the system gave it from its log, and waits until it answers
/// `/healthz`; returns the process and the server's base URL.
async fn start_server(
    duro: &std::path::Path,
    database: &str,
    extra_args: &[&str],
    http: &reqwest::Client,
) -> anyhow::Result<(ServerProcess, String)> {
    let mut child = Command::new(duro)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .args(extra_args)
        // Warnings, and the line that says where it listens.
        .env("RUST_LOG", "warn,duro_host::cli::serve=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", duro.display()))?;
    let log = child.stderr.take().context("no stderr")?;
    let server = ServerProcess(child);
    let address = tokio::time::timeout(STARTUP_TIMEOUT, listening_address(log))
        .await
        .with_context(|| format!("duro serve did not say where it listens within {STARTUP_TIMEOUT:?}"))??;
    let base = format!("http://{address}");
    let ready = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        if ready.elapsed() > STARTUP_TIMEOUT {
            bail!("duro serve at {base} did not answer /healthz within {STARTUP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((server, base))
}

/// Reads the log of a `duro serve` on a thread of its own until the line
/// `… duro listening address=HOST:PORT …`, and answers HOST:PORT. Every
/// other line goes on to this process's stderr, until the server exits. If
/// the log ends first (the server exited), the error holds what it said.
async fn listening_address(log: std::process::ChildStderr) -> anyhow::Result<String> {
    use std::io::BufRead;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(log).lines().map_while(Result::ok);
        let mut said = String::new();
        let address = lines.by_ref().find_map(|line| {
            let address = address_in(&line);
            if address.is_none() {
                said.push_str(&line);
                said.push('\n');
            }
            address
        });
        if address.is_some() {
            eprint!("{said}");
        }
        let _ = sender.send(address.ok_or(said));
        for line in lines {
            eprintln!("{line}");
        }
    });
    match receiver.await.context("the reader of duro serve's log stopped")? {
        Ok(address) => Ok(address),
        Err(said) => bail!("duro serve exited before it listened: {}", said.trim_end()),
    }
}

/// HOST:PORT from the line `duro serve` logs when it listens:
/// `… INFO duro_host::cli::serve: duro listening address=127.0.0.1:PORT …`.
fn address_in(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("duro listening")?;
    let address = rest.split_once("address=")?.1.split_whitespace().next()?;
    Some(address.to_owned())
}

/// The database of one benchmark: the URL given, or a fresh SQLite file in
/// a temporary directory that is removed on drop.
struct Scratch {
    dir: PathBuf,
    url: String,
}

impl Scratch {
    fn new(name: &str, database: Option<String>) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("duro-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let url = database.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
        Ok(Self { dir, url })
    }

    /// The kind of store, as the tables name it: `sqlite` or `postgres`.
    fn backend(&self) -> &str {
        self.url.split(':').next().unwrap_or("?")
    }
}

/// Pushes `bytes` to the `duro serve` at `base` under `name`.
async fn push_component(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<()> {
    http.post(format!("{base}/v1/components?name={name}")).body(bytes).send().await?.error_for_status()?;
    Ok(())
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills the server when the benchmark ends, also on error.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
