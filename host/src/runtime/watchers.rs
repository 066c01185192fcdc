//! Result and event waiters, by workflow: news of a workflow wakes only
//! the waiters of that workflow.
//!
//! A long poll (`GET …/result?wait=`, `GET …/events/{key}?wait=`) registers
//! for its workflow before it reads the store, so news that comes between
//! the read and the wait is not missed, and reads again when woken. With a
//! waiter per workflow in flight, a broadcast of every workflow's news to
//! every waiter would cost in flight × news wake-ups; this costs one per
//! waiter told.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::lock;
use crate::ids::WorkflowId;

/// The waiters of each workflow that has some.
#[derive(Default)]
pub(super) struct Watchers {
    /// Per workflow: how many [`Watch`]es, and what wakes them.
    watched: Mutex<HashMap<WorkflowId, (usize, Arc<Notify>)>>,
}

impl Watchers {
    /// Registers a waiter for `id` until the returned [`Watch`] is dropped.
    pub(super) fn watch(&self, id: &WorkflowId) -> Watch<'_> {
        let mut watched = lock(&self.watched);
        let (count, notify) = watched.entry(id.clone()).or_insert_with(|| (0, Arc::new(Notify::new())));
        *count += 1;
        Watch { watchers: self, id: id.clone(), notify: notify.clone() }
    }

    /// Wakes every waiter of `id` that is waiting (see [`Watch::notified`]).
    pub(super) fn tell(&self, id: &WorkflowId) {
        if let Some((_, notify)) = lock(&self.watched).get(id) {
            notify.notify_waiters();
        }
    }
}

/// One waiter's registration.
pub(super) struct Watch<'a> {
    watchers: &'a Watchers,
    id: WorkflowId,
    notify: Arc<Notify>,
}

impl Watch<'_> {
    /// A future that completes at the next [`Watchers::tell`] for this
    /// workflow after this call: create it before reading the store.
    pub(super) fn notified(&self) -> std::pin::Pin<Box<Notified<'_>>> {
        let mut notified = Box::pin(self.notify.notified());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut watched = lock(&self.watchers.watched);
        if let Some((count, _)) = watched.get_mut(&self.id) {
            *count -= 1;
            if *count == 0 {
                watched.remove(&self.id);
            }
        }
    }
}
