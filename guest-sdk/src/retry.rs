//! [`RetryPolicy`]: how the host retries a failed effect.

use std::time::Duration;

/// How the host retries a failed effect, after Temporal's `RetryPolicy`
/// (<https://docs.temporal.io/encyclopedia/retry-policies>).
///
/// The wait before attempt n+1 is `initial_interval * backoff_coefficient^(n-1)`,
/// capped at `maximum_interval`. The host journals every attempt and its
/// next retry time, so a restart during a wait resumes the schedule where it
/// was; a wait longer than the host's inline threshold unloads the workflow
/// like a [`sleep`](crate::sleep).
///
/// ```
/// use std::time::Duration;
///
/// use duro_sdk::RetryPolicy;
///
/// let policy = RetryPolicy::attempts(5)
///     .initial_interval(Duration::from_millis(200))
///     .backoff_coefficient(1.5)
///     .maximum_interval(Duration::from_secs(10))
///     .non_retryable(["status-400", "status-404"]);
/// assert_eq!(policy.maximum_attempts, 5);
/// assert_eq!(RetryPolicy::none().maximum_attempts, 1);
/// ```
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
    ///
    /// ```
    /// assert_eq!(duro_sdk::RetryPolicy::none().maximum_attempts, 1);
    /// ```
    #[must_use]
    pub fn none() -> Self {
        Self { maximum_attempts: 1, ..Self::default() }
    }

    /// The default policy with at most `attempts` attempts in all.
    ///
    /// ```
    /// assert_eq!(duro_sdk::RetryPolicy::attempts(5).maximum_attempts, 5);
    /// ```
    #[must_use]
    pub fn attempts(attempts: u32) -> Self {
        Self { maximum_attempts: attempts, ..Self::default() }
    }

    /// This policy with `initial_interval` as its first wait.
    ///
    /// ```
    /// let policy = duro_sdk::RetryPolicy::attempts(5).initial_interval(std::time::Duration::from_millis(100));
    /// ```
    #[must_use]
    pub fn initial_interval(mut self, initial_interval: Duration) -> Self {
        self.initial_interval = initial_interval;
        self
    }

    /// This policy with waits growing by `coefficient` (at least 1.0) with
    /// each failure.
    ///
    /// ```
    /// let policy = duro_sdk::RetryPolicy::default().backoff_coefficient(1.5);
    /// ```
    #[must_use]
    pub fn backoff_coefficient(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = coefficient;
        self
    }

    /// This policy with waits of at most `maximum_interval`.
    ///
    /// ```
    /// let policy = duro_sdk::RetryPolicy::default().maximum_interval(std::time::Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn maximum_interval(mut self, maximum_interval: Duration) -> Self {
        self.maximum_interval = Some(maximum_interval);
        self
    }

    /// This policy, never retrying errors of these types (for HTTP:
    /// `timeout`, `connection`, `status-NNN`).
    ///
    /// ```
    /// let policy = duro_sdk::RetryPolicy::attempts(5).non_retryable(["status-400", "status-404"]);
    /// assert_eq!(policy.non_retryable_error_types.len(), 2);
    /// ```
    #[must_use]
    pub fn non_retryable<S: Into<String>>(mut self, error_types: impl IntoIterator<Item = S>) -> Self {
        self.non_retryable_error_types.extend(error_types.into_iter().map(Into::into));
        self
    }
}
