//! The smallest duro workflow: greets someone and says when.
//!
//! Input `{"name":"Ada"}`, output `{"greeting":"Hello, Ada!","at_ns":<ns>}`
//! where `at_ns` is the wall-clock time in nanoseconds since the Unix epoch,
//! read with Rust's own `std::time::SystemTime::now()`: the host serves
//! `wasi:clocks` through the journal, so even std's clock replays
//! identically. Logs one info line. Input without a string `name` fails the
//! workflow with `invalid input: ...`.

use std::time::{SystemTime, UNIX_EPOCH};

use duro_sdk::Level;
use serde::{Deserialize, Serialize};

/// Workflow input.
#[derive(Deserialize)]
struct Input {
    name: String,
}

/// Workflow output.
#[derive(Serialize)]
struct Output {
    greeting: String,
    at_ns: u64,
}

fn hello(input: Input) -> Result<Output, String> {
    let greeting = format!("Hello, {}!", input.name);
    duro_sdk::log(Level::Info, &greeting);
    Ok(Output {
        greeting,
        at_ns: SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_nanos() as u64,
    })
}

duro_sdk::workflow!(hello);
