//! Write duro durable workflows in Rust.
//!
//! A duro workflow is a WebAssembly component (built for `wasm32-wasip2`)
//! whose `run` function takes JSON input and returns JSON output. The host
//! journals every call the workflow makes to the outside world, so after a
//! crash, a restart or a long [`sleep`] it can *replay* the workflow from the
//! start and hand back the recorded results instead of doing the work again.
//!
//! This crate hides the WebAssembly plumbing: write a plain Rust function
//! (or an `async fn`) from a [`serde`] input type to a `Result` of a
//! [`serde`] output type and register it with [`workflow!`]. No wit-bindgen
//! type and no `unsafe` reaches the author.
//!
//! * The crate root: journaled time ([`now`]), randomness ([`random`]), a
//!   durable [`sleep`], events ([`set_event`]), [`log`], and the macros
//!   [`workflow!`], [`activity!`], [`select!`] and [`join!`].
//! * [`http`]: journaled outbound HTTP with retries ([`RetryPolicy`]).
//! * [`activity`](mod@activity): calling activities with timeouts and retries, and
//!   writing them.
//! * [`wait`]: durable timers, signals and child handles, raced with the
//!   blocking [`wait::wait_any`]; cancellation as [`wait::Cancelled`].
//! * [`child`]: child workflows.
//! * [`future`]: the same waits as futures, for `async` workflows that race
//!   with [`select!`] and [`join!`], on a deterministic executor.
//! * [`testing`] (not on wasm): runs a workflow or an activity under
//!   `cargo test` against a scripted runtime and records its calls.
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
//!   [`child`], or their futures in [`future`] (race them with [`select!`],
//!   which polls in the order written, never with `futures::select!`,
//!   which polls in a random order). Making a handle ([`wait::timer`], [`wait::signal`],
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
//! # Testing
//!
//! Natively (any target but wasm) the crate's calls are answered by
//! [`testing`]'s scripted runtime, so a workflow crate can carry ordinary
//! `#[cfg(test)]` tests run by `cargo test -p <crate>`; the `approval`
//! example does.
//!
//! See [`macro_expansion`] for what [`workflow!`] and [`activity!`]
//! generate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod activity;
mod backend;
pub mod child;
mod entry;
pub mod future;
pub mod http;
pub mod macro_expansion;
mod retry;
#[cfg(not(target_family = "wasm"))]
pub mod testing;
pub mod wait;

pub use entry::Workflow;
pub use retry::RetryPolicy;

/// The `futures` crate this SDK builds on, for its combinators
/// ([`FutureExt::fuse`](futures::FutureExt::fuse) for `async` blocks in
/// [`select!`], `join_all`, `FuturesUnordered`) at the SDK's version.
///
/// ```no_run
/// use duro_sdk::futures::FutureExt;
///
/// # async fn f() {
/// let mut twice = async {
///     duro_sdk::future::sleep(std::time::Duration::from_secs(1)).await?;
///     duro_sdk::future::sleep(std::time::Duration::from_secs(1)).await
/// }
/// .boxed_local()
/// .fuse();
/// let mut signal = duro_sdk::future::signal::<String>("stop");
/// duro_sdk::select! {
///     _ = twice => {}
///     _ = signal => {}
/// }
/// # }
/// ```
pub use futures;

/// Waits for several futures at once and returns the output of the first
/// that completes; branches are polled in the order written, so replay
/// takes the same branch. This is `futures::select_biased!`; see
/// [`future`] for why the unbiased `futures::select!` must not be used in a
/// workflow.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::future;
///
/// # async fn f() {
/// let mut approve = future::signal::<serde_json::Value>("approve");
/// let mut timeout = future::sleep(Duration::from_secs(60));
/// let approved = duro_sdk::select! {
///     verdict = approve => verdict.is_ok(),
///     _ = timeout => false,
/// };
/// # }
/// ```
pub use futures::select_biased as select;

