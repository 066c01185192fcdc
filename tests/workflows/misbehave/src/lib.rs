//! A workflow that misbehaves on request, for the host's failure tests.
//!
//! Input (one of):
//! - `{"panic":"message"}`: panics with `message` (a trap after printing to stderr);
//! - `"spin"`: loops forever without host calls (runs into the CPU limit);
//! - `{"alloc_mib":N}`: allocates and touches N MiB (runs into the memory limit);
//! - `{"fail":"message"}`: returns `Err(message)`;
//! - `{"random_bytes":N}`: returns N random bytes from `getrandom` (`wasi:random`);
//! - `{"output_zeros":N}`: returns N zeros (an output of about 2N bytes);
//! - `{"short_sleeps":N}`: N durable sleeps of 20 ms (awaited in memory);
//! - `{"thread_sleep_ms":N}`: calls `std::thread::sleep` (not available to workflows);
//! - `{"split_line_across_sleep_ms":N}`: prints half a line to stdout, sleeps
//!   N ms with the durable timer, prints the rest.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Misbehaviour {
    Panic(String),
    Spin,
    AllocMib(usize),
    Fail(String),
    RandomBytes(usize),
    OutputZeros(usize),
    ShortSleeps(u64),
    ThreadSleepMs(u64),
    SplitLineAcrossSleepMs(u64),
}

fn misbehave(what: Misbehaviour) -> Result<Vec<u64>, String> {
    match what {
        Misbehaviour::Panic(message) => panic!("{message}"),
        Misbehaviour::Spin => {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        Misbehaviour::AllocMib(mib) => {
            let block = vec![1u8; mib << 20];
            Ok(vec![block.iter().map(|&b| u64::from(b)).sum()])
        }
        Misbehaviour::Fail(message) => Err(message),
        Misbehaviour::RandomBytes(len) => {
            let mut bytes = vec![0u8; len];
            getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
            Ok(bytes.into_iter().map(u64::from).collect())
        }
        Misbehaviour::OutputZeros(n) => Ok(vec![0; n]),
        Misbehaviour::ShortSleeps(n) => {
            for _ in 0..n {
                duro_sdk::sleep(Duration::from_millis(20));
            }
            Ok(vec![n])
        }
        Misbehaviour::ThreadSleepMs(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(Vec::new())
        }
        Misbehaviour::SplitLineAcrossSleepMs(ms) => {
            print!("before the timer, ");
            std::io::stdout().flush().map_err(|e| e.to_string())?;
            duro_sdk::sleep(Duration::from_millis(ms));
            println!("after the timer");
            Ok(Vec::new())
        }
    }
}

duro_sdk::workflow!(misbehave);
