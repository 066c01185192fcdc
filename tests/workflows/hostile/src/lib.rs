//! A workflow that abuses the host on request, for the host's defence tests.
//!
//! Input (one of; all numbers are unsigned integers):
//! - `{"raw_newline_write":{"bytes":N}}`: one raw `wasi:io` `write` of N
//!   newlines to stdout, ignoring `check-write`; returns `[N]`, or fails with
//!   the stream error if the host reports one instead of trapping;
//! - `{"std_newline_write":{"bytes":N}}`: writes N newlines through
//!   `std::io::stdout` (which honours `check-write`) and flushes; returns `[N]`;
//! - `{"random_requests":{"count":C,"bytes":B}}`: C calls of
//!   `wasi:random/random.get-random-bytes(B)`, each result dropped; returns
//!   `[xor of the first bytes, C]`;
//! - `{"log_flood":{"activations":A,"lines":L,"line_bytes":K,"sleep_ms":S}}`:
//!   A times: L lines of K `x`s (even lines through `duro_sdk::log` at info
//!   level, odd lines through `println!`), then a durable sleep of S ms;
//!   returns `[A * L]`;
//! - `{"handle_flood":{"count":N}}`: N calls of `wasi:cli/stdout.get-stdout`,
//!   each handle leaked so the host's resource table fills; returns `[N]`;
//! - `{"sleep_bursts":{"bursts":B,"spin_iterations":I,"sleep_ms":S}}`: B
//!   times: a busy loop of I iterations without host calls, then a durable
//!   sleep of S ms; returns `[B]`;
//! - `{"steps":{"count":N,"work_iterations":I,"sleep_every":E,"sleep_ms":S}}`:
//!   N steps, each a busy loop of I iterations then one journaled
//!   `duro_sdk::now_ns()`; after every E steps (if E > 0) a durable sleep of
//!   S ms; returns `[N, wrapping sum of the times]`;
//! - `{"inline_sleeps":{"count":N,"sleep_ms":S}}`: N times: a durable sleep of
//!   S ms, then `println!("tick {i}")`; returns `[N]`.
//!
//! A busy-loop iteration is one `wrapping_add` passed through
//! `std::hint::black_box`.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Hostility {
    RawNewlineWrite { bytes: usize },
    StdNewlineWrite { bytes: usize },
    RandomRequests { count: u64, bytes: u64 },
    LogFlood { activations: u64, lines: u64, line_bytes: usize, sleep_ms: u64 },
    HandleFlood { count: u64 },
    SleepBursts { bursts: u64, spin_iterations: u64, sleep_ms: u64 },
    Steps { count: u64, work_iterations: u64, sleep_every: u64, sleep_ms: u64 },
    InlineSleeps { count: u64, sleep_ms: u64 },
}

/// Burns CPU for `iterations` loop rounds without host calls.
fn spin(iterations: u64) -> u64 {
    let mut counter: u64 = 0;
    for _ in 0..iterations {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
    counter
}

fn hostile(what: Hostility) -> Result<Vec<u64>, String> {
    match what {
        Hostility::RawNewlineWrite { bytes } => {
            let stdout = wasi::cli::stdout::get_stdout();
            stdout
                .write(&vec![b'\n'; bytes])
                .map_err(|e| format!("raw write of {bytes} bytes failed: {e:?}"))?;
            Ok(vec![bytes as u64])
        }
        Hostility::StdNewlineWrite { bytes } => {
            let mut stdout = std::io::stdout();
            stdout
                .write_all(&vec![b'\n'; bytes])
                .map_err(|e| format!("write of {bytes} bytes failed: {e}"))?;
            stdout.flush().map_err(|e| format!("flush failed: {e}"))?;
            Ok(vec![bytes as u64])
        }
        Hostility::RandomRequests { count, bytes } => {
            let mut acc: u8 = 0;
            for _ in 0..count {
                let random = wasi::random::random::get_random_bytes(bytes);
                acc ^= random.first().copied().unwrap_or(0);
            }
            Ok(vec![u64::from(acc), count])
        }
        Hostility::LogFlood { activations, lines, line_bytes, sleep_ms } => {
            let line = "x".repeat(line_bytes);
            for _ in 0..activations {
                for n in 0..lines {
                    if n % 2 == 0 {
                        duro_sdk::log(duro_sdk::Level::Info, &line);
                    } else {
                        println!("{line}");
                    }
                }
                duro_sdk::sleep(Duration::from_millis(sleep_ms));
            }
            Ok(vec![activations.saturating_mul(lines)])
        }
        Hostility::HandleFlood { count } => {
            for _ in 0..count {
                std::mem::forget(wasi::cli::stdout::get_stdout());
            }
            Ok(vec![count])
        }
        Hostility::SleepBursts { bursts, spin_iterations, sleep_ms } => {
            for _ in 0..bursts {
                spin(spin_iterations);
                duro_sdk::sleep(Duration::from_millis(sleep_ms));
            }
            Ok(vec![bursts])
        }
        Hostility::Steps { count, work_iterations, sleep_every, sleep_ms } => {
            let mut sum: u64 = 0;
            for step in 1..=count {
                spin(work_iterations);
                sum = sum.wrapping_add(duro_sdk::now_ns());
                if sleep_every > 0 && step % sleep_every == 0 {
                    duro_sdk::sleep(Duration::from_millis(sleep_ms));
                }
            }
            Ok(vec![count, sum])
        }
        Hostility::InlineSleeps { count, sleep_ms } => {
            for i in 0..count {
                duro_sdk::sleep(Duration::from_millis(sleep_ms));
                println!("tick {i}");
            }
            Ok(vec![count])
        }
    }
}

duro_sdk::workflow!(hostile);
