//! `/v1/components`: upload and inspect workflow components.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiPath, ApiQuery};
use super::views::{Component, ComponentList, ErrorBody};
use super::{AppState, Error};
use crate::runtime;

/// Deletes a component that no workflow runs.
///
/// 204 once deleted, with its place in names' histories (a name that
/// pointed at it moves back to the latest other version pushed under it).
#[utoipa::path(
    delete,
    path = "/v1/components/{key}",
    operation_id = "delete_component",
    tag = "components",
    params(("key" = String, Path, description = "The component's digest (`sha256:` and 64 hex digits); \
        a name is not enough.")),
    responses(
        (status = NO_CONTENT, description = "The component was deleted."),
        (status = BAD_REQUEST, description = "The path is not valid UTF-8 once decoded.", body = ErrorBody),
        (status = NOT_FOUND, description = "No component has that digest (`component_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "Workflows run the component (`component_in_use`).", body = ErrorBody),
    ),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    ApiPath(digest): ApiPath<String>,
) -> Result<StatusCode, Error> {
    state.runtime.delete_component(&digest).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `POST /v1/components`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PushQuery {
    /// A name to point at the component (and away from the digest it
    /// pointed at): 1 to 128 ASCII letters, digits, `-`, `_` or `.`.
    #[param(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    name: Option<String>,
}

/// Stores a component.
///
/// The body is the component's bytes. 201 for new bytes, 200 for bytes
/// already stored; 400 when the bytes are not a workflow or activity
/// component (`invalid_component`, saying why) or the name is not valid;
/// 413 over the upload size limit (64 MiB by default).
#[utoipa::path(
    post,
    path = "/v1/components",
    operation_id = "push_component",
    tag = "components",
    params(PushQuery),
    request_body(
        content = inline(super::openapi::Binary),
        content_type = "application/wasm",
        description = "The component's bytes (a WebAssembly component).",
    ),
    responses(
        (status = CREATED, description = "The bytes are new and now stored.", body = Component),
        (status = OK, description = "The bytes were already stored.", body = Component),
        (status = BAD_REQUEST, description = "An empty body, an invalid name, or bytes that are not a \
            workflow or activity component (`invalid_component`).", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is over the upload size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn push(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PushQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Component>), Error> {
    let body = body?;
    if body.is_empty() {
        return Err(Error::BadRequest("the body is empty: send the component's bytes".into()));
    }
    if let Some(name) = &query.name {
        validate_name(name)?;
    }
    let created = state.runtime.register_component(body, query.name.as_deref()).await?;
    let status = if created.is_new() { StatusCode::CREATED } else { StatusCode::OK };
    // Answer with the name this push set, whatever other names point here.
    Ok((status, Json(Component::new(&created.into_inner(), query.name, &[]))))
}

/// Lists the stored components, newest first.
#[utoipa::path(
    get,
    path = "/v1/components",
    operation_id = "list_components",
    tag = "components",
    responses((status = OK, description = "Every stored component.", body = ComponentList)),
)]
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<ComponentList>, Error> {
    let records = state.runtime.store().list_components().await?;
    Ok(Json(ComponentList::new(&records)))
}

/// Shows a component by digest or by name.
///
/// For a name: the version it points at now, with `versions`, every digest
/// pushed under it, current first, then newest first. Workflows stay on the
/// version they started with.
#[utoipa::path(
    get,
    path = "/v1/components/{key}",
    operation_id = "get_component",
    tag = "components",
    params((
        "key" = String,
        Path,
        description = "A component's digest (`sha256:` and 64 hex digits) or a name.",
    )),
    responses(
        (status = OK, description = "The component.", body = Component),
        (status = BAD_REQUEST, description = "The path is not valid UTF-8 once decoded.", body = ErrorBody),
        (status = NOT_FOUND, description = "No component has that digest or name \
            (`component_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn get(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Component>, Error> {
    let store = state.runtime.store();
    let Some(record) = store.component(&key).await? else {
        return Err(runtime::Error::UnknownComponent(key).into());
    };
    let versions =
        if record.digest.as_str() == key { Vec::new() } else { store.component_versions(&key).await? };
    let name = (!versions.is_empty()).then_some(key);
    Ok(Json(Component::new(&record, name, &versions)))
}

/// Names are 1 to 128 bytes of ASCII letters, digits, `-`, `_` and `.`, and
/// never look like a digest.
fn validate_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with("sha256:")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid component name {:?}: use 1 to 128 ASCII letters, digits, '-', '_' or '.'",
            crate::ids::shown(name)
        )))
    }
}
