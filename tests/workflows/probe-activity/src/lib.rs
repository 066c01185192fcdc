//! An activity for the host's activity tests. Input, a JSON object with any of:
//! - `"heartbeat": "details"`: sends a heartbeat with these details first;
//! - `"non_retryable": "message"`: fails with type `declined`, never retried;
//! - `"fail_until_attempt": n`: attempts before `n` fail with type `flaky`
//!   and details `{"attempt": n}`, asking for a wait of `"retry_delay_ms"`
//!   if given;
//! - `"sleep_ms": n`: sleeps `n` ms in real time (`std::thread::sleep`);
//! - `"hang": true`: then sleeps forever without heartbeats;
//! - `"beat_until_attempt": n`: attempts before `n` then send the same
//!   heartbeat every 200 ms forever;
//! - `"spin": true`: then loops forever without host calls.
//!
//! Output: `{"attempt", "last_heartbeat", "idempotency_key"}`.

#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit", world: "activity" });
}

use std::time::Duration;

use bindings::duro::workflow::activity_context as context;
use bindings::duro::workflow::types::ActivityError;
use serde_json::{Value, json};

struct Probe;

fn error(type_name: &str, message: String, non_retryable: bool) -> ActivityError {
    ActivityError {
        type_name: type_name.to_owned(),
        message,
        non_retryable,
        details: None,
        next_retry_delay_ms: None,
    }
}

impl bindings::Guest for Probe {
    fn run(input: String) -> Result<String, ActivityError> {
        let input: Value =
            serde_json::from_str(&input).map_err(|e| error("bad-input", e.to_string(), true))?;
        let attempt = context::attempt();
        if let Some(details) = input["heartbeat"].as_str() {
            context::heartbeat(&format!("{details} (attempt {attempt})"));
        }
        if let Some(message) = input["non_retryable"].as_str() {
            return Err(error("declined", message.to_owned(), true));
        }
        if attempt < input["fail_until_attempt"].as_u64().unwrap_or(0) as u32 {
            return Err(ActivityError {
                details: Some(json!({ "attempt": attempt }).to_string()),
                next_retry_delay_ms: input["retry_delay_ms"].as_u64(),
                ..error("flaky", format!("attempt {attempt} failed"), false)
            });
        }
        if let Some(ms) = input["sleep_ms"].as_u64() {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if input["spin"] == true {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        if attempt < input["beat_until_attempt"].as_u64().unwrap_or(0) as u32 {
            let details = format!("{} (attempt {attempt})", input["heartbeat"].as_str().unwrap_or("beat"));
            loop {
                context::heartbeat(&details);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if input["hang"] == true {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let output = json!({
            "attempt": attempt,
            "last_heartbeat": context::last_heartbeat(),
            "idempotency_key": context::idempotency_key(),
        });
        Ok(output.to_string())
    }
}

bindings::export!(Probe with_types_in bindings);
