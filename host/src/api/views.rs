//! JSON shapes of API answers. Times are RFC 3339 strings in UTC.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::journal::{Call, Entry, Outcome};
use crate::store::{ComponentRecord, LogRecord, WorkflowRecord};

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

/// `{"digest","name","size","created_at"}`.
pub(super) fn component(record: &ComponentRecord) -> Value {
    json!({
        "digest": record.digest,
        "name": record.name,
        "size": record.size_bytes,
        "created_at": time_ms(record.created_at_ms),
    })
}

/// `{"id","component","status","input","output","error","created_at","updated_at","wake_at"}`.
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
    })
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
    };
    let response = match &entry.outcome {
        Outcome::Time { ns } => json!({ "ns": ns }),
        Outcome::Random { value } => json!({ "value": value }),
        Outcome::Timer { wake_at_ns } => json!({ "wake_at_ns": wake_at_ns, "wake_at": time_ns(*wake_at_ns) }),
        Outcome::Bytes(bytes) => json!({ "bytes": bytes }),
    };
    json!({
        "seq": entry.seq,
        "kind": entry.call.kind().as_str(),
        "request": request,
        "response": response,
        "recorded_at": time_ns(entry.recorded_at_ns),
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
