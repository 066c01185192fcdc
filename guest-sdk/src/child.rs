//! Child workflows: start another workflow component and wait for its end.
//!
//! A child is a workflow of its own, with its own id, journal, retries and
//! replay, so a parent can split work into durable pieces that run side by
//! side and fail on their own ("fan out one workflow per customer, then
//! collect"). The parent's handle on it is a [`Pending`], so it can race a
//! child against a timer or a signal with [`wait_any`](crate::wait::wait_any);
//! [`Child::join`] waits for it alone, and [`Child::output`] is its end as
//! a future for async workflows.
//!
//! Starting is journaled and committed before the child runs, so replay
//! never starts a child twice. When the parent ends or is cancelled, its
//! children still running are cancelled.
//!
//! ```no_run
//! use duro_sdk::child;
//!
//! # fn fan_out() -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
//! let children = ["Ada", "Grace"]
//!     .iter()
//!     .map(|name| child::start("hello", &serde_json::json!({ "name": name }), None))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let mut outputs = Vec::new();
//! for child in &children {
//!     outputs.push(child.join::<serde_json::Value>()??);
//! }
//! # Ok(outputs)
//! # }
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend;
use crate::future::executor::Waiter;
use crate::wait::{self, ChildEnd, ChildStatus, Outcome, Pending, WaitError};

/// A child workflow this workflow started with [`start`].
///
/// Dropping it neither cancels nor detaches the child (it runs on until it
/// ends or this workflow ends).
///
/// ```no_run
/// # fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let child: duro_sdk::child::Child = duro_sdk::child::start("hello", &serde_json::json!({ "name": "Ada" }), None)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Child {
    pending: Pending,
}

/// Starts child workflow `component` (a digest or a name, resolved now)
/// with `input` as JSON, under workflow id `id`, or under `<this workflow's
/// id>:<seq>` when `id` is `None` (`seq` is the child's
/// [`key`](Pending::key)).
///
/// Journaled: on replay the recorded start comes back and nothing is
/// started again. The input must be at most 1 MiB of JSON; more fails the
/// workflow.
///
/// # Errors
/// Why the child could not start: `invalid child input: <serde error>` when
/// `input` does not serialize (nothing is journaled then), or the host's
/// message for an unknown component, an invalid id, or an id taken by
/// another workflow.
///
/// ```no_run
/// # fn f() -> Result<(), String> {
/// let child = duro_sdk::child::start("hello", &serde_json::json!({ "name": "Ada" }), Some("hello-ada"))?;
/// # Ok(())
/// # }
/// ```
pub fn start<I: Serialize>(component: &str, input: &I, id: Option<&str>) -> Result<Child, String> {
    let input = serde_json::to_string(input).map_err(|e| format!("invalid child input: {e}"))?;
    let handle = backend::start_child(component, &input, id)?;
    Ok(Child { pending: Pending::from_backend(handle) })
}

impl Child {
    /// The handle to pass to [`wait_any`](crate::wait::wait_any), whose
    /// outcome for it is [`Outcome::Child`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use duro_sdk::{child, wait};
    ///
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let child = child::start("report", &(), None)?;
    /// let deadline = wait::timer(Duration::from_secs(3600));
    /// if let (1, _) = wait::wait_any(&[child.pending(), &deadline])? {
    ///     child.cancel();
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    /// Asks the child to cancel (journaled). Nothing happens if it already
    /// ended. Its end still arrives through [`join`](Self::join) or
    /// [`wait_any`](crate::wait::wait_any): [`ChildStatus::Cancelled`] once
    /// the child has seen the cancellation at a wait and returned (it may
    /// compensate first); a child that never waits again ends as it would
    /// have.
    ///
    /// ```no_run
    /// # fn f() -> Result<(), String> {
    /// let child = duro_sdk::child::start("report", &(), None)?;
    /// child.cancel();
    /// # Ok(())
    /// # }
    /// ```
    pub fn cancel(&self) {
        backend::cancel_child(self.pending.handle());
    }

