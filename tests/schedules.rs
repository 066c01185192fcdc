//! Schedules against a real `duro serve`: one workflow per tick, a kill -9
//! across ticks, each overlap policy, pause and resume, bad requests, a
//! tick whose id a workflow made by hand holds, and two hosts on one
//! PostgreSQL. The cron arithmetic across daylight saving changes is tested
//! for fixed dates in `runtime::schedules::spec`.
//!
//! Every schedule here ticks each second or two. The central check,
//! [`assert_every_tick_once`], reads what a schedule did through the API:
//! each tick from its first to its last handled either started exactly one
//! workflow (named after it) or is counted in exactly one skipped range.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Database, Server};
use serde_json::{Value, json};

on_sqlite_and_postgres!(
    an_interval_starts_one_workflow_per_tick,
    a_kill_9_across_ticks_runs_the_missed_ones_within_the_catch_up_window,
    each_overlap_policy_with_a_workflow_that_outlives_its_tick,
    pause_resume_and_trigger,
    bad_requests_are_refused_and_creation_is_idempotent,
    a_tick_whose_id_is_taken_is_skipped,
);

/// Longest wait for a schedule to reach a state.
const WAIT: Duration = Duration::from_secs(30);
const SECOND_MS: i64 = 1_000;

/// Creates a schedule of `component` ticking every second, with `extra`
/// fields; its answer.
async fn every_second(server: &Server, id: &str, component: &str, extra: Value) -> Value {
    // An input both `hello` (a name) and `waiter` (an op) understand.
    let input = json!({ "op": "wait", "name": "tick" });
    let mut body = json!({ "id": id, "component": component, "input": input, "spec": { "interval_s": 1 } });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let (status, schedule) = server.post_json("/v1/schedules", &body).await;
    assert_eq!(status, 201, "{schedule}");
    schedule
}

async fn schedule(server: &Server, id: &str) -> Value {
    let (status, schedule) = server.get(&format!("/v1/schedules/{id}")).await;
    assert_eq!(status, 200, "{schedule}");
    schedule
}

