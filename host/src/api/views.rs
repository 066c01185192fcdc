//! JSON shapes of API answers, as typed views.
//!
//! Each view derives `Serialize` for the answer and `ToSchema` for the
//! OpenAPI document ([`super::openapi`]), so the document describes exactly
//! what the handlers send. Times are RFC 3339 strings in UTC ([`Timestamp`]).
//! Values a workflow or an activity produced (inputs, outputs, event values,
//! signal payloads) are any JSON.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::executor::ReplayCheck;
use crate::ids::{ComponentDigest, HostId, WorkflowId, hex};
use crate::journal::{
    self, Call, ChildStart, Entry, FieldValue, HttpAttempt, HttpCall, LogLevel, LogStream, Nondeterminism,
    Outcome, RetryPolicy, WaitOutcome,
};
use crate::runtime::{ReplayReport, Stats, Waiting};
use crate::store::{
    ComponentKind, ComponentRecord, ComponentVersion, EventRecord, HostRecord, LogRecord, WorkflowRecord,
    WorkflowStatus,
};

/// An RFC 3339 time in UTC, e.g. `"2023-11-14T22:13:20.123Z"`.
#[derive(Serialize, ToSchema)]
#[schema(format = DateTime, example = "2023-11-14T22:13:20.123Z")]
pub(super) struct Timestamp(String);

impl Timestamp {
    /// `1700000000123` ms → `"2023-11-14T22:13:20.123Z"`.
    pub(super) fn from_ms(ms: i64) -> Self {
        let ms = u64::try_from(ms).unwrap_or(0);
        Self(humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
    }

    /// ns since the Unix epoch, to the microsecond.
    fn from_ns(ns: u64) -> Self {
        Self(humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string())
    }
}

/// Stored JSON text back to JSON; text that is not JSON (which the host never
/// stores) is shown as a string rather than hidden.
pub(super) fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The schema of a workflow status: one of [`WorkflowStatus::ALL`]'s names.
pub(super) fn status_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(WorkflowStatus::ALL.iter().map(|status| status.as_str())))
        .description(Some("A workflow status."))
        .build()
}

/// A component's kind.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Kind {
    /// Started as a workflow and replayed (`duro:workflow/workflow`).
    Workflow,
    /// Called by workflows, never replayed (`duro:workflow/activity`).
    Activity,
}

impl From<ComponentKind> for Kind {
    fn from(kind: ComponentKind) -> Self {
        match kind {
            ComponentKind::Workflow => Self::Workflow,
            ComponentKind::Activity => Self::Activity,
        }
    }
}

/// A stored component.
#[derive(Serialize, ToSchema)]
pub(super) struct Component {
    /// Content digest: `sha256:` and 64 lower-case hex digits.
    #[schema(value_type = String, pattern = "^sha256:[0-9a-f]{64}$")]
    digest: ComponentDigest,
    kind: Kind,
    /// The name the answer concerns (the one pushed, or asked for), else a
    /// name that points at the digest, or null.
    name: Option<String>,
    /// Size of the component binary, in bytes.
    size: u64,
    /// When it was first stored.
    created_at: Timestamp,
    /// Only when asked for by name: every digest pushed under the name,
    /// current first, then newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<Vec<Version>>,
}

impl Component {
    /// The component, named `name` (else by its record's name), with the
    /// `versions` of that name when there are any.
    pub(super) fn new(record: &ComponentRecord, name: Option<String>, versions: &[ComponentVersion]) -> Self {
        Self {
            digest: record.digest.clone(),
            kind: record.kind.into(),
            name: name.or_else(|| record.name.clone()),
            size: record.size_bytes,
            created_at: Timestamp::from_ms(record.created_at_ms),
            versions: (!versions.is_empty()).then(|| versions.iter().map(Version::new).collect()),
        }
    }
}

