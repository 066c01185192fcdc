//! The rows the store reads and writes, as Rust types.

use crate::ids::{ComponentDigest, HostId, WorkflowId};
use crate::journal::{self, Entry, LogLevel, LogLine, LogStream};

/// What a component is, told from the world it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// `duro:workflow/workflow`: started as a workflow, replayed.
    Workflow,
    /// `duro:workflow/activity`: called by workflows, never replayed.
    Activity,
}

impl ComponentKind {
    /// The kind's name, e.g. `"activity"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workflow => "workflow",
            Self::Activity => "activity",
        }
    }

    /// Parses a name written by [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Workflow, Self::Activity].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A stored component (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    /// Content digest.
    pub digest: ComponentDigest,
    /// Workflow or activity.
    pub kind: ComponentKind,
    /// A name that points at it, if any (the first in sort order when
    /// several do; a name points at the digest last pushed under it).
    pub name: Option<String>,
    /// Size of the component binary in bytes.
    pub size_bytes: u64,
    /// When it was first stored, in ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// One digest pushed under a component name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentVersion {
    /// The version's component.
    pub component: ComponentRecord,
    /// When it was last pushed under the name, in ms since the Unix epoch.
    pub pushed_at_ms: i64,
}

/// The result of an idempotent create: the record, and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// The record did not exist and was created.
    New(T),
    /// A record with the same key already existed; it is returned unchanged.
    Existing(T),
}

impl<T> Created<T> {
    /// Whether the record was created by this call.
    pub fn is_new(&self) -> bool {
        matches!(self, Self::New(_))
    }

    /// The record either way.
    pub fn into_inner(self) -> T {
        match self {
            Self::New(record) | Self::Existing(record) => record,
        }
    }
}

/// A workflow's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkflowStatus {
    /// Ready to run or running now.
    Running,
    /// Waiting for a durable timer; holds no memory until `wake_at`.
    Sleeping,
    /// Waiting for a signal or a child workflow (and perhaps a timer, until
    /// `wake_at`); holds no memory until one arrives. `waiting_on` says what.
    Waiting,
    /// `run` returned `ok`; `output` is set.
    Completed,
    /// `run` returned `err` or trapped; `error` is set.
    Failed,
    /// Replay diverged from the journal; `error` names the seq, the recorded
    /// call and the new call. Needs an operator (a fixed component).
    Stuck,
    /// It was asked to cancel, was told, and `run` returned; `output` or
    /// `error` holds what it returned.
    Cancelled,
    /// It was stopped without its cooperation (a forced cancel, or an
    /// execution timeout whose grace period passed).
    Terminated,
}

impl WorkflowStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 8] = [
        Self::Running,
        Self::Sleeping,
        Self::Waiting,
        Self::Completed,
        Self::Failed,
        Self::Stuck,
        Self::Cancelled,
        Self::Terminated,
    ];

    /// The status's name, e.g. `"sleeping"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Sleeping => "sleeping",
            Self::Waiting => "waiting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Stuck => "stuck",
            Self::Cancelled => "cancelled",
            Self::Terminated => "terminated",
        }
    }

    /// Parses a name written by [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the workflow will not run again by itself: `completed`,
    /// `failed`, `stuck`, `cancelled` or `terminated`.
    pub fn is_final(self) -> bool {
        match self {
            Self::Running | Self::Sleeping | Self::Waiting => false,
            Self::Completed | Self::Failed | Self::Stuck | Self::Cancelled | Self::Terminated => true,
        }
    }

    /// Whether the workflow is unloaded until something arrives: `sleeping`
    /// or `waiting`.
    pub fn is_suspended(self) -> bool {
        matches!(self, Self::Sleeping | Self::Waiting)
    }
}

