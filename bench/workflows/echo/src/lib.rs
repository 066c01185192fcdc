//! The benchmark's trivial durable step: an activity that returns its input.

use duro_sdk::activity::Failure;
use serde_json::Value;

fn echo(input: Value) -> Result<Value, Failure> {
    Ok(input)
}

duro_sdk::activity!(echo);
