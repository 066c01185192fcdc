//! Hostile guests cannot hurt the host, their neighbours or their own
//! durability: each attack ends in a final status with a clear error (or a
//! capped log) while a neighbour completes, the host's memory stays bounded,
//! and long or slow workflows are neither failed by their replay nor lose
//! more than a checkpoint's worth of progress to `kill -9`.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::{Database, Server};
use serde_json::{Value, json};

/// The bound this test states for the host's peak resident memory while
/// every attack below runs at once (journal budget 64 MiB, 8 MiB writes,
/// 1 MiB random requests): about 4 × the largest budget.
const PEAK_RSS_BOUND_BYTES: u64 = 512 << 20;

on_sqlite_and_postgres!(
    hostile_guests_end_with_clear_errors_while_neighbours_complete,
    replay_is_not_charged_to_the_cpu_limit,
    replay_over_its_budget_is_retried_not_failed,
    inline_sleep_loop_resumes_from_its_last_checkpoint_after_sigkill,
);

async fn final_result(server: &Server, id: &str) -> Value {
    let result = server.result(id, 120).await;
    assert!(result["status"] == "failed" || result["status"] == "completed", "{id}: {result}");
    result
}

async fn failed_with(server: &Server, id: &str) -> String {
    let result = final_result(server, id).await;
    assert_eq!(result["status"], "failed", "{id}: {result}");
    result["error"].as_str().unwrap().to_owned()
}

async fn hostile_guests_end_with_clear_errors_while_neighbours_complete(database: Database) {
    let server = Server::start_with(&database, &["--cpu-limit-ms", "3000", "--max-log-mib", "4"]).await;
    server.push_example("hostile").await;
    server.push_example("hello").await;
    let attacks = [
        ("raw-write", json!({ "raw_newline_write": { "bytes": 8 << 20 } })),
        ("std-write", json!({ "std_newline_write": { "bytes": 1 << 20 } })),
        ("random", json!({ "random_requests": { "count": 3000, "bytes": 1 << 20 } })),
        ("handles", json!({ "handle_flood": { "count": 100_000 } })),
        // Bursts of about 1 ms (2 million loop iterations), each between two
        // 1 ms timers: 8,000 bursts are 4 to 8 s of CPU.
        (
            "bursts",
            json!({ "sleep_bursts": { "bursts": 8000, "spin_iterations": 2_000_000, "sleep_ms": 1 } }),
        ),
        // 2 MB of log per activation, three activations, a 4 MiB budget.
        (
            "log-flood",
            json!({ "log_flood": { "activations": 3, "lines": 2000, "line_bytes": 1000, "sleep_ms": 1500 } }),
        ),
    ];
    for (id, input) in &attacks {
        server.start_workflow("hostile", id, input.clone()).await;
        let neighbour = format!("neighbour-of-{id}");
        server.start_workflow("hello", &neighbour, json!({ "name": id })).await;
    }
    for (id, _) in &attacks {
        let neighbour = format!("neighbour-of-{id}");
        let result = server.result(&neighbour, 60).await;
        assert_eq!(result["status"], "completed", "{neighbour}: {result}");
    }

    let error = failed_with(&server, "raw-write").await;
    assert!(
        error.starts_with("the workflow wrote 8388608 bytes to stdout at once; check-write permits 65536"),
        "{error}"
    );

    // A million empty lines: the first 10,000 are kept, the rest counted.
    let result = final_result(&server, "std-write").await;
    assert_eq!(result["status"], "completed", "{result}");
    let (_, logs) = server.get("/v1/workflows/std-write/logs?limit=10000&after=9990").await;
    let last = logs["lines"].as_array().unwrap().last().unwrap()["message"].as_str().unwrap().to_owned();
    assert!(
        last.starts_with("1038576 more log lines (0 bytes) dropped: a run keeps at most 10000 lines"),
        "{last}"
    );

    let error = failed_with(&server, "random").await;
    assert!(
        error.starts_with("the journal is full: wasi:random get-random-bytes(len: 1048576) would take it to"),
        "{error}"
    );
    assert!(error.contains("would take it to 6710"), "{error}");
    assert!(error.contains("bytes; a workflow may record at most 67108864 bytes"), "{error}");
    // The journal endpoint pages by bytes: about 4 MiB of 1 MiB entries.
    let (_, page) = server.get("/v1/workflows/random/journal").await;
    let entries = page["entries"].as_array().unwrap();
    assert!((1..=5).contains(&entries.len()), "{} entries in one page", entries.len());
    let last_seq = entries.last().unwrap()["seq"].as_u64().unwrap();
    let (_, next) = server.get(&format!("/v1/workflows/random/journal?after={last_seq}")).await;
    assert_eq!(next["entries"][0]["seq"], last_seq + 1);

    let error = failed_with(&server, "handles").await;
    assert!(error.starts_with("the workflow holds more than 1024 host resources"), "{error}");

    let error = failed_with(&server, "bursts").await;
    assert!(error.starts_with("the workflow used more than 3s of CPU time in one activation"), "{error}");

    let result = final_result(&server, "log-flood").await;
    assert_eq!(result["status"], "completed", "{result}");
    let mut lines = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = server.get(&format!("/v1/workflows/log-flood/logs?after={after}&limit=10000")).await;
        let page = page["lines"].as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["cursor"].as_i64().unwrap();
        lines.extend(page);
    }
    let stored: usize = lines.iter().map(|line| line["message"].as_str().unwrap().len()).sum();
    assert!(stored <= (4 << 20) + 1000, "{stored} log bytes stored");
    assert!(lines.len() > 4000 && lines.len() < 6000, "{} lines", lines.len());
    let last = lines.last().unwrap()["message"].as_str().unwrap();
    assert!(
        last.contains("more log lines") && last.ends_with("a workflow at most 4194304 bytes of log"),
        "{last}"
    );

    let peak = server.peak_rss_bytes();
    eprintln!("peak resident memory of duro serve: {} MiB", peak >> 20);
    assert!(peak < PEAK_RSS_BOUND_BYTES, "peak resident memory {} MiB", peak >> 20);
}

