//! Waiting on the world: durable timers, signals and child workflows as
//! [`Pending`] handles, and [`wait_any`], which blocks until the first of
//! several has an outcome ("approve or reject, or time out after 24 h").
//!
//! A workflow often has to wait for more than one thing at once, and a plain
//! blocking call per thing cannot express "whichever comes first". So each
//! thing to wait for is a handle made by one journaled call ([`timer`],
//! [`signal`], [`child::start`](crate::child::start)), and [`wait_any`]
//! takes several handles and returns the first to have an outcome. Like the
//! rest of this crate it blocks: the host runs the workflow until it waits,
//! keeps it in memory for a short wait (up to its inline threshold, 1 s by
//! default) and otherwise unloads it and resumes it by replay once
//! something it waits for arrives, so a wait of days holds no memory.
//! Async workflows use the same handles as futures, raced with
//! [`select!`](crate::select): see [`future`](crate::future).
//!
//! The host journals which handle won each [`wait_any`] and its outcome, so
//! replay takes the same branch. What happens to the handles that did not
//! win: a timer stays set and is never observed, a signal receive consumes
//! nothing (the signal waits in the inbox for the next receive of that
//! name), a child workflow runs on (cancel it with
//! [`Child::cancel`](crate::child::Child::cancel)). Dropping a handle is not
//! journaled and has no durable effect. A handle that has won stays ready
//! with the same outcome.
//!
//! Cancellation (`POST /v1/workflows/{id}/cancel`, or the workflow's
//! execution timeout) is told once, as [`Cancelled`], to the wait in progress
//! or the next one. Later waits work as usual, so a workflow can compensate
//! (undo, notify, sleep and retry) before it returns; whatever it returns,
//! it then ends `cancelled`. Code that never waits through this module never
//! sees a cancellation.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use duro_sdk::wait::{self, Outcome};
//!
//! # fn approve() -> Result<bool, Box<dyn std::error::Error>> {
//! let approve = wait::signal("approve");
//! let timeout = wait::timer(Duration::from_secs(24 * 60 * 60));
//! let approved = match wait::wait_any(&[&approve, &timeout])? {
//!     (_, Outcome::Signal(payload)) => {
//!         let by: String = serde_json::from_str(&payload)?;
//!         duro_sdk::log(duro_sdk::Level::Info, &format!("approved by {by}"));
//!         true
//!     }
//!     _ => false, // timed out
//! };
//! # Ok(approved)
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::FusedFuture;
use serde::de::DeserializeOwned;

use crate::backend::{self, Handle};
use crate::future::executor::Waiter;

/// Something a workflow may wait for with [`wait_any`]: a durable timer
/// ([`timer`]), the next signal of a name ([`signal`]) or a child workflow
/// ([`child::start`](crate::child::start)).
///
/// Once it has won a [`wait_any`] it stays ready with the same outcome.
/// Dropping it has no durable effect.
///
/// It is also a future of its [`Outcome`] for async workflows (see
/// [`future`](crate::future)), though the typed futures there
/// ([`future::sleep`](crate::future::sleep),
/// [`future::signal`](crate::future::signal)) are usually handier.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::wait::{self, Outcome};
///
/// # async fn f() -> Result<(), duro_sdk::wait::Cancelled> {
/// let timer = wait::timer(Duration::from_secs(1));
/// assert_eq!(timer.await?, Outcome::Fired);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Pending {
    waiter: Waiter,
}

impl Pending {
    pub(crate) fn from_backend(handle: Handle) -> Self {
        Self { waiter: Waiter::new(Rc::new(handle)) }
    }

    pub(crate) fn handle(&self) -> &Handle {
        self.waiter.handle()
    }

    /// A new future's hold on this handle, for typed futures such as
    /// [`ChildOutput`](crate::child::ChildOutput).
    pub(crate) fn waiter(&self) -> Waiter {
        Waiter::new(Rc::clone(self.waiter.shared_handle()))
    }

    /// The journal position (seq) of the call that made this handle: the
    /// same on every replay (unlike the handle's in-memory identity), so it
    /// can name the handle in durable state such as event values.
    ///
    /// ```no_run
    /// let approve = duro_sdk::wait::signal("approve");
    /// duro_sdk::set_event("waiting_on", &approve.key())?;
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn key(&self) -> u64 {
        backend::handle_key(self.handle())
    }
}

impl Future for Pending {
    type Output = Result<Outcome, Cancelled>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().waiter.poll(context)
    }
}

impl FusedFuture for Pending {
    fn is_terminated(&self) -> bool {
        self.waiter.is_done()
    }
}

/// A durable timer that fires `duration` after this call was first made.
///
/// The call is journaled with its wake-up time, so on replay the timer
/// fires at the same moment; a timer that has already fired is ready at
/// once. `duration` is sent in nanoseconds and clamped to `u64::MAX` ns
/// (about 584 years). A zero duration is ready at once: racing it against
/// other handles makes a "try" (something that already arrived still wins,
/// as ties go to the lowest index).
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::wait;
///
/// # fn f() -> Result<(), wait::Cancelled> {
/// let timeout = wait::timer(Duration::from_secs(60));
/// let go = wait::signal("go");
/// let (index, _) = wait::wait_any(&[&go, &timeout])?;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub fn timer(duration: Duration) -> Pending {
    Pending::from_backend(backend::start_timer(crate::nanos(duration)))
}

