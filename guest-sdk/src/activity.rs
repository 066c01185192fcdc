//! Activities: work done by another component (the `activity` world),
//! with timeouts and retries. This module has both sides: [`call`] runs an
//! activity from a workflow, and [`activity!`](crate::activity!) with
//! [`Failure`], [`heartbeat`] and the other context functions writes one.
//!
//! The host runs each attempt in a fresh instance of the activity, journals
//! its result and only then hands it back to the workflow; on replay the
//! recorded result comes back and nothing runs. An attempt in flight when
//! the host crashes runs again, so activities must be idempotent:
//! [`idempotency_key`] names the call, the same on every attempt. Unlike a
//! workflow an activity is not replayed, so it may read real clocks and
//! randomness and wait in real time.
//!
//! Calling one, from a workflow:
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
//!
//! Writing one, in a crate of its own (a `cdylib` built for
//! `wasm32-wasip2`, like a workflow):
//!
//! ```no_run
//! use duro_sdk::activity::{self, Failure};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Charge {
//!     cents: u64,
//! }
//!
//! #[derive(Serialize)]
//! struct Receipt {
//!     id: String,
//! }
//!
//! fn charge(charge: Charge) -> Result<Receipt, Failure> {
//!     if charge.cents == 0 {
//!         return Err(Failure::non_retryable("invalid-amount", "nothing to charge"));
//!     }
//!     activity::heartbeat("charging");
//!     // The payment service deduplicates on this key: a retried attempt
//!     // charges once.
//!     let key = activity::idempotency_key();
//!     Ok(Receipt { id: format!("receipt-{key}") })
//! }
//!
//! duro_sdk::activity!(charge);
//! ```

use std::fmt;
use std::time::Duration;

use crate::{RetryPolicy, backend};

/// Timeouts and retries of an activity call, after Temporal's.
///
/// ```
/// use std::time::Duration;
///
/// use duro_sdk::RetryPolicy;
/// use duro_sdk::activity::Options;
///
/// let options = Options::new(Duration::from_secs(30))
///     .heartbeat(Duration::from_secs(5))
///     .schedule_to_close(Duration::from_secs(600))
///     .retry(RetryPolicy::attempts(5));
/// assert_eq!(options.retry.map(|policy| policy.maximum_attempts), Some(5));
/// ```
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
    ///
    /// ```
    /// let options = duro_sdk::activity::Options::new(std::time::Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn new(start_to_close: Duration) -> Self {
        Self { start_to_close, schedule_to_close: None, heartbeat: None, retry: None }
    }

    /// Sets the retry policy.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use duro_sdk::RetryPolicy;
    /// use duro_sdk::activity::Options;
    ///
    /// let options = Options::new(Duration::from_secs(30)).retry(RetryPolicy::attempts(3));
    /// ```
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Sets the heartbeat timeout.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let options = duro_sdk::activity::Options::new(Duration::from_secs(600)).heartbeat(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn heartbeat(mut self, timeout: Duration) -> Self {
        self.heartbeat = Some(timeout);
        self
    }

    /// Sets the schedule-to-close timeout.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let options = duro_sdk::activity::Options::new(Duration::from_secs(30)).schedule_to_close(Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn schedule_to_close(mut self, timeout: Duration) -> Self {
        self.schedule_to_close = Some(timeout);
        self
    }
}

/// Why an activity call failed: the last attempt's error.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::activity::{self, Options};
///
/// let options = Options::new(Duration::from_secs(30));
/// match activity::call::<_, serde_json::Value>("charge-card", &1299, &options) {
///     Ok(receipt) => println!("charged: {receipt}"),
///     Err(error) if error.type_name == "declined" => println!("declined: {}", error.message),
///     Err(error) => println!("{error}"),
/// }
/// ```
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
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::activity::{self, Options};
///
/// # fn f() -> Result<(), activity::Error> {
/// let options = Options::new(Duration::from_secs(30));
/// let receipt: serde_json::Value = activity::call("charge-card", &serde_json::json!({ "cents": 1299 }), &options)?;
/// # Ok(())
/// # }
/// ```
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
    let output = backend::activity_call(component, &input, options)?;
    serde_json::from_str(&output).map_err(|e| invalid(format!("the output: {e}")))
}

