//! The SDK under its scripted runtime: the async executor's races, joins
//! and cancellation, the blocking waits, effects and children, each
//! checked against the calls the workflow made.

use std::time::Duration;

use duro_sdk::activity::{self, Options};
use duro_sdk::futures::stream::{FuturesUnordered, StreamExt};
use duro_sdk::http::{Request, Response};
use duro_sdk::testing::{Call, Script};
use duro_sdk::wait::{self, Cancelled, ChildEnd, ChildStatus, Outcome, WaitError};
use duro_sdk::{RetryPolicy, child, future};
use serde_json::{Value, json};

const SECOND: Duration = Duration::from_secs(1);

/// What a wait returned: the winner's index and outcome, or `Cancelled`.
type Answer = Result<(usize, Outcome), Cancelled>;

/// The wait entries of `calls`: keys and answers.
fn waits(calls: &[Call]) -> Vec<(Vec<u64>, Answer)> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::WaitAny { keys, answer } => Some((keys.clone(), answer.clone())),
            _ => None,
        })
        .collect()
}

/// The approval example's logic, blocking: approve or reject, or time out.
fn approval_blocking(timeout_s: u64) -> Result<String, String> {
    let timeout = wait::timer(Duration::from_secs(timeout_s));
    let approve = wait::signal("approve");
    let reject = wait::signal("reject");
    match wait::wait_any(&[&approve, &reject, &timeout]) {
        Ok((0, Outcome::Signal(by))) => Ok(format!("approved by {by}")),
        Ok((1, Outcome::Signal(by))) => Ok(format!("rejected by {by}")),
        Ok(_) => Ok("timed out".to_owned()),
        Err(Cancelled) => Err("cancelled".to_owned()),
    }
}

/// The same, async.
async fn approval_async(timeout_s: u64) -> Result<String, WaitError> {
    let mut timeout = future::sleep(Duration::from_secs(timeout_s));
    let mut approve = future::signal::<String>("approve");
    let mut reject = future::signal::<String>("reject");
    duro_sdk::select! {
        by = approve => Ok(format!("approved by {}", by?)),
        by = reject => Ok(format!("rejected by {}", by?)),
        fired = timeout => fired.map(|()| "timed out".to_owned()).map_err(WaitError::from),
    }
}

#[test]
fn blocking_and_async_races_make_the_same_calls() {
    for script in [
        Script::new().signal_at(5 * SECOND, "reject", &"bob").signal_at(9 * SECOND, "approve", &"ann"),
        Script::new().signal_at(20 * SECOND, "approve", &"ann"),
        Script::new().cancel_after(3 * SECOND),
    ] {
        let blocking = script.clone().run(approval_blocking, 10);
        let run = script.run(approval_async, 10);
        assert_eq!(run.calls(), blocking.calls());
        assert_eq!(run.elapsed(), blocking.elapsed());
        assert_eq!(run.cancelled(), blocking.cancelled());
    }
    let run = Script::new().signal_at(5 * SECOND, "reject", &"bob").run(approval_async, 10);
    assert_eq!(run.output(), Some(&json!("rejected by bob")));
    let run = Script::new().run(approval_async, 10);
    assert_eq!(run.output(), Some(&json!("timed out")));
    assert_eq!(run.elapsed(), 10 * SECOND);
}

#[test]
fn ties_go_to_the_branch_written_first() {
    // Both signals are in the inbox at the start: the host gives a tie to
    // the lowest index, and the index follows the `select!` order.
    let script = Script::new().signal("reject", &"bob").signal("approve", &"ann");
    let run = script.run(approval_async, 10);
    assert_eq!(run.output(), Some(&json!("approved by ann")));
    assert_eq!(waits(run.calls())[0].0, [1, 2, 0]);
}

#[test]
fn a_deadline_outlives_several_selects_and_keeps_its_place() {
    async fn collect(_: ()) -> Result<Vec<u32>, WaitError> {
        let mut deadline = future::sleep(60 * SECOND);
        let mut got = Vec::new();
        loop {
            let mut next = future::signal::<u32>("n");
            duro_sdk::select! {
                n = next => got.push(n?),
                fired = deadline => {
                    fired?;
                    return Ok(got);
                }
            }
        }
    }
    let script = Script::new().signal_at(SECOND, "n", &1).signal_at(2 * SECOND, "n", &2);
    let run = script.run(collect, ());
    assert_eq!(run.output(), Some(&json!([1, 2])));
    assert_eq!(run.elapsed(), 60 * SECOND);
    let keys: Vec<Vec<u64>> = waits(run.calls()).into_iter().map(|(keys, _)| keys).collect();
    // Each new receive is listed before the deadline, as written.
    assert_eq!(keys, [vec![1, 0], vec![3, 0], vec![5, 0]]);
}

