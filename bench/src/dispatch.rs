//! `dispatch`: what the scheduler's reads cost, and how much memory a server
//! holds, with a large store.
//!
//! For each backend, a fresh database (a SQLite file in a temp dir; on
//! PostgreSQL a database of its own, dropped afterwards) is opened with
//! `duro_host::store::connect` (which migrates), given `hello` through
//! `Store::put_component`, and filled with plain SQL, one `INSERT … SELECT`
//! per status over a recursive CTE (SQLite) or `generate_series`
//! (PostgreSQL): of 100,000 workflows, 90,000 `completed`, 9,000 `sleeping`
//! with timers spread over the next hour, 500 `sleeping` and already due,
//! 500 `running`, in that ordinal order. Then:
//!
//! 1. Timed through the `Store` trait, after a few untimed calls, each
//!    `--calls` times one after the other: `Store::next_due_at_ms`, and
//!    `Store::list_workflows` pages of 50
//!    by status and by component. Mean and p99 of the wall time per call.
//! 2. The plans of the scheduler's two queries and of the two listings,
//!    their SQL copied from `host/src/store/sql.rs` with the parameters
//!    inlined: `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL, where
//!    the generic plan (`plan_cache_mode = force_generic_plan`), which the
//!    host's prepared statements may switch to, is shown as well. A plan that
//!    does not name the index the query is meant to use is flagged.
//! 3. A real `duro serve` on the database recovers it: the 500 running and
//!    the 500 due workflows run `hello` to completion. Once `GET
//!    /v1/workflows?status=running` is empty and no workflow due at seeding
//!    time is still asleep, VmRSS and VmHWM of the server process are read
//!    from `/proc/<pid>/status`.
//!
//! PostgreSQL gets an `ANALYZE workflows` after seeding, as autovacuum would
//! soon after a bulk insert; SQLite is left as duro leaves it (no
//! `ANALYZE`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use duro_host::clock;
use duro_host::ids::ComponentDigest;
use duro_host::store::{self, ComponentKind, WorkflowFilter, WorkflowStatus};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Row};

use super::start_server;

/// The scheduler's claim limit: at most 100 a statement.
const DUE_LIMIT: u32 = 100;
/// Page size of the timed listings.
const PAGE: u32 = 50;
/// Untimed calls before the timed ones.
const WARM_UP_CALLS: u32 = 10;
/// Longest wait for the server to recover the store.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(300);

/// The read part of `Store::claim_due`, the due-time end of
/// `Store::next_due_at_ms`, and `Store::list_workflows` by status and by
/// component, as in `host/src/store/sql.rs`.
const DUE_SQL: &str = "SELECT id FROM workflows WHERE due_at_ms <= $1 ORDER BY due_at_ms LIMIT $2";
const NEXT_DUE_SQL: &str = "SELECT MIN(due_at_ms) AS due_at_ms FROM workflows WHERE due_at_ms IS NOT NULL";
const LIST_BY_STATUS_SQL: &str = "SELECT ordinal, id, component, status, input, output, error, wake_at_ms, \
    created_at_ms, updated_at_ms, next_seq, revision, log_bytes FROM workflows WHERE status = $1 \
    ORDER BY ordinal DESC LIMIT $2";
const LIST_BY_COMPONENT_SQL: &str = "SELECT ordinal, id, component, status, input, output, error, wake_at_ms, \
    created_at_ms, updated_at_ms, next_seq, revision, log_bytes FROM workflows WHERE component = $1 \
    ORDER BY ordinal DESC LIMIT $2";

/// Input of every seeded workflow, and output of the completed ones.
const INPUT: &str = r#"{"name":"Ada"}"#;
const OUTPUT: &str = r#"{"greeting":"Hello, Ada!","at_ns":0}"#;