/// A stored workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRecord {
    /// Identifier.
    pub id: WorkflowId,
    /// Digest of the component it runs: pinned at start.
    pub component: ComponentDigest,
    /// Input, JSON text.
    pub input: String,
    /// Output, JSON text, once completed.
    pub output: Option<String>,
    /// Error message, once failed or stuck.
    pub error: Option<String>,
    /// When a sleeping workflow wakes, in ms since the Unix epoch.
    pub wake_at_ms: Option<i64>,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last status change, ms since the Unix epoch.
    pub updated_at_ms: i64,
    /// Insertion order; the pagination cursor of [`WorkflowFilter`].
    pub ordinal: i64,
    /// Where the workflow's durable state stands, its status included: what
    /// a commit continues from.
    pub state: WorkflowState,
    /// Log bytes (message text) stored so far, for the per-workflow log budget.
    pub log_bytes: u64,
    /// The workflow that started this one as a child, if any.
    pub parent: Option<WorkflowId>,
    /// What a `sleeping` or `waiting` workflow waits for besides `wake_at`.
    pub waiting_on: Option<WaitSet>,
    /// When cancellation was first requested, in ms since the Unix epoch.
    pub cancel_requested_ms: Option<i64>,
    /// The execution timeout, in ms since the Unix epoch: when the workflow
    /// is cancelled, or, once cancelled by it, when it is terminated.
    pub deadline_ms: Option<i64>,
    /// The host whose run owns it now, if any.
    pub owner: Option<HostId>,
    /// The W3C `traceparent` of the span that started it, if traced: its
    /// runs join that trace.
    pub trace_parent: Option<String>,
    /// The schedule tick that started it, if one did.
    pub scheduled_by: Option<ScheduledBy>,
}

/// The schedule tick that started a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledBy {
    /// The schedule's id.
    pub schedule: String,
    /// The tick's nominal time, ms since the Unix epoch.
    pub nominal_ms: i64,
}

/// What a suspended workflow waits for, besides its earliest timer: any of
/// these arriving makes it `running` again.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaitSet {
    /// Names of signals it receives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
    /// Ids of child workflows whose end it waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<WorkflowId>,
    /// Whether a cancellation request wakes it (it has not been told of
    /// one yet, and it waits where it can be told).
    #[serde(default)]
    pub cancellable: bool,
}

/// The part of a workflow's row that a commit compares and sets.
///
/// Every commit of a run ([`Store::commit`](super::Store::commit)) names the
/// state it continues from and applies only if the row still holds exactly
/// that state. `revision` grows by one with each such write, and with every
/// change of owner (a claim, a release, a reclaim from a dead host, a
/// termination): it is the fencing token. So a run that lost track (a stale
/// run, a host whose lease expired while it was paused) can never overwrite
/// a newer state, even one that came back to the same status and
/// `next_seq`, and two hosts never both write seq N of a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowState {
    /// Status.
    pub status: WorkflowStatus,
    /// `seq` of the next journal entry: the number of entries stored.
    pub next_seq: u64,
    /// Writes applied to the row by runs so far.
    pub revision: u64,
}

impl std::fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at seq {}, revision {}", self.status.as_str(), self.next_seq, self.revision)
    }
}

/// A workflow to create.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    /// Identifier.
    pub id: WorkflowId,
    /// Digest of the component to run.
    pub component: ComponentDigest,
    /// Input, JSON text.
    pub input: String,
    /// The workflow starting it as a child, if any.
    pub parent: Option<WorkflowId>,
    /// Execution timeout, ms since the Unix epoch, if any.
    pub deadline_ms: Option<i64>,
    /// The W3C `traceparent` of the span that started it, if traced.
    pub trace_parent: Option<String>,
    /// The schedule tick starting it, if one is.
    pub scheduled_by: Option<ScheduledBy>,
}

/// A workflow to create in a [`Store::write`](super::Store::write).
#[derive(Debug, Clone)]
pub struct NewStart {
    /// The workflow.
    pub workflow: NewWorkflow,
    /// The host that runs it at once, without a claim: it is created owned
    /// by that host and not due, if that host's lease is valid. `None`, or
    /// a lease not valid: due now, for any host to claim.
    pub owner: Option<HostId>,
}