/// One version of a named component.
#[derive(Serialize, ToSchema)]
pub(super) struct Version {
    /// Content digest.
    #[schema(value_type = String, pattern = "^sha256:[0-9a-f]{64}$")]
    digest: ComponentDigest,
    kind: Kind,
    /// Size in bytes.
    size: u64,
    /// When the bytes were first stored.
    created_at: Timestamp,
    /// When they were last pushed under the name.
    pushed_at: Timestamp,
}

impl Version {
    fn new(version: &ComponentVersion) -> Self {
        let record = &version.component;
        Self {
            digest: record.digest.clone(),
            kind: record.kind.into(),
            size: record.size_bytes,
            created_at: Timestamp::from_ms(record.created_at_ms),
            pushed_at: Timestamp::from_ms(version.pushed_at_ms),
        }
    }
}

/// `GET /v1/components`: every stored component, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct ComponentList {
    /// The components.
    components: Vec<Component>,
}

impl ComponentList {
    pub(super) fn new(records: &[ComponentRecord]) -> Self {
        Self { components: records.iter().map(|record| Component::new(record, None, &[])).collect() }
    }
}

/// Where a replay left its journal.
#[derive(Serialize, ToSchema)]
pub(super) struct Divergence {
    /// The journal position.
    seq: u64,
    /// The call the journal holds at `seq`, as the journal prints calls.
    recorded: String,
    /// The call the component made instead, or null when it returned before
    /// making it.
    attempted: Option<String>,
    /// The whole story, for people.
    message: String,
}

impl Divergence {
    pub(super) fn new(divergence: &Nondeterminism) -> Self {
        Self::read_back(journal::Divergence::from(divergence), divergence.to_string())
    }

    /// A divergence `message` read back (a `stuck` workflow's error).
    pub(super) fn read_back(divergence: journal::Divergence, message: String) -> Self {
        Self { seq: divergence.seq, recorded: divergence.recorded, attempted: divergence.attempted, message }
    }
}

/// What `run` returned at the end of a replayed journal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Returned {
    /// Its output: any JSON.
    Output(Value),
    /// Its error message.
    Error(String),
}

/// A replay check's verdict. `ok: true` comes with `replayed` and
/// `returned`; `ok: false` with `divergence` or `failed`.
#[derive(Serialize, ToSchema)]
pub(super) struct ReplayVerdict {
    /// The workflow checked.
    #[schema(value_type = String)]
    workflow: WorkflowId,
    /// The workflow's status when its journal was read.
    #[schema(schema_with = status_schema)]
    status: &'static str,
    /// The digest of the component checked.
    #[schema(value_type = String, pattern = "^sha256:[0-9a-f]{64}$")]
    component: ComponentDigest,
    /// Whether the component replays the whole journal.
    ok: bool,
    /// With `ok: true`: the entries replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed: Option<u64>,
    /// With `ok: true`: what `run` returned right after the journal's end,
    /// or null when the component went on past the journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Returned>)]
    returned: Option<Option<Returned>>,
    /// With `ok: false`: where the component left the journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    divergence: Option<Divergence>,
    /// With `ok: false`: why the replay stopped (a trap, the CPU budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<String>,
}

impl ReplayVerdict {
    pub(super) fn new(report: &ReplayReport) -> Self {
        let mut verdict = Self {
            workflow: report.workflow.id.clone(),
            status: report.workflow.state.status.as_str(),
            component: report.component.clone(),
            ok: matches!(report.check, ReplayCheck::Clean { .. }),
            replayed: None,
            returned: None,
            divergence: None,
            failed: None,
        };
        match &report.check {
            ReplayCheck::Clean { entries, returned } => {
                verdict.replayed = Some(*entries);
                verdict.returned = Some(returned.as_ref().map(|returned| match returned {
                    Ok(output) => Returned::Output(json_text(output)),
                    Err(error) => Returned::Error(error.clone()),
                }));
            }
            ReplayCheck::Diverged(diverged) => verdict.divergence = Some(Divergence::new(diverged)),
            ReplayCheck::Failed(error) => verdict.failed = Some(error.clone()),
        }
        verdict
    }
}

