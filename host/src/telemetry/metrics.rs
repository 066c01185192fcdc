//! Prometheus metrics, through the `metrics` facade and its Prometheus
//! exporter: the names, their help text, and one function per thing
//! recorded, so that every name is written once, here.
//!
//! Names follow Prometheus's conventions (<https://prometheus.io/docs/practices/naming/>):
//! the `duro_` prefix, base units (`_seconds`, `_bytes`), `_total` on
//! counters. Workflows are labelled by their component's digest, not its
//! name: a name moves to each new push, a digest names the code that ran.
//!
//! Counters and histograms are recorded where things happen. Gauges (and
//! the runtime's own counters, kept as atomics for `/healthz`) are read
//! when `/metrics` is scraped, from a [`Snapshot`], so an idle host does no
//! work for them.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The installed exporter, if `duro serve` installed one.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const WORKFLOWS_STARTED: &str = "duro_workflows_started_total";
const WORKFLOWS_ENDED: &str = "duro_workflows_ended_total";
const WORKFLOWS: &str = "duro_workflows";
const RUN_DURATION: &str = "duro_run_duration_seconds";
const REPLAY_ENTRIES: &str = "duro_run_replayed_entries";
const JOURNAL_APPENDS: &str = "duro_journal_entries_appended_total";
const COMMIT_BATCH: &str = "duro_commit_batch_size";
const COMMIT_TRANSACTIONS: &str = "duro_commit_transactions_total";
const EFFECT_ATTEMPTS: &str = "duro_effect_attempts_total";
const HTTP_REQUESTS: &str = "duro_http_requests_total";
const HTTP_DURATION: &str = "duro_http_request_duration_seconds";
const DB_ACQUIRE: &str = "duro_db_acquire_seconds";
const DB_CONNECTIONS: &str = "duro_db_connections";
const RUNS_IN_FLIGHT: &str = "duro_runs_in_flight";
const RUN_SLOTS: &str = "duro_run_slots";
const INSTANCES: &str = "duro_instances_live";
const BACKING_OFF: &str = "duro_workflows_backing_off";
const COMPILED: &str = "duro_compiled_components";
const COMPILED_BYTES: &str = "duro_compiled_code_bytes";
const COMMITS: &str = "duro_commits_total";
const CHECKPOINTS: &str = "duro_checkpoints_total";
const COMMIT_RETRIES: &str = "duro_commit_retries_total";
const STALE_COMMITS: &str = "duro_commits_stale_total";
const FAILED_COMMITS: &str = "duro_commits_failed_total";
const HOST_RETRIES: &str = "duro_run_host_retries_total";

/// Buckets of the duration histograms, in seconds: 1 ms to 5 min.
const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Buckets of the count histograms (entries replayed, commits per batch).
const COUNT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0];

/// Installs the process's metrics recorder and describes every metric;
/// from then on [`render`] answers. Call once, before the runtime starts.
///
/// # Errors
/// A recorder is installed already, or the buckets are refused.
pub fn install() -> Result<(), String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Full(REPLAY_ENTRIES.into()), COUNT_BUCKETS)
        })
        .and_then(|builder| builder.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH.into()), COUNT_BUCKETS))
        .map_err(|error| format!("cannot set up the metrics: {error}"))?
        .install_recorder()
        .map_err(|error| format!("cannot install the metrics recorder: {error}"))?;
    HANDLE.set(handle).map_err(|_| "the metrics recorder is installed already".to_owned())?;
    describe();
    Ok(())
}

/// The metrics in Prometheus's text exposition format (version 0.0.4), or
/// `None` if [`install`] was not called.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

fn describe() {
    describe_counter!(WORKFLOWS_STARTED, "Workflows created on this host (API starts and child workflows).");
    describe_counter!(
        WORKFLOWS_ENDED,
        "Workflows that reached a final status on this host: completed, failed, stuck, cancelled, terminated."
    );
    describe_gauge!(WORKFLOWS, "Workflows in the database, by status (read at scrape).");
    describe_histogram!(RUN_DURATION, Unit::Seconds, "Duration of a run, from claim to its last commit.");
    describe_histogram!(REPLAY_ENTRIES, "Journal entries a run replayed before running live.");
    describe_counter!(JOURNAL_APPENDS, "Journal entries committed.");
    describe_histogram!(COMMIT_BATCH, "Commits and starts written in one group-commit transaction.");
    describe_counter!(COMMIT_TRANSACTIONS, "Transactions written by the group committer.");
    describe_counter!(
        EFFECT_ATTEMPTS,
        "Attempts of effects run live, by kind (http, activity) and outcome (ok, retry, failed)."
    );
    describe_counter!(HTTP_REQUESTS, "API requests answered, by method, route and status.");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to answer an API request, by method and route.");
    describe_histogram!(
        DB_ACQUIRE,
        Unit::Seconds,
        "Wait for a connection of the write pool, per transaction."
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database connections, by pool (read, write, lease) and state (idle, busy)."
    );
    describe_gauge!(RUNS_IN_FLIGHT, "Runs in flight on this host.");
    describe_gauge!(RUN_SLOTS, "Runs this host may have in flight at once.");
    describe_gauge!(INSTANCES, "Workflow and activity instances alive (pooling allocator slots in use).");
    describe_gauge!(BACKING_OFF, "Workflows waiting out a backoff after a host-side failure.");
    describe_gauge!(COMPILED, "Components compiled and cached in memory.");
    describe_gauge!(COMPILED_BYTES, Unit::Bytes, "Bytes of compiled code cached in memory.");
    describe_counter!(COMMITS, "Commits applied: checkpoints and run ends.");
    describe_counter!(CHECKPOINTS, "Checkpoints committed by runs in progress.");
    describe_counter!(COMMIT_RETRIES, "Commits retried after the database was unavailable.");
    describe_counter!(STALE_COMMITS, "Commits rejected because their run was stale.");
    describe_counter!(FAILED_COMMITS, "Commits the database refused for good.");
    describe_counter!(HOST_RETRIES, "Runs stopped for a host-side reason and retried after a backoff.");
}

