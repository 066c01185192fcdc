//! `/v1/workflows`: start workflows and inspect them.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::views::{
    self, ErrorBody, JournalPage, LogPage, Workflow, WorkflowCounts, WorkflowDetail, WorkflowList,
    WorkflowResult,
};
use super::{AppState, Error};
use crate::ids::{self, ComponentDigest, WorkflowId};
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
/// Most digits of a workflow list cursor: any such number fits an `i64`.
const MAX_CURSOR_DIGITS: usize = 18;

/// The workflow a request is about.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct WorkflowPath {
    /// The workflow's id: 1 to 128 ASCII letters, digits, `-`, `_`, `.` and
    /// `:`, not dots only. An id that breaks these rules names no workflow
    /// (404 `workflow_not_found`).
    #[param(pattern = "^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$", min_length = 1, max_length = 128)]
    pub(super) id: String,
}

/// Body of `POST /v1/workflows`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartRequest {
    /// Digest or name of the component to run.
    #[schema(example = "hello")]
    component: String,
    /// The workflow's input: any JSON; null when absent.
    #[serde(default)]
    #[schema(example = json!({ "name": "Ada" }))]
    input: Value,
    /// A caller-chosen id, doubling as the idempotency key of the start: 1
    /// to 128 ASCII letters, digits, `-`, `_`, `.` and `:`, not dots only.
    /// The host generates one (a UUIDv7) when it is absent or null.
    #[schema(pattern = "^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$", min_length = 1, max_length = 128)]
    id: Option<String>,
    /// Execution timeout in seconds (more than 0, at most 10 years): the
    /// workflow is cancelled once it passes, and terminated if it has not
    /// ended after the grace period.
    #[schema(exclusive_minimum = 0.0, maximum = 315_360_000.0)]
    timeout_s: Option<f64>,
}

/// Longest execution timeout, in seconds (10 years).
const MAX_TIMEOUT_SECONDS: f64 = 315_360_000.0;

