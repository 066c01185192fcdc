//! What reaches a running workflow from outside, and what it publishes:
//! signals, cancellation, durable events.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::workflows::{parse_id, wait_seconds};
use super::{AppState, Error, views};
use crate::journal;

/// Longest `Idempotency-Key`, in bytes.
const MAX_KEY_BYTES: usize = 256;

fn check_name(what: &str, name: &str) -> Result<(), Error> {
    journal::check_name(what, name).map_err(Error::BadRequest)
}

/// `POST /v1/workflows/{id}/signals/{name}` with a JSON body (the payload):
/// 202 `{"workflow_id","name","arrival","duplicate"}` once the signal is
/// stored durably; 404 for an unknown workflow, 409 `workflow_ended` for one
/// that has ended. An `Idempotency-Key` header (at most 256 bytes) makes a
/// repeated send deliver once: it answers 202 with the first send's
/// arrival and `"duplicate": true`.
pub(super) async fn signal(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(payload): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), Error> {
    check_name("signal name", &name)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| Error::BadRequest("the Idempotency-Key header must be visible ASCII".into()))?;
            if key.is_empty() || key.len() > MAX_KEY_BYTES {
                return Err(Error::BadRequest(format!(
                    "the Idempotency-Key header must be 1 to {MAX_KEY_BYTES} bytes long"
                )));
            }
            Some(key)
        }
    };
    let id = parse_id(&id)?;
    let (arrival, new) = state.runtime.signal(&id, &name, &payload, key).await?;
    let body = json!({ "workflow_id": id, "name": name, "arrival": arrival, "duplicate": !new });
    Ok((StatusCode::ACCEPTED, Json(body)))
}

#[derive(Deserialize)]
pub(super) struct CancelQuery {
    /// Terminate at once instead of asking the workflow.
    #[serde(default)]
    force: bool,
}

/// `POST /v1/workflows/{id}/cancel[?force=true]`: 202 with the workflow.
/// Without `force` the workflow's current or next `wait-any` is told, so it
/// can compensate, and it ends `cancelled`; with it, it is `terminated` at
/// once. Children still running are asked to cancel either way. Idempotent;
/// 404 for an unknown workflow, 409 `workflow_ended` for one that has ended.
pub(super) async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CancelQuery>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let record = state.runtime.cancel(&parse_id(&id)?, query.force).await?;
    Ok((StatusCode::ACCEPTED, Json(views::workflow(&record))))
}

#[derive(Deserialize)]
pub(super) struct EventQuery {
    /// Seconds to wait for a first value (fractions allowed, at most 300).
    wait: Option<f64>,
}

/// `GET /v1/workflows/{id}/events/{key}[?wait=SECONDS]`: 200
/// `{"key","value","seq","updated_at"}` with the event's latest value; if it
/// has none, waits up to `wait` for the first, then 404 `event_not_found`
/// (also at once when the workflow has ended without setting it). 404
/// `workflow_not_found` for an unknown workflow.
pub(super) async fn event(
    State(state): State<AppState>,
    ApiPath((id, key)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<Json<Value>, Error> {
    check_name("event key", &key)?;
    let wait = wait_seconds(query.wait)?;
    match state.runtime.event(&parse_id(&id)?, &key, wait).await? {
        Some(event) => Ok(Json(views::event(&key, &event))),
        None => Err(Error::EventNotFound(format!("workflow {id} has not set event {key:?}"))),
    }
}