/// A workflow.
#[derive(Serialize, ToSchema)]
pub(super) struct Workflow {
    /// Its id.
    #[schema(value_type = String)]
    id: WorkflowId,
    /// The digest of the component it runs.
    #[schema(value_type = String, pattern = "^sha256:[0-9a-f]{64}$")]
    component: ComponentDigest,
    #[schema(schema_with = status_schema)]
    status: &'static str,
    /// Its input: any JSON.
    input: Value,
    /// Its output once `completed` (or `cancelled`, if `run` returned ok),
    /// else null.
    output: Option<Value>,
    /// Its error once `failed` or `stuck` (or `cancelled`, if `run` returned
    /// an error), else null.
    error: Option<String>,
    /// When it was started.
    created_at: Timestamp,
    /// Its last status change.
    updated_at: Timestamp,
    /// When a sleeping or waiting workflow's timer fires, or null.
    wake_at: Option<Timestamp>,
    /// The workflow that started it as a child, or null.
    #[schema(value_type = Option<String>)]
    parent: Option<WorkflowId>,
    /// The host whose run owns the workflow now, or null.
    #[schema(value_type = Option<String>)]
    host: Option<HostId>,
    /// The schedule that started it, or null.
    schedule: Option<String>,
    /// The time of the schedule's tick that started it, or null.
    nominal_time: Option<Timestamp>,
}

impl Workflow {
    pub(super) fn new(record: &WorkflowRecord) -> Self {
        Self {
            id: record.id.clone(),
            component: record.component.clone(),
            status: record.state.status.as_str(),
            input: json_text(&record.input),
            output: record.output.as_deref().map(json_text),
            error: record.error.clone(),
            created_at: Timestamp::from_ms(record.created_at_ms),
            updated_at: Timestamp::from_ms(record.updated_at_ms),
            wake_at: record.wake_at_ms.map(Timestamp::from_ms),
            parent: record.parent.clone(),
            host: record.owner.clone(),
            schedule: record.scheduled_by.as_ref().map(|by| by.schedule.clone()),
            nominal_time: record.scheduled_by.as_ref().map(|by| Timestamp::from_ms(by.nominal_ms)),
        }
    }
}

/// `GET /v1/workflows`: a page of workflows, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkflowList {
    /// The workflows.
    workflows: Vec<Workflow>,
    /// Pass it back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

impl WorkflowList {
    pub(super) fn new(records: &[WorkflowRecord], next_cursor: Option<String>) -> Self {
        Self { workflows: records.iter().map(Workflow::new).collect(), next_cursor }
    }
}

/// `GET /v1/workflow-counts`: how many workflows there are of each status.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkflowCounts {
    /// Every status, with 0 where there are none.
    #[schema(example = json!({ "pending": 0, "running": 2, "completed": 40 }))]
    counts: std::collections::BTreeMap<&'static str, u64>,
    /// All workflows counted.
    total: u64,
}

impl WorkflowCounts {
    pub(super) fn new(counts: &[(WorkflowStatus, u64)]) -> Self {
        let mut by_status: std::collections::BTreeMap<&'static str, u64> =
            WorkflowStatus::ALL.iter().map(|status| (status.as_str(), 0)).collect();
        for (status, count) in counts {
            by_status.insert(status.as_str(), *count);
        }
        Self { total: counts.iter().map(|(_, count)| count).sum(), counts: by_status }
    }
}

/// A live host.
#[derive(Serialize, ToSchema)]
pub(super) struct Host {
    /// Its id, new at every start of the process.
    #[schema(value_type = String)]
    id: HostId,
    /// Its name for people: the address its API listens on.
    name: String,
    /// When it registered.
    started_at: Timestamp,
    /// Its last renewal of its lease.
    heartbeat_at: Timestamp,
    /// When its lease expires unless renewed.
    lease_expires_at: Timestamp,
    /// How many workflows it runs now.
    leases: u64,
    /// Whether it is the host that answers.
    this: bool,
}

