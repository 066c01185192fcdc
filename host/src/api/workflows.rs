//! `/v1/workflows`: start workflows and inspect them.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{AppState, Error, views};
use crate::ids::WorkflowId;
use crate::runtime;
use crate::store::{WorkflowFilter, WorkflowRecord, WorkflowStatus};

/// Default and largest page of `GET /v1/workflows`.
const WORKFLOW_PAGE: (u32, u32) = (50, 500);
/// Default and largest page of journal and log listings.
const ENTRY_PAGE: (u32, u32) = (1000, 10_000);
/// Most stored payload bytes in one page of journal entries (past the
/// first entry): a page of large entries stops early, and the caller goes on
/// with `after` set to the last `seq` it got.
const JOURNAL_PAGE_BYTES: u64 = 4 << 20;
/// Most children `GET /v1/workflows/{id}` lists.
const CHILDREN_SHOWN: u32 = 1_000;
/// Longest long poll of the result endpoint, in seconds.
pub(super) const MAX_WAIT_SECONDS: f64 = 300.0;

/// Body of `POST /v1/workflows`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartRequest {
    /// Digest or name of the component to run.
    component: String,
    /// Any JSON; `null` when absent.
    #[serde(default)]
    input: Value,
    /// Caller-chosen id, doubling as the idempotency key.
    id: Option<String>,
    /// Execution timeout in seconds: the workflow is cancelled once it
    /// passes, and terminated if it has not ended after the grace period.
    timeout_s: Option<f64>,
}

/// Longest execution timeout, in seconds (10 years).
const MAX_TIMEOUT_SECONDS: f64 = 315_360_000.0;

/// `POST /v1/workflows`: 201 with the new workflow, 200 with the existing one
/// for a repeated start, 409 if the id is taken by another start, 404 for an
/// unknown component, 400 for malformed JSON or a timeout that is not a
/// positive number of seconds.
pub(super) async fn start(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let timeout = request
        .timeout_s
        .map(|seconds| {
            if seconds > 0.0 && seconds <= MAX_TIMEOUT_SECONDS {
                Ok(Duration::from_secs_f64(seconds))
            } else {
                Err(Error::BadRequest(format!(
                    "timeout_s must be more than 0 and at most {MAX_TIMEOUT_SECONDS} seconds"
                )))
            }
        })
        .transpose()?;
    let created = state
        .runtime
        .start_workflow(&request.component, &request.input, request.id.as_deref(), timeout)
        .await?;
    let status = if created.is_new() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(views::workflow(&created.into_inner()))))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    component: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/workflows`: `{"workflows":[…],"next_cursor":…}`, newest first;
/// pass `next_cursor` back as `cursor` for the next page (null on the last).
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, Error> {
    let status = query
        .status
        .map(|text| {
            WorkflowStatus::parse(&text).ok_or_else(|| {
                let known: Vec<_> = WorkflowStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::BadRequest(format!("unknown status {text:?}; use one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let before = query
        .cursor
        .map(|cursor| {
            cursor.parse::<i64>().map_err(|_| Error::BadRequest(format!("invalid cursor {cursor:?}")))
        })
        .transpose()?;
    let component = match query.component {
        None => None,
        Some(key) => match state.runtime.store().component(&key).await? {
            Some(record) => Some(record.digest),
            None => return Ok(Json(json!({ "workflows": [], "next_cursor": null }))),
        },
    };
    let limit = page_size(query.limit, WORKFLOW_PAGE);
    let records =
        state.runtime.store().list_workflows(&WorkflowFilter { status, component, before, limit }).await?;
    let next_cursor =
        (records.len() == limit as usize).then(|| records.last().map(|r| r.ordinal.to_string())).flatten();
    Ok(Json(json!({
        "workflows": records.iter().map(views::workflow).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// `GET /v1/workflows/{id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, Error> {
    let record = find(&state, &id).await?;
    let waiting = state.runtime.waiting_on(&record).await?;
    let children = state.runtime.children(&record.id, CHILDREN_SHOWN).await?;
    Ok(Json(views::workflow_detail(&record, waiting.as_ref(), &children)))
}

/// `DELETE /v1/workflows/{id}`: 204 once the workflow, which has ended,
/// is deleted with its journal, logs, signals and events; 404
/// `workflow_not_found`; 409 `workflow_not_final` while it has not ended.
pub(super) async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::http::StatusCode, Error> {
    state.runtime.delete_workflow(&id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(super) struct ResultQuery {
    /// Seconds to wait for a final status (fractions allowed, at most 300).
    wait: Option<f64>,
}

/// `GET /v1/workflows/{id}/result[?wait=SECONDS]`: 200 with
/// `{"id","status","output","error"}` once the status is final (`completed`,
/// `failed`, `stuck`, `cancelled` or `terminated`), 202 with the same shape
/// if it is not when the wait ends.
pub(super) async fn result(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResultQuery>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let wait = wait_seconds(query.wait)?;
    let id = parse_id(&id)?;
    let record = state.runtime.wait_final(&id, wait).await?;
    let status = if record.state.status.is_final() { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(views::result(&record))))
}

#[derive(Deserialize)]
pub(super) struct PageQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /v1/workflows/{id}/journal[?after=SEQ&limit=N]`: `{"entries":[…]}`,
/// entries with `seq > after` in order, at most `limit` (default 1,000,
/// at most 10,000) and about 4 MiB of stored payload.
pub(super) async fn journal(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Value>, Error> {
    // A negative `after` means "from the start", like no `after` at all.
    let after = query.after.and_then(|seq| u64::try_from(seq).ok());
    let limit = page_size(query.limit, ENTRY_PAGE);
    let entries = state.runtime.journal(&parse_id(&id)?, after, limit, JOURNAL_PAGE_BYTES).await?;
    Ok(Json(json!({ "entries": entries.iter().map(views::entry).collect::<Vec<_>>() })))
}

/// `GET /v1/workflows/{id}/logs[?after=CURSOR&limit=N]`: `{"lines":[…]}`,
/// oldest first; each line's `cursor` can be passed back as `after`.
pub(super) async fn logs(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Value>, Error> {
    let workflow = find(&state, &id).await?;
    let records =
        state.runtime.store().logs(&workflow.id, query.after, page_size(query.limit, ENTRY_PAGE)).await?;
    Ok(Json(json!({ "lines": records.iter().map(views::log).collect::<Vec<_>>() })))
}

pub(super) fn parse_id(id: &str) -> Result<WorkflowId, Error> {
    // An id that breaks the rules can never have been stored: report it unknown.
    WorkflowId::parse(id).map_err(|_| runtime::Error::UnknownWorkflow(id.to_owned()).into())
}

async fn find(state: &AppState, id: &str) -> Result<WorkflowRecord, Error> {
    let id = parse_id(id)?;
    state
        .runtime
        .store()
        .workflow(&id)
        .await?
        .ok_or_else(|| runtime::Error::UnknownWorkflow(id.to_string()).into())
}

pub(super) fn wait_seconds(wait: Option<f64>) -> Result<Duration, Error> {
    let wait = wait.unwrap_or(0.0);
    if !(0.0..=MAX_WAIT_SECONDS).contains(&wait) {
        return Err(Error::BadRequest(format!("wait must be between 0 and {MAX_WAIT_SECONDS} seconds")));
    }
    Ok(Duration::from_secs_f64(wait))
}

fn page_size(requested: Option<u32>, (default, max): (u32, u32)) -> u32 {
    requested.unwrap_or(default).clamp(1, max)
}
