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

use std::time::Duration;

use duro_sdk::wait::{self, Outcome};
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

fn approval(input: Input) -> Result<Output, String> {
    set_event("status", "pending")?;
    duro_sdk::log(
        Level::Info,
        &format!("waiting up to {} s for approval of {:?}", input.timeout_s, input.request),
    );
    // One timer for the whole wait, so ignoring a bad signal does not move
    // the deadline.
    let timeout = wait::timer(Duration::from_secs(input.timeout_s));
    let (decision, verdict) = loop {
        // A receive consumes a signal only when it wins, so making both
        // again after a bad payload loses nothing.
        let approve = wait::signal("approve");
        let reject = wait::signal("reject");
        let Ok((index, outcome)) = wait::wait_any(&[&approve, &reject, &timeout]) else {
            set_event("status", "cancelled")?;
            return Err("cancelled".to_owned());
        };
        let (signal, decision) = match index {
            0 => ("approve", "approved"),
            1 => ("reject", "rejected"),
            _ => break ("timed_out", None),
        };
        let Outcome::Signal(payload) = outcome else {
            return Err(format!("unexpected outcome of a signal: {outcome:?}"));
        };
        match serde_json::from_str::<Verdict>(&payload) {
            Ok(verdict) => break (decision, Some(verdict)),
            Err(e) => duro_sdk::log(Level::Warn, &format!("ignoring signal {signal}: bad payload: {e}")),
        }
    };
    set_event("status", decision)?;
    let (by, comment) = verdict.map_or((None, None), |v| (Some(v.by), v.comment));
    duro_sdk::log(Level::Info, &format!("{:?}: {decision}", input.request));
    Ok(Output { request: input.request, decision, by, comment })
}

duro_sdk::workflow!(approval);
