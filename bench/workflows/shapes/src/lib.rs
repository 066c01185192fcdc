//! The benchmark's workflow of many shapes. Input (every field optional,
//! default 0 or false):
//!
//! `{"now_calls": N, "sleeps": K, "sleep_ms": S, "signal": B}`
//!
//! 1. N journaled clock reads (`duro_sdk::now_ns`), one journal entry each:
//!    a journal as long as wanted, cheap to record and to replay.
//! 2. K durable sleeps of S ms each, one after the other (two entries each:
//!    the timer and the wait): under the host's inline threshold (1 s) the
//!    run holds its instance while it sleeps; above it the workflow is
//!    unloaded and `sleeping`.
//! 3. With `"signal": true`, receives signal `go` (two entries), any JSON
//!    payload: the workflow is `waiting`, unloaded, until it arrives.
//!
//! Output `{"now_calls": N, "sleeps": K, "signal": P}` with the payload P
//! (`null` without a signal). `{}` makes no host call at all and returns at
//! once: a run that is instantiation and little else.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    now_calls: u32,
    #[serde(default)]
    sleeps: u32,
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    signal: bool,
}

fn shapes(input: Input) -> Result<Value, String> {
    for _ in 0..input.now_calls {
        let _ = duro_sdk::now_ns();
    }
    for _ in 0..input.sleeps {
        duro_sdk::sleep(Duration::from_millis(input.sleep_ms));
    }
    let payload = if input.signal {
        duro_sdk::wait::receive::<Value>("go").map_err(|error| error.to_string())?
    } else {
        Value::Null
    };
    Ok(json!({ "now_calls": input.now_calls, "sleeps": input.sleeps, "signal": payload }))
}

duro_sdk::workflow!(shapes);
