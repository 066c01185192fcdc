//! `/v1/schedules`: workflows started on a cron expression or an interval
//! (see [`crate::runtime::schedules`]), and their answers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::views::{ErrorBody, Timestamp, Workflow, json_text};
use super::{AppState, Error};
use crate::runtime::schedules::{self, DEFAULT_TIME_ZONE, MAX_INTERVAL_MS};
use crate::store::{
    OverlapPolicy, ScheduleDefinition, ScheduleRecord, ScheduleSpec, TickOutcome, TickRecord,
};

/// Default catch-up window, in ms: ticks missed while no host ran are run
/// if they are at most a minute late.
const DEFAULT_CATCHUP_WINDOW_MS: i64 = 60_000;
/// Upcoming tick times shown.
const UPCOMING: usize = 5;
/// History rows read for a schedule's page (its recent runs and skips).
const HISTORY_READ: u32 = 200;
/// Recent runs and skipped ranges shown, each.
const RECENT_SHOWN: usize = 20;
/// Default and largest page of `GET /v1/schedules`.
const SCHEDULE_PAGE: (u32, u32) = (100, 1_000);

/// When a new schedule ticks: a cron expression in a time zone, or an
/// interval with a phase.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum SpecRequest {
    /// A cron expression.
    Cron(CronSpec),
    /// An interval.
    Interval(IntervalSpec),
}

/// A cron expression in a time zone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CronSpec {
    /// The expression: 5 fields (minute hour day-of-month month
    /// day-of-week), or 6 with seconds first; `L`, `W` and `#` as in croner
    /// (format `duro-cron`).
    #[schema(example = "0 2 * * *", format = "duro-cron")]
    cron: String,
    /// The IANA time zone it is read in (default `UTC`; format
    /// `iana-time-zone`).
    #[schema(example = "Europe/Paris", format = "iana-time-zone")]
    time_zone: Option<String>,
}

/// An interval with a phase.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IntervalSpec {
    /// Seconds between ticks (1 s to about 10 years): ticks at each multiple
    /// of it since the Unix epoch, plus `phase_s`.
    #[schema(minimum = 1.0, maximum = 315_360_000.0)]
    interval_s: f64,
    /// Offset of the ticks, in seconds (default 0); one of the interval or
    /// more is taken modulo the interval.
    #[schema(minimum = 0.0, maximum = 315_360_000.0)]
    phase_s: Option<f64>,
}

/// Body of `POST /v1/schedules`: an id, what to start, when, and the
/// policies.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRequest {
    /// The schedule's id: 1 to 100 ASCII letters, digits, `-`, `_`, `.` and
    /// `:`, not dots only. Its workflows' ids are `<id>:<tick time>`.
    #[schema(
        example = "nightly-billing",
        pattern = "^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$",
        min_length = 1,
        max_length = 100
    )]
    id: String,
    /// Digest or name of the workflow component to start; a name is
    /// resolved at each tick.
    #[schema(example = "billing")]
    component: String,
    /// The input of every workflow it starts: any JSON; null when absent.
    #[serde(default)]
    input: Value,
    /// When it ticks: `{"cron", "time_zone"?}` or `{"interval_s", "phase_s"?}`.
    spec: SpecRequest,
    /// What a tick does while the previous workflow is open: `skip` (the
    /// default), `buffer_one`, `allow_all`, `cancel_other` or
    /// `terminate_other` (Temporal's overlap policies).
    #[schema(schema_with = overlap_schema)]
    overlap: Option<String>,
    /// How late a tick may still be run after no host ran it on time, in
    /// seconds (default 60); later ones are skipped and counted.
    #[schema(minimum = 0.0, maximum = 315_360_000.0)]
    catchup_window_s: Option<f64>,
    /// No tick after this RFC 3339 time.
    #[schema(format = DateTime)]
    end_at: Option<String>,
    /// No tick after this many workflows started (at least 1).
    #[schema(minimum = 1)]
    max_runs: Option<i64>,
    /// Created paused (default false).
    #[serde(default)]
    paused: bool,
    /// Why, for people (at most 1 KiB of UTF-8).
    #[schema(max_length = 256)]
    note: Option<String>,
}

