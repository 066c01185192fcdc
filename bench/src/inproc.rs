//! In-process benchmarks on the [`Executor`] API, no database:
//!
//! - `replay`: the replay speed of a long journal. The `shapes` workflow
//!   with `{"now_calls": N}` runs live once (N journaled clock reads, kept
//!   in memory: the checkpoint policy never fires); then it is run again
//!   with those N entries as its journal, which replays them all and
//!   returns. Reported: the live run, and each replay's time and entries
//!   per second.
//! - `instantiate`: the time of one run of a workflow that returns at once,
//!   from the pooled, pre-linked component: a fresh instance, the run's
//!   calls, `run` returning. Rust: `shapes` with `{}`, which makes no host
//!   call. Python: `std_clock_py` (tests/workflows/std-clock-py), which reads
//!   CPython's clocks and randomness (journaled WASI calls), publishes them
//!   as an event (a journaled call and a commit, here to [`BenchHooks`],
//!   which keeps nothing) and receives signal `go`, which [`BenchHooks`]
//!   holds ready. So each figure is instantiation plus that run's calls;
//!   the executor offers no finer split.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use duro_host::engine::{Engine, EngineLimits};
use duro_host::executor::{
    ActivityUnavailable, CheckpointError, CheckpointPolicy, Checkpointer, ChildAdmission, EndedChild,
    Executor, ExecutorConfig, Inbox, InboxError, InboxSignal, Prepared, RunHooks, RunOutcome, RunReport,
    Waiting,
};
use duro_host::ids::ComponentDigest;
use duro_host::journal::{Entry, LogLine, Usage};

use super::percentile_ms;

/// Runs the replay benchmark: `entries` clock reads recorded live once,
/// then `replays` timed replays of them; prints table rows.
pub(super) async fn replay(examples: &std::path::Path, entries: u32, replays: u32) -> anyhow::Result<()> {
    let executor = detached_executor()?;
    let shapes = prepare(&executor, &examples.join("shapes.wasm")).await?;
    let input = serde_json::json!({ "now_calls": entries }).to_string();
    let live = Instant::now();
    let report = run(&executor, &shapes, &input, Vec::new(), RunHooks::detached()).await?;
    let live = live.elapsed();
    completed(&report, "shapes, live")?;
    let journal = report.entries;
    if journal.len() != entries as usize {
        bail!("shapes recorded {} entries, not {entries}", journal.len());
    }
    println!(
        "| run live, recording {entries} clock reads (in memory, no commit) | {:.1} ms | {:.0} entries/s |",
        live.as_secs_f64() * 1e3,
        f64::from(entries) / live.as_secs_f64()
    );
    let mut times = Vec::with_capacity(replays as usize);
    for _ in 0..replays {
        let begun = Instant::now();
        let report = run(&executor, &shapes, &input, journal.clone(), RunHooks::detached()).await?;
        times.push(begun.elapsed());
        completed(&report, "shapes, replayed")?;
        if !report.entries.is_empty() {
            bail!("the replay recorded {} new entries", report.entries.len());
        }
    }
    times.sort();
    let median = percentile_ms(&times, 0.5);
    println!(
        "| replay {entries} entries to the end (median of {replays}; fastest {:.1} ms, slowest {:.1} ms) | {median:.1} ms | {:.0} entries/s |",
        percentile_ms(&times, 0.0),
        percentile_ms(&times, 1.0),
        f64::from(entries) / median * 1e3,
    );
    Ok(())
}

/// Runs the instantiation benchmark: `runs` runs of `shapes` with `{}`,
/// then, when `python` exists, `python_runs` runs of it; prints table rows.
pub(super) async fn instantiate(
    examples: &std::path::Path,
    python: &std::path::Path,
    runs: u32,
    python_runs: u32,
) -> anyhow::Result<()> {
    let executor = detached_executor()?;
    let shapes = prepare(&executor, &examples.join("shapes.wasm")).await?;
    let (times, calls) = time_runs(&executor, &shapes, "{}", runs).await?;
    print_instantiate_row("Rust: shapes `{}`, returns at once", &times, calls);
    if !python.exists() {
        println!(
            "| Python: {} not found (build it with scripts/setup.sh's build_python), skipped | - | - | - |",
            python.display()
        );
        return Ok(());
    }
    let compiling = Instant::now();
    let std_clock = prepare(&executor, python).await?;
    eprintln!("compiled {} in {:.1} s", python.display(), compiling.elapsed().as_secs_f64());
    let (times, calls) = time_runs(&executor, &std_clock, "{}", python_runs).await?;
    print_instantiate_row(
        "Python: std_clock_py (clocks, random, an event, signal `go` ready)",
        &times,
        calls,
    );
    Ok(())
}

