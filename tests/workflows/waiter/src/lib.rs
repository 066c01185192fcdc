//! A workflow that waits in the way its input says, for the host's tests of
//! signals, timers, `wait-any`, cancellation, events and child workflows.
//!
//! Input is `{"op": ..., ...}`; a wait that is cancelled fails the workflow
//! with `cancelled` unless the op says otherwise, and an unknown op fails it
//! with `unknown op "<op>"`.
//!
//! * `{"op":"receive","name":N,"count":C,"sleep_every":K?,"sleep_ms":S?}`:
//!   receives `C` signals named `N` one after another, and after every
//!   `K`-th (`K` > 0; 0 or absent: never) sleeps `S` ms (default 0) with a
//!   cancellable durable sleep. Output `{"payloads":[...]}`, in the order
//!   received.
//! * `{"op":"race","name":N,"timeout_ms":T}`: races the next signal `N`
//!   against a timer of `T` ms. Output `{"winner":"signal","payload":P}` or
//!   `{"winner":"timeout"}`.
//! * `{"op":"sleep","sleep_ms":T}`: sets event `stage` to `"sleeping"` and
//!   sleeps `T` ms. Output `{"cancelled":false}`; if cancelled meanwhile it
//!   logs `compensating`, sets `stage` to `"compensating"`, sleeps 50 ms more
//!   (waits work after a cancellation; if that one is cancelled too it fails
//!   with `the compensation sleep was cancelled`), sets `stage` to
//!   `"compensated"` and outputs `{"cancelled":true}`.
//! * `{"op":"events"}`: sets event `stage` to `"started"`, receives signal
//!   `finish`, sets `stage` to `"done"`. Output `{"finished":P}`.
//! * `{"op":"wait"}`: receives signal `go`. Output `{"got":P}`.
//! * `{"op":"children","component":C,"names":[...],"child_input"?:I}`:
//!   starts one child of component `C` per name, with input `I` if given,
//!   else `{"name":<name>}`, and the default id, then joins them in order. Output `{"outputs":[...]}`, the children's
//!   outputs; a child that did not complete fails the workflow with
//!   `child workflow <id> <status>: <error>`, one that could not start with
//!   `cannot start child <name>: <why>`.
//!
//! `P` is a signal's JSON payload as sent.

use std::time::Duration;

use duro_sdk::Level;
use duro_sdk::wait::{self, Cancelled, Outcome, WaitError};
use duro_sdk::{child, set_event};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// `receive`: several signals of one name, with sleeps in between.
#[derive(Deserialize)]
struct Receive {
    name: String,
    count: u64,
    #[serde(default)]
    sleep_every: u64,
    #[serde(default)]
    sleep_ms: u64,
}

/// `race`: a signal against a timeout.
#[derive(Deserialize)]
struct Race {
    name: String,
    timeout_ms: u64,
}

/// `sleep`: a cancellable sleep, compensated when cancelled.
#[derive(Deserialize)]
struct Sleep {
    sleep_ms: u64,
}

/// `children`: one child workflow per name.
#[derive(Deserialize)]
struct Children {
    component: String,
    names: Vec<String>,
    child_input: Option<Value>,
}

fn waiter(input: Value) -> Result<Value, String> {
    let op = input.get("op").and_then(Value::as_str).unwrap_or_default().to_owned();
    match op.as_str() {
        "receive" => receive(parse(input)?),
        "race" => race(parse(input)?),
        "sleep" => sleep(parse(input)?),
        "events" => events(),
        "wait" => Ok(json!({ "got": wait::receive::<Value>("go").map_err(waited)? })),
        "children" => children(parse(input)?),
        _ => Err(format!("unknown op {op:?}")),
    }
}

/// Parses the op's own fields (`op` itself is ignored).
fn parse<T: DeserializeOwned>(input: Value) -> Result<T, String> {
    serde_json::from_value(input).map_err(|e| format!("invalid input: {e}"))
}

/// The workflow error for a wait that returned no value.
fn waited(error: WaitError) -> String {
    match error {
        WaitError::Cancelled => cancelled(Cancelled),
        WaitError::Decode(message) => message,
    }
}

/// The workflow error for a cancelled wait.
fn cancelled(_: Cancelled) -> String {
    "cancelled".to_owned()
}

fn receive(op: Receive) -> Result<Value, String> {
    let mut payloads = Vec::new();
    for received in 1..=op.count {
        payloads.push(wait::receive::<Value>(&op.name).map_err(waited)?);
        if op.sleep_every > 0 && received % op.sleep_every == 0 {
            wait::sleep(Duration::from_millis(op.sleep_ms)).map_err(cancelled)?;
        }
    }
    Ok(json!({ "payloads": payloads }))
}

fn race(op: Race) -> Result<Value, String> {
    let signal = wait::signal(&op.name);
    let timeout = wait::timer(Duration::from_millis(op.timeout_ms));
    match wait::wait_any(&[&signal, &timeout]).map_err(cancelled)? {
        (0, Outcome::Signal(payload)) => {
            let payload: Value =
                serde_json::from_str(&payload).map_err(|e| format!("signal payload: {e}"))?;
            Ok(json!({ "winner": "signal", "payload": payload }))
        }
        (1, Outcome::Fired) => Ok(json!({ "winner": "timeout" })),
        (index, outcome) => Err(format!("unexpected winner {index}: {outcome:?}")),
    }
}

fn sleep(op: Sleep) -> Result<Value, String> {
    set_event("stage", "sleeping")?;
    if wait::sleep(Duration::from_millis(op.sleep_ms)).is_ok() {
        return Ok(json!({ "cancelled": false }));
    }
    duro_sdk::log(Level::Info, "compensating");
    set_event("stage", "compensating")?;
    wait::sleep(Duration::from_millis(50)).map_err(|_| "the compensation sleep was cancelled".to_owned())?;
    set_event("stage", "compensated")?;
    Ok(json!({ "cancelled": true }))
}

fn events() -> Result<Value, String> {
    set_event("stage", "started")?;
    let finished = wait::receive::<Value>("finish").map_err(waited)?;
    set_event("stage", "done")?;
    Ok(json!({ "finished": finished }))
}

fn children(op: Children) -> Result<Value, String> {
    let children = op
        .names
        .iter()
        .map(|name| {
            let input = op.child_input.clone().unwrap_or_else(|| json!({ "name": name }));
            child::start(&op.component, &input, None).map_err(|e| format!("cannot start child {name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut outputs = Vec::with_capacity(children.len());
    for child in &children {
        outputs.push(child.join::<Value>().map_err(waited)?.map_err(|end| end.to_string())?);
    }
    Ok(json!({ "outputs": outputs }))
}

duro_sdk::workflow!(waiter);