/// Waits for all of several futures and returns their outputs as a tuple.
/// This is `futures::join!`, which polls in the order written.
///
/// ```no_run
/// use duro_sdk::{child, future};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let ada = child::start("hello", &serde_json::json!({ "name": "Ada" }), None)?;
/// let grace = child::start("hello", &serde_json::json!({ "name": "Grace" }), None)?;
/// let (ada, grace) = duro_sdk::join!(ada.output::<String>(), grace.output::<String>());
/// println!("{} {}", ada??, grace??);
/// # Ok(())
/// # }
/// ```
pub use futures::join;

/// Severity of a log line, lowest first.
///
/// ```no_run
/// duro_sdk::log(duro_sdk::Level::Warn, "the shop answered slowly");
/// ```
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

/// Journaled wall-clock time in nanoseconds since the Unix epoch (UTC).
///
/// The first execution records the host's current time; on replay the
/// recorded value is returned, so each call sees the same time on every
/// execution. Every call adds a journal entry.
///
/// ```no_run
/// let started_ns = duro_sdk::now_ns();
/// ```
#[must_use]
pub fn now_ns() -> u64 {
    backend::now_ns()
}

/// Journaled wall-clock time.
///
/// Same as [`now_ns`] as a [`SystemTime`]: the first execution records the
/// host's current time and replay returns the recorded value.
///
/// ```no_run
/// let today = duro_sdk::now();
/// ```
#[must_use]
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(now_ns())
}

/// A uniformly distributed random `u64` from the host's cryptographically
/// secure generator.
///
/// Journaled: on replay the recorded value is returned.
///
/// ```no_run
/// let coin_flip = duro_sdk::random() % 2 == 0;
/// ```
#[must_use]
pub fn random() -> u64 {
    backend::random_u64()
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
///
/// ```no_run
/// duro_sdk::sleep(std::time::Duration::from_secs(3600));
/// ```
pub fn sleep(duration: Duration) {
    backend::sleep(nanos(duration));
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
///
/// ```no_run
/// duro_sdk::set_event("status", "pending")?;
/// duro_sdk::set_event("progress", &serde_json::json!({ "done": 3, "of": 10 }))?;
/// # Ok::<(), String>(())
/// ```
pub fn set_event<T: serde::Serialize + ?Sized>(key: &str, value: &T) -> Result<(), String> {
    let value =
        serde_json::to_string(value).map_err(|e| format!("event {key}: cannot serialize the value: {e}"))?;
    backend::set_event(key, &value);
    Ok(())
}

/// Appends `message` to the workflow's log at `level`.
///
/// Not journaled: on replay the host drops lines it already stored, so each
/// line appears once in the log however often the workflow is replayed.
///
/// ```no_run
/// duro_sdk::log(duro_sdk::Level::Info, "charging the card");
/// ```
pub fn log(level: Level, message: &str) {
    backend::log(level, message);
}

/// Registers a function as the workflow's entry point: a plain
/// `fn(In) -> Result<Out, E>` or an `async fn(In) -> Result<Out, E>`
/// (anything that implements [`Workflow`]).
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
/// * calls the function; an `async fn`'s future runs on the SDK's
///   deterministic executor (see [`future`]), and fails the workflow if it
///   awaits something other than duro's futures;
/// * serializes `Ok(out)` as the workflow's output (a serialization error
///   fails the workflow with `invalid output: <serde error>`); `Err(e)`
///   fails the workflow with `e.to_string()`.
///
/// Use it exactly once per crate, at item level. The crate must be built as
/// a `cdylib` for `wasm32-wasip2`. On other targets it exports nothing (the
/// function runs under [`testing`] instead).
///
/// ```no_run
/// fn double(n: u64) -> Result<u64, std::convert::Infallible> {
///     Ok(n * 2)
/// }
///
/// duro_sdk::workflow!(double);
/// ```
///
/// ```no_run
/// async fn remind(seconds: u64) -> Result<String, duro_sdk::wait::Cancelled> {
///     duro_sdk::future::sleep(std::time::Duration::from_secs(seconds)).await?;
///     Ok("time is up".to_owned())
/// }
///
/// duro_sdk::workflow!(remind);
/// ```
///
/// See [`macro_expansion`] for the generated code.
#[macro_export]
macro_rules! workflow {
    ($run:expr $(,)?) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __DuroWorkflow;

            impl $crate::__private::Guest for __DuroWorkflow {
                fn run(input: $crate::__private::String) -> $crate::__private::RunResult {
                    $crate::__private::run_workflow(&input, $run)
                }
            }

            $crate::__private::export!(
                __DuroWorkflow with_types_in $crate::__private::bindings
            );
        };

        // Natively nothing is exported; this keeps the function used.
        #[cfg(not(target_family = "wasm"))]
        const _: fn(&str) -> $crate::__private::RunResult =
            |input| $crate::__private::run_workflow(input, $run);
    };
}