    /// Waits for this child alone to end.
    ///
    /// Returns `Ok(Ok(output))` with the child's output decoded as `T` if it
    /// completed, and `Ok(Err(end))` if it ended otherwise (failed, stuck,
    /// cancelled or terminated; [`ChildEnd`] says how). Once the child has
    /// ended, joining again returns the same end at once.
    ///
    /// # Errors
    /// [`WaitError::Cancelled`] when this workflow was asked to cancel (the
    /// child runs on until this workflow ends, or [`cancel`](Self::cancel)
    /// it); [`WaitError::Decode`] when the child completed with output that
    /// is not a `T`.
    ///
    /// ```no_run
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let child = duro_sdk::child::start("hello", &serde_json::json!({ "name": "Ada" }), None)?;
    /// match child.join::<serde_json::Value>()? {
    ///     Ok(output) => println!("{output}"),
    ///     Err(end) => println!("{end}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn join<T: DeserializeOwned>(&self) -> Result<Result<T, ChildEnd>, WaitError> {
        outcome_of_child(wait::wait_one(&self.pending)?)
    }

    /// This child's end as a future, for async workflows: the same answer
    /// as [`join`](Self::join), but it can be raced with
    /// [`select!`](crate::select) or awaited with others with
    /// [`join!`](crate::join).
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use duro_sdk::{child, future};
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let child = child::start("report", &serde_json::json!({}), None)?;
    /// let mut output = child.output::<serde_json::Value>();
    /// let mut deadline = future::sleep(Duration::from_secs(3600));
    /// duro_sdk::select! {
    ///     report = output => println!("report: {}", report??),
    ///     _ = deadline => child.cancel(),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[must_use = "a future does nothing unless awaited"]
    pub fn output<T: DeserializeOwned>(&self) -> ChildOutput<T> {
        ChildOutput { waiter: self.pending.waiter(), output: PhantomData }
    }
}

/// A child's end as a future, made by [`Child::output`]: `Ok(Ok(output))`
/// with its output decoded as `T` if it completed, `Ok(Err(end))` if it
/// ended otherwise.
///
/// # Errors
/// [`WaitError::Cancelled`] when this workflow was asked to cancel while it
/// waited (the child runs on; the future may be awaited again);
/// [`WaitError::Decode`] when the child completed with output that is not a
/// `T`.
///
/// ```no_run
/// use duro_sdk::child::{self, ChildOutput};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let child = child::start("hello", &serde_json::json!({ "name": "Ada" }), None)?;
/// let greeting: ChildOutput<serde_json::Value> = child.output();
/// println!("{}", greeting.await??);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ChildOutput<T> {
    waiter: Waiter,
    output: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Future for ChildOutput<T> {
    type Output = Result<Result<T, ChildEnd>, WaitError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().waiter.poll(context).map(|outcome| outcome_of_child(outcome?))
    }
}

impl<T: DeserializeOwned> FusedFuture for ChildOutput<T> {
    fn is_terminated(&self) -> bool {
        self.waiter.is_done()
    }
}

/// A child handle's outcome, settled.
fn outcome_of_child<T: DeserializeOwned>(outcome: Outcome) -> Result<Result<T, ChildEnd>, WaitError> {
    match outcome {
        Outcome::Child(end) => settle(end),
        other => Err(WaitError::Decode(format!("child workflow: the host answered {other:?}, not its end"))),
    }
}

/// Decodes a completed child's output, or hands back the end of one that
/// did not complete.
fn settle<T: DeserializeOwned>(end: ChildEnd) -> Result<Result<T, ChildEnd>, WaitError> {
    if end.status != ChildStatus::Completed {
        return Ok(Err(end));
    }
    let Some(output) = &end.output else {
        return Err(WaitError::Decode(format!("child workflow {} completed without output", end.id)));
    };
    serde_json::from_str(output)
        .map(Ok)
        .map_err(|e| WaitError::Decode(format!("child workflow {}: unexpected output: {e}", end.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(status: ChildStatus, output: Option<&str>, error: Option<&str>) -> ChildEnd {
        ChildEnd { id: "p:3".into(), status, output: output.map(Into::into), error: error.map(Into::into) }
    }

    #[test]
    fn completed_children_decode_their_output() {
        assert_eq!(settle::<u32>(end(ChildStatus::Completed, Some("5"), None)), Ok(Ok(5)));
        let bad = settle::<u32>(end(ChildStatus::Completed, Some("\"x\""), None));
        assert!(
            matches!(&bad, Err(WaitError::Decode(m)) if m.starts_with("child workflow p:3: unexpected output: ")),
            "{bad:?}"
        );
        let none = settle::<u32>(end(ChildStatus::Completed, None, None));
        assert_eq!(none, Err(WaitError::Decode("child workflow p:3 completed without output".into())));
    }

    #[test]
    fn other_ends_are_handed_back() {
        for status in
            [ChildStatus::Failed, ChildStatus::Stuck, ChildStatus::Cancelled, ChildStatus::Terminated]
        {
            let failed = end(status, None, Some("boom"));
            assert_eq!(settle::<u32>(failed.clone()), Ok(Err(failed)));
        }
    }
}