#[test]
fn join_waits_for_both_and_a_cancellation_reaches_both() {
    async fn both(_: ()) -> Result<(u32, u32), WaitError> {
        let (a, b) = duro_sdk::join!(future::signal::<u32>("a"), future::signal::<u32>("b"));
        Ok((a?, b?))
    }
    let run = Script::new().signal_at(2 * SECOND, "a", &1).signal_at(SECOND, "b", &2).run(both, ());
    assert_eq!(run.output(), Some(&json!([1, 2])));
    let answers: Vec<usize> =
        waits(run.calls()).into_iter().filter_map(|(_, answer)| answer.ok()).map(|(i, _)| i).collect();
    assert_eq!(answers, [1, 0], "b arrived first; then a waited alone");

    async fn both_cancelled(_: ()) -> Result<String, String> {
        let (a, b) = duro_sdk::join!(future::signal::<u32>("a"), future::signal::<u32>("b"));
        Ok(format!("{a:?} {b:?}"))
    }
    let run = Script::new().cancel_after(SECOND).run(both_cancelled, ());
    assert_eq!(run.output(), Some(&json!("Err(Cancelled) Err(Cancelled)")));
    assert_eq!(waits(run.calls()), [(vec![0, 1], Err(Cancelled))]);
}

#[test]
fn after_a_cancellation_the_workflow_can_compensate_with_more_waits() {
    async fn compensate(_: ()) -> Result<&'static str, WaitError> {
        let mut work = future::sleep(60 * SECOND);
        match (&mut work).await {
            Ok(()) => Ok("done"),
            Err(Cancelled) => {
                future::sleep(5 * SECOND).await?;
                // The interrupted timer is intact: it can still be awaited.
                work.await?;
                Ok("compensated")
            }
        }
    }
    let run = Script::new().cancel_after(10 * SECOND).run(compensate, ());
    assert!(run.cancelled());
    assert_eq!(run.output(), Some(&json!("compensated")));
    assert_eq!(run.elapsed(), 60 * SECOND);
}

#[test]
fn a_cancellation_is_told_to_the_branch_polled_and_not_again_later() {
    async fn race(_: ()) -> Result<String, WaitError> {
        let mut deadline = future::sleep(60 * SECOND);
        let mut go = future::signal::<String>("go");
        let first = duro_sdk::select! {
            go = go => format!("{go:?}"),
            fired = deadline => format!("{fired:?}"),
        };
        // The deadline was waiting too, but is not polled before the next
        // wait: it waits on as if nothing happened.
        future::sleep(5 * SECOND).await?;
        deadline.await?;
        Ok(first)
    }
    let run = Script::new().cancel_after(SECOND).run(race, ());
    assert_eq!(run.output(), Some(&json!("Err(Cancelled)")));
    assert_eq!(run.elapsed(), 60 * SECOND);
    let answers: Vec<Result<usize, Cancelled>> =
        waits(run.calls()).into_iter().map(|(_, answer)| answer.map(|(index, _)| index)).collect();
    assert_eq!(answers, [Err(Cancelled), Ok(1), Ok(0)]);
}

#[test]
fn children_fan_out_and_in_with_futures_unordered() {
    async fn fan_out(names: Vec<String>) -> Result<Vec<String>, String> {
        let children = names
            .iter()
            .map(|name| child::start("hello", &json!({ "name": name }), None))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ends: FuturesUnordered<_> = children.iter().map(|child| child.output::<String>()).collect();
        let mut greetings = Vec::new();
        while let Some(end) = ends.next().await {
            greetings.push(end.map_err(|e| e.to_string())?.map_err(|end| end.to_string())?);
        }
        Ok(greetings)
    }
    let script = Script::new()
        .workflow_id("parent")
        .child_completes("hello", 3 * SECOND, &"Hello, Ada!")
        .child_completes("hello", SECOND, &"Hello, Grace!")
        .child_completes("hello", 2 * SECOND, &"Hello, Edsger!");
    let run = script.run(fan_out, ["Ada", "Grace", "Edsger"]);
    assert_eq!(run.output(), Some(&json!(["Hello, Grace!", "Hello, Edsger!", "Hello, Ada!"])));
    assert_eq!(run.elapsed(), 3 * SECOND);
    let first = &waits(run.calls())[0];
    let Ok((1, Outcome::Child(end))) = &first.1 else { panic!("{first:?}") };
    assert_eq!(end.id, "parent:1");
}

