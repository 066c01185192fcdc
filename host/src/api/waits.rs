//! What reaches a running workflow from outside, and what it publishes:
//! signals, cancellation, durable events.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::views::{ErrorBody, Event, SignalReceipt, Workflow};
use super::workflows::{WaitQuery, WorkflowPath, parse_id, wait_seconds};
use super::{AppState, Error};
use crate::journal;

/// Longest `Idempotency-Key`, in bytes.
const MAX_KEY_BYTES: usize = 256;

fn check_name(what: &str, name: &str) -> Result<(), Error> {
    journal::check_name(what, name).map_err(Error::BadRequest)
}

/// The signal a request sends (with [`WorkflowPath`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct SignalName {
    /// The signal's name: 1 to 256 bytes of UTF-8 (format `duro-name`; a
    /// JSON schema counts characters, so `maxLength` says less).
    #[param(format = "duro-name", min_length = 1, max_length = 256)]
    name: String,
}

/// Sends a signal to a workflow.
///
/// The JSON body is the signal's payload. 202 once the signal is stored
/// durably; 404 for an unknown workflow, 409 `workflow_ended` for one that
/// has ended. An `Idempotency-Key` header makes a repeated send deliver
/// once: it answers 202 with the first send's arrival and `"duplicate":
/// true`.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/signals/{name}",
    operation_id = "send_signal",
    tag = "signals and events",
    params(
        WorkflowPath,
        SignalName,
        (
            "Idempotency-Key" = Option<String>,
            Header,
            nullable = false,
            description = "Makes a repeated send deliver once: 1 to 256 visible ASCII characters \
                (inner spaces allowed).",
            pattern = "^[!-~]([ -~]{0,254}[!-~])?$",
        ),
    ),
    request_body(content = Value, description = "The signal's payload: any JSON."),
    responses(
        (status = ACCEPTED, description = "The signal is stored.", body = SignalReceipt),
        (status = BAD_REQUEST, description = "Malformed JSON, a bad name or `Idempotency-Key`.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "The workflow has ended (`workflow_ended`).", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is over the JSON size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn signal(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiPath(SignalName { name }): ApiPath<SignalName>,
    headers: HeaderMap,
    ApiJson(payload): ApiJson<Value>,
) -> Result<(StatusCode, Json<SignalReceipt>), Error> {
    check_name("signal name", &name)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(idempotency_key(value.as_bytes())?),
    };
    let id = parse_id(&id)?;
    let (arrival, new) = state.runtime.signal(&id, &name, &payload, key).await?;
    Ok((StatusCode::ACCEPTED, Json(SignalReceipt::new(id, name, arrival, !new))))
}

/// An `Idempotency-Key` header's value: 1 to [`MAX_KEY_BYTES`] bytes of
/// visible ASCII and spaces (HTTP drops spaces at either end).
fn idempotency_key(value: &[u8]) -> Result<&str, Error> {
    let visible = value.iter().all(|byte| (b' '..=b'~').contains(byte));
    match std::str::from_utf8(value) {
        Ok(key) if visible && !key.is_empty() && key.len() <= MAX_KEY_BYTES => Ok(key),
        _ => Err(Error::BadRequest(format!(
            "the Idempotency-Key header must be 1 to {MAX_KEY_BYTES} visible ASCII characters"
        ))),
    }
}

/// Query of `POST /v1/workflows/{id}/cancel`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CancelQuery {
    /// Terminate at once instead of asking the workflow (default false).
    #[serde(default)]
    force: bool,
}

/// Cancels a workflow, or terminates it with `force`.
///
/// Without `force` the workflow's current or next `wait-any` is told, so it
/// can compensate, and it ends `cancelled`; with it, it is `terminated` at
/// once. Children still running are asked to cancel either way. Idempotent.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/cancel",
    operation_id = "cancel_workflow",
    tag = "workflows",
    params(WorkflowPath, CancelQuery),
    responses(
        (status = ACCEPTED, description = "Cancellation is requested (or done, with `force`).", body = Workflow),
        (status = BAD_REQUEST, description = "A `force` that is not `true` or `false`.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "The workflow has ended (`workflow_ended`).", body = ErrorBody),
    ),
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<CancelQuery>,
) -> Result<(StatusCode, Json<Workflow>), Error> {
    let record = state.runtime.cancel(&parse_id(&id)?, query.force).await?;
    Ok((StatusCode::ACCEPTED, Json(Workflow::new(&record))))
}

/// The event a request reads (with [`WorkflowPath`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct EventKey {
    /// The event's key: 1 to 256 bytes of UTF-8 (format `duro-name`; a
    /// JSON schema counts characters, so `maxLength` says less).
    #[param(format = "duro-name", min_length = 1, max_length = 256)]
    key: String,
}

/// Reads a durable event, waiting for its first value if asked to.
///
/// 200 with the event's latest value; if it has none, waits up to `wait`
/// for the first, then 404 `event_not_found` (also at once when the
/// workflow has ended without setting it).
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/events/{key}",
    operation_id = "get_event",
    tag = "signals and events",
    params(WorkflowPath, EventKey, WaitQuery),
    responses(
        (status = OK, description = "The event's latest value.", body = Event),
        (status = BAD_REQUEST, description = "A bad key, or a wait that is not 0 to 300 seconds.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`), or it has not set \
            the event (`event_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn event(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiPath(EventKey { key }): ApiPath<EventKey>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<Json<Event>, Error> {
    check_name("event key", &key)?;
    let wait = wait_seconds(query.wait)?;
    match state.runtime.event(&parse_id(&id)?, &key, wait).await? {
        Some(event) => Ok(Json(Event::new(key, &event))),
        None => Err(Error::EventNotFound(format!("workflow {id} has not set event {key:?}"))),
    }
}