/// Registers `fn(In) -> Result<Out, E>` as an activity's entry point, the
/// `run` export of the WIT world `duro:workflow/activity`, as
/// [`workflow!`] does for a workflow.
///
/// `In` must implement [`serde::de::DeserializeOwned`], `Out`
/// [`serde::Serialize`], and `E` `Into<`[`activity::Failure`]`>` (as
/// `Failure`, `String` and `&str` do). The generated `run`:
///
/// * parses the input JSON into `In`; if that fails, the attempt fails,
///   never retried, with type `invalid-input`;
/// * calls the function, which may use
///   [`activity::heartbeat`](crate::activity::heartbeat) and the other
///   context functions;
/// * serializes `Ok(out)` as the output (failing with type
///   `invalid-output`, never retried, if that fails); `Err(e)` fails the
///   attempt with `e.into()`, which the caller's retry policy may retry.
///
/// Use it exactly once per crate, at item level, in a `cdylib` crate of its
/// own (a component is either a workflow or an activity).
///
/// ```no_run
/// use duro_sdk::activity::Failure;
///
/// fn shout(text: String) -> Result<String, Failure> {
///     if text.is_empty() {
///         return Err(Failure::non_retryable("empty", "nothing to shout"));
///     }
///     Ok(text.to_uppercase())
/// }
///
/// duro_sdk::activity!(shout);
/// ```
#[macro_export]
macro_rules! activity {
    ($run:expr $(,)?) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __DuroActivity;

            impl $crate::__private::ActivityGuest for __DuroActivity {
                fn run(input: $crate::__private::String) -> $crate::__private::ActivityRunResult {
                    $crate::__private::run_activity(&input, $run).map_err($crate::__private::activity_error)
                }
            }

            $crate::__private::export_activity!(
                __DuroActivity with_types_in $crate::__private::activity_bindings
            );
        };

        // Natively nothing is exported; this keeps the function used.
        #[cfg(not(target_family = "wasm"))]
        const _: fn(&str) -> ::core::result::Result<$crate::__private::String, $crate::activity::Failure> =
            |input| $crate::__private::run_activity(input, $run);
    };
}

/// Support items for [`workflow!`] and [`activity!`]; not part of the
/// public API.
#[doc(hidden)]
pub mod __private {
    pub use std::string::String;

    use crate::Workflow;
    use crate::activity::Failure;
    pub use crate::entry::{Async, Blocking};

    /// What a workflow's `run` export returns: output JSON or an error
    /// message.
    pub type RunResult = Result<String, String>;

    /// wit-bindgen generated bindings for `duro:workflow/workflow`.
    // wit-bindgen's generated glue is `unsafe`; it is the only unsafe code.
    #[cfg(target_family = "wasm")]
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

