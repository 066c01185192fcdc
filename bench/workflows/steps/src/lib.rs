//! The benchmark's workflow of K durable steps: `{"steps": K}` calls the
//! `echo` activity K times, one after the other, each with the step number
//! as input, and returns `{"steps": K}` once every answer came back equal
//! to what was sent. Each call is one journal entry whose outcome is
//! committed before the next call starts.

use std::time::Duration;

use duro_sdk::activity::{self, Options};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Input {
    steps: u32,
}

fn steps(input: Input) -> Result<Value, String> {
    let options = Options::new(Duration::from_secs(10));
    for step in 0..input.steps {
        let answer: u32 = activity::call("echo", &step, &options).map_err(|error| error.message)?;
        if answer != step {
            return Err(format!("step {step}: echo answered {answer}"));
        }
    }
    Ok(json!({ "steps": input.steps }))
}

duro_sdk::workflow!(steps);