/// The schema of an overlap policy: one of [`OverlapPolicy::ALL`]'s names.
fn overlap_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(OverlapPolicy::ALL.iter().map(|policy| policy.as_str())))
        .description(Some("An overlap policy."))
        .build()
}

/// `interval_s` (or another duration in seconds) in ms, checked.
fn seconds_ms(name: &str, seconds: f64) -> Result<i64, Error> {
    let max = (MAX_INTERVAL_MS / 1000) as f64;
    if !seconds.is_finite() || !(0.0..=max).contains(&seconds) {
        return Err(Error::BadRequest(format!("{name} must be a number of seconds from 0 to {max}")));
    }
    Ok((seconds * 1000.0).round() as i64)
}

impl CreateRequest {
    fn definition(self) -> Result<(String, ScheduleDefinition, bool, Option<String>), Error> {
        let spec = match self.spec {
            SpecRequest::Cron(CronSpec { cron, time_zone }) => ScheduleSpec::Cron {
                expression: cron,
                time_zone: time_zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()),
            },
            SpecRequest::Interval(IntervalSpec { interval_s, phase_s }) => {
                let every_ms = seconds_ms("interval_s", interval_s)?;
                let phase_ms = phase_s.map(|phase| seconds_ms("phase_s", phase)).transpose()?.unwrap_or(0);
                ScheduleSpec::Interval {
                    every_ms,
                    phase_ms: phase_ms.checked_rem(every_ms).unwrap_or(phase_ms),
                }
            }
        };
        let overlap = match self.overlap.as_deref() {
            None => OverlapPolicy::Skip,
            Some(name) => OverlapPolicy::parse(name).ok_or_else(|| {
                let known: Vec<_> = OverlapPolicy::ALL.iter().map(|policy| policy.as_str()).collect();
                Error::BadRequest(format!(
                    "unknown overlap policy {:?}; use one of {}",
                    crate::ids::shown(name),
                    known.join(", ")
                ))
            })?,
        };
        let catchup_window_ms = self
            .catchup_window_s
            .map(|seconds| seconds_ms("catchup_window_s", seconds))
            .transpose()?
            .unwrap_or(DEFAULT_CATCHUP_WINDOW_MS);
        let end_at_ms = self
            .end_at
            .map(|text| {
                text.parse::<jiff::Timestamp>().map(|at| at.as_millisecond()).map_err(|error| {
                    Error::BadRequest(format!(
                        "end_at {:?} is not an RFC 3339 time: {error}",
                        crate::ids::shown(&text)
                    ))
                })
            })
            .transpose()?;
        let definition = ScheduleDefinition {
            component: self.component,
            input: self.input.to_string(),
            spec,
            overlap,
            catchup_window_ms,
            end_at_ms,
            max_runs: self.max_runs,
        };
        Ok((self.id, definition, self.paused, self.note))
    }
}

/// How a schedule ticks.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum SpecView {
    /// A cron expression in a time zone.
    Cron {
        /// The expression.
        cron: String,
        /// Its IANA time zone.
        time_zone: String,
    },
    /// An interval.
    Interval {
        /// The interval, in seconds.
        interval_s: f64,
        /// The offset of its ticks, in seconds.
        phase_s: f64,
    },
}

/// A schedule.
#[derive(Serialize, ToSchema)]
pub(super) struct Schedule {
    /// Its id.
    id: String,
    /// The component it starts, as given (a name is resolved at each tick).
    component: String,
    /// The input of every workflow it starts.
    input: Value,
    spec: SpecView,
    /// Its overlap policy: `skip`, `buffer_one`, `allow_all`, `cancel_other`
    /// or `terminate_other`.
    overlap: &'static str,
    /// How late a tick may still be run, in seconds.
    catchup_window_s: f64,
    /// No tick after this time, or null.
    end_at: Option<Timestamp>,
    /// No tick after this many workflows started, or null.
    max_runs: Option<i64>,
    /// Whether it is paused.
    paused: bool,
    /// The note of its last pause or resume, or null.
    note: Option<String>,
    /// Its next tick, or null once it has ended.
    next_tick_at: Option<Timestamp>,
    /// A tick waiting for the previous workflow to end, or null.
    buffered_tick_at: Option<Timestamp>,
    /// The workflow it started last, or null.
    last_workflow: Option<String>,
    /// Workflows its ticks started (triggers aside).
    runs: i64,
    /// Ticks it skipped.
    skipped: i64,
    /// When it was created.
    created_at: Timestamp,
    /// Its last change.
    updated_at: Timestamp,
}