/// 2,000 steps of about 1 ms each, suspending every 200 steps: each live
/// activation uses about 200 ms of CPU, under the 1 s limit, while the last
/// replays take longer than the limit.
async fn replay_is_not_charged_to_the_cpu_limit(database: Database) {
    let server =
        Server::start_with(&database, &["--cpu-limit-ms", "1000", "--inline-sleep-max-ms", "100"]).await;
    server.push_example("hostile").await;
    let input = json!({ "steps": { "count": 2000, "work_iterations": 2_000_000, "sleep_every": 200, "sleep_ms": 150 } });
    server.start_workflow("hostile", "long", input).await;
    let result = server.result("long", 120).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["output"][0], 2000);
    let mut kinds = Vec::new();
    let mut after = -1;
    loop {
        let (_, page) = server.get(&format!("/v1/workflows/long/journal?after={after}&limit=10000")).await;
        let page = page["entries"].as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["seq"].as_i64().unwrap();
        kinds.extend(page.iter().map(|entry| entry["kind"].as_str().unwrap().to_owned()));
    }
    assert_eq!(kinds.iter().filter(|kind| *kind == "now").count(), 2000);
    assert_eq!(kinds.iter().filter(|kind| *kind == "sleep").count(), 10);
}

/// A replay over its CPU budget (an operator lowered it) leaves the workflow
/// running with the reason in its error, and it completes once the budget
/// allows.
async fn replay_over_its_budget_is_retried_not_failed(database: Database) {
    let mut server = Server::start_with(&database, &["--inline-sleep-max-ms", "100"]).await;
    server.push_example("hostile").await;
    let input = json!({ "steps": { "count": 400, "work_iterations": 2_000_000, "sleep_every": 200, "sleep_ms": 2000 } });
    server.start_workflow("hostile", "replayed", input).await;
    server.wait_for("replayed", "asleep after 200 steps", |w| w["status"] == "sleeping").await;
    server.crash_and_restart_with(&["--inline-sleep-max-ms", "100", "--replay-cpu-limit-ms", "20"]).await;
    let workflow = server
        .wait_for("replayed", "a noted retry", |w| {
            w["error"]
                .as_str()
                .is_some_and(|error| error.contains("replaying the journal used more than 20ms"))
        })
        .await;
    assert_eq!(workflow["status"], "running", "{workflow}");
    assert!(workflow["error"].as_str().unwrap().starts_with("retrying in "), "{workflow}");
    server.crash_and_restart_with(&["--inline-sleep-max-ms", "100"]).await;
    let result = server.result("replayed", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["error"], Value::Null, "{result}");
}

/// A workflow that only waits in memory checkpoints every 300 ms: its
/// progress is visible while it runs, and a `kill -9` loses at most that.
async fn inline_sleep_loop_resumes_from_its_last_checkpoint_after_sigkill(database: Database) {
    let mut server = Server::start_with(&database, &["--checkpoint-interval-ms", "300"]).await;
    server.push_example("hostile").await;
    server
        .start_workflow("hostile", "ticker", json!({ "inline_sleeps": { "count": 100, "sleep_ms": 40 } }))
        .await;
    // Progress is committed while the run is still in its first activation.
    let before = loop {
        let journal = server.journal("ticker").await;
        if journal.len() >= 20 {
            break journal;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, workflow) = server.get("/v1/workflows/ticker").await;
    assert_eq!(workflow["status"], "running", "{workflow}");
    server.crash_and_restart().await;
    let result = server.result("ticker", 60).await;
    assert_eq!(result["status"], "completed", "{result}");
    let after = server.journal("ticker").await;
    assert_eq!(after.len(), 100);
    assert_eq!(after[..before.len()], before[..], "entries committed before the crash are kept as they were");
    let ticks: Vec<String> = server
        .logs("ticker")
        .await
        .iter()
        .filter(|line| line["stream"] == "stdout")
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("tick {i}")).collect();
    assert_eq!(ticks, expected, "each line once, in order");
}