impl Host {
    fn new(record: &HostRecord, this: &HostId) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            started_at: Timestamp::from_ms(record.started_at_ms),
            heartbeat_at: Timestamp::from_ms(record.heartbeat_at_ms),
            lease_expires_at: Timestamp::from_ms(record.lease_expires_at_ms),
            leases: record.leases,
            this: record.id == *this,
        }
    }
}

/// `GET /v1/hosts`: the live hosts on this host's database, oldest first.
#[derive(Serialize, ToSchema)]
pub(super) struct HostList {
    /// The hosts.
    hosts: Vec<Host>,
}

impl HostList {
    pub(super) fn new(records: &[HostRecord], this: &HostId) -> Self {
        Self { hosts: records.iter().map(|record| Host::new(record, this)).collect() }
    }
}

/// What a `sleeping` or `waiting` workflow waits for.
#[derive(Serialize, ToSchema)]
pub(super) struct WaitsFor {
    /// Names of the signals that wake it.
    signals: Vec<String>,
    /// Ids of the children whose end wakes it.
    #[schema(value_type = Vec<String>)]
    children: Vec<WorkflowId>,
    /// When its timer fires, or null.
    timer_at: Option<Timestamp>,
    /// Whether a cancel request wakes it.
    cancellation: bool,
}

/// Where an effect's attempt stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum AttemptState {
    /// The attempt is running.
    InFlight,
    /// The next attempt waits out its backoff.
    BackingOff,
}

/// The effect a running workflow waits on.
#[derive(Serialize, ToSchema)]
pub(super) struct WaitingOn {
    /// The effect, e.g. `POST https://example.com/pay`.
    effect: String,
    /// The attempt in flight or next, from 1.
    attempt: u32,
    /// Most attempts the retry policy allows; 0 means no limit.
    max_attempts: u32,
    state: AttemptState,
    /// When the next attempt starts, while backing off; else null.
    next_attempt_at: Option<Timestamp>,
}

/// A child workflow and its status.
#[derive(Serialize, ToSchema)]
pub(super) struct Child {
    /// The child's id.
    #[schema(value_type = String)]
    id: WorkflowId,
    #[schema(schema_with = status_schema)]
    status: &'static str,
}

/// `GET /v1/workflows/{id}`: a workflow with what it waits for.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkflowDetail {
    #[serde(flatten)]
    workflow: Workflow,
    /// What a `sleeping` or `waiting` workflow waits for, else null.
    waits_for: Option<WaitsFor>,
    /// Its children, oldest first (at most 1,000).
    children: Vec<Child>,
    /// When cancellation was first requested, or null.
    cancel_requested_at: Option<Timestamp>,
    /// The execution timeout, or null.
    deadline: Option<Timestamp>,
    /// The effect a running workflow waits on, or null.
    waiting_on: Option<WaitingOn>,
    /// Where a `stuck` workflow's replay left its journal, or null.
    divergence: Option<Divergence>,
}

impl WorkflowDetail {
    pub(super) fn new(
        record: &WorkflowRecord,
        waiting: Option<&Waiting>,
        children: &[WorkflowRecord],
        divergence: Option<journal::Divergence>,
    ) -> Self {
        let waits_for = match (&record.waiting_on, record.state.status.is_suspended()) {
            (Some(on), true) => Some(WaitsFor {
                signals: on.signals.clone(),
                children: on.children.clone(),
                timer_at: record.wake_at_ms.map(Timestamp::from_ms),
                cancellation: on.cancellable,
            }),
            _ => None,
        };
        Self {
            workflow: Workflow::new(record),
            waits_for,
            children: children
                .iter()
                .map(|child| Child { id: child.id.clone(), status: child.state.status.as_str() })
                .collect(),
            cancel_requested_at: record.cancel_requested_ms.map(Timestamp::from_ms),
            deadline: record.deadline_ms.map(Timestamp::from_ms),
            waiting_on: waiting.map(|waiting| WaitingOn {
                effect: waiting.effect.clone(),
                attempt: waiting.attempt,
                max_attempts: waiting.max_attempts,
                state: if waiting.next_attempt_at_ns.is_some() {
                    AttemptState::BackingOff
                } else {
                    AttemptState::InFlight
                },
                next_attempt_at: waiting.next_attempt_at_ns.map(Timestamp::from_ns),
            }),
            divergence: divergence
                .zip(record.error.clone())
                .map(|(divergence, message)| Divergence::read_back(divergence, message)),
        }
    }
}