impl Schedule {
    fn new(record: &ScheduleRecord) -> Self {
        let definition = &record.definition;
        let spec = match &definition.spec {
            ScheduleSpec::Cron { expression, time_zone } => {
                SpecView::Cron { cron: expression.clone(), time_zone: time_zone.clone() }
            }
            ScheduleSpec::Interval { every_ms, phase_ms } => SpecView::Interval {
                interval_s: *every_ms as f64 / 1000.0,
                phase_s: *phase_ms as f64 / 1000.0,
            },
        };
        Self {
            id: record.id.clone(),
            component: definition.component.clone(),
            input: json_text(&definition.input),
            spec,
            overlap: definition.overlap.as_str(),
            catchup_window_s: definition.catchup_window_ms as f64 / 1000.0,
            end_at: definition.end_at_ms.map(Timestamp::from_ms),
            max_runs: definition.max_runs,
            paused: record.state.paused,
            note: record.state.note.clone(),
            next_tick_at: record.state.next_tick_ms.map(Timestamp::from_ms),
            buffered_tick_at: record.state.buffered_ms.map(Timestamp::from_ms),
            last_workflow: record.state.last_workflow.as_ref().map(ToString::to_string),
            runs: record.runs,
            skipped: record.skipped,
            created_at: Timestamp::from_ms(record.created_at_ms),
            updated_at: Timestamp::from_ms(record.updated_at_ms),
        }
    }
}

/// A workflow a schedule started.
#[derive(Serialize, ToSchema)]
pub(super) struct ScheduledRun {
    /// Its tick's time (for a trigger, when it was triggered).
    nominal_time: Timestamp,
    /// The workflow's id.
    workflow: String,
    /// Its status now, or null if it was deleted.
    #[schema(schema_with = super::views::status_schema, nullable)]
    status: Option<&'static str>,
    /// Whether it was started by hand (`trigger`) rather than by a tick.
    triggered: bool,
}

/// A run of consecutive ticks skipped for one reason.
#[derive(Serialize, ToSchema)]
pub(super) struct SkippedTicks {
    /// The first tick's time.
    first_nominal_time: Timestamp,
    /// The last tick's time.
    last_nominal_time: Timestamp,
    /// How many ticks.
    count: i64,
    /// Why: `missed: …` (later than the catch-up window), `overlap: …`,
    /// `paused`, or why the component could not start.
    reason: String,
    /// When they were skipped.
    at: Timestamp,
}

/// `GET /v1/schedules/{id}`: a schedule with its next ticks and history.
#[derive(Serialize, ToSchema)]
pub(super) struct ScheduleDetail {
    #[serde(flatten)]
    schedule: Schedule,
    /// The next tick times (at most 5; none once ended), also while paused.
    upcoming: Vec<Timestamp>,
    /// The latest workflows it started, newest first (at most 20).
    recent_runs: Vec<ScheduledRun>,
    /// The latest skipped ticks, newest first (at most 20 runs of them).
    skipped_ticks: Vec<SkippedTicks>,
}

/// `GET /v1/schedules`.
#[derive(Serialize, ToSchema)]
pub(super) struct ScheduleList {
    /// The schedules, in id order.
    schedules: Vec<Schedule>,
    /// Pass back as `after` for the next page; null on the last.
    next_after: Option<String>,
}

/// The schedule a request is about.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct SchedulePath {
    /// The schedule's id.
    id: String,
}

/// Body of pause and resume.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteRequest {
    /// Why, for people (at most 1 KiB).
    note: Option<String>,
}

/// The note of a pause or resume body: none for an empty body or `null`.
fn note_in(body: &[u8]) -> Result<Option<String>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: Option<NoteRequest> = serde_json::from_slice(body)
        .map_err(|error| Error::BadRequest(format!("invalid JSON body: {error}")))?;
    Ok(request.and_then(|request| request.note))
}

