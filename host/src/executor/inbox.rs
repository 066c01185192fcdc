//! [`Inbox`]: how a run learns what has arrived for its workflow (signals,
//! children's ends, a cancellation request) and starts children.
//!
//! Like the [`Checkpointer`](super::Checkpointer), it is implemented by the
//! runtime, so the executor never touches the database. Reads here are only
//! looks: a signal is consumed by the commit that holds the `wait-any`
//! entry that received it, never by the look.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::journal::ChildEnd;

/// A signal waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxSignal {
    /// Arrival number, from 1, per workflow.
    pub arrival: u64,
    /// Payload, JSON text.
    pub payload: String,
    /// When it arrived, in ns since the Unix epoch.
    pub arrived_at_ns: u64,
}

/// A child workflow that ended, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedChild {
    /// How it ended.
    pub end: ChildEnd,
    /// When, in ns since the Unix epoch.
    pub ended_at_ns: u64,
}

/// Whether a child may start, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildAdmission {
    /// It may start under the id asked for, running this digest.
    Admitted {
        /// The digest of its component.
        digest: String,
    },
    /// It cannot start; the message says why (an unknown component, an
    /// activity, an id taken by another workflow).
    Refused(String),
}

/// A host-side failure of an inbox look (the database): the run stops and
/// is retried later, nothing journaled.
pub type InboxError = String;

/// What has arrived for one workflow; implemented by the runtime.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// The first signal named `name` not yet consumed that arrived after
    /// arrival number `after`.
    ///
    /// # Errors
    /// [`InboxError`] if the store cannot be read.
    async fn next_signal(&self, name: &str, after: u64) -> Result<Option<InboxSignal>, InboxError>;

    /// How child `id` ended, if it has.
    ///
    /// # Errors
    /// [`InboxError`] if the store cannot be read.
    async fn child_end(&self, id: &str) -> Result<Option<EndedChild>, InboxError>;

    /// Whether this workflow has been asked to cancel.
    ///
    /// # Errors
    /// [`InboxError`] if the store cannot be read.
    async fn cancel_requested(&self) -> Result<bool, InboxError>;

    /// Whether a child of `component` (a digest or a name) may start under
    /// `id`: the component is a workflow, and no other workflow has the id.
    ///
    /// # Errors
    /// [`InboxError`] if the store cannot be read.
    async fn admit_child(&self, component: &str, id: &str) -> Result<ChildAdmission, InboxError>;

    /// Notified (one permit) whenever something may have arrived for this
    /// workflow: a run waiting in memory looks again.
    fn arrivals(&self) -> Arc<Notify>;
}
