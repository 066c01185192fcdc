//! Write duro durable workflows in Rust.
//!
//! A duro workflow is a WebAssembly component (built for `wasm32-wasip2`)
//! whose `run` function takes JSON input and returns JSON output. The host
//! journals every call the workflow makes to the outside world, so after a
//! crash, a restart or a long [`sleep`] it can *replay* the workflow from the
//! start and hand back the recorded results instead of doing the work again.
//!
//! This crate hides the WebAssembly plumbing: write a plain Rust function
//! from a [`serde`] input type to a `Result` of a [`serde`] output type and
//! register it with [`workflow!`].
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! duro-sdk = { path = "../guest-sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use duro_sdk::Level;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Input {
//!     name: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Output {
//!     message: String,
//!     woke_at_ns: u128,
//! }
//!
//! fn remind(input: Input) -> Result<Output, String> {
//!     if input.name.is_empty() {
//!         return Err("name must not be empty".to_owned());
//!     }
//!     duro_sdk::log(Level::Info, &format!("reminding {} in an hour", input.name));
//!     // A durable timer: the host may unload the workflow while it waits.
//!     duro_sdk::sleep(Duration::from_secs(60 * 60));
//!     let woke_at = duro_sdk::now();
//!     Ok(Output {
//!         message: format!("Time to stretch, {}!", input.name),
//!         woke_at_ns: woke_at
//!             .duration_since(UNIX_EPOCH)
//!             .map_err(|e| e.to_string())?
//!             .as_nanos(),
//!     })
//! }
//!
//! duro_sdk::workflow!(remind);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the
//! resulting `.wasm` file is the component to hand to the duro host.
//!
//! # Determinism rules
//!
//! Replay re-runs `run` from the beginning and feeds it the journal. The
//! workflow must therefore make the *same host calls in the same order with
//! the same arguments* on every execution; if it does not, the host stops
//! it with status `stuck` (a non-determinism error).
//!
//! * Get the time from [`now`], randomness from [`random`], and wait with
//!   [`sleep`] or [`wait::sleep`]. These are journaled.
//! * Reach the outside world with [`http::Request::send`]: the response is
//!   journaled before the workflow sees it, so a request whose response was
//!   recorded is never sent again. A request in flight when the host crashes
//!   is sent again with the same `idempotency-key` header.
//! * `std::time::SystemTime::now`, `std::time::Instant` and the random seed
//!   of `std::collections::HashMap` go through WASI imports that the host
//!   also serves from the journal (or from a fixed seed), so they are safe,
//!   but prefer the functions of this crate: they make intent explicit.
//! * `std::thread::sleep` (and any other real-time wait through
//!   `wasi:clocks/monotonic-clock.subscribe-*`) fails the workflow: such a
//!   wait could not survive a restart. Use [`sleep`].
//! * Wait for signals, timers and child workflows with [`wait`] and
//!   [`child`]. Making a handle ([`wait::timer`], [`wait::signal`],
//!   [`child::start`], [`child::Child::cancel`]) is a journaled call, and
//!   each [`wait::wait_any`] journals which handle won and its outcome, so
//!   make handles in the same order on every execution and let the winner
//!   decide the branch: replay returns the same winner even if, this time,
//!   another handle would have been ready first. Signal payloads and child
//!   outputs are journaled too, so decoding them is deterministic.
//!   Cancellation arrives as [`wait::Cancelled`] from one wait; later waits
//!   work, so compensate with them, then return.
//! * Publish progress for callers with [`set_event`] (journaled); it is
//!   not an input, so never branch on values the workflow published itself.
//! * Do not branch on anything that is not an input, a journaled result, or
//!   a pure computation of those. Code changes to a workflow that has
//!   already started can break replay.
//! * [`log`] is safe anywhere: lines are de-duplicated on replay.
//! * Output of `println!`/`eprintln!` is captured by the host.
//!
//! A panic traps the component and marks the workflow `failed`.
//!
//! See [`macro_expansion`] for what [`workflow!`] generates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod activity;
pub mod child;
pub mod http;
pub mod macro_expansion;
mod retry;
pub mod wait;

pub use retry::RetryPolicy;

use __private::bindings::duro::workflow::{events, runtime};

/// Severity of a log line, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging information.
    Debug,
    /// Normal progress information.
    Info,
    /// Something unexpected that the workflow handled.
    Warn,
    /// A failure.
    Error,
}

impl From<Level> for runtime::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => Self::Trace,
            Level::Debug => Self::Debug,
            Level::Info => Self::Info,
            Level::Warn => Self::Warn,
            Level::Error => Self::Error,
        }
    }
}

/// Journaled wall-clock time in nanoseconds since the Unix epoch (UTC).
///
/// The first execution records the host's current time; on replay the
/// recorded value is returned, so each call sees the same time on every
/// execution. Every call adds a journal entry.
#[must_use]
pub fn now_ns() -> u64 {
    runtime::now()
}

/// Journaled wall-clock time.
///
/// Same as [`now_ns`] as a [`SystemTime`]: the first execution records the
/// host's current time and replay returns the recorded value.
#[must_use]
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(now_ns())
}

/// A uniformly distributed random `u64` from the host's cryptographically
/// secure generator.
///
/// Journaled: on replay the recorded value is returned.
#[must_use]
pub fn random() -> u64 {
    runtime::random_u64()
}