/// The result endpoint's answer.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkflowResult {
    /// The workflow's id.
    #[schema(value_type = String)]
    id: WorkflowId,
    #[schema(schema_with = status_schema)]
    status: &'static str,
    /// Its output, or null.
    output: Option<Value>,
    /// Its error, or null.
    error: Option<String>,
}

impl WorkflowResult {
    pub(super) fn new(record: &WorkflowRecord) -> Self {
        Self {
            id: record.id.clone(),
            status: record.state.status.as_str(),
            output: record.output.as_deref().map(json_text),
            error: record.error.clone(),
        }
    }
}

/// A journal entry.
#[derive(Serialize, ToSchema)]
pub(super) struct JournalEntry {
    /// Its position in the journal, from 0.
    seq: u64,
    /// The call's kind: `now`, `random_u64`, `sleep`, `wasi_wall_clock`,
    /// `wasi_monotonic_clock`, `wasi_random_bytes`, `http`, `activity`,
    /// `start_timer`, `receive_signal`, `start_child`, `cancel_child`,
    /// `wait_any` or `set_event`.
    kind: &'static str,
    /// The call's arguments; the fields depend on `kind` (`{}` for the
    /// clocks and random numbers, `{"duration_ns"}` for a sleep or timer,
    /// `{"method","url","attempt","headers","body_bytes","body_sha256",
    /// "timeout_ms","retry"}` for HTTP, …).
    #[schema(value_type = Object)]
    request: Value,
    /// What the call returned; the fields depend on `kind` (`{"ns"}`,
    /// `{"value"}`, `{"wake_at_ns","wake_at"}`, `{"bytes_base64"}`, an HTTP
    /// or activity attempt, …).
    #[schema(value_type = Object)]
    response: Value,
    /// When it was recorded.
    recorded_at: Timestamp,
}

/// `GET /v1/workflows/{id}/journal`: a page of journal entries in order.
#[derive(Serialize, ToSchema)]
pub(super) struct JournalPage {
    /// The entries.
    entries: Vec<JournalEntry>,
}

impl JournalPage {
    pub(super) fn new(entries: &[Entry]) -> Self {
        Self { entries: entries.iter().map(entry).collect() }
    }
}

