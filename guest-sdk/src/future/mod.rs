//! Async waits: timers, signals and child workflows as [`Future`]s, so a
//! workflow that waits on several things at once reads as straight-line
//! code with [`select!`](crate::select) and [`join!`](crate::join) instead
//! of index juggling around [`wait_any`](crate::wait::wait_any).
//!
//! Write the workflow as an `async fn` and register it with
//! [`workflow!`](crate::workflow) as usual:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use duro_sdk::future;
//! use duro_sdk::wait::WaitError;
//!
//! async fn approve(request: String) -> Result<String, WaitError> {
//!     let mut approve = future::signal::<String>("approve");
//!     let mut timeout = future::sleep(Duration::from_secs(24 * 60 * 60));
//!     duro_sdk::select! {
//!         by = approve => Ok(format!("{request}: approved by {}", by?)),
//!         fired = timeout => fired.map(|()| format!("{request}: timed out")).map_err(WaitError::from),
//!     }
//! }
//!
//! duro_sdk::workflow!(approve);
//! ```
//!
//! * [`sleep`] makes a [`Timer`], [`signal`] a [`Signal`], and
//!   [`Child::output`](crate::child::Child::output) a
//!   [`ChildOutput`](crate::child::ChildOutput); a bare
//!   [`Pending`](crate::wait::Pending) handle is a future too. Each is
//!   made by one journaled call, at once, so the journal follows the order
//!   of the code, not the order of polls. Each is [`Unpin`] and
//!   [`FusedFuture`], so `select!` takes it
//!   by name and it can outlive one `select!` (a deadline reused in a loop).
//! * Awaiting one alone is the same as the blocking call in
//!   [`wait`](crate::wait): `future::sleep(d).await` is
//!   [`wait::sleep`](crate::wait::sleep)`(d)`.
//! * HTTP requests and activities stay blocking calls (the host runs them
//!   before it answers), so `.await` is not needed for them and they cannot
//!   be raced.
//!
//! # How it runs
//!
//! `workflow!` given an `async fn` runs its future on a small executor in
//! the guest. The executor polls the future until it cannot progress, then
//! calls the host's `wait-any` with the handles of the futures being
//! awaited, in the order they were last polled, and wakes the one that
//! won. `wait-any` is journaled (its handles and its winner), so on replay
//! the same future wins and the workflow takes the same branch. The list
//! of handles depends only on the code and on journaled answers, which is
//! what replay needs. A workflow that awaits anything other than these
//! futures (a channel, a third-party timer) would wait forever; it fails
//! instead, with an error saying so.
//!
//! # `select!` is biased
//!
//! [`select!`](crate::select) is `futures::select_biased!`, and
//! [`join!`](crate::join) is `futures::join!`: the `futures` crate's macros
//! are well kept and well known, so the SDK reuses them rather than adding
//! its own. `futures::select!` (unbiased) polls its branches in a random
//! order, and workflow code must not depend on randomness the journal
//! does not record; `select_biased!` polls them in the order written, so a
//! replay takes the same branch. Use `duro_sdk::select!`, never
//! `futures::select!`. The branches of both take futures that implement
//! [`FusedFuture`]: those of this module do;
//! wrap an `async` block in `.fuse()` ([`FutureExt`](futures::FutureExt),
//! re-exported as [`duro_sdk::futures`](crate::futures)). Combinators of
//! `futures` such as `join_all` and `FuturesUnordered` work as well, for
//! they poll deterministically.
//!
//! # Cancellation
//!
//! When the workflow is asked to cancel, the wait in progress is
//! interrupted: every future it was awaiting returns
//! `Err(`[`Cancelled`]`)` (or
//! [`WaitError::Cancelled`]) if it is
//! polled before the workflow waits again, which is what `select!` and
//! `join!` do; one not polled by then (a later branch of a `select!` that
//! already returned) keeps waiting as if nothing happened. A future
//! that returned `Cancelled` may be awaited again: its handle is intact.
//! The host tells the cancellation once, to one wait; within the workflow
//! it reaches each future that wait was awaiting at most once, at that
//! future's next poll before the workflow waits again (so after a
//! `select!` whose first branch saw it, awaiting the other branch's future
//! at once sees it too). Compensate with further waits, then return; the
//! workflow then ends `cancelled`.
//!
//! # How many at once
//!
//! Each wait hands the host every future the workflow is awaiting at that
//! moment, and the host takes at most 1,024 in one wait (it fails the
//! workflow beyond). Fan out to more children or timers than that in
//! batches.
//!
//! # What loses a race
//!
//! A future that loses a `select!` and is dropped leaves no trace: its
//! timer is never observed, its signal stays in the inbox for the next
//! receive of that name, its child runs on. A future that is kept alive
//! after being polled stays awaited: while it lives, each wait of the
//! workflow may hand it its outcome (a signal it receives is taken then,
//! and it returns that signal when next polled). Drop the futures you no
//! longer await.