/// Query of `GET /v1/schedules`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Page size (default 100); 0 counts as 1 and more than 1,000 as 1,000.
    #[param(format = Int64, maximum = 4_294_967_295_u32)]
    limit: Option<u32>,
    /// Only schedules whose id sorts after this one: a page's `next_after`.
    after: Option<String>,
}

/// Creates a schedule.
///
/// 201 with the schedule; 200 with the existing one for a repeated create
/// (same id and definition); 409 `schedule_id_conflict` if the id is taken
/// by another definition; 400 `invalid_schedule` or `bad_request` for a bad
/// id, spec or policy; 404 for an unknown component.
#[utoipa::path(
    post,
    path = "/v1/schedules",
    operation_id = "create_schedule",
    tag = "schedules",
    request_body = CreateRequest,
    responses(
        (status = CREATED, description = "The schedule was created.", body = Schedule),
        (status = OK, description = "A schedule with this id and definition exists: it.", body = Schedule),
        (status = BAD_REQUEST, description = "Malformed JSON, a bad id, spec, policy or time \
            (`invalid_schedule`, `bad_request`), or an activity component (`invalid_component`).", body = ErrorBody),
        (status = NOT_FOUND, description = "No such component (`component_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "Another definition has the id (`schedule_id_conflict`).", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is over the JSON size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<Schedule>), Error> {
    let (id, definition, paused, note) = request.definition()?;
    let created = state.runtime.create_schedule(&id, definition, paused, note).await?;
    let status = if created.is_new() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(Schedule::new(&created.into_inner()))))
}

