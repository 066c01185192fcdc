//! The executor behind async workflows, and the reactor its futures
//! register with.
//!
//! A workflow is single-threaded and only duro handles (timers, signals,
//! children) can make it progress, so the executor is small: it polls the
//! workflow's one future until that future is pending and nothing woke it,
//! then asks the host which of the awaited handles comes first
//! (`wait-any`), marks that handle's slot won, wakes the future that owns
//! it, and polls again.
//!
//! Determinism is the whole design. Replay compares each `wait-any`'s list
//! of handles with the journal, so that list must be a function of the
//! workflow's code and of journaled answers only:
//!
//! * The list holds the handles of futures that were polled, returned
//!   `Pending`, and have been neither dropped nor answered since: what the
//!   workflow is awaiting. Which futures those are follows from the code
//!   and from earlier winners, which are journaled.
//! * Their order is the order in which they were last polled, so the
//!   `select!` order the author wrote decides ties (the host gives a tie to
//!   the lowest index), even for a future that lives across several
//!   selects, such as a deadline reused in a loop. Poll order is again a
//!   function of the code and of earlier winners.
//! * Nothing else wakes the workflow: no threads, no real time, no I/O.
//!   A workflow that awaits something else (a channel nobody sends to)
//!   would wait forever, so it fails instead.
//!
//! A cancellation (`wait-any` answers `cancelled`) interrupts every
//! awaited handle: each of their futures returns [`Cancelled`] if it is
//! polled before the workflow waits again, and the ones that are not
//! polled by then (a `select!` returns at its first ready branch) go back
//! to waiting. So the cancellation reaches each future that was awaited
//! when it came at most once, if that future is polled before the next wait.
//!
//! [`block_on`] keeps its reactor to itself: one called from inside a
//! poll (a workflow running another's `run_json`) sets the outer one aside
//! and puts it back, so neither sees the other's handles.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use crate::backend::{self, Handle};
use crate::wait::{Cancelled, Outcome};

/// Why [`block_on`] gave up: the future waits, and nothing it waits for is
/// a duro handle.
#[derive(Debug)]
pub(crate) struct Stalled;

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the workflow awaits something that is not a duro timer, signal or child workflow: \
             nothing can wake it",
        )
    }
}

/// Runs `future` to completion on this thread.
///
/// # Errors
/// [`Stalled`] when the future is pending and awaits no duro handle.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, Stalled> {
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    let outer = with_reactor(std::mem::take);
    let result = loop {
        woken.0.store(false, Ordering::Relaxed);
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            break Ok(output);
        }
        if woken.0.load(Ordering::Relaxed) {
            continue;
        }
        let awaited = with_reactor(Reactor::awaited);
        if awaited.is_empty() {
            break Err(Stalled);
        }
        let handles: Vec<&Handle> = awaited.iter().map(|(_, handle)| handle.as_ref()).collect();
        let answer = backend::wait_any(&handles);
        let wakers = with_reactor(|reactor| match answer {
            Ok((index, outcome)) => match awaited.get(index) {
                Some((slot, _)) => reactor.win(*slot, outcome),
                None => {
                    panic!("the host answered winner {index} of a wait-any over {} handles", awaited.len())
                }
            },
            Err(Cancelled) => reactor.interrupt(),
        });
        wakers.into_iter().for_each(Waker::wake);
    };
    with_reactor(|reactor| *reactor = outer);
    result
}

/// The executor's waker: a flag saying "poll again before waiting".
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::new(Reactor::default());
}

fn with_reactor<T>(f: impl FnOnce(&mut Reactor) -> T) -> T {
    REACTOR.with(|reactor| f(&mut reactor.borrow_mut()))
}

/// The handles that futures await, each in a slot.
#[derive(Default)]
struct Reactor {
    /// The next slot's id.
    next_slot: u64,
    /// The next poll's stamp: slots are handed to `wait-any` in stamp order.
    next_stamp: u64,
    slots: BTreeMap<u64, Slot>,
}

struct Slot {
    handle: Rc<Handle>,
    waker: Waker,
    /// When the owning future last polled this slot.
    stamp: u64,
    state: SlotState,
}

enum SlotState {
    /// In the next `wait-any`.
    Waiting,
    /// Won a `wait-any`; the future takes the outcome at its next poll.
    Won(Outcome),
    /// A `wait-any` it was in was cancelled; the future returns
    /// [`Cancelled`] if polled before the next `wait-any`.
    Interrupted,
}

/// What a poll of a slot found.
pub(crate) enum SlotPoll {
    /// Still waiting (the waker is updated).
    Waiting,
    /// The handle won; the slot is gone.
    Won(Outcome),
    /// The workflow was cancelled; the slot is gone.
    Cancelled,
    /// No such slot (the executor was reset): register again.
    Gone,
}

