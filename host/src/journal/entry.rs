//! Journal entry types: one definition, matched exhaustively everywhere.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::effect::{ActivityAttempt, ActivityCall, HttpAttempt, HttpCall, InFlight};
use super::wait::{ChildCall, ChildStart, Won};

/// One host call a workflow made and what it got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the workflow's journal, dense from 0.
    pub seq: u64,
    /// What the workflow asked for.
    pub call: Call,
    /// What the host answered; fed back verbatim on replay.
    pub outcome: Outcome,
    /// When the host recorded the entry, in ns since the Unix epoch.
    pub recorded_at_ns: u64,
}

/// A host call as the guest made it: the part of an entry that replay compares.
///
/// Two calls are the same call when they are equal; a replayed workflow must
/// make, at each `seq`, the call recorded there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// `duro:workflow/runtime.now`.
    Now,
    /// `duro:workflow/runtime.random-u64`, also `wasi:random` 64-bit requests.
    RandomU64,
    /// `duro:workflow/runtime.sleep`: a durable timer.
    Sleep {
        /// Requested duration in ns.
        duration_ns: u64,
    },
    /// `wasi:clocks/wall-clock.now` (Rust's `SystemTime::now`).
    WasiWallClock,
    /// `wasi:clocks/monotonic-clock.now` (Rust's `Instant::now`).
    WasiMonotonicClock,
    /// `wasi:random` byte requests (`get-random-bytes`, `get-insecure-random-bytes`).
    WasiRandomBytes {
        /// Number of bytes requested.
        len: u64,
    },
    /// `duro:workflow/http.send`: one attempt of an HTTP request (an effect).
    Http {
        /// The request.
        request: Box<HttpCall>,
        /// The attempt's number, from 1.
        attempt: u32,
    },
    /// `duro:workflow/activities.call`: one attempt of an activity (an effect).
    Activity {
        /// The call.
        call: Box<ActivityCall>,
        /// The attempt's number, from 1.
        attempt: u32,
    },
    /// `duro:workflow/waits.start-timer`: a timer handle.
    StartTimer {
        /// Requested duration in ns.
        duration_ns: u64,
    },
    /// `duro:workflow/waits.receive-signal`: a handle on the next signal of
    /// a name.
    ReceiveSignal {
        /// The signal's name.
        name: String,
    },
    /// `duro:workflow/waits.start-child`: a child workflow.
    StartChild(Box<ChildCall>),
    /// `duro:workflow/waits.cancel-child`: asks a child to cancel.
    CancelChild {
        /// The child's workflow id.
        id: String,
    },
    /// `duro:workflow/waits.wait-any`: the first of several handles.
    WaitAny {
        /// The handles' keys (the seqs of the calls that made them), in the
        /// order given.
        keys: Vec<u64>,
    },
    /// `duro:workflow/events.set-event`: publishes a value.
    SetEvent {
        /// The event's key.
        key: String,
        /// Its new value, JSON text.
        value: String,
    },
}

/// What the host answered to a [`Call`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A clock reading in ns since the Unix epoch (the monotonic clock reads
    /// the wall clock too, never going back from its last reading).
    Time {
        /// The reading in ns.
        ns: u64,
    },
    /// A random number.
    Random {
        /// The number.
        value: u64,
    },
    /// A timer was set.
    Timer {
        /// When the timer fires, in ns since the Unix epoch.
        wake_at_ns: u64,
    },
    /// Random bytes. Encoded as one byte string (`serde_bytes`), which in
    /// postcard is the same layout as a sequence of `u8` but written and
    /// measured in one step rather than byte by byte.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An HTTP attempt's response or error, and whether it is retried.
    Http(Box<HttpAttempt>),
    /// An activity attempt's output or error, and whether it is retried.
    Activity(Box<ActivityAttempt>),
    /// An activity attempt is running: recorded (and committed) when it
    /// starts and again at its heartbeats, under the attempt's own call, so
    /// a restart knows the attempt was lost and what it last reported. The
    /// attempt's result follows under the same call.
    InFlight(Box<InFlight>),
    /// The call was carried out and has nothing to answer (a signal
    /// receive registered, an event set, a child asked to cancel).
    Done,
    /// How a child start went.
    Child(Box<ChildStart>),
    /// The winner of a `wait-any`.
    Won(Box<Won>),
    /// A `wait-any` returned because the workflow was asked to cancel.
    Cancelled,
}

