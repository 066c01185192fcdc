//! A workflow that calls one activity, for the host's activity tests.
//!
//! Input: `{"component", "input", "start_to_close_ms", "heartbeat_ms"?,
//! "schedule_to_close_ms"?, "max_attempts"?, "initial_ms"?}`. Output:
//! `{"ok": output}` or `{"error": {"type", "message", "non_retryable"}}`.

use std::time::Duration;

use duro_sdk::RetryPolicy;
use duro_sdk::activity::{self, Options};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Call {
    component: String,
    input: Value,
    start_to_close_ms: u64,
    heartbeat_ms: Option<u64>,
    schedule_to_close_ms: Option<u64>,
    max_attempts: Option<u32>,
    initial_ms: Option<u64>,
}

fn call(call: Call) -> Result<Value, String> {
    let mut options = Options::new(Duration::from_millis(call.start_to_close_ms));
    if let Some(attempts) = call.max_attempts {
        let initial = Duration::from_millis(call.initial_ms.unwrap_or(100));
        options = options.retry(RetryPolicy::attempts(attempts).initial_interval(initial));
    }
    if let Some(ms) = call.heartbeat_ms {
        options = options.heartbeat(Duration::from_millis(ms));
    }
    if let Some(ms) = call.schedule_to_close_ms {
        options = options.schedule_to_close(Duration::from_millis(ms));
    }
    Ok(match activity::call::<Value, Value>(&call.component, &call.input, &options) {
        Ok(output) => json!({ "ok": output }),
        Err(error) => json!({ "error": {
            "type": error.type_name, "message": error.message, "non_retryable": error.non_retryable,
        } }),
    })
}

duro_sdk::workflow!(call);