#[test]
fn a_child_raced_against_a_deadline_is_cancelled() {
    async fn report(_: ()) -> Result<String, WaitError> {
        let child = child::start("report", &(), Some("report-1")).map_err(WaitError::Decode)?;
        let mut output = child.output::<Value>();
        let mut deadline = future::sleep(10 * SECOND);
        duro_sdk::select! {
            output = output => return Ok(format!("{:?}", output?)),
            fired = deadline => fired?,
        }
        child.cancel();
        match child.join::<Value>()? {
            Err(ChildEnd { status, .. }) => Ok(status.to_string()),
            Ok(output) => Ok(output.to_string()),
        }
    }
    let run = Script::new().child_completes("report", 60 * SECOND, &"late").run(report, ());
    assert_eq!(run.output(), Some(&json!("cancelled")));
    assert!(run.calls().contains(&Call::CancelChild("report-1".to_owned())));
    assert_eq!(run.elapsed(), 10 * SECOND);

    let run = Script::new().child_ends("report", SECOND, ChildStatus::Failed, Some("boom")).run(report, ());
    assert!(
        run.output().is_some_and(|output| output.as_str().is_some_and(|s| s.contains("boom"))),
        "{run:?}"
    );
    let run = Script::new().child_refused("report", "unknown component report").run(report, ());
    assert_eq!(run.error(), Some("unknown component report"));
}

#[test]
fn effects_are_answered_from_the_script_and_recorded() {
    fn checkout(cents: u64) -> Result<Value, String> {
        let stock = Request::get("https://shop.example/stock").retry(RetryPolicy::attempts(3)).send();
        let stock: Value = stock.map_err(|e| e.to_string())?.json().map_err(|e| e.to_string())?;
        let options = Options::new(30 * SECOND);
        let receipt: Value = activity::call("charge", &cents, &options).map_err(|e| e.to_string())?;
        let started = duro_sdk::now();
        duro_sdk::sleep(5 * SECOND);
        let slept = duro_sdk::now().duration_since(started).map_err(|e| e.to_string())?;
        Ok(
            json!({ "stock": stock, "receipt": receipt, "slept_s": slept.as_secs(), "roll": duro_sdk::random() }),
        )
    }
    let script = Script::new()
        .http("GET", "https://shop.example/stock", Ok(Response::new(200, r#"{"left":3}"#)))
        .activity("charge", Ok(json!("r-1")))
        .random([7]);
    let run = script.run(checkout, 1299);
    assert_eq!(
        run.output(),
        Some(&json!({ "stock": { "left": 3 }, "receipt": "r-1", "slept_s": 5, "roll": 7 }))
    );
    assert_eq!(
        run.calls(),
        [
            Call::Http(Request::get("https://shop.example/stock").retry(RetryPolicy::attempts(3))),
            Call::Activity {
                component: "charge".into(),
                input: json!(1299),
                options: Options::new(30 * SECOND)
            },
            Call::Now,
            Call::Sleep(5 * SECOND),
            Call::Now,
            Call::Random,
        ]
    );
}

#[test]
#[should_panic(expected = "no scripted answer for HTTP GET https://elsewhere.example/")]
fn an_unscripted_request_fails_the_test_and_names_it() {
    fn fetch(_: ()) -> Result<u16, String> {
        Request::get("https://elsewhere.example/").send().map(|r| r.status).map_err(|e| e.to_string())
    }
    let _ = Script::new().run(fetch, ());
}

#[test]
fn a_workflow_waiting_for_what_never_comes_is_reported_waiting() {
    let run = Script::new().run(|_: ()| async { future::signal::<Value>("never").await }, ());
    assert!(run.is_waiting());
    assert_eq!(run.calls(), [Call::ReceiveSignal("never".to_owned())]);
}

#[test]
fn pending_handles_are_futures_of_their_outcome() {
    async fn raw(_: ()) -> Result<String, Cancelled> {
        let timer = wait::timer(SECOND);
        let key = timer.key();
        let outcome = timer.await?;
        Ok(format!("{key} {outcome:?}"))
    }
    assert_eq!(Script::new().run(raw, ()).output(), Some(&json!("0 Fired")));
}

/// As on the host, a `wait-any` over no handles is the workflow's error.
#[test]
#[should_panic(expected = "wait-any over 0 handles; it takes 1 to 1024")]
fn waiting_on_nothing_fails_as_on_the_host() {
    fn nothing(_: Value) -> Result<(), Cancelled> {
        wait::wait_any(&[]).map(drop)
    }
    Script::new().run(nothing, json!(null));
}