/// What a [`Store::write`](super::Store::write) did.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// One per start, in order: the workflow created, or the one that
    /// already had its id, untouched.
    pub started: Vec<Created<WorkflowRecord>>,
    /// The workflows something arrived for, as [`Store::commit`](super::Store::commit) returns.
    pub arrived: Vec<WorkflowId>,
}

/// Which workflows [`Store::list_workflows`](super::Store::list_workflows) returns.
#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    /// Only this status.
    pub status: Option<WorkflowStatus>,
    /// Only this component.
    pub component: Option<ComponentDigest>,
    /// Only workflows started by this schedule.
    pub schedule: Option<String>,
    /// Only workflows whose id starts with this text. Matched by reading
    /// the newest workflows until a page is full, not through an index: for
    /// people searching, not for programs.
    pub id_prefix: Option<String>,
    /// Only workflows older than this ordinal (the previous page's cursor).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// A live host, as [`Store::hosts`](super::Store::hosts) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    /// Identifier, new at every start of the process.
    pub id: HostId,
    /// Its name for people: the address its API listens on.
    pub name: String,
    /// When it registered, ms since the Unix epoch (the database's clock).
    pub started_at_ms: i64,
    /// Its last renewal of its lease, ms since the Unix epoch (the database's clock).
    pub heartbeat_at_ms: i64,
    /// When its lease expires unless renewed, ms since the Unix epoch (the database's clock).
    pub lease_expires_at_ms: i64,
    /// How many workflows it owns: runs in flight on it.
    pub leases: u64,
}

/// A journal row: an entry with its payload still encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Position in the journal.
    pub seq: u64,
    /// The entry kind's name ([`journal::EntryKind::as_str`]).
    pub kind: String,
    /// [`journal::codec`] payload.
    pub payload: Vec<u8>,
    /// When it was recorded, ns since the Unix epoch.
    pub recorded_at_ns: u64,
}

impl StoredEntry {
    /// Encodes `entry` for storage.
    pub fn encode(entry: &Entry) -> Self {
        Self {
            seq: entry.seq,
            kind: entry.call.kind().as_str().to_owned(),
            payload: journal::codec::encode(&entry.call, &entry.outcome),
            recorded_at_ns: entry.recorded_at_ns,
        }
    }

    /// Decodes rows read by [`Store::journal`](super::Store::journal).
    ///
    /// # Errors
    /// [`Error::Corrupt`](super::Error::Corrupt) naming the first row whose
    /// payload does not decode.
    pub fn decode_all(rows: &[Self]) -> Result<Vec<Entry>, super::Error> {
        rows.iter()
            .map(|row| {
                row.decode().map_err(|error| {
                    super::Error::Corrupt(format!("journal entry {} ({}): {error}", row.seq, row.kind))
                })
            })
            .collect()
    }

    /// Decodes the payload back into an entry.
    ///
    /// # Errors
    /// [`journal::Error`] if the payload is not a valid encoding.
    pub fn decode(&self) -> Result<Entry, journal::Error> {
        let (call, outcome) = journal::codec::decode(&self.payload)?;
        Ok(Entry { seq: self.seq, call, outcome, recorded_at_ns: self.recorded_at_ns })
    }
}

/// A stored log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Position among all log lines; the pagination cursor.
    pub ordinal: i64,
    /// The line.
    pub line: LogLine,
}

/// The status a run leaves its workflow in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusUpdate {
    /// A checkpoint: the workflow stays `running`, its progress committed.
    Running,
    /// The workflow waits for a timer until `wake_at_ms` (ms since the Unix
    /// epoch), and for nothing else but perhaps a cancellation.
    Sleeping {
        /// Wake-up time.
        wake_at_ms: i64,
        /// Whether a cancellation request wakes it.
        cancellable: bool,
    },
    /// The workflow waits for what `on` names, or its earliest timer.
    Waiting {
        /// The earliest timer it waits for, if any, ms since the Unix epoch.
        wake_at_ms: Option<i64>,
        /// What else wakes it.
        on: WaitSet,
    },
    /// The workflow was told of a cancellation and `run` returned.
    Cancelled {
        /// What it returned: output JSON text or an error message.
        returned: Result<String, String>,
    },
    /// `run` returned `ok` with this JSON text.
    Completed {
        /// Output.
        output: String,
    },
    /// The run failed with this message.
    Failed {
        /// Error message.
        error: String,
    },
    /// Replay diverged; the message names the seq and both calls.
    Stuck {
        /// Error message.
        error: String,
    },
}

