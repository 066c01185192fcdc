//! A workflow that misbehaves on request, for the host's failure tests.
//!
//! Input (one of):
//! - `{"panic":"message"}`: panics with `message` (a trap after printing to stderr);
//! - `"spin"`: loops forever without host calls (runs into the CPU limit);
//! - `{"alloc_mib":N}`: allocates and touches N MiB (runs into the memory limit);
//! - `{"fail":"message"}`: returns `Err(message)`.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Misbehaviour {
    Panic(String),
    Spin,
    AllocMib(usize),
    Fail(String),
}

fn misbehave(what: Misbehaviour) -> Result<u64, String> {
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
            Ok(block.iter().map(|&b| u64::from(b)).sum())
        }
        Misbehaviour::Fail(message) => Err(message),
    }
}

duro_sdk::workflow!(misbehave);