pub(crate) mod executor;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::FusedFuture;
use serde::de::DeserializeOwned;

use crate::backend;
use crate::wait::{Cancelled, Outcome, WaitError, decode_signal};
use executor::Waiter;

/// A durable timer that fires `duration` after this call was first made,
/// as a future: `Ok(())` once it fired.
///
/// The call is journaled at once with its wake-up time (replay fires it at
/// the same moment); `duration` is clamped to `u64::MAX` ns (about 584
/// years). Await it alone for a durable sleep, or race it as a timeout.
///
/// ```no_run
/// use std::time::Duration;
///
/// # async fn pause() -> Result<(), duro_sdk::wait::Cancelled> {
/// duro_sdk::future::sleep(Duration::from_secs(60)).await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a timer does nothing unless awaited"]
pub fn sleep(duration: Duration) -> Timer {
    let handle = backend::start_timer(crate::nanos(duration));
    Timer { waiter: Waiter::new(Rc::new(handle)) }
}

/// A durable timer made by [`sleep`]; it resolves to `Ok(())` when it fires.
///
/// # Errors
/// [`Cancelled`] when the workflow was asked to cancel while it waited; the
/// timer stays set and may be awaited again.
///
/// ```no_run
/// use std::time::Duration;
///
/// use duro_sdk::future::{self, Timer};
///
/// # async fn f() -> Result<(), duro_sdk::wait::Cancelled> {
/// let deadline: Timer = future::sleep(Duration::from_secs(5));
/// deadline.await
/// # }
/// ```
#[derive(Debug)]
pub struct Timer {
    waiter: Waiter,
}

impl Future for Timer {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().waiter.poll(context).map(|outcome| outcome.map(drop))
    }
}

impl FusedFuture for Timer {
    fn is_terminated(&self) -> bool {
        self.waiter.is_done()
    }
}

/// The next signal named `name` (at most 256 bytes), as a future of its
/// JSON payload decoded as `T`.
///
/// The receive is journaled at once; the signal is taken from the inbox
/// only when this future wins a wait, so a `signal` that loses a race and
/// is dropped takes nothing. Signals of one name arrive in the order they
/// were sent, each to one receive. Use `signal::<serde_json::Value>` to
/// accept any payload.
///
/// ```no_run
/// #[derive(serde::Deserialize)]
/// struct Verdict {
///     by: String,
/// }
///
/// # async fn f() -> Result<(), duro_sdk::wait::WaitError> {
/// let verdict: Verdict = duro_sdk::future::signal("approve").await?;
/// duro_sdk::log(duro_sdk::Level::Info, &format!("approved by {}", verdict.by));
/// # Ok(())
/// # }
/// ```
#[must_use = "a signal receive takes nothing unless awaited"]
pub fn signal<T: DeserializeOwned>(name: &str) -> Signal<T> {
    let handle = backend::receive_signal(name);
    Signal { name: name.to_owned(), waiter: Waiter::new(Rc::new(handle)), payload: PhantomData }
}

/// A signal receive made by [`signal`]; it resolves to the payload decoded
/// as `T`.
///
/// # Errors
/// [`WaitError::Cancelled`] when the workflow was asked to cancel while it
/// waited (no signal is taken; the receive may be awaited again);
/// [`WaitError::Decode`] when the payload is not a `T` (the signal is
/// consumed all the same).
///
/// ```no_run
/// use duro_sdk::future::{self, Signal};
///
/// # async fn f() -> Result<u32, duro_sdk::wait::WaitError> {
/// let count: Signal<u32> = future::signal("count");
/// count.await
/// # }
/// ```
#[derive(Debug)]
pub struct Signal<T> {
    name: String,
    waiter: Waiter,
    payload: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Future for Signal<T> {
    type Output = Result<T, WaitError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.waiter.poll(context).map(|outcome| match outcome? {
            Outcome::Signal(payload) => decode_signal(&this.name, &payload),
            other => Err(WaitError::Decode(format!(
                "signal `{}`: the host answered {other:?}, not a signal",
                this.name
            ))),
        })
    }
}

impl<T: DeserializeOwned> FusedFuture for Signal<T> {
    fn is_terminated(&self) -> bool {
        self.waiter.is_done()
    }
}
