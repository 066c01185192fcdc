//! JSON shapes of API answers. Times are RFC 3339 strings in UTC.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::executor::ReplayCheck;
use crate::ids::{HostId, hex};
use crate::journal::Nondeterminism;
use crate::journal::{
    Call, ChildStart, Entry, FieldValue, HttpAttempt, HttpCall, Outcome, RetryPolicy, WaitOutcome,
};
use crate::runtime::{ReplayReport, Waiting};
use crate::store::{ComponentRecord, ComponentVersion, EventRecord, HostRecord, LogRecord, WorkflowRecord};

/// `1700000000123` ms → `"2023-11-14T22:13:20.123Z"`.
fn time_ms(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn time_ns(ns: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// Stored JSON text back to JSON; text that is not JSON (which the host never
/// stores) is shown as a string rather than hidden.
fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// `{"digest","kind","name","size","created_at"}`.
pub(super) fn component(record: &ComponentRecord) -> Value {
    json!({
        "digest": record.digest,
        "kind": record.kind.as_str(),
        "name": record.name,
        "size": record.size_bytes,
        "created_at": time_ms(record.created_at_ms),
    })
}

/// `{"digest","kind","size","created_at","pushed_at"}`: one version of a
/// named component, `pushed_at` being when it was last pushed under the name.
pub(super) fn component_version(version: &ComponentVersion) -> Value {
    let record = &version.component;
    json!({
        "digest": record.digest,
        "kind": record.kind.as_str(),
        "size": record.size_bytes,
        "created_at": time_ms(record.created_at_ms),
        "pushed_at": time_ms(version.pushed_at_ms),
    })
}

/// `{"seq","recorded","attempted","message"}`: where a replay left its
/// journal. `recorded` is the call the journal holds at `seq`, `attempted`
/// the call the component made instead (null when it returned before
/// making it), both as the journal prints calls.
pub(super) fn divergence(divergence: &Nondeterminism) -> Value {
    json!({
        "seq": divergence.seq,
        "recorded": divergence.recorded.to_string(),
        "attempted": divergence.attempted.as_ref().map(ToString::to_string),
        "message": divergence.to_string(),
    })
}

/// A replay check's verdict: `{"workflow","status","component","ok",…}`
/// with `ok: true` and `replayed` (entries) and `returned` (null when the
/// component went on past the journal, else `{"output"}` or `{"error"}`:
/// what `run` returned at its end); or `ok: false` with `divergence` (see
/// [`divergence`]) or `failed` (why the replay stopped).
pub(super) fn replay_report(report: &ReplayReport) -> Value {
    let mut view = json!({
        "workflow": report.workflow.id,
        "status": report.workflow.state.status.as_str(),
        "component": report.component,
        "ok": matches!(report.check, ReplayCheck::Clean { .. }),
    });
    match &report.check {
        ReplayCheck::Clean { entries, returned } => {
            view["replayed"] = json!(entries);
            view["returned"] = match returned {
                None => Value::Null,
                Some(Ok(output)) => json!({ "output": json_text(output) }),
                Some(Err(error)) => json!({ "error": error }),
            };
        }
        ReplayCheck::Diverged(diverged) => view["divergence"] = divergence(diverged),
        ReplayCheck::Failed(error) => view["failed"] = json!(error),
    }
    view
}

/// `{"id","component","status","input","output","error","created_at","updated_at","wake_at","parent","host"}`,
/// where `host` is the id of the host whose run owns the workflow now, or null.
pub(super) fn workflow(record: &WorkflowRecord) -> Value {
    json!({
        "id": record.id,
        "component": record.component,
        "status": record.state.status.as_str(),
        "input": json_text(&record.input),
        "output": record.output.as_deref().map(json_text),
        "error": record.error,
        "created_at": time_ms(record.created_at_ms),
        "updated_at": time_ms(record.updated_at_ms),
        "wake_at": record.wake_at_ms.map(time_ms),
        "parent": record.parent,
        "host": record.owner,
    })
}

/// `{"id","name","started_at","heartbeat_at","lease_expires_at","leases","this"}`:
/// a live host, with how many workflows it runs now (`leases`) and whether
/// it is the host that answers (`this`).
pub(super) fn host(record: &HostRecord, this: &HostId) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "started_at": time_ms(record.started_at_ms),
        "heartbeat_at": time_ms(record.heartbeat_at_ms),
        "lease_expires_at": time_ms(record.lease_expires_at_ms),
        "leases": record.leases,
        "this": record.id == *this,
    })
}

