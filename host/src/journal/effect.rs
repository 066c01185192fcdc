//! Journal types of effects: calls whose outcome the outside world decides
//! and that may change it (HTTP requests).
//!
//! An effect is journaled one entry per attempt. Every attempt entry records
//! the whole call (so replay compares it) and the attempt's answer, and says
//! whether the host will try again and when ([`Attempt::retry_at_ns`]). The
//! last attempt of an effect has no retry time: its answer is what the guest
//! sees. A restart during a backoff therefore resumes the schedule from the
//! last recorded attempt, not from attempt 1.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// How the host retries a failed effect, after Temporal's `RetryPolicy`
/// (<https://docs.temporal.io/encyclopedia/retry-policies>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt, in ms; 0 means 1 s (Temporal's
    /// default), so a policy cannot retry in a tight loop.
    pub initial_interval_ms: u64,
    /// Factor the wait grows by with each failure, as `f64::to_bits` (so the
    /// call stays comparable with `Eq`).
    pub backoff_coefficient_bits: u64,
    /// Longest wait, in ms; 0 means 100 times the initial interval.
    pub maximum_interval_ms: u64,
    /// Most attempts in all; 0 means no limit.
    pub maximum_attempts: u32,
    /// Error types never retried.
    pub non_retryable_error_types: Vec<String>,
}

impl RetryPolicy {
    /// The backoff coefficient, at least 1.0 (a NaN or smaller value counts as 1.0).
    pub fn backoff_coefficient(&self) -> f64 {
        let coefficient = f64::from_bits(self.backoff_coefficient_bits);
        if coefficient >= 1.0 { coefficient } else { 1.0 }
    }

    /// Whether an attempt after `attempts` failed ones is allowed.
    pub fn allows_attempt_after(&self, attempts: u32) -> bool {
        self.maximum_attempts == 0 || attempts < self.maximum_attempts
    }

    /// Whether an error of type `error_type` may be retried.
    pub fn retries(&self, error_type: &str) -> bool {
        !self.non_retryable_error_types.iter().any(|name| name == error_type)
    }

    /// When to try again after failed attempt number `attempt` (from 1)
    /// whose error type is `error_type`, at `now_ns`: after the policy's
    /// backoff or `least_wait_ns`, whichever is longer. `None` if the type
    /// is not retried or no attempt is left.
    pub fn retry_at(&self, attempt: u32, error_type: &str, now_ns: u64, least_wait_ns: u64) -> Option<u64> {
        if !self.retries(error_type) || !self.allows_attempt_after(attempt) {
            return None;
        }
        let backoff_ns = self.backoff_ms(attempt).saturating_mul(1_000_000);
        Some(now_ns.saturating_add(backoff_ns.max(least_wait_ns)))
    }

    /// The wait in ms after failed attempt number `attempt` (from 1):
    /// `initial * coefficient^(attempt-1)`, capped at the maximum interval.
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let initial = match self.initial_interval_ms {
            0 => 1_000,
            initial => initial,
        };
        let maximum = match self.maximum_interval_ms {
            0 => initial.saturating_mul(100),
            maximum => maximum,
        };
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let wait = initial as f64 * self.backoff_coefficient().powi(exponent);
        // `as` saturates for floats past u64's range (and maps NaN to 0).
        (wait as u64).min(maximum)
    }
}

/// A header value as journaled: in clear, or, for credentials, as a digest
/// that replay can still compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldValue {
    /// The value's bytes.
    Clear(#[serde(with = "serde_bytes")] Vec<u8>),
    /// SHA-256 of the workflow id, the header name and the value (see
    /// `effects::http`); the value itself is never stored.
    Sha256([u8; 32]),
}

/// Header fields in order, as a name (lower case) and a value.
pub type Fields = Vec<(String, FieldValue)>;

/// An outgoing HTTP request, as journaled and compared on replay.
///
/// The body is journaled as its length and SHA-256 digest, not in clear:
/// replay only has to compare it, and request bodies (card numbers,
/// personal data) are often what an operator least wants stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCall {
    /// The method, as given.
    pub method: String,
    /// The URL as given, less any user name and password.
    pub url: String,
    /// The request headers, credentials redacted.
    pub headers: Fields,
    /// Length of the body in bytes; `None` for no body.
    pub body_len: Option<u64>,
    /// SHA-256 of the body (of no bytes when there is none).
    pub body_sha256: [u8; 32],
    /// The per-attempt timeout the guest asked for, in ms.
    pub timeout_ms: Option<u64>,
    /// The retry policy the guest asked for.
    pub retry: Option<RetryPolicy>,
}

/// An HTTP response, recorded verbatim: replay hands it back as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The response headers, in the order received.
    pub headers: Vec<(String, ByteBuf)>,
    /// The whole body.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// Why an HTTP attempt got no response; the text says more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum HttpError {
    /// The destination is not allowed; nothing was sent.
    #[error("denied: {0}")]
    Denied(String),
    /// The attempt took longer than its timeout.
    #[error("timeout: {0}")]
    Timeout(String),
    /// No connection, or it broke before the whole response arrived.
    #[error("connection: {0}")]
    Connection(String),
    /// The request is over a size cap; nothing was sent.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request was sent, but the response is over a cap.
    #[error("response too large: {0}")]
    ResponseTooLarge(String),
}