impl StatusUpdate {
    /// The status this update sets.
    pub fn status(&self) -> WorkflowStatus {
        match self {
            Self::Running => WorkflowStatus::Running,
            Self::Sleeping { .. } => WorkflowStatus::Sleeping,
            Self::Waiting { .. } => WorkflowStatus::Waiting,
            Self::Cancelled { .. } => WorkflowStatus::Cancelled,
            Self::Completed { .. } => WorkflowStatus::Completed,
            Self::Failed { .. } => WorkflowStatus::Failed,
            Self::Stuck { .. } => WorkflowStatus::Stuck,
        }
    }
}

/// Everything one run of a workflow leaves behind, committed atomically.
#[derive(Debug, Clone)]
pub struct RunCommit {
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// The state the run continues from; the commit applies only if the
    /// workflow is still in it.
    pub expected: WorkflowState,
    /// Entries recorded live in this run, dense from `expected.next_seq`.
    pub entries: Vec<StoredEntry>,
    /// Log lines written live in this run.
    pub logs: Vec<LogLine>,
    /// The workflow's new status.
    pub update: StatusUpdate,
    /// What the entries do to other rows, applied in the same transaction.
    pub effects: CommitEffects,
}

/// What a commit's entries do besides extending the journal: children to
/// create, signals consumed, events set, children asked to cancel. Applied
/// in the commit's transaction, so they are durable exactly when the
/// entries that made them are.
#[derive(Debug, Clone, Default)]
pub struct CommitEffects {
    /// Child workflows to create (idempotent by id).
    pub children: Vec<NewWorkflow>,
    /// Signals received: `(arrival, seq of the wait-any)`.
    pub consumed: Vec<(u64, u64)>,
    /// Events set: `(key, value, seq)`, later ones winning.
    pub events: Vec<(String, String, u64)>,
    /// Child workflows asked to cancel.
    pub cancels: Vec<WorkflowId>,
}

/// A signal in a workflow's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRecord {
    /// Arrival number, from 1, per workflow: the order of delivery.
    pub arrival: u64,
    /// The signal's name.
    pub name: String,
    /// Its payload, JSON text.
    pub payload: String,
    /// When it arrived, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// What [`Store::send_signal`](super::Store::send_signal) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalSent {
    /// The signal is stored under this arrival number; `new` is false when
    /// an earlier send with the same idempotency key stored it.
    Stored {
        /// Its arrival number.
        arrival: u64,
        /// Whether this call stored it.
        new: bool,
    },
    /// No workflow has this id.
    UnknownWorkflow,
    /// The workflow has ended with this status; nothing was stored.
    Final(WorkflowStatus),
}

/// What [`Store::request_cancel`](super::Store::request_cancel) and
/// [`Store::terminate`](super::Store::terminate) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Requested (or terminated) now, or already before: the request is
    /// idempotent.
    Done,
    /// No workflow has this id.
    UnknownWorkflow,
    /// The workflow has ended with this status.
    Final(WorkflowStatus),
}

/// What a delete ([`Store::delete_workflow`](super::Store::delete_workflow),
/// [`Store::delete_component`](super::Store::delete_component)) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted, with everything that hangs off it.
    Deleted,
    /// Nothing has this id or digest.
    NotFound,
    /// Kept: the workflow has not ended (its status), or workflows run the
    /// component (`None`).
    InUse(Option<WorkflowStatus>),
}

/// What one step of a retention sweep
/// ([`Store::delete_ended_before`](super::Store::delete_ended_before)) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionStep {
    /// Workflows deleted.
    pub deleted: u64,
    /// Where the next step starts (the last ordinal read), or `None` when
    /// the sweep is over: every later workflow was created after
    /// `before_ms`, so none of them can have ended before it.
    pub next: Option<i64>,
}