fn entry(entry: &Entry) -> JournalEntry {
    let request = match &entry.call {
        Call::Now | Call::RandomU64 | Call::WasiWallClock | Call::WasiMonotonicClock => json!({}),
        Call::Sleep { duration_ns } => json!({ "duration_ns": duration_ns }),
        Call::WasiRandomBytes { len } => json!({ "len": len }),
        Call::Http { request, attempt } => http_request(request, *attempt),
        Call::Activity { call, attempt } => json!({
            "component": call.component,
            "attempt": attempt,
            "input_bytes": call.input_len,
            "input_sha256": hex(&call.input_sha256),
            "start_to_close_timeout_ms": call.start_to_close_ms,
            "schedule_to_close_timeout_ms": call.schedule_to_close_ms,
            "heartbeat_timeout_ms": call.heartbeat_ms,
            "retry": call.retry.as_ref().map(retry_policy),
        }),
        Call::StartTimer { duration_ns } => json!({ "duration_ns": duration_ns }),
        Call::ReceiveSignal { name } => json!({ "name": name }),
        Call::StartChild(call) => json!({
            "component": call.component,
            "input": json_text(&call.input),
            "id": call.id,
        }),
        Call::CancelChild { id } => json!({ "id": id }),
        Call::WaitAny { keys } => json!({ "keys": keys }),
        Call::SetEvent { key, value } => json!({ "key": key, "value": json_text(value) }),
    };
    let response = match &entry.outcome {
        Outcome::Time { ns } => json!({ "ns": ns }),
        Outcome::Random { value } => json!({ "value": value }),
        Outcome::Timer { wake_at_ns } => {
            json!({ "wake_at_ns": wake_at_ns, "wake_at": Timestamp::from_ns(*wake_at_ns) })
        }
        Outcome::Bytes(bytes) => json!({ "bytes_base64": BASE64.encode(bytes) }),
        Outcome::Http(attempt) => http_attempt(attempt),
        Outcome::Activity(attempt) => {
            let mut view = match &attempt.result {
                Ok(output) => json!({ "output": json_text(output) }),
                Err(error) => json!({ "error": {
                    "type": error.type_name,
                    "message": error.message,
                    "non_retryable": error.non_retryable,
                    "details": error.details.as_deref().map(json_text),
                    "next_retry_delay_ms": error.next_retry_delay_ms,
                } }),
            };
            view["digest"] = json!(attempt.digest);
            view["started_at"] = json!(Timestamp::from_ns(attempt.started_at_ns));
            view["duration_ms"] = json!(attempt.duration_ms);
            view["heartbeat"] = json!(attempt.heartbeat);
            view["retry_at"] = json!(attempt.retry_at_ns.map(Timestamp::from_ns));
            view
        }
        Outcome::InFlight(in_flight) => json!({ "in_flight": {
            "started_at": Timestamp::from_ns(in_flight.started_at_ns),
            "heartbeat": in_flight.heartbeat,
        } }),
        Outcome::Done => json!({}),
        Outcome::Child(start) => match start.as_ref() {
            ChildStart::Started { id, digest } => json!({ "started": { "id": id, "digest": digest } }),
            ChildStart::Refused(reason) => json!({ "refused": reason }),
        },
        Outcome::Won(won) => {
            let outcome = match &won.outcome {
                WaitOutcome::Fired => json!({ "fired": true }),
                WaitOutcome::Signal { arrival, payload } => {
                    json!({ "signal": { "arrival": arrival, "payload": json_text(payload) } })
                }
                WaitOutcome::Child(end) => json!({ "child": {
                    "id": end.id,
                    "status": end.status.as_str(),
                    "output": end.output.as_deref().map(json_text),
                    "error": end.error,
                } }),
            };
            json!({ "index": won.index, "outcome": outcome })
        }
        Outcome::Cancelled => json!({ "cancelled": true }),
    };
    JournalEntry {
        seq: entry.seq,
        kind: entry.call.kind().as_str(),
        request,
        response,
        recorded_at: Timestamp::from_ns(entry.recorded_at_ns),
    }
}

/// A header value: a string if it is UTF-8, else `{"base64"}`; a redacted
/// one is `{"sha256": hex}`.
fn field_value(value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) => json!(text),
        Err(_) => json!({ "base64": BASE64.encode(value) }),
    }
}

fn retry_policy(policy: &RetryPolicy) -> Value {
    json!({
        "initial_interval_ms": policy.initial_interval_ms,
        "backoff_coefficient": policy.backoff_coefficient(),
        "maximum_interval_ms": policy.maximum_interval_ms,
        "maximum_attempts": policy.maximum_attempts,
        "non_retryable_error_types": policy.non_retryable_error_types,
    })
}