impl HttpError {
    /// The error's message, without its type.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(message)
            | Self::Timeout(message)
            | Self::Connection(message)
            | Self::TooLarge(message)
            | Self::InvalidRequest(message)
            | Self::ResponseTooLarge(message) => message,
        }
    }

    /// The error's type name for [`RetryPolicy::non_retryable_error_types`],
    /// e.g. `"timeout"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::Timeout(_) => "timeout",
            Self::Connection(_) => "connection",
            Self::TooLarge(_) => "too-large",
            Self::InvalidRequest(_) => "invalid-request",
            Self::ResponseTooLarge(_) => "response-too-large",
        }
    }
}

/// The outcome of one attempt of an effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt<T> {
    /// What the attempt got.
    pub result: T,
    /// When the host tries again, in ns since the Unix epoch; `None` when
    /// this attempt's result is final and goes to the guest.
    pub retry_at_ns: Option<u64>,
    /// How long the attempt took, in ms.
    pub duration_ms: u64,
}

/// The outcome of one HTTP attempt.
pub type HttpAttempt = Attempt<Result<HttpResponse, HttpError>>;

/// A call of an activity, as journaled and compared on replay. The input is
/// journaled as its length and digest, like an HTTP body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityCall {
    /// The component as the workflow named it (a digest or a name).
    pub component: String,
    /// Length of the input, in bytes.
    pub input_len: u64,
    /// SHA-256 of the input.
    pub input_sha256: [u8; 32],
    /// Longest one attempt may run, in ms.
    pub start_to_close_ms: u64,
    /// Longest all attempts and waits may take, in ms.
    pub schedule_to_close_ms: Option<u64>,
    /// Longest an attempt may go without a heartbeat, in ms.
    pub heartbeat_ms: Option<u64>,
    /// The retry policy.
    pub retry: Option<RetryPolicy>,
}

/// Why an activity attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityError {
    /// The error's type (the host's own: `start-to-close-timeout`,
    /// `schedule-to-close-timeout`, `heartbeat-timeout`, `trap`,
    /// `unknown-component`, `too-large`).
    pub type_name: String,
    /// What happened.
    pub message: String,
    /// Never retried.
    pub non_retryable: bool,
    /// More about the error, as JSON text.
    pub details: Option<String>,
    /// The wait before the next attempt the activity asked for, in ms,
    /// instead of the policy's backoff.
    pub next_retry_delay_ms: Option<u64>,
}

impl ActivityError {
    /// An error of `type_name` with no details and no retry delay of its own.
    pub fn new(type_name: &str, message: String, non_retryable: bool) -> Self {
        Self {
            type_name: type_name.to_owned(),
            message,
            non_retryable,
            details: None,
            next_retry_delay_ms: None,
        }
    }
}

/// The outcome of one activity attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityAttempt {
    /// The output (JSON text) or the error.
    pub result: Result<String, ActivityError>,
    /// When the host tries again, in ns since the Unix epoch; `None` when
    /// this result is final.
    pub retry_at_ns: Option<u64>,
    /// When the attempt started, in ns since the Unix epoch.
    pub started_at_ns: u64,
    /// How long it ran, in ms.
    pub duration_ms: u64,
    /// The digest of the component that ran, if one was found.
    pub digest: Option<String>,
    /// The details of the attempt's last heartbeat, if it sent one.
    pub heartbeat: Option<String>,
}

/// An activity attempt in flight: when it started, and the details of its
/// last heartbeat recorded so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// When the attempt started, in ns since the Unix epoch.
    pub started_at_ns: u64,
    /// The details of its last heartbeat, if it had sent one.
    pub heartbeat: Option<String>,
}

impl fmt::Display for ActivityCall {
    /// `activity charge-card`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "activity {}", self.component)
    }
}

impl fmt::Display for HttpCall {
    /// `POST https://example.com/pay`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial: u64, coefficient: f64, maximum: u64, attempts: u32) -> RetryPolicy {
        RetryPolicy {
            initial_interval_ms: initial,
            backoff_coefficient_bits: coefficient.to_bits(),
            maximum_interval_ms: maximum,
            maximum_attempts: attempts,
            non_retryable_error_types: vec!["status-400".into()],
        }
    }

    #[test]
    fn backoff_grows_by_the_coefficient_up_to_the_maximum() {
        let policy = policy(100, 2.0, 1_000, 0);
        let waits: Vec<u64> = (1..=6).map(|attempt| policy.backoff_ms(attempt)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(policy.backoff_ms(u32::MAX), 1_000);
    }

    #[test]
    fn zero_maximum_means_a_hundred_times_the_initial_interval() {
        assert_eq!(policy(10, 10.0, 0, 0).backoff_ms(5), 1_000);
    }

    #[test]
    fn zero_initial_interval_means_one_second() {
        assert_eq!(policy(0, 2.0, 0, 0).backoff_ms(1), 1_000);
    }

    #[test]
    fn a_coefficient_below_one_or_nan_counts_as_one() {
        assert_eq!(policy(100, 0.5, 0, 0).backoff_ms(4), 100);
        assert_eq!(policy(100, f64::NAN, 0, 0).backoff_ms(4), 100);
    }

    #[test]
    fn maximum_attempts_and_non_retryable_types() {
        let limited = policy(1, 1.0, 0, 3);
        assert!(limited.allows_attempt_after(2));
        assert!(!limited.allows_attempt_after(3));
        assert!(policy(1, 1.0, 0, 0).allows_attempt_after(u32::MAX - 1));
        assert!(!limited.retries("status-400"));
        assert!(limited.retries("status-500"));
    }
}