/// The next signal named `name` (at most 256 bytes) sent to this workflow
/// through the host's API, with a JSON payload.
///
/// Signals of one name are received in the order they arrived, each by
/// exactly one receive; one sent before the workflow asks is kept until it
/// does. The signal is taken only when this handle wins a [`wait_any`];
/// until then it stays in the inbox. The outcome is
/// [`Outcome::Signal`] with the payload as JSON text.
///
/// ```no_run
/// use duro_sdk::wait::{self, Outcome};
///
/// # fn f() -> Result<(), wait::Cancelled> {
/// if let (_, Outcome::Signal(payload)) = wait::wait_any(&[&wait::signal("go")])? {
///     println!("go: {payload}");
/// }
/// # Ok(())
/// # }
/// ```
#[must_use]
pub fn signal(name: &str) -> Pending {
    Pending::from_backend(backend::receive_signal(name))
}

/// How a child workflow ended.
///
/// ```
/// use duro_sdk::wait::ChildStatus;
///
/// assert_eq!(ChildStatus::Cancelled.to_string(), "cancelled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildStatus {
    /// It returned `Ok`; [`ChildEnd::output`] holds its output.
    Completed,
    /// It returned `Err` or trapped; [`ChildEnd::error`] says why.
    Failed,
    /// Its replay diverged from its journal; an operator must fix its
    /// component.
    Stuck,
    /// It was cancelled (by [`Child::cancel`](crate::child::Child::cancel),
    /// the API, its execution timeout, or this workflow ending).
    Cancelled,
    /// An operator terminated it.
    Terminated,
}

impl ChildStatus {
    /// The status as the host's API spells it: `completed`, `failed`,
    /// `stuck`, `cancelled` or `terminated`.
    ///
    /// ```
    /// assert_eq!(duro_sdk::wait::ChildStatus::Completed.as_str(), "completed");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Stuck => "stuck",
            Self::Cancelled => "cancelled",
            Self::Terminated => "terminated",
        }
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A child workflow's end: the outcome of a child's handle.
///
/// Also the error of [`Child::join`](crate::child::Child::join) for a child
/// that did not complete; it displays as `child workflow <id> <status>:
/// <error>`.
///
/// ```
/// use duro_sdk::wait::{ChildEnd, ChildStatus};
///
/// let end = ChildEnd { id: "p:3".into(), status: ChildStatus::Failed, output: None, error: Some("boom".into()) };
/// assert_eq!(end.to_string(), "child workflow p:3 failed: boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildEnd {
    /// The child's workflow id.
    pub id: String,
    /// Its final status.
    pub status: ChildStatus,
    /// Its output (JSON text), when it returned `Ok` (status
    /// [`ChildStatus::Completed`]).
    pub output: Option<String>,
    /// Its error message, when it failed, got stuck or was terminated.
    pub error: Option<String>,
}