/// Why an activity attempt failed: what an activity written with
/// [`activity!`](crate::activity!) returns as its error.
///
/// The workflow's [`call`] sees it as an [`Error`] once the retry policy
/// gives up. `type_name` is matched against the policy's
/// `non_retryable_error_types`; [`non_retryable`](Self::non_retryable)
/// makes it final whatever the policy says. A plain `String` or `&str`
/// converts into a retryable failure of type `error`, so `?` works on
/// functions that return string errors.
///
/// ```
/// use std::time::Duration;
///
/// use duro_sdk::activity::Failure;
///
/// let busy = Failure::retryable("busy", "the service is busy")
///     .retry_after(Duration::from_secs(30))
///     .details(&serde_json::json!({ "queue": 12 }));
/// assert!(!busy.non_retryable);
/// assert_eq!(busy.details.as_deref(), Some(r#"{"queue":12}"#));
/// assert!(Failure::non_retryable("declined", "card declined").non_retryable);
/// assert_eq!(Failure::from("boom").type_name, "error");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error's type, matched against a retry policy's
    /// `non_retryable_error_types`.
    pub type_name: String,
    /// What happened.
    pub message: String,
    /// Never retry, whatever the policy says.
    pub non_retryable: bool,
    /// More about the error, as JSON text, for the workflow.
    pub details: Option<String>,
    /// Wait this long before the next attempt instead of the policy's
    /// backoff (attempts still count against the policy); whole ms.
    pub next_retry_delay: Option<Duration>,
}

impl Failure {
    /// A failure the retry policy may retry.
    ///
    /// ```
    /// let busy = duro_sdk::activity::Failure::retryable("busy", "try later");
    /// assert!(!busy.non_retryable);
    /// ```
    #[must_use]
    pub fn retryable(type_name: &str, message: impl Into<String>) -> Self {
        Self {
            type_name: type_name.to_owned(),
            message: message.into(),
            non_retryable: false,
            details: None,
            next_retry_delay: None,
        }
    }

    /// A failure that is never retried.
    ///
    /// ```
    /// let declined = duro_sdk::activity::Failure::non_retryable("declined", "card declined");
    /// assert!(declined.non_retryable);
    /// ```
    #[must_use]
    pub fn non_retryable(type_name: &str, message: impl Into<String>) -> Self {
        Self { non_retryable: true, ..Self::retryable(type_name, message) }
    }

    /// Sets the details to `details` as JSON (left unset if it does not
    /// serialize).
    ///
    /// ```
    /// use duro_sdk::activity::Failure;
    ///
    /// let failure = Failure::retryable("busy", "try later").details(&serde_json::json!({ "queue": 3 }));
    /// assert_eq!(failure.details.as_deref(), Some(r#"{"queue":3}"#));
    /// ```
    #[must_use]
    pub fn details<T: serde::Serialize + ?Sized>(mut self, details: &T) -> Self {
        self.details = serde_json::to_string(details).ok();
        self
    }

    /// Asks for the next attempt after `delay` instead of the policy's
    /// backoff.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let failure = duro_sdk::activity::Failure::retryable("rate-limited", "429").retry_after(Duration::from_secs(60));
    /// assert_eq!(failure.next_retry_delay, Some(Duration::from_secs(60)));
    /// ```
    #[must_use]
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.next_retry_delay = Some(delay);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

impl std::error::Error for Failure {}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::retryable("error", message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::retryable("error", message)
    }
}

/// Records progress of the running attempt (only in an activity).
///
/// The details (at most 64 KiB; longer are cut) of the last heartbeat reach
/// the next attempt through [`last_heartbeat`], also across a host crash.
/// With a heartbeat timeout in the caller's [`Options`], an attempt silent
/// for longer is stopped and fails with `heartbeat-timeout`.
///
/// ```no_run
/// for page in 0..10 {
///     duro_sdk::activity::heartbeat(&format!("page {page}"));
/// }
/// ```
pub fn heartbeat(details: &str) {
    backend::heartbeat(details);
}

/// This attempt's number, from 1 (only in an activity).
///
/// ```no_run
/// if duro_sdk::activity::attempt() > 1 {
///     println!("retrying");
/// }
/// ```
#[must_use]
pub fn attempt() -> u32 {
    backend::attempt()
}

/// The details of the last heartbeat of the earlier attempts, if any (only
/// in an activity): where to resume.
///
/// ```no_run
/// let start: u32 = duro_sdk::activity::last_heartbeat()
///     .and_then(|details| details.parse().ok())
///     .unwrap_or(0);
/// ```
#[must_use]
pub fn last_heartbeat() -> Option<String> {
    backend::last_heartbeat()
}

/// `<workflow id>/<seq>`: the same on every attempt of this call (only in an
/// activity). Send it to services that deduplicate requests.
///
/// ```no_run
/// let key = duro_sdk::activity::idempotency_key();
/// ```
#[must_use]
pub fn idempotency_key() -> String {
    backend::idempotency_key()
}