impl Reactor {
    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    /// The waiting slots and their handles, in the order last polled.
    fn awaited(&mut self) -> Vec<(u64, Rc<Handle>)> {
        for slot in self.slots.values_mut() {
            if matches!(slot.state, SlotState::Interrupted) {
                slot.state = SlotState::Waiting;
            }
        }
        let mut awaited: Vec<(u64, u64, Rc<Handle>)> = self
            .slots
            .iter()
            .filter(|(_, slot)| matches!(slot.state, SlotState::Waiting))
            .map(|(id, slot)| (slot.stamp, *id, Rc::clone(&slot.handle)))
            .collect();
        awaited.sort_by_key(|(stamp, ..)| *stamp);
        awaited.into_iter().map(|(_, id, handle)| (id, handle)).collect()
    }

    fn win(&mut self, id: u64, outcome: Outcome) -> Vec<Waker> {
        let Some(slot) = self.slots.get_mut(&id) else { return Vec::new() };
        slot.state = SlotState::Won(outcome);
        vec![slot.waker.clone()]
    }

    fn interrupt(&mut self) -> Vec<Waker> {
        let waiting = self.slots.values_mut().filter(|slot| matches!(slot.state, SlotState::Waiting));
        waiting
            .map(|slot| {
                slot.state = SlotState::Interrupted;
                slot.waker.clone()
            })
            .collect()
    }
}

/// A future's hold on one handle: registers it with the reactor when
/// polled, and takes its outcome.
#[derive(Debug)]
pub(crate) struct Waiter {
    handle: Rc<Handle>,
    state: WaiterState,
}

#[derive(Debug)]
enum WaiterState {
    /// Not awaited now.
    Idle,
    /// Awaited, in this slot.
    Registered(u64),
    /// The handle won: it keeps this outcome.
    Done(Outcome),
}

impl Waiter {
    pub(crate) fn new(handle: Rc<Handle>) -> Self {
        Self { handle, state: WaiterState::Idle }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn shared_handle(&self) -> &Rc<Handle> {
        &self.handle
    }

    /// The handle's outcome, once it has won a `wait-any`.
    pub(crate) fn poll(&mut self, context: &mut Context<'_>) -> Poll<Result<Outcome, Cancelled>> {
        let polled = match &self.state {
            WaiterState::Done(outcome) => return Poll::Ready(Ok(outcome.clone())),
            WaiterState::Idle => SlotPoll::Gone,
            WaiterState::Registered(id) => with_reactor(|reactor| reactor.poll_slot(*id, context.waker())),
        };
        match polled {
            SlotPoll::Waiting => Poll::Pending,
            SlotPoll::Won(outcome) => {
                self.state = WaiterState::Done(outcome.clone());
                Poll::Ready(Ok(outcome))
            }
            SlotPoll::Cancelled => {
                self.state = WaiterState::Idle;
                Poll::Ready(Err(Cancelled))
            }
            SlotPoll::Gone => {
                let handle = Rc::clone(&self.handle);
                let id = with_reactor(|reactor| reactor.register(handle, context.waker()));
                self.state = WaiterState::Registered(id);
                Poll::Pending
            }
        }
    }

    /// Whether the handle has won (polling again returns the same outcome).
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, WaiterState::Done(_))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let WaiterState::Registered(id) = self.state {
            // `try_with`/`try_borrow_mut`: a drop must not panic, and during
            // thread teardown the reactor may be gone already.
            let _ = REACTOR.try_with(|reactor| {
                if let Ok(mut reactor) = reactor.try_borrow_mut() {
                    reactor.slots.remove(&id);
                }
            });
        }
    }
}

impl Reactor {
    fn register(&mut self, handle: Rc<Handle>, waker: &Waker) -> u64 {
        let id = self.next_slot;
        self.next_slot += 1;
        let stamp = self.stamp();
        self.slots.insert(id, Slot { handle, waker: waker.clone(), stamp, state: SlotState::Waiting });
        id
    }

    fn poll_slot(&mut self, id: u64, waker: &Waker) -> SlotPoll {
        let stamp = self.stamp();
        let Some(slot) = self.slots.get_mut(&id) else { return SlotPoll::Gone };
        match slot.state {
            SlotState::Waiting => {
                slot.stamp = stamp;
                if !slot.waker.will_wake(waker) {
                    slot.waker = waker.clone();
                }
                SlotPoll::Waiting
            }
            SlotState::Won(_) | SlotState::Interrupted => match self.slots.remove(&id).map(|slot| slot.state)
            {
                Some(SlotState::Won(outcome)) => SlotPoll::Won(outcome),
                _ => SlotPoll::Cancelled,
            },
        }
    }
}
