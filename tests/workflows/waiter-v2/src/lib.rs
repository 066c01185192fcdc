//! The next release of the `waiter` test workflow's `events` op, for the
//! host's replay-check and upgrade tests.
//!
//! It makes the same calls as `waiter` with input `{"op":"events"}` up to
//! and including the receive of signal `finish` (sets event `stage` to
//! `"started"`, receives `finish`), so a journal recorded by `waiter` up
//! to that wait replays cleanly on it. After the signal it does more than
//! `waiter` did: reads the clock, sets `stage` to `"done-v2"` and outputs
//! `{"finished":P,"release":2}`, `P` being the signal's payload. Any input
//! is accepted and ignored.

use duro_sdk::set_event;
use duro_sdk::wait;
use serde_json::{Value, json};

fn events(_input: Value) -> Result<Value, String> {
    set_event("stage", "started")?;
    let finished = wait::receive::<Value>("finish").map_err(|e| e.to_string())?;
    let finished_at_ns = duro_sdk::now_ns();
    set_event("stage", "done-v2")?;
    Ok(json!({ "finished": finished, "release": 2, "finished_at_ns": finished_at_ns }))
}

duro_sdk::workflow!(events);