/// An event a workflow set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Its latest value, JSON text.
    pub value: String,
    /// The journal position of the `set-event` that set it.
    pub seq: u64,
    /// When it was set, ms since the Unix epoch.
    pub updated_at_ms: i64,
}

impl RunCommit {
    /// The state the workflow is in once this commit applies.
    pub fn next_state(&self) -> WorkflowState {
        WorkflowState {
            status: self.update.status(),
            next_seq: self.expected.next_seq + self.entries.len() as u64,
            revision: self.expected.revision + 1,
        }
    }
}

pub(super) fn parse_level(text: &str) -> Result<LogLevel, super::Error> {
    LogLevel::parse(text).ok_or_else(|| super::Error::Corrupt(format!("unknown log level {text:?}")))
}

pub(super) fn parse_stream(text: &str) -> Result<LogStream, super::Error> {
    LogStream::parse(text).ok_or_else(|| super::Error::Corrupt(format!("unknown log stream {text:?}")))
}

/// When a schedule's ticks fall, as stored (JSON in `schedules.spec`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleSpec {
    /// A cron expression (5 fields, or 6 with seconds first) read in an
    /// IANA time zone.
    Cron {
        /// The expression.
        expression: String,
        /// The time zone, e.g. `Europe/Paris`.
        time_zone: String,
    },
    /// Every `every_ms`, at `phase_ms` past each multiple of it since the
    /// Unix epoch.
    Interval {
        /// The interval, in ms.
        every_ms: i64,
        /// The offset, in ms.
        phase_ms: i64,
    },
}

/// What a tick does when the schedule's previous workflow is still open;
/// Temporal's overlap policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlapPolicy {
    /// The tick is skipped.
    Skip,
    /// The tick waits for the previous workflow to end, then starts; one
    /// tick waits at most, later ones are skipped.
    BufferOne,
    /// The tick starts a workflow anyway.
    AllowAll,
    /// The previous workflow is asked to cancel, and the tick waits for it
    /// to end, as with `BufferOne`.
    CancelOther,
    /// The previous workflow is terminated, and the tick starts at once.
    TerminateOther,
}

impl OverlapPolicy {
    /// Every policy.
    pub const ALL: [Self; 5] =
        [Self::Skip, Self::BufferOne, Self::AllowAll, Self::CancelOther, Self::TerminateOther];

    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::BufferOne => "buffer_one",
            Self::AllowAll => "allow_all",
            Self::CancelOther => "cancel_other",
            Self::TerminateOther => "terminate_other",
        }
    }

    /// The policy named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|policy| policy.as_str() == name)
    }
}

/// A schedule's definition: what it starts, when, and its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDefinition {
    /// The component to start, as given (a name is resolved at each tick,
    /// so a new version pushed under it serves the next ticks).
    pub component: String,
    /// The input of every workflow it starts, JSON text.
    pub input: String,
    /// When it ticks.
    pub spec: ScheduleSpec,
    /// What a tick does while the previous workflow is open.
    pub overlap: OverlapPolicy,
    /// How late a tick may be run after its time (after the host was down),
    /// in ms; later ones are skipped and counted.
    pub catchup_window_ms: i64,
    /// No tick after this time (ms since the Unix epoch), if set.
    pub end_at_ms: Option<i64>,
    /// No tick after this many workflows started, if set.
    pub max_runs: Option<i64>,
}

/// A schedule, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    /// Identifier.
    pub id: String,
    /// What it starts and when.
    pub definition: ScheduleDefinition,
    /// Where its ticks stand.
    pub state: ScheduleState,
    /// Workflows started by ticks (not by triggers).
    pub runs: i64,
    /// Ticks skipped.
    pub skipped: i64,
    /// Bumped at every change: the compare-and-set of [`ScheduleStep`].
    pub revision: i64,
    /// When it was created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Its last change, ms since the Unix epoch.
    pub updated_at_ms: i64,
}

