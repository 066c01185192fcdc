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

use std::time::Duration;

use duro_sdk::activity::{self as context, Failure};
use serde_json::{Value, json};

fn probe(input: Value) -> Result<Value, Failure> {
    let attempt = context::attempt();
    if let Some(details) = input["heartbeat"].as_str() {
        context::heartbeat(&format!("{details} (attempt {attempt})"));
    }
    if let Some(message) = input["non_retryable"].as_str() {
        return Err(Failure::non_retryable("declined", message));
    }
    if attempt < input["fail_until_attempt"].as_u64().unwrap_or(0) as u32 {
        let mut failure = Failure::retryable("flaky", format!("attempt {attempt} failed"))
            .details(&json!({ "attempt": attempt }));
        failure.next_retry_delay = input["retry_delay_ms"].as_u64().map(Duration::from_millis);
        return Err(failure);
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
    Ok(output)
}

duro_sdk::activity!(probe);
