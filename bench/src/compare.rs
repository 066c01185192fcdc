//! `duro-bench compare`: duro against DBOS Transact, side by side, from the
//! JSON lines both sides wrote: duro's from `duro-bench e2e --json FILE`,
//! DBOS's from `bench/dbos/run.sh` (one line per run, collected in a file).
//!
//! One row per DBOS line, in its order, matched with duro's single-host
//! rows of the same steps per workflow and in-flight count (the last one of
//! each backend): throughput (workflows per second, and steps per second
//! for workflows of several steps), except for 5-step workflows, the
//! latency workload, which give two rows, p50 and p99 from start to result.
//! The ratio is duro on PostgreSQL over DBOS (on PostgreSQL): above 1 duro
//! is faster in a throughput row, below 1 it is faster in a latency row.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// Steps per workflow of the latency workload.
const LATENCY_STEPS: u64 = 5;

/// Prints the table from the files at `duro` and `dbos`.
pub(super) fn compare(duro: &Path, dbos: &Path) -> anyhow::Result<()> {
    let duro = read_lines(duro)?;
    let dbos = read_lines(dbos)?;
    println!(
        "| workload | in flight | figure | duro, SQLite | duro, PostgreSQL | DBOS, PostgreSQL | duro (PostgreSQL) / DBOS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for theirs in &dbos {
        let (steps, concurrency) = (number(theirs, "steps"), number(theirs, "concurrency"));
        let ours = |backend: &str| {
            duro.iter().rev().find(|line| {
                line["backend"] == backend
                    && line["hosts"] == 1
                    && number(line, "steps") == steps
                    && number(line, "concurrency") == concurrency
            })
        };
        let (sqlite, postgres) = (ours("sqlite"), ours("postgres"));
        let workload = format!("{steps} step{}", if steps == 1 { "" } else { "s" });
        let figures: &[(&str, &str)] = if steps == LATENCY_STEPS {
            &[("p50 start→result", "p50_ms"), ("p99 start→result", "p99_ms")]
        } else {
            &[("throughput", "workflows_per_s")]
        };
        for (figure, key) in figures {
            let cell = |line: Option<&Value>| line.and_then(|line| line[*key].as_f64());
            let show = |value: Option<f64>| {
                value.map_or_else(|| "-".to_owned(), |value| format_figure(key, value, steps))
            };
            let ratio = match (cell(postgres), cell(Some(theirs))) {
                (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}", ours / theirs),
                _ => "-".to_owned(),
            };
            println!(
                "| {workload} | {concurrency} | {figure} | {} | {} | {} | {ratio} |",
                show(cell(sqlite)),
                show(cell(postgres)),
                show(cell(Some(theirs))),
            );
        }
    }
    Ok(())
}

/// `value` of `key` for the table: a latency in ms, or workflows per second
/// with the steps per second when a workflow has several.
fn format_figure(key: &str, value: f64, steps: u64) -> String {
    match key {
        "workflows_per_s" if steps > 1 => format!("{value:.0} /s ({:.0} steps/s)", value * steps as f64),
        "workflows_per_s" => format!("{value:.0} /s"),
        _ => format!("{value:.1} ms"),
    }
}

/// The number at `key` of `line`, 0 if absent.
fn number(line: &Value, key: &str) -> u64 {
    line[key].as_u64().unwrap_or(0)
}

/// The JSON objects of the file at `path`, one per non-empty line.
fn read_lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("{}: not JSON: {line}", path.display()))
        })
        .collect()
}