/// `{"method","url","attempt","headers":[[name,value]],"body_bytes","body_sha256","timeout_ms","retry"}`.
fn http_request(request: &HttpCall, attempt: u32) -> Value {
    let headers: Vec<(&str, Value)> = request
        .headers
        .iter()
        .map(|(name, value)| {
            let value = match value {
                FieldValue::Clear(bytes) => field_value(bytes),
                FieldValue::Sha256(digest) => json!({ "sha256": hex(digest) }),
            };
            (name.as_str(), value)
        })
        .collect();
    json!({
        "method": request.method,
        "url": request.url,
        "attempt": attempt,
        "headers": headers,
        "body_bytes": request.body_len,
        "body_sha256": request.body_len.map(|_| hex(&request.body_sha256)),
        "timeout_ms": request.timeout_ms,
        "retry": request.retry.as_ref().map(retry_policy),
    })
}

/// `{"status","headers","body_bytes","body_base64"}` or
/// `{"error":{"type","message"}}`, with `"duration_ms"` and `"retry_at"`
/// (null for the attempt whose answer the workflow got).
fn http_attempt(attempt: &HttpAttempt) -> Value {
    let mut view = match &attempt.result {
        Ok(response) => {
            let headers: Vec<(&str, Value)> =
                response.headers.iter().map(|(name, value)| (name.as_str(), field_value(value))).collect();
            json!({
                "status": response.status,
                "headers": headers,
                "body_bytes": response.body.len(),
                "body_base64": BASE64.encode(&response.body),
            })
        }
        Err(error) => json!({ "error": { "type": error.type_name(), "message": error.message() } }),
    };
    view["duration_ms"] = json!(attempt.duration_ms);
    view["retry_at"] = json!(attempt.retry_at_ns.map(Timestamp::from_ns));
    view
}

/// A durable event's latest value.
#[derive(Serialize, ToSchema)]
pub(super) struct Event {
    /// The event's key.
    key: String,
    /// Its latest value: any JSON.
    value: Value,
    /// The journal position of the `set-event` that set it.
    seq: u64,
    /// When it was set.
    updated_at: Timestamp,
}

impl Event {
    pub(super) fn new(key: String, event: &EventRecord) -> Self {
        Self {
            key,
            value: json_text(&event.value),
            seq: event.seq,
            updated_at: Timestamp::from_ms(event.updated_at_ms),
        }
    }
}

/// A log line's severity.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Level {
    /// Finest detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress; also guest stdout.
    Info,
    /// Something unexpected; also guest stderr.
    Warn,
    /// A failure.
    Error,
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Self::Trace,
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        }
    }
}

/// Where a log line came from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Stream {
    /// A `duro:workflow/runtime.log` call.
    Log,
    /// The guest's `wasi:cli/stdout`.
    Stdout,
    /// The guest's `wasi:cli/stderr`.
    Stderr,
}

impl From<LogStream> for Stream {
    fn from(stream: LogStream) -> Self {
        match stream {
            LogStream::Log => Self::Log,
            LogStream::Stdout => Self::Stdout,
            LogStream::Stderr => Self::Stderr,
        }
    }
}

/// A workflow's log line.
#[derive(Serialize, ToSchema)]
pub(super) struct LogLine {
    /// Its position among all log lines: pass it back as `after`.
    cursor: i64,
    /// When it was written.
    at: Timestamp,
    level: Level,
    stream: Stream,
    /// The text, without a trailing newline.
    message: String,
}

/// `GET /v1/workflows/{id}/logs`: a page of log lines, oldest first.
#[derive(Serialize, ToSchema)]
pub(super) struct LogPage {
    /// The lines.
    lines: Vec<LogLine>,
}

impl LogPage {
    pub(super) fn new(records: &[LogRecord]) -> Self {
        let lines = records
            .iter()
            .map(|record| LogLine {
                cursor: record.ordinal,
                at: Timestamp::from_ns(record.line.at_ns),
                level: record.line.level.into(),
                stream: record.line.stream.into(),
                message: record.line.message.clone(),
            })
            .collect();
        Self { lines }
    }
}

