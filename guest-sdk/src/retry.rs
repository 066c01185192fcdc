//! [`RetryPolicy`]: how the host retries a failed effect.

use std::time::Duration;

use crate::__private::bindings::duro::workflow::types;

/// How the host retries a failed effect, after Temporal's `RetryPolicy`
/// (<https://docs.temporal.io/encyclopedia/retry-policies>).
///
/// The wait before attempt n+1 is `initial_interval * backoff_coefficient^(n-1)`,
/// capped at `maximum_interval`. The host journals every attempt and its
/// next retry time, so a restart during a wait resumes the schedule where it
/// was; a wait longer than the host's inline threshold unloads the workflow
/// like a [`sleep`](crate::sleep).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt (default 1 s); whole ms.
    pub initial_interval: Duration,
    /// Factor the wait grows by with each failure (default 2.0); at least 1.0.
    pub backoff_coefficient: f64,
    /// Longest wait; `None` means 100 times `initial_interval` (the default).
    pub maximum_interval: Option<Duration>,
    /// Most attempts in all, the first included; 0 means no limit (the default).
    pub maximum_attempts: u32,
    /// Error types never retried (for HTTP: `timeout`, `connection`,
    /// `status-NNN`).
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    /// Temporal's defaults: 1 s, 2.0, 100 s, unlimited attempts.
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: None,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// No retries: the first attempt's answer is final.
    #[must_use]
    pub fn none() -> Self {
        Self { maximum_attempts: 1, ..Self::default() }
    }

    /// The default policy with at most `attempts` attempts in all.
    #[must_use]
    pub fn attempts(attempts: u32) -> Self {
        Self { maximum_attempts: attempts, ..Self::default() }
    }

    /// This policy with `initial_interval` as its first wait.
    #[must_use]
    pub fn initial_interval(mut self, initial_interval: Duration) -> Self {
        self.initial_interval = initial_interval;
        self
    }

    pub(crate) fn to_wit(&self) -> types::RetryPolicy {
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        types::RetryPolicy {
            initial_interval_ms: ms(self.initial_interval),
            backoff_coefficient: self.backoff_coefficient,
            maximum_interval_ms: self.maximum_interval.map_or(0, ms),
            maximum_attempts: self.maximum_attempts,
            non_retryable_error_types: self.non_retryable_error_types.clone(),
        }
    }
}
