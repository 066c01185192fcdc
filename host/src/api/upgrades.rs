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
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath};
use super::views::{ErrorBody, ReplayVerdict, Workflow};
use super::workflows::{WorkflowPath, parse_id};
use super::{AppState, Error};
use crate::runtime::CheckedComponent;

/// A stored component, named in a JSON body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ComponentRef {
    /// A stored component's digest or name.
    component: String,
}

/// Replays a workflow's journal against a component; changes nothing.
///
/// Answers 200 with the verdict, whatever it is. The component is either
/// named, with a JSON body `{"component": DIGEST_OR_NAME}`
/// (`Content-Type: application/json`), or sent as the body itself (any
/// other content type; compiled for the check and not stored, up to the
/// upload size limit).
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/replay",
    operation_id = "replay_workflow",
    tag = "upgrades",
    params(WorkflowPath),
    request_body(
        description = "A stored component, named; or a component's bytes.",
        content(
            (ComponentRef = "application/json"),
            (inline(super::openapi::Binary) = "application/wasm"),
        ),
    ),
    responses(
        (status = OK, description = "The verdict.", body = ReplayVerdict),
        (status = BAD_REQUEST, description = "Malformed JSON, an empty body, or bytes that are not a \
            workflow component (`invalid_component`).", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`) or component \
            (`component_not_found`).", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is over the upload size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn replay(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReplayVerdict>, Error> {
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
    Ok(Json(ReplayVerdict::new(&report)))
}

/// Moves a workflow to a stored component its journal replays on.
///
/// Moves a running, sleeping, waiting or stuck workflow to the component if
/// its journal replays cleanly on it, and answers 200 with the workflow (a
/// stuck one is `running` again). Nothing changes when it answers 409.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/upgrade",
    operation_id = "upgrade_workflow",
    tag = "upgrades",
    params(WorkflowPath),
    request_body = ComponentRef,
    responses(
        (status = OK, description = "The workflow, on the new component.", body = Workflow),
        (status = BAD_REQUEST, description = "Malformed JSON.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`) or component \
            (`component_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "The journal does not replay (`replay_diverged`, with the \
            `divergence`, or `replay_failed`); the workflow has ended (`workflow_ended`); or it kept \
            committing during the checks (`workflow_changed`: repeat the request).", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is over the JSON size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn upgrade(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiJson(request): ApiJson<ComponentRef>,
) -> Result<Json<Workflow>, Error> {
    let record = state.runtime.upgrade(&parse_id(&id)?, &request.component).await?;
    Ok(Json(Workflow::new(&record)))
}