/// The kind of a [`Call`]: the `kind` column of the journal table and the
/// `kind` field of the API's journal view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// [`Call::Now`].
    Now,
    /// [`Call::RandomU64`].
    RandomU64,
    /// [`Call::Sleep`].
    Sleep,
    /// [`Call::WasiWallClock`].
    WasiWallClock,
    /// [`Call::WasiMonotonicClock`].
    WasiMonotonicClock,
    /// [`Call::WasiRandomBytes`].
    WasiRandomBytes,
    /// [`Call::Http`].
    Http,
    /// [`Call::Activity`].
    Activity,
    /// [`Call::StartTimer`].
    StartTimer,
    /// [`Call::ReceiveSignal`].
    ReceiveSignal,
    /// [`Call::StartChild`].
    StartChild,
    /// [`Call::CancelChild`].
    CancelChild,
    /// [`Call::WaitAny`].
    WaitAny,
    /// [`Call::SetEvent`].
    SetEvent,
}

impl EntryKind {
    /// The kind's stable name, e.g. `"sleep"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Now => "now",
            Self::RandomU64 => "random_u64",
            Self::Sleep => "sleep",
            Self::WasiWallClock => "wasi_wall_clock",
            Self::WasiMonotonicClock => "wasi_monotonic_clock",
            Self::WasiRandomBytes => "wasi_random_bytes",
            Self::Http => "http",
            Self::Activity => "activity",
            Self::StartTimer => "start_timer",
            Self::ReceiveSignal => "receive_signal",
            Self::StartChild => "start_child",
            Self::CancelChild => "cancel_child",
            Self::WaitAny => "wait_any",
            Self::SetEvent => "set_event",
        }
    }
}

impl Call {
    /// This call's kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            Self::Now => EntryKind::Now,
            Self::RandomU64 => EntryKind::RandomU64,
            Self::Sleep { .. } => EntryKind::Sleep,
            Self::WasiWallClock => EntryKind::WasiWallClock,
            Self::WasiMonotonicClock => EntryKind::WasiMonotonicClock,
            Self::WasiRandomBytes { .. } => EntryKind::WasiRandomBytes,
            Self::Http { .. } => EntryKind::Http,
            Self::Activity { .. } => EntryKind::Activity,
            Self::StartTimer { .. } => EntryKind::StartTimer,
            Self::ReceiveSignal { .. } => EntryKind::ReceiveSignal,
            Self::StartChild(_) => EntryKind::StartChild,
            Self::CancelChild { .. } => EntryKind::CancelChild,
            Self::WaitAny { .. } => EntryKind::WaitAny,
            Self::SetEvent { .. } => EntryKind::SetEvent,
        }
    }
}

impl fmt::Display for Call {
    /// The call as the guest wrote it, e.g. `sleep(duration_ns: 2000000000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Now => f.write_str("now()"),
            Self::RandomU64 => f.write_str("random-u64()"),
            Self::Sleep { duration_ns } => write!(f, "sleep(duration_ns: {duration_ns})"),
            Self::WasiWallClock => f.write_str("wasi:clocks/wall-clock.now()"),
            Self::WasiMonotonicClock => f.write_str("wasi:clocks/monotonic-clock.now()"),
            Self::WasiRandomBytes { len } => write!(f, "wasi:random get-random-bytes(len: {len})"),
            Self::Http { request, attempt } => write!(f, "http send({request}, attempt {attempt})"),
            Self::Activity { call, attempt } => write!(f, "{call} (attempt {attempt})"),
            Self::StartTimer { duration_ns } => write!(f, "start-timer(duration_ns: {duration_ns})"),
            Self::ReceiveSignal { name } => write!(f, "receive-signal({name:?})"),
            Self::StartChild(call) => write!(f, "start-{call}"),
            Self::CancelChild { id } => write!(f, "cancel-child({id:?})"),
            Self::WaitAny { keys } => write!(f, "wait-any(keys: {keys:?})"),
            Self::SetEvent { key, .. } => write!(f, "set-event({key:?})"),
        }
    }
}
