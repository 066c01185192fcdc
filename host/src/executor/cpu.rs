//! [`CpuMeter`]: the CPU time one activation charges its workflow.
//!
//! wasmtime stops a running guest at every epoch tick and calls back; the
//! meter charges the CPU time the thread spent since its mark (when the guest
//! last started or resumed running) and moves the mark. The mark also moves
//! when a host call returns from a wait (a timer, a checkpoint commit) and
//! when the task resumes after yielding, so waits are never charged, while
//! the host's own work inside a call is charged to the guest that asked for
//! it.
//!
//! The measure is the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not
//! wall-clock time, so a guest is not charged for time the operating system
//! gave other threads on a busy machine. Each charged span lies within one
//! poll of the run's task, hence on one thread; a span that finds itself on
//! another thread than its mark (it cannot, but the check is cheap) is not
//! charged.
//!
//! Time is split by what the guest was doing: *live* execution is charged
//! against the CPU limit, which fails the workflow; *replay* (re-executing
//! steps already journaled) has its own, larger budget, and running out of it
//! is a host-side condition, since the recorded executions each stayed within
//! the live limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use super::Error;

/// See the module docs.
pub(crate) struct CpuMeter {
    /// Where the current span began; shared with the futures that resume
    /// the guest after a yield.
    mark: Arc<Mutex<Mark>>,
    live: Duration,
    replay: Duration,
    live_limit: Duration,
    replay_limit: Duration,
}

/// A thread and its CPU time at one moment.
#[derive(Clone, Copy)]
struct Mark {
    thread: ThreadId,
    cpu: Duration,
}

impl Mark {
    fn now() -> Self {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        let cpu =
            Duration::new(u64::try_from(time.tv_sec).unwrap_or(0), u32::try_from(time.tv_nsec).unwrap_or(0));
        Self { thread: std::thread::current().id(), cpu }
    }
}

impl CpuMeter {
    /// A meter for one activation, starting now.
    pub(crate) fn new(live_limit: Duration, replay_limit: Duration) -> Self {
        Self {
            mark: Arc::new(Mutex::new(Mark::now())),
            live: Duration::ZERO,
            replay: Duration::ZERO,
            live_limit,
            replay_limit,
        }
    }

    /// Charges the CPU time since the mark to live or replay execution and
    /// moves the mark.
    ///
    /// # Errors
    /// [`Error::CpuLimit`] past the live limit, [`Error::ReplayCpuLimit`] past
    /// the replay budget.
    pub(crate) fn charge(&mut self, replaying: bool) -> Result<(), Error> {
        let now = Mark::now();
        let then = std::mem::replace(&mut *lock(&self.mark), now);
        let ran = if then.thread == now.thread { now.cpu.saturating_sub(then.cpu) } else { Duration::ZERO };
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
        *lock(&self.mark) = Mark::now();
    }

    /// A future that yields to tokio once and, when the task runs again,
    /// moves the mark: for `UpdateDeadline::YieldCustom`.
    pub(crate) fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mark = self.mark.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            *lock(&mark) = Mark::now();
        })
    }
}

/// The mark is a plain value: a poisoned lock still holds a valid one.
fn lock(mark: &Mutex<Mark>) -> std::sync::MutexGuard<'_, Mark> {
    mark.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns about `duration` of this thread's CPU time.
    fn spin(duration: Duration) {
        let start = Mark::now().cpu;
        while Mark::now().cpu - start < duration {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn waits_are_not_charged_and_live_and_replay_have_their_own_budgets() {
        let mut meter = CpuMeter::new(Duration::from_millis(30), Duration::from_millis(60));
        std::thread::sleep(Duration::from_millis(40)); // a wait costs no CPU time
        assert!(meter.charge(false).is_ok());
        spin(Duration::from_millis(20));
        meter.resume(); // as after a timer: what came before is not charged
        assert!(meter.charge(false).is_ok());
        spin(Duration::from_millis(40));
        assert!(meter.charge(true).is_ok(), "replay has its own budget");
        spin(Duration::from_millis(40));
        assert!(matches!(meter.charge(false), Err(Error::CpuLimit { .. })));
        spin(Duration::from_millis(30));
        assert!(matches!(meter.charge(true), Err(Error::ReplayCpuLimit { .. })));
    }
}
