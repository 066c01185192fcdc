//! Replay equality on real components, through the executor directly: a run
//! replayed from its journal, whole or cut at any seq, gives the output the
//! journal dictates, and re-records nothing it already holds.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use duro_host::engine::{Engine, EngineLimits};

use duro_host::executor::{
    CheckpointPolicy, Executor, ExecutorConfig, Prepared, RunHooks, RunOutcome, RunReport,
};
use duro_host::ids::ComponentDigest;
use duro_host::journal::{Call, Entry, Outcome, Usage};
use serde_json::Value;

async fn prepared(names: &[&str]) -> (Executor, Vec<Prepared>) {
    // No database here: the whole journal stays in the report.
    let config = ExecutorConfig {
        inline_sleep_max: Duration::from_secs(5),
        checkpoints: CheckpointPolicy { max_entries: usize::MAX, interval: Duration::MAX },
        ..ExecutorConfig::default()
    };
    let executor = Executor::new(Engine::new(EngineLimits::default(), None).unwrap(), config).unwrap();
    let mut digests = Vec::new();
    for name in names {
        let bytes = common::example(name);
        let digest = ComponentDigest::of(&bytes);
        digests.push(executor.prepare(&digest, bytes.into()).await.unwrap());
    }
    (executor, digests)
}

async fn run(executor: &Executor, component: &Prepared, input: &str, recorded: Vec<Entry>) -> RunReport {
    executor
        .run(component, "replay-test", input, recorded, Usage::default(), RunHooks::detached())
        .await
        .unwrap()
}

fn output(report: &RunReport) -> Value {
    match &report.outcome {
        RunOutcome::Completed(output) => serde_json::from_str(output).unwrap(),
        other => panic!("expected completion, got {other:?}"),
    }
}

fn recorded_times(journal: &[Entry]) -> Vec<u64> {
    journal
        .iter()
        .filter(|entry| entry.call == Call::Now)
        .map(|entry| match entry.outcome {
            Outcome::Time { ns } => ns,
            ref other => panic!("now() recorded {other:?}"),
        })
        .collect()
}

const COUNTDOWN_INPUT: &str = r#"{"n":3,"seconds":0}"#;

#[tokio::test]
async fn replaying_a_whole_journal_reproduces_the_output_and_records_nothing() {
    let (executor, digests) = prepared(&["countdown"]).await;
    let first = run(&executor, &digests[0], COUNTDOWN_INPUT, Vec::new()).await;
    assert_eq!(first.entries.len(), 6);
    assert_eq!(first.logs.len(), 6, "3 log calls and 3 stdout lines");

    let replayed = run(&executor, &digests[0], COUNTDOWN_INPUT, first.entries.clone()).await;
    assert_eq!(output(&replayed), output(&first));
    assert!(replayed.entries.is_empty(), "replay re-recorded {:?}", replayed.entries);
    // Lines written before the last entry are not written again. Lines after
    // it are live again: the host only commits them together with a final
    // status, so in the host such a journal is never replayed.
    let messages = |report: &RunReport| report.logs.iter().map(|l| l.message.clone()).collect::<Vec<_>>();
    assert_eq!(messages(&replayed), messages(&first)[4..]);
}

#[tokio::test]
async fn replay_resumed_at_every_seq_continues_the_same_journal() {
    let (executor, digests) = prepared(&["countdown"]).await;
    let first = run(&executor, &digests[0], COUNTDOWN_INPUT, Vec::new()).await;
    for cut in 0..=first.entries.len() {
        let prefix = first.entries[..cut].to_vec();
        let resumed = run(&executor, &digests[0], COUNTDOWN_INPUT, prefix.clone()).await;
        let journal: Vec<Entry> = prefix.iter().chain(&resumed.entries).cloned().collect();
        let seqs: Vec<u64> = journal.iter().map(|entry| entry.seq).collect();
        assert_eq!(seqs, (0..6).collect::<Vec<u64>>(), "cut {cut}");
        let calls: Vec<&Call> = journal.iter().map(|entry| &entry.call).collect();
        let first_calls: Vec<&Call> = first.entries.iter().map(|entry| &entry.call).collect();
        assert_eq!(calls, first_calls, "cut {cut}");
        let ticks: Vec<u64> =
            output(&resumed)["ticks"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
        assert_eq!(ticks, recorded_times(&journal), "cut {cut}: output must come from the journal");
    }
}

#[tokio::test]
async fn std_system_time_is_journaled() {
    let (executor, digests) = prepared(&["hello"]).await;
    let input = r#"{"name":"Ada"}"#;
    let first = run(&executor, &digests[0], input, Vec::new()).await;
    assert_eq!(first.entries.len(), 1);
    assert_eq!(first.entries[0].call, Call::WasiWallClock);
    let Outcome::Time { ns } = first.entries[0].outcome else { panic!("{:?}", first.entries[0]) };
    assert_eq!(output(&first)["at_ns"], ns);
    assert_eq!(output(&first)["greeting"], "Hello, Ada!");

    let replayed = run(&executor, &digests[0], input, first.entries.clone()).await;
    assert_eq!(output(&replayed), output(&first));
}

#[tokio::test]
async fn other_component_on_a_recorded_journal_is_stuck() {
    let (executor, digests) = prepared(&["countdown", "hello"]).await;
    let countdown = run(&executor, &digests[0], COUNTDOWN_INPUT, Vec::new()).await;
    let report = run(&executor, &digests[1], r#"{"name":"Ada"}"#, countdown.entries).await;
    let RunOutcome::Stuck(diverged) = report.outcome else {
        panic!("expected stuck, got {:?}", report.outcome)
    };
    assert_eq!(diverged.seq, 0);
    assert_eq!(diverged.recorded, Call::Sleep { duration_ns: 0 });
    assert_eq!(diverged.attempted, Some(Call::WasiWallClock));
    assert!(report.entries.is_empty());
}

#[tokio::test]
async fn input_the_workflow_rejects_fails_it_with_the_message() {
    let (executor, digests) = prepared(&["hello"]).await;
    let report = run(&executor, &digests[0], r#"{"nom":"Ada"}"#, Vec::new()).await;
    let RunOutcome::Failed(error) = report.outcome else {
        panic!("expected failure, got {:?}", report.outcome)
    };
    assert!(error.starts_with("invalid input:"), "{error}");
    assert!(error.contains("name"), "{error}");
}

#[tokio::test]
async fn random_bytes_are_journaled_per_call_and_replayed() {
    let (executor, digests) = prepared(&["misbehave"]).await;
    let input = r#"{"random_bytes":64}"#;
    let first = run(&executor, &digests[0], input, Vec::new()).await;
    let bytes = output(&first);
    assert_eq!(bytes.as_array().unwrap().len(), 64);
    // One entry per host call, not per byte.
    assert!((1..=8).contains(&first.entries.len()), "{:?}", first.entries);
    let replayed = run(&executor, &digests[0], input, first.entries.clone()).await;
    assert_eq!(output(&replayed), bytes);
    assert!(replayed.entries.is_empty());
}