/// A durable timer: returns once at least `duration` has passed since the
/// call was first made.
///
/// The wake-up time is journaled. A short wait (up to the host's inline
/// threshold, 1 s by default) happens in memory; a longer one unloads the
/// workflow and stores its wake-up time, so it survives host crashes and
/// restarts and holds no memory meanwhile. On replay a timer that has already
/// fired returns at once.
/// Durations are sent in nanoseconds; anything longer than `u64::MAX`
/// nanoseconds (about 584 years) is clamped to that. A zero duration still
/// adds a journal entry and returns at once.
///
/// Use a durable sleep for every wait in a workflow: `std::thread::sleep`,
/// which could not be durable, fails the workflow. This one cannot be
/// interrupted and is kept for compatibility; [`wait::sleep`] is the same
/// wait but returns early with [`wait::Cancelled`] when the workflow is
/// asked to cancel, so prefer it in workflows that can be cancelled.
pub fn sleep(duration: Duration) {
    runtime::sleep(nanos(duration));
}

/// `duration` in nanoseconds, clamped to `u64::MAX` (about 584 years).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Publishes `value` as JSON under event `key` (at most 256 bytes), for
/// callers to read with `GET /v1/workflows/{id}/events/{key}` without
/// replaying the workflow (which may long-poll for the first value).
///
/// Journaled, and committed before this returns, so a caller never sees a
/// value the workflow could lose in a crash; the latest value of a key wins.
/// The JSON must be at most 64 KiB; more fails the workflow.
///
/// # Errors
/// `event <key>: cannot serialize the value: <serde error>` when `value`
/// does not serialize to JSON; nothing is published then.
pub fn set_event<T: serde::Serialize + ?Sized>(key: &str, value: &T) -> Result<(), String> {
    let value =
        serde_json::to_string(value).map_err(|e| format!("event {key}: cannot serialize the value: {e}"))?;
    events::set_event(key, &value);
    Ok(())
}

/// Appends `message` to the workflow's log at `level`.
///
/// Not journaled: on replay the host drops lines it already stored, so each
/// line appears once in the log however often the workflow is replayed.
pub fn log(level: Level, message: &str) {
    runtime::log(level.into(), message);
}

/// Registers `fn(In) -> Result<Out, E>` as the workflow's entry point.
///
/// `In` must implement [`serde::de::DeserializeOwned`], `Out` must implement
/// [`serde::Serialize`] and `E` must implement [`std::fmt::Display`]. The
/// argument may be any path or expression of such a function type
/// (including a non-capturing closure).
///
/// The generated `run` export:
///
/// * parses the input JSON into `In`; if that fails, the workflow fails with
///   `invalid input: <serde error>` without calling the function;
/// * calls the function; `Ok(out)` is serialized to JSON as the workflow's
///   output (a serialization error fails the workflow with
///   `invalid output: <serde error>`); `Err(e)` fails the workflow with
///   `e.to_string()`.
///
/// Use it exactly once per crate, at item level. The crate must be built as
/// a `cdylib` for `wasm32-wasip2`.
///
/// ```no_run
/// fn double(n: u64) -> Result<u64, std::convert::Infallible> {
///     Ok(n * 2)
/// }
///
/// duro_sdk::workflow!(double);
/// ```
///
/// See [`macro_expansion`] for the generated code.
#[macro_export]
macro_rules! workflow {
    ($run:expr $(,)?) => {
        const _: () = {
            struct __DuroWorkflow;

            impl $crate::__private::Guest for __DuroWorkflow {
                fn run(input: $crate::__private::String) -> $crate::__private::RunResult {
                    $crate::__private::run_json(&input, $run)
                }
            }

            $crate::__private::export!(
                __DuroWorkflow with_types_in $crate::__private::bindings
            );
        };
    };
}

/// Support items for [`workflow!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
    pub use std::string::String;

    /// What the `run` export returns: output JSON or an error message.
    pub type RunResult = Result<String, String>;

    /// wit-bindgen generated bindings for `duro:workflow/workflow`.
    // wit-bindgen's generated glue is `unsafe`; it is the only unsafe code.
    #[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "workflow",
            pub_export_macro: true,
            export_macro_name: "__duro_export_workflow",
            default_bindings_module: "duro_sdk::__private::bindings",
        });
    }

    pub use bindings::__duro_export_workflow as export;
    pub use bindings::Guest;

    /// Decodes `input`, calls `run` and encodes its result.
    pub fn run_json<In, Out, E>(input: &str, run: impl FnOnce(In) -> Result<Out, E>) -> RunResult
    where
        In: serde::de::DeserializeOwned,
        Out: serde::Serialize,
        E: std::fmt::Display,
    {
        let input: In = serde_json::from_str(input).map_err(|e| format!("invalid input: {e}"))?;
        let output = run(input).map_err(|e| e.to_string())?;
        serde_json::to_string(&output).map_err(|e| format!("invalid output: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::__private::run_json;
    use super::nanos;

    #[test]
    fn durations_are_clamped_nanoseconds() {
        assert_eq!(nanos(Duration::from_millis(1500)), 1_500_000_000);
        assert_eq!(nanos(Duration::from_secs(u64::MAX)), u64::MAX);
    }

    fn double(n: u64) -> Result<u64, String> {
        if n == 0 { Err("zero".to_owned()) } else { Ok(n * 2) }
    }

    #[test]
    fn run_json_maps_input_output_and_errors() {
        assert_eq!(run_json("21", double), Ok("42".to_owned()));
        assert_eq!(run_json("0", double), Err("zero".to_owned()));
        let bad = run_json("\"x\"", double);
        assert!(matches!(&bad, Err(e) if e.starts_with("invalid input: ")), "{bad:?}");
    }
}