/// Starts a workflow.
///
/// 201 with the new workflow, 200 with the existing one for a repeated start
/// (same id, component and input), 409 if the id is taken by another start,
/// 404 for an unknown component, 400 for malformed JSON, an invalid id or a
/// timeout that is not a positive number of seconds.
#[utoipa::path(
    post,
    path = "/v1/workflows",
    operation_id = "start_workflow",
    tag = "workflows",
    request_body = StartRequest,
    responses(
        (
            status = CREATED,
            description = "The workflow was started.",
            body = Workflow,
            links(
                ("get" = (operation_id = "get_workflow", parameters(("id" = "$response.body#/id")))),
                ("result" = (operation_id = "get_workflow_result", parameters(("id" = "$response.body#/id")))),
                ("journal" = (operation_id = "get_workflow_journal", parameters(("id" = "$response.body#/id")))),
                ("logs" = (operation_id = "get_workflow_logs", parameters(("id" = "$response.body#/id")))),
                ("signal" = (operation_id = "send_signal", parameters(("id" = "$response.body#/id")))),
                ("cancel" = (operation_id = "cancel_workflow", parameters(("id" = "$response.body#/id")))),
                ("event" = (operation_id = "get_event", parameters(("id" = "$response.body#/id")))),
                ("replay" = (operation_id = "replay_workflow", parameters(("id" = "$response.body#/id")))),
                ("upgrade" = (operation_id = "upgrade_workflow", parameters(("id" = "$response.body#/id")))),
            ),
        ),
        (status = OK, description = "A workflow with this id, component and input exists: it.", body = Workflow),
        (status = BAD_REQUEST, description = "Malformed JSON, an invalid id (`invalid_workflow_id`) or \
            timeout.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such component (`component_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "Another start took the id (`workflow_id_conflict`).", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is over the JSON size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn start(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<Workflow>), Error> {
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
    Ok((status, Json(Workflow::new(&created.into_inner()))))
}

/// Query of `GET /v1/workflows`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only workflows with this status.
    #[param(schema_with = views::status_schema)]
    status: Option<String>,
    /// Only workflows of this component (a digest, or a name's current
    /// digest); none for an unknown component.
    component: Option<String>,
    /// Only workflows started by this schedule.
    schedule: Option<String>,
    /// Only workflows whose id starts with this text (at most 128 bytes).
    #[param(max_length = 128)]
    id_prefix: Option<String>,
    /// Page size (default 50); 0 counts as 1 and more than 500 as 500.
    #[param(format = Int64, maximum = 4_294_967_295_u32)]
    limit: Option<u32>,
    /// Where the page starts: a previous page's `next_cursor`.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// Longest `id_prefix` of `GET /v1/workflows`, in bytes: the longest id.
const MAX_ID_PREFIX_BYTES: usize = 128;

/// Lists workflows, newest first.
///
/// Pass `next_cursor` back as `cursor` for the next page (null on the last).
#[utoipa::path(
    get,
    path = "/v1/workflows",
    operation_id = "list_workflows",
    tag = "workflows",
    params(ListQuery),
    responses(
        (status = OK, description = "A page of workflows.", body = WorkflowList),
        (status = BAD_REQUEST, description = "An unknown status, an id prefix over 128 bytes, or a bad \
            limit or cursor.", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<WorkflowList>, Error> {
    let status = query.status.map(|text| parse_status(&text)).transpose()?;
    let before = query.cursor.map(|cursor| parse_cursor(&cursor)).transpose()?;
    if let Some(prefix) = &query.id_prefix
        && prefix.len() > MAX_ID_PREFIX_BYTES
    {
        return Err(Error::BadRequest(format!(
            "id_prefix is {} bytes; ids are at most {MAX_ID_PREFIX_BYTES}",
            prefix.len()
        )));
    }
    let Some(component) = resolve_component(&state, query.component).await? else {
        return Ok(Json(WorkflowList::new(&[], None)));
    };
    let limit = page_size(query.limit, WORKFLOW_PAGE);
    let filter = WorkflowFilter {
        status,
        component,
        schedule: query.schedule,
        id_prefix: query.id_prefix,
        before,
        limit,
    };
    let records = state.runtime.store().list_workflows(&filter).await?;
    let next_cursor =
        (records.len() == limit as usize).then(|| records.last().map(|r| r.ordinal.to_string())).flatten();
    Ok(Json(WorkflowList::new(&records, next_cursor)))
}

/// A status filter: one of [`WorkflowStatus::ALL`]'s names.
fn parse_status(text: &str) -> Result<WorkflowStatus, Error> {
    WorkflowStatus::parse(text).ok_or_else(|| {
        let known: Vec<_> = WorkflowStatus::ALL.iter().map(|s| s.as_str()).collect();
        Error::BadRequest(format!("unknown status {:?}; use one of {}", ids::shown(text), known.join(", ")))
    })
}

/// A component filter (a digest or a name) as the digest it stands for:
/// `Some(None)` without a filter, `None` for an unknown component, which no
/// workflow runs.
async fn resolve_component(
    state: &AppState,
    key: Option<String>,
) -> Result<Option<Option<ComponentDigest>>, Error> {
    match key {
        None => Ok(Some(None)),
        Some(key) => Ok(state.runtime.store().component(&key).await?.map(|record| Some(record.digest))),
    }
}

/// Query of `GET /v1/workflow-counts`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CountsQuery {
    /// Only workflows of this component (a digest, or a name's current
    /// digest); all zero for an unknown component.
    component: Option<String>,
}

/// Counts workflows by status.
///
/// Every status is present, with 0 where there are none. The counts are
/// read from the database at once (a scan of the workflows or of one
/// component's), for dashboards and the console, not for every request.
#[utoipa::path(
    get,
    path = "/v1/workflow-counts",
    operation_id = "count_workflows",
    tag = "workflows",
    params(CountsQuery),
    responses((status = OK, description = "The workflows of each status.", body = WorkflowCounts)),
)]
pub(super) async fn counts(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CountsQuery>,
) -> Result<Json<WorkflowCounts>, Error> {
    let counts = match resolve_component(&state, query.component).await? {
        None => Vec::new(),
        Some(component) => state.runtime.store().count_by_status(component.as_ref()).await?,
    };
    Ok(Json(WorkflowCounts::new(&counts)))
}

/// A list cursor: 1 to 18 decimal digits (a previous page's `next_cursor`).
fn parse_cursor(cursor: &str) -> Result<i64, Error> {
    let digits =
        !cursor.is_empty() && cursor.len() <= MAX_CURSOR_DIGITS && cursor.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| cursor.parse::<i64>().ok()).flatten().ok_or_else(|| {
        Error::BadRequest(format!("invalid cursor {cursor:?}: pass back a page's next_cursor"))
    })
}