impl fmt::Display for ChildEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child workflow {} {}", self.id, self.status)?;
        if let Some(error) = &self.error {
            write!(f, ": {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ChildEnd {}

/// What a [`Pending`] handle came to.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::wait::{self, Outcome};
///
/// # fn f() -> Result<(), wait::Cancelled> {
/// match wait::wait_any(&[&wait::signal("go"), &wait::timer(Duration::from_secs(5))])? {
///     (_, Outcome::Signal(payload)) => println!("signal {payload}"),
///     (_, Outcome::Fired) => println!("timed out"),
///     (_, Outcome::Child(end)) => println!("{end}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A [`timer`] fired.
    Fired,
    /// A [`signal`] was received: its payload, as JSON text. It is consumed:
    /// no other receive gets it.
    Signal(String),
    /// A child workflow ended.
    Child(ChildEnd),
}

/// The workflow was asked to cancel (`POST /v1/workflows/{id}/cancel`, or
/// its execution timeout ran out).
///
/// The host tells it once, to the wait in progress or the next one (in
/// async code, to each future that wait was awaiting, at its next poll);
/// later waits work as usual, so the workflow can compensate before it
/// returns. The workflow
/// ends `cancelled` whatever it then returns.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::wait::{self, Cancelled};
///
/// if let Err(Cancelled) = wait::sleep(Duration::from_secs(3600)) {
///     duro_sdk::log(duro_sdk::Level::Warn, "cancelled: compensating");
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the workflow was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Why a wait that decodes JSON ([`receive`],
/// [`Child::join`](crate::child::Child::join)) returned no value.
///
/// ```no_run
/// use duro_sdk::wait::{self, WaitError};
///
/// match wait::receive::<u32>("count") {
///     Ok(count) => println!("{count}"),
///     Err(WaitError::Cancelled) => println!("cancelled"),
///     Err(WaitError::Decode(why)) => println!("bad signal: {why}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitError {
    /// The workflow was asked to cancel; see [`Cancelled`].
    Cancelled,
    /// The JSON that arrived is not of the expected type (the message says
    /// what it was and why). What arrived is consumed all the same: a
    /// signal is not received again.
    Decode(String),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cancelled => Cancelled.fmt(f),
            Self::Decode(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for WaitError {}

impl From<Cancelled> for WaitError {
    fn from(Cancelled: Cancelled) -> Self {
        Self::Cancelled
    }
}

/// Blocks until one of `handles` has an outcome and returns its index in
/// `handles` and the outcome.
///
/// The winner is the handle whose outcome arrived first (timers by when they
/// fired, signals by when they were sent, children by when they ended), the
/// lowest index on a tie. Journaled: replay returns the same winner. Takes 1
/// to 1,024 handles; the host fails the workflow for any other number.
///
/// # Errors
/// [`Cancelled`] when the workflow was asked to cancel; no handle won then.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::wait;
///
/// # fn f() -> Result<(), wait::Cancelled> {
/// let approve = wait::signal("approve");
/// let reject = wait::signal("reject");
/// let timeout = wait::timer(Duration::from_secs(3600));
/// let (index, outcome) = wait::wait_any(&[&approve, &reject, &timeout])?;
/// # Ok(())
/// # }
/// ```
pub fn wait_any(handles: &[&Pending]) -> Result<(usize, Outcome), Cancelled> {
    let handles: Vec<&Handle> = handles.iter().map(|pending| pending.handle()).collect();
    backend::wait_any(&handles)
}

/// Waits for `handle` alone and returns its outcome.
pub(crate) fn wait_one(handle: &Pending) -> Result<Outcome, Cancelled> {
    wait_any(&[handle]).map(|(_, outcome)| outcome)
}

/// Receives the next signal named `name` and decodes its JSON payload as `T`.
///
/// The same as waiting on [`signal`]`(name)` alone. Use
/// `receive::<serde_json::Value>` to accept any payload.
///
/// # Errors
/// [`WaitError::Cancelled`] when the workflow was asked to cancel (no signal
/// is taken then); [`WaitError::Decode`] when the payload is not a `T` (the
/// signal is consumed all the same).
///
/// ```no_run
/// # fn f() -> Result<(), duro_sdk::wait::WaitError> {
/// let by: String = duro_sdk::wait::receive("approve")?;
/// # Ok(())
/// # }
/// ```
pub fn receive<T: DeserializeOwned>(name: &str) -> Result<T, WaitError> {
    match wait_one(&signal(name))? {
        Outcome::Signal(payload) => decode_signal(name, &payload),
        other => {
            Err(WaitError::Decode(format!("signal `{name}`: the host answered {other:?}, not a signal")))
        }
    }
}

/// Decodes the payload of signal `name`.
pub(crate) fn decode_signal<T: DeserializeOwned>(name: &str, payload: &str) -> Result<T, WaitError> {
    serde_json::from_str(payload)
        .map_err(|e| WaitError::Decode(format!("signal `{name}`: unexpected payload: {e}")))
}

/// A durable sleep that observes cancellation: a [`timer`] of `duration`
/// waited on alone.
///
/// Unlike [`crate::sleep`] (which is kept for compatibility and cannot be
/// interrupted), a cancellation during the sleep ends it early. The wait is
/// durable either way: a long one unloads the workflow.
///
/// # Errors
/// [`Cancelled`] when the workflow was asked to cancel before the timer
/// fired.
///
/// ```no_run
/// # fn f() -> Result<(), duro_sdk::wait::Cancelled> {
/// duro_sdk::wait::sleep(std::time::Duration::from_secs(60))?;
/// # Ok(())
/// # }
/// ```
pub fn sleep(duration: Duration) -> Result<(), Cancelled> {
    wait_one(&timer(duration)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_end_displays_id_status_and_error() {
        let end = ChildEnd {
            id: "parent:4".into(),
            status: ChildStatus::Failed,
            output: None,
            error: Some("boom".into()),
        };
        assert_eq!(end.to_string(), "child workflow parent:4 failed: boom");
        let end = ChildEnd { status: ChildStatus::Cancelled, error: None, ..end };
        assert_eq!(end.to_string(), "child workflow parent:4 cancelled");
    }

    #[test]
    fn errors_display() {
        assert_eq!(Cancelled.to_string(), "the workflow was cancelled");
        assert_eq!(WaitError::from(Cancelled).to_string(), "the workflow was cancelled");
        assert_eq!(WaitError::Decode("bad".into()).to_string(), "bad");
    }

    #[test]
    fn signal_payloads_decode_or_say_why_not() {
        assert_eq!(decode_signal::<u32>("n", "7"), Ok(7));
        let bad = decode_signal::<u32>("n", "\"x\"");
        assert!(
            matches!(&bad, Err(WaitError::Decode(m)) if m.starts_with("signal `n`: unexpected payload: invalid type: string \"x\"")),
            "{bad:?}"
        );
    }
}