/// One table row: what ran, runs, p50 and mean per run, journaled calls
/// per run.
fn print_instantiate_row(what: &str, times: &[Duration], calls: usize) {
    let mean = times.iter().sum::<Duration>().as_secs_f64() * 1e3 / times.len().max(1) as f64;
    println!("| {what} | {} | {:.3} ms | {mean:.3} ms | {calls} |", times.len(), percentile_ms(times, 0.5),);
}

/// Times `runs` runs of `component` with `input`, each with fresh
/// [`BenchHooks`], after one untimed run; each run's time, sorted, and the
/// journaled calls of the last run.
async fn time_runs(
    executor: &Executor,
    component: &Prepared,
    input: &str,
    runs: u32,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::with_capacity(runs as usize);
    let mut calls = 0;
    for n in 0..=runs {
        let hooks = Arc::new(BenchHooks::default());
        let begun = Instant::now();
        let report = run(executor, component, input, Vec::new(), hooks.run_hooks()).await?;
        let elapsed = begun.elapsed();
        completed(&report, "instantiate")?;
        calls = hooks.committed.load(Ordering::Relaxed) + report.entries.len();
        if n > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok((times, calls))
}

/// An executor with no database behind it: a checkpoint policy that never
/// fires keeps every entry in the run's report.
fn detached_executor() -> anyhow::Result<Executor> {
    let config = ExecutorConfig {
        checkpoints: CheckpointPolicy { max_entries: usize::MAX, interval: Duration::MAX },
        ..ExecutorConfig::default()
    };
    Ok(Executor::new(Engine::new(EngineLimits::default(), None)?, config)?)
}

/// Compiles and checks the component at `path`.
async fn prepare(executor: &Executor, path: &std::path::Path) -> anyhow::Result<Prepared> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let digest = ComponentDigest::of(&bytes);
    Ok(executor.prepare(&digest, bytes.into()).await?)
}

/// One run of `component` as workflow `bench` on `input`, replaying
/// `recorded` first.
async fn run(
    executor: &Executor,
    component: &Prepared,
    input: &str,
    recorded: Vec<Entry>,
    hooks: RunHooks,
) -> anyhow::Result<RunReport> {
    Ok(executor.run(component, "bench", input, recorded, Usage::default(), hooks).await?)
}

/// Fails unless `report` says the run completed.
fn completed(report: &RunReport, what: &str) -> anyhow::Result<()> {
    match &report.outcome {
        RunOutcome::Completed(_) => Ok(()),
        outcome => bail!("{what}: the run did not complete: {outcome:?}"),
    }
}

/// The hooks of an in-process run that needs a commit to succeed (an
/// event is committed before `set-event` returns) and a signal to arrive:
/// commits are counted and dropped, and signal `go` (payload `"go"`) is
/// there from the start. Nothing else ever arrives.
#[derive(Default)]
struct BenchHooks {
    /// Entries committed so far.
    committed: AtomicUsize,
}

impl BenchHooks {
    fn run_hooks(self: &Arc<Self>) -> RunHooks {
        RunHooks { checkpointer: self.clone(), inbox: self.clone() }
    }
}

#[async_trait::async_trait]
impl Checkpointer for BenchHooks {
    async fn commit(&self, entries: Vec<Entry>, _: Vec<LogLine>) -> Result<(), CheckpointError> {
        self.committed.fetch_add(entries.len(), Ordering::Relaxed);
        Ok(())
    }

    fn slots_contended(&self) -> bool {
        false
    }

    fn lease_held(&self) -> bool {
        true
    }

    fn waiting(&self, _: Option<Waiting>) {}

    async fn activity(&self, component: &str) -> Result<Prepared, ActivityUnavailable> {
        Err(ActivityUnavailable::Unrunnable(format!("activity {component}: the bench has none")))
    }
}

#[async_trait::async_trait]
impl Inbox for BenchHooks {
    async fn next_signal(&self, name: &str, after: u64) -> Result<Option<InboxSignal>, InboxError> {
        let ready = name == "go" && after < 1;
        Ok(ready.then(|| InboxSignal { arrival: 1, payload: "\"go\"".to_owned(), arrived_at_ns: 0 }))
    }

    async fn child_end(&self, _: &str) -> Result<Option<EndedChild>, InboxError> {
        Ok(None)
    }

    async fn cancel_requested(&self) -> Result<bool, InboxError> {
        Ok(false)
    }

    async fn admit_child(&self, _: &str, _: &str) -> Result<ChildAdmission, InboxError> {
        Ok(ChildAdmission::Refused("the bench starts no children".to_owned()))
    }

    fn arrivals(&self) -> Arc<tokio::sync::Notify> {
        Arc::new(tokio::sync::Notify::new())
    }
}