/// Runs the benchmark on SQLite and, given a server URL, on PostgreSQL, and
/// prints the plans, then a table of query times and one of memory.
pub(super) async fn dispatch(
    examples: &Path,
    duro: &Path,
    postgres: Option<&str>,
    workflows: u32,
    calls: u32,
) -> anyhow::Result<()> {
    if calls == 0 {
        bail!("--calls must be at least 1");
    }
    let hello_path = examples.join("hello.wasm");
    let hello =
        std::fs::read(&hello_path).with_context(|| format!("cannot read {}", hello_path.display()))?;
    let mix = Mix::of(workflows);
    println!(
        "store: {} workflows: {} completed, {} sleeping over the next hour, {} sleeping and due, {} running",
        workflows, mix.completed, mix.sleeping, mix.due, mix.running
    );
    let mut results = Vec::new();

    let dir = TempDir::create()?;
    let url = format!("sqlite://{}", dir.0.join("dispatch.db").display());
    results.push(run(Dialect::Sqlite, &url, &hello, duro, mix, calls).await?);

    if let Some(server) = postgres {
        sqlx::any::install_default_drivers();
        let admin = AnyPoolOptions::new()
            .max_connections(1)
            .connect(server)
            .await
            .context("cannot connect to the PostgreSQL server")?;
        let name = format!("duro_bench_dispatch_{}", std::process::id());
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let result = match with_database(server, &name) {
            Ok(url) => run(Dialect::Postgres, &url, &hello, duro, mix, calls).await,
            Err(error) => Err(error),
        };
        // Dropped also when the run failed; its connections are gone by now
        // (WITH (FORCE) covers any the pools have not closed yet).
        let dropped = sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await;
        results.push(result?);
        dropped.with_context(|| format!("cannot drop database {name}"))?;
    }

    println!();
    println!("| backend | query | rows | mean | p99 |");
    println!("| --- | --- | --- | --- | --- |");
    for result in &results {
        for timing in &result.timings {
            println!(
                "| {} | {} | {} | {:.3} ms | {:.3} ms |",
                result.backend, timing.query, timing.rows, timing.mean_ms, timing.p99_ms
            );
        }
    }
    println!();
    println!("| backend | workflows | runs to recover | spawn → recovered | VmRSS | VmHWM |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for result in &results {
        let memory = &result.memory;
        println!(
            "| {} | {} | {} | {:.1} s | {:.1} MiB | {:.1} MiB |",
            result.backend,
            workflows,
            memory.runs,
            memory.recovery.as_secs_f64(),
            memory.rss_mib,
            memory.hwm_mib
        );
    }
    Ok(())
}

/// The two SQL flavours the seeding and the plans need.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// How many workflows of each kind are seeded, in this (ordinal) order.
#[derive(Clone, Copy)]
struct Mix {
    completed: u32,
    sleeping: u32,
    due: u32,
    running: u32,
}

impl Mix {
    /// 90% completed, 9% sleeping, 0.5% due, 0.5% running (the rest of
    /// rounding goes to completed).
    fn of(total: u32) -> Self {
        let sleeping = u32::try_from(u64::from(total) * 9 / 100).unwrap_or(u32::MAX);
        let (due, running) = (total / 200, total / 200);
        Self { completed: total - sleeping - due - running, sleeping, due, running }
    }
}

/// What one backend measured.
struct Outcome {
    backend: String,
    timings: Vec<Timing>,
    memory: Memory,
}

/// Mean and p99 of one query.
struct Timing {
    query: &'static str,
    rows: String,
    mean_ms: f64,
    p99_ms: f64,
}

/// The server after recovering the store.
struct Memory {
    /// Workflows that completed while the server ran.
    runs: i64,
    /// From spawning the server until it had recovered the store.
    recovery: Duration,
    rss_mib: f64,
    hwm_mib: f64,
}

