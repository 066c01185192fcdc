//! A human in the loop: waits for someone to approve or reject a request,
//! or gives up after a timeout.
//!
//! Input `{"request":"Deploy v2 to production","timeout_s":86400}`
//! (`timeout_s` in seconds, default 86,400: a day). The workflow sets event
//! `status` to `"pending"`, so a caller can show it, then waits for
//! whichever comes first: signal `approve`, signal `reject`, or the timeout.
//! A signal's payload is `{"by":"alice","comment":"ok"}` (`by` a string,
//! `comment` an optional string); a payload of another shape is logged as a
//! warning and ignored, and the workflow waits on (the timeout still counts
//! from the start).
//!
//! Output `{"request":"...","decision":"approved"|"rejected"|"timed_out",
//! "by":"alice"|null,"comment":"ok"|null}`; event `status` is set to the
//! decision before the workflow returns. The wait is durable: the workflow
//! is unloaded while it waits, so a day-long wait holds no memory and
//! survives host restarts. If the workflow is cancelled while it waits, it
//! sets `status` to `"cancelled"` and ends with error `cancelled`.
//!
//! It is an `async fn` racing three futures with `duro_sdk::select!`; the
//! tests at the bottom run it natively with `duro_sdk::testing`
//! (`cargo test -p approval`).

use std::time::Duration;

use duro_sdk::future;
use duro_sdk::wait::WaitError;
use duro_sdk::{Level, set_event};
use serde::{Deserialize, Serialize};

/// Workflow input.
#[derive(Deserialize)]
struct Input {
    /// What is to be approved.
    request: String,
    /// How long to wait for a decision, in seconds.
    #[serde(default = "a_day")]
    timeout_s: u64,
}

fn a_day() -> u64 {
    24 * 60 * 60
}

/// An `approve` or `reject` signal's payload.
#[derive(Deserialize)]
struct Verdict {
    by: String,
    comment: Option<String>,
}

/// Workflow output.
#[derive(Serialize)]
struct Output {
    request: String,
    decision: &'static str,
    by: Option<String>,
    comment: Option<String>,
}

async fn approval(input: Input) -> Result<Output, String> {
    set_event("status", "pending")?;
    duro_sdk::log(
        Level::Info,
        &format!("waiting up to {} s for approval of {:?}", input.timeout_s, input.request),
    );
    // One timer for the whole wait, so ignoring a bad signal does not move
    // the deadline.
    let mut timeout = future::sleep(Duration::from_secs(input.timeout_s));
    let (decision, verdict) = loop {
        // A receive takes a signal only when it wins, so making both again
        // after a bad payload loses nothing.
        let mut approve = future::signal::<Verdict>("approve");
        let mut reject = future::signal::<Verdict>("reject");
        let (signal, decision, verdict) = duro_sdk::select! {
            verdict = approve => ("approve", "approved", verdict),
            verdict = reject => ("reject", "rejected", verdict),
            fired = timeout => match fired {
                Ok(()) => break ("timed_out", None),
                Err(cancelled) => ("timeout", "cancelled", Err(cancelled.into())),
            },
        };
        match verdict {
            Ok(verdict) => break (decision, Some(verdict)),
            Err(WaitError::Cancelled) => {
                set_event("status", "cancelled")?;
                return Err("cancelled".to_owned());
            }
            Err(WaitError::Decode(e)) => {
                duro_sdk::log(Level::Warn, &format!("ignoring signal {signal}: bad payload: {e}"));
            }
        }
    };
    set_event("status", decision)?;
    let (by, comment) = verdict.map_or((None, None), |v| (Some(v.by), v.comment));
    duro_sdk::log(Level::Info, &format!("{:?}: {decision}", input.request));
    Ok(Output { request: input.request, decision, by, comment })
}

