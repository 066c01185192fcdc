//! A workflow built on durable timers.
//!
//! Input `{"n":3,"seconds":2}`: `n` times, sleeps `seconds` with a durable
//! timer, then records the journaled wall-clock time in nanoseconds since
//! the Unix epoch. Each tick is logged and printed to stdout. Output
//! `{"ticks":[t1,t2,t3]}`.
//!
//! Killing the host mid-countdown and restarting it resumes the countdown:
//! replay returns the recorded timers and times at once, then waits for
//! the timer that had not fired yet.

use std::time::Duration;

use duro_sdk::Level;
use serde::{Deserialize, Serialize};

/// Workflow input.
#[derive(Deserialize)]
struct Input {
    /// Number of ticks.
    n: u32,
    /// Seconds to sleep before each tick.
    seconds: u64,
}

/// Workflow output.
#[derive(Serialize)]
struct Output {
    /// Wall-clock time of each tick, nanoseconds since the Unix epoch.
    ticks: Vec<u64>,
}

fn countdown(input: Input) -> Result<Output, String> {
    let mut ticks = Vec::new();
    for i in 1..=input.n {
        duro_sdk::sleep(Duration::from_secs(input.seconds));
        let at_ns = duro_sdk::now_ns();
        ticks.push(at_ns);
        duro_sdk::log(Level::Info, &format!("tick {i} of {} at {at_ns} ns", input.n));
        println!("tick {i}");
    }
    Ok(Output { ticks })
}

duro_sdk::workflow!(countdown);
