//! Calling activities: work done by another component (the `activity`
//! world), with timeouts and retries.
//!
//! The host runs each attempt in a fresh instance of the activity, journals
//! its result and only then hands it back; on replay the recorded result
//! comes back and nothing runs. An attempt in flight when the host crashes
//! runs again, so activities must be idempotent.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use duro_sdk::RetryPolicy;
//! use duro_sdk::activity::{self, Options};
//!
//! # fn charge() -> Result<(), duro_sdk::activity::Error> {
//! let options = Options::new(Duration::from_secs(30)).retry(RetryPolicy::attempts(5));
//! let receipt: serde_json::Value = activity::call("charge-card", &serde_json::json!({ "cents": 1299 }), &options)?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use crate::__private::bindings::duro::workflow::activities;
use crate::RetryPolicy;

/// Timeouts and retries of an activity call, after Temporal's.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Longest one attempt may run.
    pub start_to_close: Duration,
    /// Longest all attempts and waits together may take.
    pub schedule_to_close: Option<Duration>,
    /// Longest an attempt may go without a heartbeat.
    pub heartbeat: Option<Duration>,
    /// How failed attempts are retried; `None`: the first answer is final.
    pub retry: Option<RetryPolicy>,
}

impl Options {
    /// Attempts of at most `start_to_close` each, not retried.
    #[must_use]
    pub fn new(start_to_close: Duration) -> Self {
        Self { start_to_close, schedule_to_close: None, heartbeat: None, retry: None }
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Sets the heartbeat timeout.
    #[must_use]
    pub fn heartbeat(mut self, timeout: Duration) -> Self {
        self.heartbeat = Some(timeout);
        self
    }

    /// Sets the schedule-to-close timeout.
    #[must_use]
    pub fn schedule_to_close(mut self, timeout: Duration) -> Self {
        self.schedule_to_close = Some(timeout);
        self
    }
}

/// Why an activity call failed: the last attempt's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The error's type: the activity's own, or the host's
    /// (`start-to-close-timeout`, `schedule-to-close-timeout`,
    /// `heartbeat-timeout`, `trap`, `unknown-component`, `too-large`), or
    /// `invalid-json` when the input or output is not the expected JSON.
    pub type_name: String,
    /// What happened.
    pub message: String,
    /// Whether the activity said never to retry it.
    pub non_retryable: bool,
    /// More about the error, as JSON text, if the activity gave any.
    pub details: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "activity failed ({}): {}", self.type_name, self.message)
    }
}

impl std::error::Error for Error {}

/// Calls activity `component` (a digest or a name) with `input` as JSON and
/// returns its output parsed as `Out`.
///
/// # Errors
/// The last attempt's [`Error`].
pub fn call<In, Out>(component: &str, input: &In, options: &Options) -> Result<Out, Error>
where
    In: serde::Serialize,
    Out: serde::de::DeserializeOwned,
{
    let invalid = |message: String| Error {
        type_name: "invalid-json".into(),
        message,
        non_retryable: true,
        details: None,
    };
    let input = serde_json::to_string(input).map_err(|e| invalid(e.to_string()))?;
    let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let options = activities::ActivityOptions {
        start_to_close_timeout_ms: ms(options.start_to_close),
        schedule_to_close_timeout_ms: options.schedule_to_close.map(ms),
        heartbeat_timeout_ms: options.heartbeat.map(ms),
        retry: options.retry.as_ref().map(RetryPolicy::to_wit),
    };
    match activities::call(component, &input, &options) {
        Ok(output) => serde_json::from_str(&output).map_err(|e| invalid(format!("the output: {e}"))),
        Err(error) => Err(Error {
            type_name: error.type_name,
            message: error.message,
            non_retryable: error.non_retryable,
            details: error.details,
        }),
    }
}