    /// wit-bindgen generated bindings for `duro:workflow/activity`. With
    /// `pub_export_macro` the SDK carries only the imports of each world,
    /// which the component linker drops when unused; the exports come with
    /// the export macro in the author's crate, so a component is one world.
    #[cfg(target_family = "wasm")]
    #[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
    pub mod activity_bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "activity",
            pub_export_macro: true,
            export_macro_name: "__duro_export_activity",
            default_bindings_module: "duro_sdk::__private::activity_bindings",
        });
    }

    #[cfg(target_family = "wasm")]
    pub use activity_bindings::__duro_export_activity as export_activity;
    #[cfg(target_family = "wasm")]
    pub use activity_bindings::Guest as ActivityGuest;
    #[cfg(target_family = "wasm")]
    pub use bindings::__duro_export_workflow as export;
    #[cfg(target_family = "wasm")]
    pub use bindings::Guest;

    /// What an activity's `run` export returns.
    #[cfg(target_family = "wasm")]
    pub type ActivityRunResult = Result<String, activity_bindings::duro::workflow::types::ActivityError>;

    /// The activity world's error record for a [`Failure`].
    #[cfg(target_family = "wasm")]
    pub fn activity_error(failure: Failure) -> activity_bindings::duro::workflow::types::ActivityError {
        crate::backend::activity_failure(failure)
    }

    /// Decodes `input`, runs the workflow and encodes its result.
    pub fn run_workflow<M>(input: &str, workflow: impl Workflow<M>) -> RunResult {
        workflow.run_json(input)
    }

    /// Decodes `input`, runs the activity and encodes its result.
    pub fn run_activity<In, Out, E>(
        input: &str,
        run: impl FnOnce(In) -> Result<Out, E>,
    ) -> Result<String, Failure>
    where
        In: serde::de::DeserializeOwned,
        Out: serde::Serialize,
        E: Into<Failure>,
    {
        let input: In = serde_json::from_str(input)
            .map_err(|e| Failure::non_retryable("invalid-input", format!("invalid input: {e}")))?;
        let output = run(input).map_err(Into::into)?;
        serde_json::to_string(&output)
            .map_err(|e| Failure::non_retryable("invalid-output", format!("invalid output: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::__private::{run_activity, run_workflow};
    use super::activity::Failure;
    use super::nanos;

    #[test]
    fn durations_are_clamped_nanoseconds() {
        assert_eq!(nanos(Duration::from_millis(1500)), 1_500_000_000);
        assert_eq!(nanos(Duration::from_secs(u64::MAX)), u64::MAX);
    }

    fn double(n: u64) -> Result<u64, String> {
        if n == 0 { Err("zero".to_owned()) } else { Ok(n * 2) }
    }

    async fn double_later(n: u64) -> Result<u64, String> {
        double(n)
    }

    #[test]
    fn run_workflow_maps_input_output_and_errors() {
        assert_eq!(run_workflow("21", double), Ok("42".to_owned()));
        assert_eq!(run_workflow("0", double), Err("zero".to_owned()));
        let bad = run_workflow("\"x\"", double);
        assert!(matches!(&bad, Err(e) if e.starts_with("invalid input: ")), "{bad:?}");
    }

    #[test]
    fn async_workflows_run_the_same_way() {
        assert_eq!(run_workflow("21", double_later), Ok("42".to_owned()));
        assert_eq!(run_workflow("0", double_later), Err("zero".to_owned()));
        assert_eq!(run_workflow("2", |n: u64| async move { Ok::<_, String>(n + 1) }), Ok("3".to_owned()));
    }

    #[test]
    fn stalled_async_workflows_fail() {
        let stalled =
            run_workflow("1", |_: u64| async { std::future::pending::<Result<u64, String>>().await });
        assert!(matches!(&stalled, Err(e) if e.contains("nothing can wake it")), "{stalled:?}");
    }

    #[test]
    fn run_activity_maps_input_output_and_failures() {
        assert_eq!(run_activity("21", double), Ok("42".to_owned()));
        assert_eq!(run_activity("0", double), Err(Failure::retryable("error", "zero")));
        let bad = run_activity("\"x\"", double).map_err(|failure| (failure.type_name, failure.non_retryable));
        assert_eq!(bad, Err(("invalid-input".to_owned(), true)));
    }
}