/// Seeds a fresh store at `url`, times its reads, prints its plans and
/// measures a server recovering it.
async fn run(
    dialect: Dialect,
    url: &str,
    hello: &[u8],
    duro: &Path,
    mix: Mix,
    calls: u32,
) -> anyhow::Result<Outcome> {
    let store = store::connect(url).await.context("cannot open the store")?;
    let digest = ComponentDigest::of(hello);
    store
        .put_component(&digest, ComponentKind::Workflow, Some("hello"), hello)
        .await
        .context("cannot store hello")?;
    // The store's pools are its own; this one runs the seeding, the plans and
    // the progress checks.
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.context("cannot connect")?;
    let backend = match dialect {
        Dialect::Sqlite => {
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await
                .context("PRAGMA journal_mode")?;
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&pool)
                .await
                .context("PRAGMA synchronous")?;
            let synchronous = match synchronous {
                0 => "OFF",
                1 => "NORMAL",
                2 => "FULL",
                _ => "EXTRA",
            };
            format!("sqlite ({journal}, synchronous={synchronous})")
        }
        Dialect::Postgres => {
            let fsync: String =
                sqlx::query_scalar("SHOW fsync").fetch_one(&pool).await.context("SHOW fsync")?;
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&pool)
                .await
                .context("SHOW server_version")?;
            let version = version.split_whitespace().next().unwrap_or("?").to_owned();
            format!("postgres {version} (fsync {fsync})")
        }
    };

    let now_ms = clock::now_ms();
    let seeding = Instant::now();
    seed(dialect, &pool, digest.as_str(), mix, now_ms).await.context("cannot seed workflows")?;
    if dialect == Dialect::Postgres {
        sqlx::raw_sql("ANALYZE workflows").execute(&pool).await.context("ANALYZE")?;
    }
    println!("\n{backend}: seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let by_status =
        WorkflowFilter { status: Some(WorkflowStatus::Completed), limit: PAGE, ..Default::default() };
    let by_component = WorkflowFilter { component: Some(digest.clone()), limit: PAGE, ..Default::default() };
    let (store_ref, by_status, by_component) = (&*store, &by_status, &by_component);
    let timings = vec![
        time("next_due_at_ms()", calls, || async move {
            let next = store_ref.next_due_at_ms().await?;
            Ok(if next.is_some() { "1" } else { "0" }.to_owned())
        })
        .await?,
        time("list_workflows(status = completed, 50)", calls, || async move {
            Ok(store_ref.list_workflows(by_status).await?.len().to_string())
        })
        .await?,
        time("list_workflows(component = hello, 50)", calls, || async move {
            Ok(store_ref.list_workflows(by_component).await?.len().to_string())
        })
        .await?,
    ];
    // The store's pools go before the server opens its own.
    drop(store);

    print_plans(dialect, &backend, &pool, digest.as_str(), clock::now_ms()).await?;
    let memory = recover(duro, url, &pool, now_ms).await?;
    pool.close().await;
    Ok(Outcome { backend, timings, memory })
}

/// Inserts the workflows of `mix`, ids `bench-000000` on, one statement per
/// status. Timers are relative to `now_ms`: the sleeping ones wake over the
/// next hour, the due ones woke in the last minute.
async fn seed(
    dialect: Dialect,
    pool: &AnyPool,
    component: &str,
    mix: Mix,
    now_ms: i64,
) -> anyhow::Result<()> {
    let total =
        i64::from(mix.completed) + i64::from(mix.sleeping) + i64::from(mix.due) + i64::from(mix.running);
    let groups = [
        ("completed", mix.completed, Some(OUTPUT), None),
        (
            "sleeping",
            mix.sleeping,
            None,
            Some(format!("{now_ms} + (i - {{first}} + 1) * 3600000 / {{count}}")),
        ),
        ("sleeping", mix.due, None, Some(format!("{now_ms} - (i - {{first}} + 1) * 60000 / {{count}}"))),
        // Running and unowned: what a dead host's reclaim leaves, due now.
        ("running", mix.running, None, Some(format!("{now_ms}"))),
    ];
    let mut first = 0_i64;
    for (status, count, output, wake) in groups {
        let count = i64::from(count);
        if count == 0 {
            continue;
        }
        let last = first + count - 1;
        let wake = wake.map_or_else(
            || "NULL".to_owned(),
            |wake| wake.replace("{first}", &first.to_string()).replace("{count}", &count.to_string()),
        );
        // Created a second apart, the oldest first.
        let created = format!("{now_ms} - ({total} - i) * 1000");
        let columns =
            "id, component, input, status, output, wake_at_ms, due_at_ms, created_at_ms, updated_at_ms";
        let sql = match dialect {
            Dialect::Sqlite => format!(
                "WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last})
                 INSERT INTO workflows ({columns})
                 SELECT printf('bench-%06d', i), $1, $2, $3, $4, {wake}, {wake}, {created}, {created} FROM n"
            ),
            Dialect::Postgres => format!(
                "INSERT INTO workflows ({columns})
                 SELECT 'bench-' || lpad(i::text, greatest(6, length(i::text)), '0'), $1, $2, $3, $4,
                        {wake}, {wake}, {created}, {created}
                 FROM generate_series({first}::bigint, {last}::bigint) AS s(i)"
            ),
        };
        let inserted = sqlx::query(&sql)
            .bind(component)
            .bind(INPUT)
            .bind(status)
            .bind(output)
            .execute(pool)
            .await
            .with_context(|| format!("cannot insert the {status} workflows"))?
            .rows_affected();
        if inserted != count as u64 {
            bail!("inserted {inserted} {status} workflows, expected {count}");
        }
        first = last + 1;
    }
    Ok(())
}