/// `POST /v1/workflows/{id}/signals/{name}`: the stored signal.
#[derive(Serialize, ToSchema)]
pub(super) struct SignalReceipt {
    /// The workflow signalled.
    #[schema(value_type = String)]
    workflow_id: WorkflowId,
    /// The signal's name.
    name: String,
    /// The signal's arrival number at the workflow.
    arrival: u64,
    /// Whether an earlier send with the same `Idempotency-Key` stored it.
    duplicate: bool,
}

impl SignalReceipt {
    pub(super) fn new(workflow_id: WorkflowId, name: String, arrival: u64, duplicate: bool) -> Self {
        Self { workflow_id, name, arrival, duplicate }
    }
}

/// Whether the host is healthy: always `ok` in a 200 answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum HealthStatus {
    /// The database answers.
    Ok,
}

/// Uses of the disk cache of compiled code.
#[derive(Serialize, ToSchema)]
pub(super) struct CompileCacheCounters {
    /// Components loaded from the disk cache instead of compiled.
    hits: usize,
    /// Components compiled (and stored in the disk cache).
    misses: usize,
}

/// The runtime's counters, since the process started unless said otherwise.
#[derive(Serialize, ToSchema)]
pub(super) struct RuntimeCounters {
    /// Commits applied: checkpoints and run ends.
    commits: u64,
    /// Checkpoints committed by runs still in progress.
    checkpoints: u64,
    /// Transactions the group committer wrote.
    transactions: u64,
    /// Commits retried after the database was unavailable.
    commit_retries: u64,
    /// Commits rejected because their run was stale.
    stale_commits: u64,
    /// Commits the database refused for good.
    failed_commits: u64,
    /// Runs that stopped for a host-side reason and were retried.
    host_retries: u64,
    /// Runs in flight now.
    runs_in_flight: usize,
    /// Workflows waiting out a backoff now.
    workflows_backing_off: usize,
    /// Components compiled and cached now.
    compiled_components: usize,
    /// Bytes of compiled code cached now.
    compiled_bytes: usize,
    compile_cache: CompileCacheCounters,
    /// Workflow instances alive now.
    live_instances: usize,
}

impl From<Stats> for RuntimeCounters {
    fn from(stats: Stats) -> Self {
        // Destructured whole, so that a new counter cannot be left out.
        let Stats {
            commits,
            checkpoints,
            transactions,
            commit_retries,
            stale_commits,
            failed_commits,
            host_retries,
            runs_in_flight,
            workflows_backing_off,
            compiled_components,
            compiled_bytes,
            compile_cache,
            live_instances,
        } = stats;
        Self {
            commits,
            checkpoints,
            transactions,
            commit_retries,
            stale_commits,
            failed_commits,
            host_retries,
            runs_in_flight,
            workflows_backing_off,
            compiled_components,
            compiled_bytes,
            compile_cache: CompileCacheCounters { hits: compile_cache.hits, misses: compile_cache.misses },
            live_instances,
        }
    }
}

/// `GET /healthz`: the host's id and counters.
#[derive(Serialize, ToSchema)]
pub(super) struct Health {
    status: HealthStatus,
    /// The answering host's id.
    #[schema(value_type = String)]
    host: HostId,
    runtime: RuntimeCounters,
}

impl Health {
    pub(super) fn new(host: HostId, stats: Stats) -> Self {
        Self { status: HealthStatus::Ok, host, runtime: stats.into() }
    }
}

/// Every failed request's body.
#[derive(Serialize, ToSchema)]
pub(super) struct ErrorBody {
    error: ErrorDetail,
}

impl ErrorBody {
    pub(super) fn new(code: &'static str, message: String, divergence: Option<Divergence>) -> Self {
        Self { error: ErrorDetail { code, message, divergence } }
    }
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(super) struct ErrorDetail {
    /// A stable code, e.g. `workflow_not_found` or `bad_request`.
    code: &'static str,
    /// What went wrong, for people; for server-side failures a generic line.
    message: String,
    /// With `replay_diverged` only: where the component left the journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    divergence: Option<Divergence>,
}
