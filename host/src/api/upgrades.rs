//! `/v1/workflows/{id}/replay` and `/v1/workflows/{id}/upgrade`: check a
//! workflow's journal against another component, and move the workflow to
//! it when it replays cleanly.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::Value;

use super::extract::{ApiJson, ApiPath};
use super::workflows::parse_id;
use super::{AppState, Error, views};
use crate::runtime::CheckedComponent;

/// A stored component, named in a JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComponentRef {
    /// A stored component's digest or name.
    component: String,
}

/// `POST /v1/workflows/{id}/replay`: replays the workflow's journal against
/// a component and answers 200 with [`views::replay_report`], whatever the
/// verdict; changes nothing. The component is either named, with a JSON
/// body `{"component": DIGEST_OR_NAME}` (`Content-Type: application/json`),
/// or sent as the body itself (any other content type; compiled for the
/// check and not stored, up to the upload size limit). 404 for an unknown
/// workflow or component, 400 for bytes that are not a workflow component.
pub(super) async fn replay(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let id = parse_id(&id)?;
    let body = body?;
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));
    let component = if is_json {
        let named: ComponentRef = serde_json::from_slice(&body)
            .map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))?;
        CheckedComponent::Stored(named.component)
    } else if body.is_empty() {
        return Err(Error::BadRequest(
            "the body is empty: send a component's bytes, or {\"component\": DIGEST_OR_NAME} as JSON".into(),
        ));
    } else {
        CheckedComponent::Bytes(body)
    };
    let report = state.runtime.check_replay(&id, component).await?;
    Ok(Json(views::replay_report(&report)))
}

/// `POST /v1/workflows/{id}/upgrade` with `{"component": DIGEST_OR_NAME}`:
/// moves a running, sleeping, waiting or stuck workflow to a stored
/// component if its journal replays cleanly on it, and answers 200 with the
/// workflow (a stuck one is `running` again). 409 `replay_diverged` (with
/// the `divergence`) or `replay_failed` when it does not replay, and nothing
/// changed; 409 `workflow_ended` for an ended workflow; 409
/// `workflow_changed` if it kept committing during the checks (repeat it);
/// 404 for an unknown workflow or component.
pub(super) async fn upgrade(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ComponentRef>,
) -> Result<Json<Value>, Error> {
    let record = state.runtime.upgrade(&parse_id(&id)?, &request.component).await?;
    Ok(Json(views::workflow(&record)))
}
