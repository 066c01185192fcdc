//! `/v1/components`: upload and inspect workflow components.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, ApiQuery};
use super::{AppState, Error, views};
use crate::runtime;

/// `DELETE /v1/components/{digest}`: 204 once the component is deleted;
/// 404 `component_not_found` (also for a name: deletes take digests); 409
/// `component_in_use` while workflows run it.
pub(super) async fn delete(
    State(state): State<AppState>,
    ApiPath(digest): ApiPath<String>,
) -> Result<StatusCode, Error> {
    state.runtime.delete_component(&digest).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(super) struct PushQuery {
    name: Option<String>,
}

/// `POST /v1/components[?name=N]`, body: the component's bytes.
///
/// 201 for new bytes, 200 for bytes already stored; 400 when the bytes are
/// not a workflow component (saying why); 413 over the size limit.
pub(super) async fn push(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PushQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let body = body?;
    if body.is_empty() {
        return Err(Error::BadRequest("the body is empty: send the component's bytes".into()));
    }
    if let Some(name) = &query.name {
        validate_name(name)?;
    }
    let created = state.runtime.register_component(body, query.name.as_deref()).await?;
    let status = if created.is_new() { StatusCode::CREATED } else { StatusCode::OK };
    let mut record = created.into_inner();
    // Answer with the name this push set, whatever other names point here.
    record.name = query.name.or(record.name);
    Ok((status, Json(views::component(&record))))
}

/// `GET /v1/components`: `{"components":[…]}`, newest first.
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    let records = state.runtime.store().list_components().await?;
    Ok(Json(json!({ "components": records.iter().map(views::component).collect::<Vec<_>>() })))
}

/// `GET /v1/components/{digest-or-name}`: the component (for a name, the
/// version it points at now), and for a name `"versions"`: every digest
/// pushed under it, current first, then newest first (see
/// [`views::component_version`]). Workflows stay on the version they
/// started with.
pub(super) async fn get(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Value>, Error> {
    let store = state.runtime.store();
    let Some(mut record) = store.component(&key).await? else {
        return Err(runtime::Error::UnknownComponent(key).into());
    };
    let versions =
        if record.digest.as_str() == key { Vec::new() } else { store.component_versions(&key).await? };
    if versions.is_empty() {
        return Ok(Json(views::component(&record)));
    }
    record.name = Some(key);
    let mut view = views::component(&record);
    view["versions"] = versions.iter().map(views::component_version).collect();
    Ok(Json(view))
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