/// Shows a workflow with what it waits for and its children.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}",
    operation_id = "get_workflow",
    tag = "workflows",
    params(WorkflowPath),
    responses(
        (status = OK, description = "The workflow.", body = WorkflowDetail),
        (status = BAD_REQUEST, description = "The path is not valid UTF-8 once decoded.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn get(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
) -> Result<Json<WorkflowDetail>, Error> {
    let record = find(&state, &id).await?;
    let waiting = state.runtime.waiting_on(&record).await?;
    let children = state.runtime.children(&record.id, CHILDREN_SHOWN).await?;
    let divergence = state.runtime.divergence(&record).await?;
    Ok(Json(WorkflowDetail::new(&record, waiting.as_ref(), &children, divergence)))
}

/// Deletes a workflow that has ended, with its journal, logs, signals and
/// events.
#[utoipa::path(
    delete,
    path = "/v1/workflows/{id}",
    operation_id = "delete_workflow",
    tag = "workflows",
    params(WorkflowPath),
    responses(
        (status = NO_CONTENT, description = "The workflow was deleted."),
        (status = BAD_REQUEST, description = "The path is not valid UTF-8 once decoded.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "The workflow has not ended (`workflow_not_final`).", body = ErrorBody),
    ),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
) -> Result<axum::http::StatusCode, Error> {
    state.runtime.delete_workflow(&id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Query of the long polls: the result endpoint and the event endpoint.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct WaitQuery {
    /// Seconds to wait (fractions allowed; default 0, at most 300).
    #[param(minimum = 0.0, maximum = 300.0)]
    pub(super) wait: Option<f64>,
}

/// Answers a workflow's result, waiting for it to end if asked to.
///
/// 200 once the status is final (`completed`, `failed`, `stuck`,
/// `cancelled` or `terminated`), 202 with the same shape if it is not when
/// the wait ends.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/result",
    operation_id = "get_workflow_result",
    tag = "workflows",
    params(WorkflowPath, WaitQuery),
    responses(
        (status = OK, description = "The workflow has ended.", body = WorkflowResult),
        (status = ACCEPTED, description = "The workflow had not ended when the wait ended.", body = WorkflowResult),
        (status = BAD_REQUEST, description = "A wait that is not 0 to 300 seconds.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn result(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<(StatusCode, Json<WorkflowResult>), Error> {
    let wait = wait_seconds(query.wait)?;
    let id = parse_id(&id)?;
    let record = state.runtime.wait_final(&id, wait).await?;
    let status = if record.state.status.is_final() { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(WorkflowResult::new(&record))))
}

/// Query of the journal and log listings.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// Start after this position: a journal `seq` or a log line's `cursor`
    /// (a negative one starts from the beginning).
    after: Option<i64>,
    /// Page size (default 1,000); 0 counts as 1 and more than 10,000 as
    /// 10,000.
    #[param(format = Int64, maximum = 4_294_967_295_u32)]
    limit: Option<u32>,
}

/// Reads a workflow's journal.
///
/// Entries with `seq > after` in order, at most `limit` and about 4 MiB of
/// stored payload; go on with `after` set to the last `seq` received.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/journal",
    operation_id = "get_workflow_journal",
    tag = "workflows",
    params(WorkflowPath, PageQuery),
    responses(
        (status = OK, description = "A page of journal entries.", body = JournalPage),
        (status = BAD_REQUEST, description = "A bad `after` or `limit`.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn journal(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<JournalPage>, Error> {
    // A negative `after` means "from the start", like no `after` at all.
    let after = query.after.and_then(|seq| u64::try_from(seq).ok());
    let limit = page_size(query.limit, ENTRY_PAGE);
    let entries = state.runtime.journal(&parse_id(&id)?, after, limit, JOURNAL_PAGE_BYTES).await?;
    Ok(Json(JournalPage::new(&entries)))
}

/// Reads a workflow's log lines, oldest first.
///
/// Each line's `cursor` can be passed back as `after`.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/logs",
    operation_id = "get_workflow_logs",
    tag = "workflows",
    params(WorkflowPath, PageQuery),
    responses(
        (status = OK, description = "A page of log lines.", body = LogPage),
        (status = BAD_REQUEST, description = "A bad `after` or `limit`.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such workflow (`workflow_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn logs(
    State(state): State<AppState>,
    ApiPath(WorkflowPath { id }): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<LogPage>, Error> {
    let workflow = find(&state, &id).await?;
    let records =
        state.runtime.store().logs(&workflow.id, query.after, page_size(query.limit, ENTRY_PAGE)).await?;
    Ok(Json(LogPage::new(&records)))
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