duro_sdk::workflow!(approval);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use duro_sdk::testing::{Call, Script};
    use duro_sdk::wait::{Cancelled, Outcome};
    use serde_json::json;

    use super::approval;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn an_approval_before_the_timeout_wins() {
        let run = Script::new()
            .signal_at(Duration::from_secs(90), "approve", &json!({ "by": "alice", "comment": "ok" }))
            .run(approval, json!({ "request": "deploy v2", "timeout_s": 3600 }));
        let output =
            json!({ "request": "deploy v2", "decision": "approved", "by": "alice", "comment": "ok" });
        assert_eq!(run.output(), Some(&output));
        assert_eq!(run.event("status"), Some(&json!("approved")));
        assert_eq!(run.elapsed(), Duration::from_secs(90));
        // The journal the host would keep: the race is one wait over
        // approve (seq 2), reject (3) and the timer (1), in `select!` order.
        assert_eq!(
            run.calls(),
            [
                Call::SetEvent { key: "status".into(), value: json!("pending") },
                Call::StartTimer(HOUR),
                Call::ReceiveSignal("approve".into()),
                Call::ReceiveSignal("reject".into()),
                Call::WaitAny {
                    keys: vec![2, 3, 1],
                    answer: Ok((0, Outcome::Signal(r#"{"by":"alice","comment":"ok"}"#.into()))),
                },
                Call::SetEvent { key: "status".into(), value: json!("approved") },
            ]
        );
    }

    #[test]
    fn a_rejection_is_reported_with_its_author() {
        let run = Script::new()
            .signal("reject", &json!({ "by": "bob" }))
            .run(approval, json!({ "request": "deploy v2" }));
        let output = json!({ "request": "deploy v2", "decision": "rejected", "by": "bob", "comment": null });
        assert_eq!(run.output(), Some(&output));
    }

    #[test]
    fn without_a_decision_it_times_out() {
        let run = Script::new()
            .signal_at(2 * HOUR, "approve", &json!({ "by": "late" }))
            .run(approval, json!({ "request": "x", "timeout_s": 3600 }));
        assert_eq!(run.output().map(|output| &output["decision"]), Some(&json!("timed_out")));
        assert_eq!(run.event("status"), Some(&json!("timed_out")));
        assert_eq!(run.elapsed(), HOUR);
    }

    #[test]
    fn a_bad_payload_is_ignored_and_the_deadline_stays() {
        let run = Script::new()
            .signal_at(Duration::from_secs(10), "approve", &json!("not a verdict"))
            .signal_at(Duration::from_secs(20), "approve", &json!({ "by": "carol" }))
            .run(approval, json!({ "request": "x", "timeout_s": 60 }));
        assert_eq!(run.output().map(|output| &output["by"]), Some(&json!("carol")));
        assert!(run.logs().iter().any(|(_, line)| line.starts_with("ignoring signal approve: bad payload")));
        // One timer only; the second race makes fresh receives and lists
        // them before the timer again.
        let timers = run.calls().iter().filter(|call| matches!(call, Call::StartTimer(_))).count();
        assert_eq!(timers, 1);
        let waits: Vec<&Vec<u64>> = run
            .calls()
            .iter()
            .filter_map(|call| match call {
                Call::WaitAny { keys, .. } => Some(keys),
                _ => None,
            })
            .collect();
        assert_eq!(waits, [&vec![2, 3, 1], &vec![5, 6, 1]]);
    }

    #[test]
    fn a_cancellation_while_waiting_sets_the_status_and_fails() {
        let run = Script::new()
            .cancel_after(Duration::from_secs(30))
            .run(approval, json!({ "request": "x", "timeout_s": 3600 }));
        assert!(run.cancelled());
        assert_eq!(run.error(), Some("cancelled"));
        assert_eq!(run.event("status"), Some(&json!("cancelled")));
        assert!(run.calls().contains(&Call::WaitAny { keys: vec![2, 3, 1], answer: Err(Cancelled) }));
    }

    #[test]
    fn bad_input_fails_before_any_call() {
        let run = Script::new().run(approval, json!({ "timeout_s": 5 }));
        assert!(run.error().is_some_and(|e| e.starts_with("invalid input: ")), "{run:?}");
        assert!(run.calls().is_empty());
    }
}
