//! An order as a saga: reserve stock, charge the card, ship, each a
//! journaled HTTP call to the shop service (`examples/shop-service`).
//!
//! Transient failures (connection errors, timeouts, 5xx, 429) are retried
//! by the host under the input's retry policy, durably: a restart during a
//! backoff resumes it. A definite refusal (a 4xx, or retries used up) runs
//! the compensations of the steps done so far in reverse order (cancel the
//! shipment, refund the payment, release the stock) and fails the workflow
//! with an error naming the step, the reason and what was undone.
//!
//! Every request carries the host's `idempotency-key`, so a request re-sent
//! after a crash is recognised by the shop and not charged twice.
//!
//! Input:
//! ```json
//! {"shop": "http://127.0.0.1:3000", "sku": "sku-1", "quantity": 2,
//!  "amount_cents": 2598, "card": "4242", "address": "1 Main St",
//!  "api_key_rot13": "fx-yvir-123", "retry_initial_ms": 1000, "max_attempts": 5}
//! ```
//! `api_key_rot13` (optional) is the payments API key, ROT13-encoded so the
//! key itself is never stored as input; it is sent as
//! `authorization: Bearer <key>`, which the host journals as a digest.
//! Output: `{"reservation_id","payment_id","shipment_id"}`.

use std::time::Duration;

use duro_sdk::http::Request;
use duro_sdk::{Level, RetryPolicy, log};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Order {
    shop: String,
    sku: String,
    quantity: u32,
    amount_cents: u64,
    card: String,
    address: String,
    #[serde(default)]
    api_key_rot13: Option<String>,
    #[serde(default = "default_retry_initial_ms")]
    retry_initial_ms: u64,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
}

fn default_retry_initial_ms() -> u64 {
    1_000
}

fn default_max_attempts() -> u32 {
    5
}

#[derive(Serialize)]
struct Placed {
    reservation_id: String,
    payment_id: String,
    shipment_id: String,
}

/// A step that was done and how to undo it.
struct Compensation {
    path: &'static str,
    body: Value,
    what: String,
}

struct Saga<'a> {
    order: &'a Order,
    done: Vec<Compensation>,
}

impl Saga<'_> {
    /// POSTs `body` to `path` and returns the JSON answer of a 2xx.
    fn call(&self, path: &str, body: &Value) -> Result<Value, String> {
        let policy = RetryPolicy::attempts(self.order.max_attempts)
            .initial_interval(Duration::from_millis(self.order.retry_initial_ms));
        let mut request = Request::post(&format!("{}{path}", self.order.shop))
            .json(body)
            .map_err(|e| e.to_string())?
            .retry(policy);
        if path.starts_with("/payments/")
            && let Some(key) = &self.order.api_key_rot13
        {
            request = request.header("authorization", format!("Bearer {}", rot13(key)));
        }
        let response = request.send().map_err(|e| e.to_string())?;
        if !response.is_success() {
            return Err(format!("{path} answered {}: {}", response.status, response.text()));
        }
        response.json().map_err(|e| format!("{path} answered invalid JSON: {e}"))
    }

    /// Runs `path`, reads `field` of its answer, and remembers the undo step.
    fn step(
        &mut self,
        path: &str,
        body: Value,
        field: &str,
        undo: (&'static str, &str),
    ) -> Result<String, String> {
        let answer = self.call(path, &body)?;
        let id = answer[field].as_str().ok_or_else(|| format!("{path} answered without {field}"))?.to_owned();
        log(Level::Info, &format!("{path}: {id}"));
        let (undo_path, undo_field) = undo;
        self.done.push(Compensation {
            path: undo_path,
            body: json!({ undo_field: id }),
            what: format!("{undo_path} {id}"),
        });
        Ok(id)
    }

    /// Undoes every step done, last first; returns what was undone.
    fn compensate(&mut self) -> Vec<String> {
        let mut undone = Vec::new();
        while let Some(step) = self.done.pop() {
            match self.call(step.path, &step.body) {
                Ok(_) => undone.push(step.what),
                Err(error) => {
                    log(Level::Error, &format!("compensation {} failed: {error}", step.what));
                    undone.push(format!("{} (FAILED: {error})", step.what));
                }
            }
        }
        undone
    }
}

fn place(order: Order) -> Result<Placed, String> {
    let mut saga = Saga { order: &order, done: Vec::new() };
    let placed = (|| {
        let reservation_id = saga.step(
            "/inventory/reserve",
            json!({ "sku": order.sku, "quantity": order.quantity }),
            "reservation_id",
            ("/inventory/release", "reservation_id"),
        )?;
        let payment_id = saga.step(
            "/payments/charge",
            json!({ "amount_cents": order.amount_cents, "card": order.card }),
            "payment_id",
            ("/payments/refund", "payment_id"),
        )?;
        let shipment_id = saga.step(
            "/shipping/ship",
            json!({ "reservation_id": reservation_id, "address": order.address }),
            "shipment_id",
            ("/shipping/cancel", "shipment_id"),
        )?;
        Ok(Placed { reservation_id, payment_id, shipment_id })
    })();
    placed.map_err(|error: String| {
        log(Level::Warn, &format!("order failed, compensating: {error}"));
        let undone = saga.compensate();
        format!("order failed: {error}; compensated in reverse order: [{}]", undone.join(", "))
    })
}

fn rot13(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect()
}

duro_sdk::workflow!(place);