/// Calls `call` [`WARM_UP_CALLS`] times untimed, then `calls` times timed;
/// `call` returns the rows it got, for the table.
async fn time<F, Fut>(query: &'static str, calls: u32, mut call: F) -> anyhow::Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    for _ in 0..WARM_UP_CALLS {
        call().await.with_context(|| query.to_owned())?;
    }
    let mut times = Vec::with_capacity(calls as usize);
    let mut rows = String::new();
    for _ in 0..calls {
        let started = Instant::now();
        rows = call().await.with_context(|| query.to_owned())?;
        times.push(started.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / calls;
    let p99 = times[((times.len() - 1) as f64 * 0.99) as usize];
    Ok(Timing { query, rows, mean_ms: mean.as_secs_f64() * 1e3, p99_ms: p99.as_secs_f64() * 1e3 })
}

/// Prints the plans of the scheduler's queries and of the two listings,
/// each flagged if it does not name the index it should use: with the
/// parameters inlined (SQLite, and PostgreSQL's custom plan) and, on
/// PostgreSQL, the generic plan that a prepared statement may switch to after
/// five executions (the host's statements are prepared).
async fn print_plans(
    dialect: Dialect,
    backend: &str,
    pool: &AnyPool,
    component: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (now, due_limit, page) = (now_ms.to_string(), DUE_LIMIT.to_string(), PAGE.to_string());
    let component = format!("'{component}'");
    let queries: [(&str, &str, Vec<&str>, &str); 4] = [
        ("due to claim", DUE_SQL, vec![&now, &due_limit], "workflows_due"),
        ("next due", NEXT_DUE_SQL, vec![], "workflows_due"),
        ("list by status", LIST_BY_STATUS_SQL, vec!["'completed'", &page], "workflows_by_status_ordinal"),
        ("list by component", LIST_BY_COMPONENT_SQL, vec![&component, &page], "workflows_by_component"),
    ];
    let explain = match dialect {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN",
        Dialect::Postgres => "EXPLAIN",
    };
    println!("\n{backend}, {explain}:\n```");
    let mut conn = pool.acquire().await.context("cannot connect")?;
    for (name, sql, params, index) in queries {
        // `$n` replaced by the n-th literal, the highest n first (`$1` is a
        // prefix of `$10`).
        let inlined = params
            .iter()
            .enumerate()
            .rev()
            .fold(sql.to_owned(), |sql, (n, literal)| sql.replace(&format!("${}", n + 1), literal));
        let rows = sqlx::raw_sql(&format!("{explain} {inlined}"))
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("cannot explain {inlined}"))?;
        let column = if dialect == Dialect::Sqlite { 3 } else { 0 };
        let plan = rows
            .iter()
            .map(|row| row.try_get::<String, _>(column))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot read a plan")?;
        println!("{name}: {inlined}");
        print_plan(&plan, index);
        if dialect == Dialect::Postgres {
            let generic = generic_plan(&mut conn, sql, &params).await?;
            println!("  generic plan:");
            print_plan(&generic, index);
        }
    }
    println!("```");
    Ok(())
}

