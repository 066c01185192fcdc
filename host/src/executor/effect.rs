//! What the effects' attempt loops (`http.rs`, `activities.rs`) share: the
//! progress a running effect reports, and the step between two attempts.

use super::Waiting;
use super::host::RunState;

/// An effect in progress, for [`Waiting`] reports.
pub(super) struct EffectProgress {
    /// The effect, e.g. `POST https://example.com/pay`.
    pub(super) effect: String,
    /// Most attempts its policy allows; 0 means no limit.
    pub(super) max_attempts: u32,
}

impl EffectProgress {
    fn waiting(&self, attempt: u32, next_attempt_at_ns: Option<u64>) -> Option<Waiting> {
        Some(Waiting {
            effect: self.effect.clone(),
            attempt,
            max_attempts: self.max_attempts,
            next_attempt_at_ns,
        })
    }
}

impl RunState {
    /// Reports that attempt `attempt` of `progress` is in flight.
    pub(super) fn attempt_started(&self, progress: &EffectProgress, attempt: u32) {
        self.checkpointer.waiting(progress.waiting(attempt, None));
    }

    /// After attempt `attempt`, whose entry says to try again at
    /// `retry_at_ns`, if at all: `false` when the effect is over; else waits
    /// out the backoff (unless replaying: a later attempt is journaled) and
    /// returns `true`.
    ///
    /// # Errors
    /// As [`RunState::wait_until`]: a suspension, a failed checkpoint, a CPU limit.
    pub(super) async fn back_off(
        &mut self,
        progress: &EffectProgress,
        attempt: u32,
        retry_at_ns: Option<u64>,
    ) -> wasmtime::Result<bool> {
        let Some(retry_at_ns) = retry_at_ns else {
            self.checkpointer.waiting(None);
            return Ok(false);
        };
        if !self.journal.lock().is_replaying() {
            self.checkpointer.waiting(progress.waiting(attempt.saturating_add(1), Some(retry_at_ns)));
            self.wait_until(retry_at_ns).await?;
        }
        Ok(true)
    }
}