/// A workflow of component `component` (a digest) was created.
pub fn workflow_started(component: &str) {
    counter!(WORKFLOWS_STARTED, "component" => component.to_owned()).increment(1);
}

/// A workflow of `component` reached final status `status`.
pub fn workflow_ended(component: &str, status: &'static str) {
    counter!(WORKFLOWS_ENDED, "component" => component.to_owned(), "status" => status).increment(1);
}

/// A run loaded `replayed` journal entries to replay.
pub fn run_loaded(replayed: usize) {
    histogram!(REPLAY_ENTRIES).record(replayed as f64);
}

/// A run took `duration`, from its start on this host to its last commit.
pub fn run_finished(duration: Duration) {
    histogram!(RUN_DURATION).record(duration.as_secs_f64());
}

/// The group committer wrote one transaction holding `requests` commits and
/// starts, with `entries` journal entries.
pub fn group_commit(requests: usize, entries: usize) {
    counter!(COMMIT_TRANSACTIONS).increment(1);
    histogram!(COMMIT_BATCH).record(requests as f64);
    counter!(JOURNAL_APPENDS).increment(entries as u64);
}

/// How a live attempt of an effect ended.
#[derive(Debug, Clone, Copy)]
pub enum AttemptOutcome {
    /// It got a result (for HTTP: a response, whatever its status) and
    /// no retry follows.
    Ok,
    /// The retry policy asks for another attempt.
    Retry,
    /// It got an error (for HTTP: no response) and no retry follows.
    Failed,
}

impl AttemptOutcome {
    /// The outcome of an attempt that `failed` or not, after which the
    /// effect is `retrying` or not.
    pub fn new(failed: bool, retrying: bool) -> Self {
        match (failed, retrying) {
            (_, true) => Self::Retry,
            (true, false) => Self::Failed,
            (false, false) => Self::Ok,
        }
    }
}

/// A live attempt of an effect of `kind` (`http`, `activity`) ended so.
pub fn effect_attempt(kind: &'static str, outcome: AttemptOutcome) {
    let outcome = match outcome {
        AttemptOutcome::Ok => "ok",
        AttemptOutcome::Retry => "retry",
        AttemptOutcome::Failed => "failed",
    };
    counter!(EFFECT_ATTEMPTS, "kind" => kind, "outcome" => outcome).increment(1);
}

/// The API answered `method route` (the route's pattern, e.g.
/// `/v1/workflows/{id}`) with `status` after `elapsed`.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let (method, route) = (method.to_owned(), route.to_owned());
    counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(elapsed.as_secs_f64());
}

/// A transaction waited `waited` for a connection of the write pool.
pub fn db_acquired(waited: Duration) {
    histogram!(DB_ACQUIRE).record(waited.as_secs_f64());
}

/// One connection pool's connections now.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    /// `read`, `write` or `lease`.
    pub pool: &'static str,
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
}

/// What the gauges show, read at scrape time; the counters are the
/// runtime's own, since the process started.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Workflows in the database by status name.
    pub workflows: Vec<(&'static str, u64)>,
    /// The connection pools.
    pub pools: Vec<PoolUse>,
    /// Runs this host may have in flight at once.
    pub run_slots: usize,
    /// Runs in flight now.
    pub runs_in_flight: usize,
    /// Instances alive now.
    pub live_instances: usize,
    /// Workflows waiting out a backoff now.
    pub backing_off: usize,
    /// Components compiled and cached now.
    pub compiled_components: usize,
    /// Bytes of compiled code cached now.
    pub compiled_bytes: usize,
    /// Commits applied.
    pub commits: u64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// Commits retried after the database was unavailable.
    pub commit_retries: u64,
    /// Stale commits rejected.
    pub stale_commits: u64,
    /// Commits refused for good.
    pub failed_commits: u64,
    /// Runs retried after a host-side failure.
    pub host_retries: u64,
}

/// Sets the gauges, and the counters the runtime keeps itself, to `snapshot`.
pub fn observe(snapshot: &Snapshot) {
    for (status, count) in &snapshot.workflows {
        gauge!(WORKFLOWS, "status" => *status).set(*count as f64);
    }
    for pool in &snapshot.pools {
        gauge!(DB_CONNECTIONS, "pool" => pool.pool, "state" => "idle").set(f64::from(pool.idle));
        gauge!(DB_CONNECTIONS, "pool" => pool.pool, "state" => "busy")
            .set(f64::from(pool.open.saturating_sub(pool.idle)));
    }
    gauge!(RUNS_IN_FLIGHT).set(snapshot.runs_in_flight as f64);
    gauge!(RUN_SLOTS).set(snapshot.run_slots as f64);
    gauge!(INSTANCES).set(snapshot.live_instances as f64);
    gauge!(BACKING_OFF).set(snapshot.backing_off as f64);
    gauge!(COMPILED).set(snapshot.compiled_components as f64);
    gauge!(COMPILED_BYTES).set(snapshot.compiled_bytes as f64);
    counter!(COMMITS).absolute(snapshot.commits);
    counter!(CHECKPOINTS).absolute(snapshot.checkpoints);
    counter!(COMMIT_RETRIES).absolute(snapshot.commit_retries);
    counter!(STALE_COMMITS).absolute(snapshot.stale_commits);
    counter!(FAILED_COMMITS).absolute(snapshot.failed_commits);
    counter!(HOST_RETRIES).absolute(snapshot.host_retries);
}