/// PostgreSQL's generic plan of `sql`, its `$n` parameters typed by context
/// and `params` passed to `EXPLAIN EXECUTE`.
async fn generic_plan(conn: &mut AnyConnection, sql: &str, params: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut tx = conn.begin().await.context("BEGIN")?;
    sqlx::raw_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        .execute(&mut *tx)
        .await
        .context("SET plan_cache_mode")?;
    sqlx::raw_sql(&format!("PREPARE duro_bench_plan AS {sql}"))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot prepare {sql}"))?;
    // `EXECUTE name()` with no arguments is a syntax error.
    let arguments = if params.is_empty() { String::new() } else { format!("({})", params.join(", ")) };
    let rows = sqlx::raw_sql(&format!("EXPLAIN EXECUTE duro_bench_plan{arguments}"))
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("cannot explain the generic plan of {sql}"))?;
    let plan = rows
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot read a plan")?;
    // Prepared statements outlive transactions.
    sqlx::raw_sql("DEALLOCATE duro_bench_plan").execute(&mut *tx).await.context("DEALLOCATE")?;
    tx.rollback().await.context("ROLLBACK")?;
    Ok(plan)
}

/// Prints `plan` indented, and a warning if it does not name `index` (as a
/// whole name: `workflows_by_status` is a prefix of another index's).
fn print_plan(plan: &[String], index: &str) {
    for line in plan {
        println!("    {line}");
    }
    let text = plan.join("\n") + "\n";
    if ![" ", "\n", ")"].iter().any(|end| text.contains(&format!("{index}{end}"))) {
        println!("    !! does not use {index}");
    }
}

/// Starts `duro serve` on the seeded database, waits until it has run every
/// workflow that was running or due at seeding time (`seeded_at_ms`), and
/// reads its memory.
async fn recover(duro: &Path, url: &str, pool: &AnyPool, seeded_at_ms: i64) -> anyhow::Result<Memory> {
    let completed = |pool: &AnyPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM workflows WHERE status = 'completed'")
                .fetch_one(&pool)
                .await
                .context("cannot count completed workflows")
        }
    };
    let before = completed(pool).await?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let (server, base) = start_server(duro, url, &[], &http).await?;
    loop {
        let page: serde_json::Value = http
            .get(format!("{base}/v1/workflows?status=running&limit=1"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("cannot list running workflows")?
            .json()
            .await
            .context("cannot read the running workflows")?;
        let running = page["workflows"].as_array().map_or(0, Vec::len);
        if running == 0 {
            let asleep: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM workflows WHERE status = 'sleeping' AND wake_at_ms <= {seeded_at_ms}"
            ))
            .fetch_one(pool)
            .await
            .context("cannot count due workflows")?;
            if asleep == 0 {
                break;
            }
        }
        if started.elapsed() > RECOVERY_TIMEOUT {
            bail!("the server did not recover the store in {RECOVERY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovery = started.elapsed();
    let unfinished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workflows WHERE status IN ('failed', 'stuck')")
            .fetch_one(pool)
            .await
            .context("cannot count failed workflows")?;
    if unfinished > 0 {
        bail!("{unfinished} workflows failed or got stuck while recovering");
    }
    let status_path = PathBuf::from(format!("/proc/{}/status", server.0.id()));
    let status = std::fs::read_to_string(&status_path)
        .with_context(|| format!("cannot read {}", status_path.display()))?;
    let kib = |field: &str| -> anyhow::Result<f64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
            .with_context(|| format!("no {field} in {}", status_path.display()))
    };
    let (rss, hwm) = (kib("VmRSS:")?, kib("VmHWM:")?);
    drop(server);
    let runs = completed(pool).await? - before;
    Ok(Memory { runs, recovery, rss_mib: rss / 1024.0, hwm_mib: hwm / 1024.0 })
}

/// `server` (a PostgreSQL URL) with its database replaced by `database`.
fn with_database(server: &str, database: &str) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(server).context("invalid PostgreSQL URL")?;
    url.set_path(&format!("/{database}"));
    Ok(url.into())
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("duro-bench-dispatch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