/// [`workflow`] with
/// - `"waiting_on"`: the effect a running workflow waits on: `null`, or
///   `{"effect","attempt","max_attempts","state","next_attempt_at"}` where
///   `state` is `in_flight` or `backing_off` and `max_attempts` 0 means no
///   limit;
/// - `"waits_for"`: what a `sleeping` or `waiting` workflow waits for:
///   `null`, or `{"signals":[names],"children":[ids],"timer_at","cancellation"}`
///   (`cancellation`: whether a cancel request wakes it);
/// - `"children"`: `[{"id","status"}]`, the first `children.len()` children,
///   oldest first;
/// - `"cancel_requested_at"` and `"deadline"` (the execution timeout), or null.
pub(super) fn workflow_detail(
    record: &WorkflowRecord,
    waiting: Option<&Waiting>,
    children: &[WorkflowRecord],
) -> Value {
    let mut view = workflow(record);
    view["waits_for"] = match (&record.waiting_on, record.state.status.is_suspended()) {
        (Some(on), true) => json!({
            "signals": on.signals,
            "children": on.children,
            "timer_at": record.wake_at_ms.map(time_ms),
            "cancellation": on.cancellable,
        }),
        _ => Value::Null,
    };
    view["children"] = children
        .iter()
        .map(|child| json!({ "id": child.id, "status": child.state.status.as_str() }))
        .collect();
    view["cancel_requested_at"] = json!(record.cancel_requested_ms.map(time_ms));
    view["deadline"] = json!(record.deadline_ms.map(time_ms));
    view["waiting_on"] = match waiting {
        None => Value::Null,
        Some(waiting) => json!({
            "effect": waiting.effect,
            "attempt": waiting.attempt,
            "max_attempts": waiting.max_attempts,
            "state": if waiting.next_attempt_at_ns.is_some() { "backing_off" } else { "in_flight" },
            "next_attempt_at": waiting.next_attempt_at_ns.map(time_ns),
        }),
    };
    view
}

/// `{"id","status","output","error"}`: the result endpoint's answer.
pub(super) fn result(record: &WorkflowRecord) -> Value {
    json!({
        "id": record.id,
        "status": record.state.status.as_str(),
        "output": record.output.as_deref().map(json_text),
        "error": record.error,
    })
}

/// `{"seq","kind","request","response","recorded_at"}`.
pub(super) fn entry(entry: &Entry) -> Value {
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
        Outcome::Timer { wake_at_ns } => json!({ "wake_at_ns": wake_at_ns, "wake_at": time_ns(*wake_at_ns) }),
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
            view["started_at"] = json!(time_ns(attempt.started_at_ns));
            view["duration_ms"] = json!(attempt.duration_ms);
            view["heartbeat"] = json!(attempt.heartbeat);
            view["retry_at"] = json!(attempt.retry_at_ns.map(time_ns));
            view
        }
        Outcome::InFlight(in_flight) => json!({ "in_flight": {
            "started_at": time_ns(in_flight.started_at_ns),
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
    json!({
        "seq": entry.seq,
        "kind": entry.call.kind().as_str(),
        "request": request,
        "response": response,
        "recorded_at": time_ns(entry.recorded_at_ns),
    })
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
    view["retry_at"] = json!(attempt.retry_at_ns.map(time_ns));
    view
}

/// `{"key","value","seq","updated_at"}`: a durable event.
pub(super) fn event(key: &str, event: &EventRecord) -> Value {
    json!({
        "key": key,
        "value": json_text(&event.value),
        "seq": event.seq,
        "updated_at": time_ms(event.updated_at_ms),
    })
}

/// `{"cursor","at","level","stream","message"}`.
pub(super) fn log(record: &LogRecord) -> Value {
    json!({
        "cursor": record.ordinal,
        "at": time_ns(record.line.at_ns),
        "level": record.line.level,
        "stream": record.line.stream,
        "message": record.line.message,
    })
}