/// Waits until schedule `id` satisfies `done`; its last reading.
async fn wait_until(server: &Server, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let schedule = schedule(server, id).await;
        if done(&schedule) {
            return schedule;
        }
        assert!(Instant::now() < deadline, "schedule {id} never got {what}: {schedule}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The workflows schedule `id` started, oldest tick first.
async fn workflows_of(server: &Server, id: &str) -> Vec<Value> {
    let (status, page) = server.get(&format!("/v1/workflows?schedule={id}&limit=500")).await;
    assert_eq!(status, 200, "{page}");
    let mut workflows = page["workflows"].as_array().unwrap().clone();
    workflows.sort_by_key(|workflow| ms(&workflow["nominal_time"]));
    workflows
}

/// An RFC 3339 time in ms since the Unix epoch.
fn ms(time: &Value) -> i64 {
    time.as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// Whether a workflow has not ended (a waiter just started may not be
/// waiting yet).
fn open(workflow: &Value) -> bool {
    workflow["status"] == "running" || workflow["status"] == "waiting"
}

fn statuses(workflows: &[Value]) -> Vec<&str> {
    workflows.iter().map(|workflow| workflow["status"].as_str().unwrap()).collect()
}

/// Pauses schedule `id`; its state then.
async fn pause(server: &Server, id: &str, note: &str) -> Value {
    let (status, paused) =
        server.post_json(&format!("/v1/schedules/{id}/pause"), &json!({ "note": note })).await;
    assert_eq!((status, &paused["paused"]), (200, &json!(true)), "{paused}");
    paused
}

/// Checks, through the API, that each tick of interval schedule `id` from its first
/// to the last handled started one workflow named after it, is in one
/// skipped range or is the buffered one, and nothing else: no tick twice, none lost. The schedule
/// must be paused (so that nothing moves meanwhile) and its history short
/// enough to be shown whole (20 skipped ranges). Returns the workflows by
/// tick, and the skipped ticks by reason.
async fn assert_every_tick_once(server: &Server, id: &str) -> (BTreeMap<i64, Value>, BTreeMap<String, i64>) {
    let schedule = schedule(server, id).await;
    assert_eq!(schedule["paused"], true, "{schedule}");
    let every = (schedule["spec"]["interval_s"].as_f64().unwrap() * 1000.0) as i64;
    // Triggered workflows are not ticks.
    let triggered: Vec<&Value> = schedule["recent_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["triggered"] == true)
        .map(|run| &run["workflow"])
        .collect();
    let mut started = BTreeMap::new();
    for workflow in workflows_of(server, id).await {
        if triggered.contains(&&workflow["id"]) {
            continue;
        }
        let tick = ms(&workflow["nominal_time"]);
        assert_eq!(workflow["schedule"], id, "{workflow}");
        let expected_id = format!("{id}:{}", jiff::Timestamp::from_millisecond(tick).unwrap());
        assert_eq!(workflow["id"], json!(expected_id), "a tick's workflow is named after it");
        assert!(started.insert(tick, workflow).is_none(), "tick {tick} started twice");
    }
    let mut covered: BTreeMap<i64, &str> = started.keys().map(|tick| (*tick, "started")).collect();
    let mut skipped_by_reason = BTreeMap::new();
    let skipped = schedule["skipped_ticks"].as_array().unwrap();
    assert!(skipped.len() < 20, "the history is cut: {schedule}");
    for range in skipped {
        let (first, last, count) = (
            ms(&range["first_nominal_time"]),
            ms(&range["last_nominal_time"]),
            range["count"].as_i64().unwrap(),
        );
        assert_eq!((last - first) / every + 1, count, "{range}");
        for tick in (first..=last).step_by(every as usize) {
            assert!(
                covered.insert(tick, "skipped").is_none(),
                "tick {tick} both started and skipped: {schedule}"
            );
        }
        *skipped_by_reason.entry(range["reason"].as_str().unwrap().to_owned()).or_insert(0) += count;
    }
    // A buffered tick waits for its start.
    if let Some(buffered) = schedule["buffered_tick_at"].as_str() {
        let tick = ms(&json!(buffered));
        assert!(covered.insert(tick, "buffered").is_none(), "tick {tick} buffered and handled: {schedule}");
    }
    // From the first tick to the one before the next, every second is covered.
    let first = *covered.keys().next().unwrap();
    let next = ms(&schedule["next_tick_at"]);
    let expected: Vec<i64> = (first..next).step_by(every as usize).collect();
    assert_eq!(covered.keys().copied().collect::<Vec<_>>(), expected, "a tick was lost: {schedule}");
    assert_eq!(schedule["runs"].as_u64().unwrap() as usize, started.len(), "{schedule}");
    assert_eq!(schedule["skipped"].as_i64().unwrap(), skipped_by_reason.values().sum::<i64>(), "{schedule}");
    (started, skipped_by_reason)
}

async fn an_interval_starts_one_workflow_per_tick(database: Database) {
    let server = Server::start(&database).await;
    server.push_example("hello").await;
    // allow_all: on a loaded machine a greeting may outlive its second.
    let extra = json!({ "input": { "name": "tick" }, "overlap": "allow_all" });
    let created = every_second(&server, "greet", "hello", extra).await;
    assert_eq!(created["spec"], json!({ "interval_s": 1.0, "phase_s": 0.0 }), "{created}");
    assert_eq!(created["overlap"], "allow_all");
    let ticking = wait_until(&server, "greet", "5 runs", |s| s["runs"].as_i64() >= Some(5)).await;
    // The next 5 ticks, a second apart, after the next one.
    let upcoming: Vec<i64> = ticking["upcoming"].as_array().unwrap().iter().map(ms).collect();
    assert_eq!(upcoming.len(), 5, "{ticking}");
    assert!(upcoming.windows(2).all(|pair| pair[1] - pair[0] == SECOND_MS), "{ticking}");
    pause(&server, "greet", "done").await;
    let (started, skipped) = assert_every_tick_once(&server, "greet").await;
    assert!(started.len() >= 5, "{started:?}");
    assert!(skipped.is_empty(), "{skipped:?}");
    for workflow in started.values() {
        let result = server.result(workflow["id"].as_str().unwrap(), 30).await;
        assert_eq!(result["output"]["greeting"], "Hello, tick!", "{result}");
    }
    let shown = schedule(&server, "greet").await;
    let runs = shown["recent_runs"].as_array().unwrap();
    assert_eq!(runs[0]["status"], "completed", "{shown}");
    assert!(ms(&runs[0]["nominal_time"]) > ms(&runs[1]["nominal_time"]), "newest first: {shown}");

    // A run count ends a schedule.
    every_second(&server, "twice", "hello", json!({ "max_runs": 2 })).await;
    let ended = wait_until(&server, "twice", "its end", |s| s["next_tick_at"].is_null()).await;
    assert_eq!(
        (ended["runs"].as_i64(), ended["upcoming"].as_array().map(Vec::len)),
        (Some(2), Some(0)),
        "{ended}"
    );
    assert_eq!(workflows_of(&server, "twice").await.len(), 2);
}

async fn a_kill_9_across_ticks_runs_the_missed_ones_within_the_catch_up_window(database: Database) {
    let mut server = Server::start(&database).await;
    server.push_example("hello").await;
    every_second(&server, "caught-up", "hello", json!({ "overlap": "allow_all", "catchup_window_s": 60 }))
        .await;
    every_second(&server, "strict", "hello", json!({ "overlap": "allow_all", "catchup_window_s": 2 })).await;
    wait_until(&server, "caught-up", "a run", |s| s["runs"].as_i64() >= Some(1)).await;
    server.kill9();
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    server.restart().await;
    let before = schedule(&server, "caught-up").await["runs"].as_i64().unwrap();
    wait_until(&server, "caught-up", "more runs", |s| s["runs"].as_i64() >= Some(before + 2)).await;
    wait_until(&server, "strict", "a run after the restart", |s| s["skipped"].as_i64() >= Some(1)).await;
    pause(&server, "caught-up", "checking").await;
    pause(&server, "strict", "checking").await;

    // Within the window: the ticks that fell while the host was down ran
    // when it came back, late, under their own times.
    let (started, skipped) = assert_every_tick_once(&server, "caught-up").await;
    assert!(skipped.is_empty(), "{skipped:?}");
    let late = started.values().filter(|w| ms(&w["created_at"]) - ms(&w["nominal_time"]) > 400).count();
    let times: Vec<(&Value, &Value)> =
        started.values().map(|w| (&w["nominal_time"], &w["created_at"])).collect();
    assert!(late >= 2, "the ticks missed while down ran late: {times:?}");
    // Past it: they were skipped and counted as missed.
    let (_, skipped) = assert_every_tick_once(&server, "strict").await;
    let missed = skipped.get("missed: later than the catch-up window").copied().unwrap_or(0);
    assert!(missed >= 2, "{skipped:?}");
}

async fn each_overlap_policy_with_a_workflow_that_outlives_its_tick(database: Database) {
    let server = Server::start(&database).await;
    let (status, waiter) = server.post_bytes("/v1/components?name=waiter", common::example("waiter")).await;
    assert_eq!(status, 201, "{waiter}");
    for policy in ["skip", "buffer_one", "allow_all", "cancel_other", "terminate_other"] {
        every_second(&server, policy, "waiter", json!({ "overlap": policy })).await;
    }
    wait_until(&server, "allow_all", "3 runs", |s| s["runs"].as_i64() >= Some(3)).await;
    wait_until(&server, "terminate_other", "3 runs", |s| s["runs"].as_i64() >= Some(3)).await;
    wait_until(&server, "cancel_other", "3 runs", |s| s["runs"].as_i64() >= Some(3)).await;
    wait_until(&server, "buffer_one", "a full buffer", |s| s["skipped"].as_i64() >= Some(1)).await;
    for policy in ["skip", "allow_all", "cancel_other", "terminate_other"] {
        pause(&server, policy, "checking").await;
    }

    // skip: one workflow, every later tick skipped for the overlap.
    let (started, skipped) = assert_every_tick_once(&server, "skip").await;
    assert!(started.len() == 1 && started.values().all(open), "{started:?}");
    assert!(skipped["overlap: the previous workflow is still open"] >= 2, "{skipped:?}");

    // allow_all: one workflow per tick, all running side by side.
    let (started, skipped) = assert_every_tick_once(&server, "allow_all").await;
    assert!(started.len() >= 3 && skipped.is_empty(), "{started:?} {skipped:?}");
    assert!(started.values().all(open), "{started:?}");

    // terminate_other: each tick terminates the previous workflow and starts
    // at once.
    let workflows: Vec<Value> =
        assert_every_tick_once(&server, "terminate_other").await.0.into_values().collect();
    let (newest, older) = workflows.split_last().unwrap();
    assert!(older.len() >= 2 && older.iter().all(|w| w["status"] == "terminated"), "{workflows:?}");
    assert!(open(newest), "{newest}");

    // cancel_other: each tick asks the previous workflow to cancel and waits
    // for its end; it then starts, under its own tick's time.
    let (started, _) = assert_every_tick_once(&server, "cancel_other").await;
    let workflows: Vec<Value> = started.into_values().collect();
    let (newest, older) = workflows.split_last().unwrap();
    assert!(older.len() >= 2 && older.iter().all(|w| w["status"] == "cancelled"), "{workflows:?}");
    // The newest is open, or being cancelled for the buffered tick behind it.
    assert!(open(newest) || newest["status"] == "cancelled", "{newest}");
    // Each started only once the one before it had ended.
    for pair in workflows.windows(2) {
        assert!(ms(&pair[1]["created_at"]) >= ms(&pair[0]["updated_at"]), "{pair:?}");
    }

    // buffer_one: one tick waits behind the open workflow, later ones are
    // skipped; when that workflow ends, the waiting tick starts.
    let buffered = schedule(&server, "buffer_one").await;
    let tick = buffered["buffered_tick_at"].clone();
    assert!(tick.is_string(), "{buffered}");
    let first = workflows_of(&server, "buffer_one").await;
    assert_eq!(statuses(&first), ["waiting"], "it has waited for seconds");
    let (status, sent) = server
        .post_json(&format!("/v1/workflows/{}/signals/go", first[0]["id"].as_str().unwrap()), &json!(1))
        .await;
    assert_eq!(status, 202, "{sent}");
    wait_until(&server, "buffer_one", "the buffered tick started", |s| s["runs"].as_i64() >= Some(2)).await;
    pause(&server, "buffer_one", "checking").await;
    let (started, skipped) = assert_every_tick_once(&server, "buffer_one").await;
    let second = started.values().nth(1).unwrap();
    assert_eq!(second["nominal_time"], tick, "the buffered tick ran: {started:?}");
    assert!(skipped["overlap: another tick is already buffered"] >= 1, "{skipped:?}");
}

async fn pause_resume_and_trigger(database: Database) {
    let server = Server::start(&database).await;
    server.push_example("hello").await;
    every_second(&server, "pausable", "hello", json!({})).await;
    wait_until(&server, "pausable", "a run", |s| s["runs"].as_i64() >= Some(1)).await;
    let paused = pause(&server, "pausable", "deploying").await;
    assert_eq!(paused["note"], "deploying");
    let runs = paused["runs"].as_i64().unwrap();
    // Paused, it starts nothing, but shows what a resume would do.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let still = schedule(&server, "pausable").await;
    assert_eq!(
        (still["runs"].as_i64(), still["upcoming"].as_array().map(Vec::len)),
        (Some(runs), Some(5)),
        "{still}"
    );
    assert_eq!(workflows_of(&server, "pausable").await.len() as i64, runs);
    // A trigger starts one now, paused or not.
    let (status, triggered) = server.post_json("/v1/schedules/pausable/trigger", &json!(null)).await;
    assert_eq!(status, 201, "{triggered}");
    assert!(triggered["id"].as_str().unwrap().starts_with("pausable:"), "{triggered}");
    assert_eq!(triggered["schedule"], "pausable");

    let (status, resumed) =
        server.post_json("/v1/schedules/pausable/resume", &json!({ "note": "deployed" })).await;
    assert_eq!(
        (status, &resumed["paused"], &resumed["note"]),
        (200, &json!(false), &json!("deployed")),
        "{resumed}"
    );
    wait_until(&server, "pausable", "a run after the resume", |s| s["runs"].as_i64() > Some(runs)).await;
    pause(&server, "pausable", "checking").await;
    let (_, skipped) = assert_every_tick_once(&server, "pausable").await;
    assert!(skipped["paused"] >= 2, "the ticks of the pause are skipped and counted: {skipped:?}");
    let shown = schedule(&server, "pausable").await;
    assert!(shown["recent_runs"].as_array().unwrap().iter().any(|run| run["triggered"] == true), "{shown}");

    // Deleting it keeps its workflows.
    let (status, _) = server.delete("/v1/schedules/pausable").await;
    assert_eq!(status, 204);
    let (status, gone) = server.get("/v1/schedules/pausable").await;
    assert_eq!((status, &gone["error"]["code"]), (404, &json!("schedule_not_found")));
    assert!(workflows_of(&server, "pausable").await.len() as i64 > runs);
}

async fn bad_requests_are_refused_and_creation_is_idempotent(database: Database) {
    let server = Server::start(&database).await;
    server.push_example("hello").await;
    server.push_example("probe_activity").await;
    let good = json!({ "id": "nightly", "component": "hello", "spec": { "cron": "0 2 * * *", "time_zone": "Europe/Paris" } });
    let (status, created) = server.post_json("/v1/schedules", &good).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["spec"], json!({ "cron": "0 2 * * *", "time_zone": "Europe/Paris" }));
    // 02:00 in Paris is 01:00 UTC in winter.
    assert!(created["next_tick_at"].as_str().unwrap().ends_with("T01:00:00.000Z"), "{created}");
    let (status, again) = server.post_json("/v1/schedules", &good).await;
    assert_eq!((status, &again["id"]), (200, &json!("nightly")), "{again}");
    let mut other = good.clone();
    other["spec"]["cron"] = json!("0 3 * * *");
    let spec = |spec: Value| json!({ "id": "x", "component": "hello", "spec": spec });
    let with = |key: &str, value: Value| {
        let mut body = spec(json!({ "interval_s": 5 }));
        body[key] = value;
        body
    };
    let refused = [
        (other, 409, "schedule_id_conflict"),
        (spec(json!({ "cron": "0 61 * * *" })), 400, "invalid_schedule"),
        (spec(json!({ "cron": "0 2 * * *", "time_zone": "Mars/Base" })), 400, "invalid_schedule"),
        (spec(json!({ "interval_s": 0.5 })), 400, "invalid_schedule"),
        (spec(json!({ "interval_s": 5, "cron": "* * * * *" })), 400, "bad_request"),
        (json!({ "id": "x", "component": "hello" }), 400, "bad_request"),
        (with("overlap", json!("sometimes")), 400, "bad_request"),
        (with("end_at", json!("tomorrow")), 400, "bad_request"),
        (with("max_runs", json!(0)), 400, "invalid_schedule"),
        (with("surprise", json!(1)), 400, "bad_request"),
        (with("id", json!("a/b")), 400, "invalid_schedule"),
        (with("id", json!("x".repeat(101))), 400, "invalid_schedule"),
        (with("component", json!("nothing")), 404, "component_not_found"),
        (with("component", json!("probe_activity")), 400, "invalid_component"),
    ];
    for (body, status, code) in refused {
        let (got, answer) = server.post_json("/v1/schedules", &body).await;
        assert_eq!((got, &answer["error"]["code"]), (status, &json!(code)), "{body}: {answer}");
    }
    let (status, list) = server.get("/v1/schedules").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        list["schedules"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["nightly"], "nothing refused was created");
    for path in ["/v1/schedules/nope/pause", "/v1/schedules/nope/resume", "/v1/schedules/nope/trigger"] {
        let (status, answer) = server.post_json(path, &json!(null)).await;
        assert_eq!((status, &answer["error"]["code"]), (404, &json!("schedule_not_found")), "{path}");
    }
    let (status, answer) = server.delete("/v1/schedules/nope").await;
    assert_eq!((status, &answer["error"]["code"]), (404, &json!("schedule_not_found")));
    // The CLI shows it.
    let (stdout, stderr, ok) = server.cli(&["schedule", "get", "nightly"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("cron \"0 2 * * *\" in Europe/Paris") && stdout.contains("next"), "{stdout}");
}

/// Two hosts on one PostgreSQL database step the same schedules: each tick
/// still starts one workflow.
#[cfg(feature = "postgres-tests")]
#[tokio::test]
async fn two_hosts_on_one_postgres_start_each_tick_once() {
    let database = Database::postgres().await;
    let a = Server::start(&database).await;
    let b = Server::start(&database).await;
    a.push_example("hello").await;
    for id in ["shared-1", "shared-2", "shared-3"] {
        every_second(&a, id, "hello", json!({ "overlap": "allow_all" })).await;
    }
    wait_until(&b, "shared-3", "6 runs", |s| s["runs"].as_i64() >= Some(6)).await;
    for id in ["shared-1", "shared-2", "shared-3"] {
        pause(&b, id, "checking").await;
        let (started, skipped) = assert_every_tick_once(&a, id).await;
        assert!(started.len() >= 6 && skipped.is_empty(), "{id}: {started:?} {skipped:?}");
    }
}

/// A workflow created by hand under a tick's id keeps it: the tick is
/// recorded as skipped, with the reason, and not counted as a run.
async fn a_tick_whose_id_is_taken_is_skipped(database: Database) {
    let server = Server::start(&database).await;
    server.push_example("hello").await;
    let created = every_second(
        &server,
        "taken",
        "hello",
        json!({ "overlap": "allow_all", "spec": { "interval_s": 2 } }),
    )
    .await;
    // Take the next tick's id before it comes (2 s at most; a few ms are
    // needed): if the tick wins the race, try the one after.
    let mut next = ms(&created["next_tick_at"]);
    let squatter = loop {
        let id = format!("taken:{}", jiff::Timestamp::from_millisecond(next).unwrap());
        let (status, body) = server
            .post_json(
                "/v1/workflows",
                &json!({ "component": "hello", "id": id, "input": { "name": "squatter" } }),
            )
            .await;
        if status == 201 {
            break id;
        }
        assert_eq!(status, 409, "{body}");
        next += 2 * SECOND_MS;
    };
    wait_until(&server, "taken", "the taken tick handled", |s| {
        s["next_tick_at"].is_string() && ms(&s["next_tick_at"]) > next
    })
    .await;
    pause(&server, "taken", "checking").await;
    let (started, skipped) = assert_every_tick_once(&server, "taken").await;
    assert!(!started.contains_key(&next), "{started:?}");
    assert_eq!(
        skipped.get("id taken: a workflow not started by this tick has its id"),
        Some(&1),
        "{skipped:?}"
    );
    let (_, workflow) = server.get(&format!("/v1/workflows/{squatter}")).await;
    assert_eq!(
        (&workflow["input"]["name"], &workflow["schedule"]),
        (&json!("squatter"), &Value::Null),
        "{workflow}"
    );
}