/// Lists schedules in id order.
#[utoipa::path(
    get,
    path = "/v1/schedules",
    operation_id = "list_schedules",
    tag = "schedules",
    params(ListQuery),
    responses(
        (status = OK, description = "A page of schedules.", body = ScheduleList),
        (status = BAD_REQUEST, description = "A bad limit.", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ScheduleList>, Error> {
    let limit = query.limit.unwrap_or(SCHEDULE_PAGE.0).clamp(1, SCHEDULE_PAGE.1);
    let records = state.runtime.schedules(query.after.as_deref(), limit).await?;
    let next_after =
        (records.len() == limit as usize).then(|| records.last().map(|r| r.id.clone())).flatten();
    Ok(Json(ScheduleList { schedules: records.iter().map(Schedule::new).collect(), next_after }))
}

/// Shows a schedule: its definition and state, its next 5 tick times, the
/// workflows it started last with their statuses, and its skipped ticks
/// with the reason.
#[utoipa::path(
    get,
    path = "/v1/schedules/{id}",
    operation_id = "get_schedule",
    tag = "schedules",
    params(SchedulePath),
    responses(
        (status = OK, description = "The schedule.", body = ScheduleDetail),
        (status = BAD_REQUEST, description = "The path is not valid UTF-8 once decoded.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such schedule (`schedule_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn get(
    State(state): State<AppState>,
    ApiPath(SchedulePath { id }): ApiPath<SchedulePath>,
) -> Result<Json<ScheduleDetail>, Error> {
    let record = state.runtime.schedule(&id).await?;
    let history = state.runtime.schedule_history(&id, HISTORY_READ).await?;
    let mut recent_runs = Vec::new();
    for tick in
        history.iter().filter(|tick| matches!(tick.outcome, TickOutcome::Started | TickOutcome::Triggered))
    {
        if recent_runs.len() == RECENT_SHOWN {
            break;
        }
        if let Some(run) = scheduled_run(&state, tick).await? {
            recent_runs.push(run);
        }
    }
    let skipped_ticks = history
        .iter()
        .filter(|tick| tick.outcome == TickOutcome::Skipped)
        .take(RECENT_SHOWN)
        .map(|tick| SkippedTicks {
            first_nominal_time: Timestamp::from_ms(tick.nominal_ms),
            last_nominal_time: Timestamp::from_ms(tick.last_nominal_ms),
            count: tick.count,
            reason: tick.reason.clone().unwrap_or_default(),
            at: Timestamp::from_ms(tick.at_ms),
        })
        .collect();
    let upcoming = schedules::upcoming_ticks(&record, UPCOMING).into_iter().map(Timestamp::from_ms).collect();
    Ok(Json(ScheduleDetail { schedule: Schedule::new(&record), upcoming, recent_runs, skipped_ticks }))
}

async fn scheduled_run(state: &AppState, tick: &TickRecord) -> Result<Option<ScheduledRun>, Error> {
    let Some(id) = &tick.workflow else { return Ok(None) };
    let status = state.runtime.store().workflow(id).await?.map(|workflow| workflow.state.status.as_str());
    Ok(Some(ScheduledRun {
        nominal_time: Timestamp::from_ms(tick.nominal_ms),
        workflow: id.to_string(),
        status,
        triggered: tick.outcome == TickOutcome::Triggered,
    }))
}

/// Deletes a schedule and its history; the workflows it started stay.
#[utoipa::path(
    delete,
    path = "/v1/schedules/{id}",
    operation_id = "delete_schedule",
    tag = "schedules",
    params(SchedulePath),
    responses(
        (status = NO_CONTENT, description = "The schedule was deleted."),
        (status = BAD_REQUEST, description = "The path is not valid UTF-8 once decoded.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such schedule (`schedule_not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    ApiPath(SchedulePath { id }): ApiPath<SchedulePath>,
) -> Result<StatusCode, Error> {
    state.runtime.delete_schedule(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a schedule: no tick starts a workflow until it is resumed (those
/// that fall meanwhile are skipped). Idempotent.
#[utoipa::path(
    post,
    path = "/v1/schedules/{id}/pause",
    operation_id = "pause_schedule",
    tag = "schedules",
    params(SchedulePath),
    request_body(content = NoteRequest, description = "An optional note."),
    responses(
        (status = OK, description = "The schedule, paused.", body = Schedule),
        (status = BAD_REQUEST, description = "Malformed JSON or a note over 1 KiB.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such schedule (`schedule_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "Other hosts kept changing it (`schedule_changed`): repeat.", body = ErrorBody),
    ),
)]
pub(super) async fn pause(
    State(state): State<AppState>,
    ApiPath(SchedulePath { id }): ApiPath<SchedulePath>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Schedule>, Error> {
    let note = note_in(&body?)?;
    Ok(Json(Schedule::new(&state.runtime.set_schedule_paused(&id, true, note).await?)))
}

/// Resumes a schedule: ticks from now on start workflows again; those that
/// fell while it was paused stay skipped. Idempotent.
#[utoipa::path(
    post,
    path = "/v1/schedules/{id}/resume",
    operation_id = "resume_schedule",
    tag = "schedules",
    params(SchedulePath),
    request_body(content = NoteRequest, description = "An optional note."),
    responses(
        (status = OK, description = "The schedule, running.", body = Schedule),
        (status = BAD_REQUEST, description = "Malformed JSON or a note over 1 KiB.", body = ErrorBody),
        (status = NOT_FOUND, description = "No such schedule (`schedule_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "Other hosts kept changing it (`schedule_changed`): repeat.", body = ErrorBody),
    ),
)]
pub(super) async fn resume(
    State(state): State<AppState>,
    ApiPath(SchedulePath { id }): ApiPath<SchedulePath>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Schedule>, Error> {
    let note = note_in(&body?)?;
    Ok(Json(Schedule::new(&state.runtime.set_schedule_paused(&id, false, note).await?)))
}

/// Starts a workflow of the schedule now (`<id>:<now>`), whatever its spec,
/// pause and overlap policy say; its ticks go on as they were.
#[utoipa::path(
    post,
    path = "/v1/schedules/{id}/trigger",
    operation_id = "trigger_schedule",
    tag = "schedules",
    params(SchedulePath),
    responses(
        (status = CREATED, description = "The workflow started.", body = Workflow),
        (status = BAD_REQUEST, description = "Its component is an activity now (`invalid_component`).",
            body = ErrorBody),
        (status = NOT_FOUND, description = "No such schedule (`schedule_not_found`).", body = ErrorBody),
        (status = CONFLICT, description = "Other hosts kept changing it (`schedule_changed`): repeat.", body = ErrorBody),
    ),
)]
pub(super) async fn trigger(
    State(state): State<AppState>,
    ApiPath(SchedulePath { id }): ApiPath<SchedulePath>,
) -> Result<(StatusCode, Json<Workflow>), Error> {
    let workflow = state.runtime.trigger_schedule(&id).await?;
    Ok((StatusCode::CREATED, Json(Workflow::new(&workflow))))
}