/// Where a schedule's ticks stand: what a [`ScheduleStep`] sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    /// Whether it is paused.
    pub paused: bool,
    /// Why it was paused or resumed last, if anyone said.
    pub note: Option<String>,
    /// The time of the next tick not yet handled; `None` once it has ended
    /// (its end time or run count reached).
    pub next_tick_ms: Option<i64>,
    /// When a host should handle it next: its next tick, or soon while a
    /// tick is buffered; `None` while paused or ended.
    pub due_at_ms: Option<i64>,
    /// A tick waiting for the previous workflow to end.
    pub buffered_ms: Option<i64>,
    /// The workflow it started last.
    pub last_workflow: Option<WorkflowId>,
}

/// What happened to a tick, or a run of ticks, in a schedule's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// A workflow was started for it.
    Started,
    /// A workflow was started by hand (`trigger`), not by the spec.
    Triggered,
    /// It waits for the previous workflow to end.
    Buffered,
    /// It was skipped (the reason says why).
    Skipped,
}

impl TickOutcome {
    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Triggered => "triggered",
            Self::Buffered => "buffered",
            Self::Skipped => "skipped",
        }
    }

    /// The outcome named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Started, Self::Triggered, Self::Buffered, Self::Skipped]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

/// One row of a schedule's history: a tick, or a run of skipped ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRecord {
    /// The tick's nominal time (the first of a run), ms since the Unix epoch.
    pub nominal_ms: i64,
    /// The last tick of a run of skipped ones (else `nominal_ms`).
    pub last_nominal_ms: i64,
    /// How many ticks the row stands for.
    pub count: i64,
    /// What happened.
    pub outcome: TickOutcome,
    /// Why, for a skipped one.
    pub reason: Option<String>,
    /// The workflow started, for a started or triggered one.
    pub workflow: Option<WorkflowId>,
    /// When it was handled, ms since the Unix epoch.
    pub at_ms: i64,
}

impl ScheduleStep {
    /// This step with the starts of `taken` (ids that workflows not of
    /// their tick already have) recorded as skipped instead, and without a
    /// stop aimed at one of them.
    pub fn without_taken(&self, taken: &[WorkflowId]) -> Self {
        let mut step = self.clone();
        if taken.is_empty() {
            return step;
        }
        step.starts.retain(|start| !taken.contains(&start.id));
        for row in &mut step.ticks {
            if row.workflow.as_ref().is_some_and(|id| taken.contains(id)) {
                if row.outcome == TickOutcome::Started {
                    step.runs_added -= 1;
                }
                step.skipped_added += 1;
                row.outcome = TickOutcome::Skipped;
                row.reason = Some("id taken: a workflow not started by this tick has its id".to_owned());
                row.workflow = None;
            }
        }
        if step.stop.as_ref().is_some_and(|stop| taken.contains(&stop.workflow)) {
            step.stop = None;
        }
        if step.state.last_workflow.as_ref().is_some_and(|id| taken.contains(id)) {
            step.state.last_workflow = step.starts.last().map(|start| start.id.clone());
        }
        step
    }
}

/// A workflow a schedule step stops: asks to cancel, or terminates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopWorkflow {
    /// The workflow.
    pub workflow: WorkflowId,
    /// Terminate it rather than ask it to cancel.
    pub terminate: bool,
}

/// One handling of a schedule, written atomically by
/// [`Store::step_schedule`](super::Store::step_schedule): its new state,
/// the workflows its ticks start and the history rows, applied only if the
/// schedule is still at `expected_revision`.
#[derive(Debug, Clone)]
pub struct ScheduleStep {
    /// The revision the step was planned from.
    pub expected_revision: i64,
    /// The schedule's new state.
    pub state: ScheduleState,
    /// An open workflow to cancel or terminate (`cancel_other`,
    /// `terminate_other`), after the starts.
    pub stop: Option<StopWorkflow>,
    /// Workflows started by ticks in this step.
    pub runs_added: i64,
    /// Ticks skipped in this step.
    pub skipped_added: i64,
    /// The workflows to start (due now, for any host).
    pub starts: Vec<NewWorkflow>,
    /// History rows.
    pub ticks: Vec<TickRecord>,
}
