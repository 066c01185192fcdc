//! [`CpuMeter`]: the CPU time one activation charges its workflow.
//!
//! wasmtime stops a running guest at every epoch tick and calls back; the
//! meter charges the time since its mark (when the guest last started or
//! resumed running) and moves the mark. The mark also moves when a host call
//! returns from a wait (a timer, a checkpoint commit) and when the task
//! resumes after yielding, so waits and time spent descheduled by tokio are
//! never charged, while the host's own work inside a call is charged to the
//! guest that asked for it.
//!
//! Time is split by what the guest was doing: *live* execution is charged
//! against the CPU limit, which fails the workflow; *replay* (re-executing
//! steps already journaled) has its own, larger budget, and running out of it
//! is a host-side condition, since the recorded executions each stayed within
//! the live limit. Wall-clock time between marks is the measure: on a busy
//! machine a guest may be charged for time the operating system gave others,
//! at most the ticks it was preempted for.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Error;

/// See the module docs.
pub(crate) struct CpuMeter {
    base: Instant,
    /// ns since `base` when the guest last started or resumed running;
    /// shared with the futures that resume it after a yield.
    mark: Arc<AtomicU64>,
    live: Duration,
    replay: Duration,
    live_limit: Duration,
    replay_limit: Duration,
}

impl CpuMeter {
    /// A meter for one activation, starting now.
    pub(crate) fn new(live_limit: Duration, replay_limit: Duration) -> Self {
        Self {
            base: Instant::now(),
            mark: Arc::default(),
            live: Duration::ZERO,
            replay: Duration::ZERO,
            live_limit,
            replay_limit,
        }
    }

    /// Charges the time since the mark to live or replay execution and moves
    /// the mark.
    ///
    /// # Errors
    /// [`Error::CpuLimit`] past the live limit, [`Error::ReplayCpuLimit`] past
    /// the replay budget.
    pub(crate) fn charge(&mut self, replaying: bool) -> Result<(), Error> {
        let now = self.now_ns();
        let ran = Duration::from_nanos(now.saturating_sub(self.mark.swap(now, Ordering::Relaxed)));
        if replaying {
            self.replay += ran;
            if self.replay > self.replay_limit {
                return Err(Error::ReplayCpuLimit { limit: self.replay_limit });
            }
        } else {
            self.live += ran;
            if self.live > self.live_limit {
                return Err(Error::CpuLimit { limit: self.live_limit });
            }
        }
        Ok(())
    }

    /// Moves the mark to now: call when a host call returns from a wait.
    pub(crate) fn resume(&self) {
        self.mark.store(self.now_ns(), Ordering::Relaxed);
    }

    /// A future that yields to tokio once and, when the task runs again,
    /// moves the mark: for `UpdateDeadline::YieldCustom`.
    pub(crate) fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mark = self.mark.clone();
        let base = self.base;
        Box::pin(async move {
            tokio::task::yield_now().await;
            mark.store(nanos(base.elapsed()), Ordering::Relaxed);
        })
    }

    fn now_ns(&self) -> u64 {
        nanos(self.base.elapsed())
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_not_charged_and_live_and_replay_have_their_own_budgets() {
        let mut meter = CpuMeter::new(Duration::from_millis(30), Duration::from_millis(60));
        std::thread::sleep(Duration::from_millis(40));
        meter.resume(); // as after a timer: the 40 ms are not charged
        assert!(meter.charge(false).is_ok());
        std::thread::sleep(Duration::from_millis(40));
        assert!(meter.charge(true).is_ok(), "replay has its own budget");
        std::thread::sleep(Duration::from_millis(40));
        assert!(matches!(meter.charge(false), Err(Error::CpuLimit { .. })));
        std::thread::sleep(Duration::from_millis(30));
        assert!(matches!(meter.charge(true), Err(Error::ReplayCpuLimit { .. })));
    }
}
