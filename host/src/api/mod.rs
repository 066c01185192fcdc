//! The HTTP API: JSON over HTTP/1.1, built with axum.
//!
//! [`app`] builds the whole router from a [`Runtime`], so tests and `duro
//! serve` serve the same thing. Handlers are small: extractors parse, the
//! runtime and the store do the work, `views` turn records into JSON, and
//! every failure is an [`Error`] rendered as
//! `{"error":{"code":"…","message":"…"}}` with a fitting status.
//!
//! Every request is bounded in time: one still unanswered after
//! [`ApiLimits::request_timeout`] (default 30 s) is dropped and answered 503
//! `request_timeout`. The long polls (`result?wait=`, `events/{key}?wait=`)
//! wait up to 300 s by themselves, so their bound is that cap plus 10 s
//! instead.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/components[?name=N]` | store a component (body: its bytes) |
//! | `GET /v1/components`, `GET /v1/components/{digest-or-name}` | components; a name's with its versions |
//! | `DELETE /v1/components/{digest}` | delete a component no workflow runs (409 while one does) |
//! | `POST /v1/workflows` | start a workflow (idempotent by `id`) |
//! | `GET /v1/workflows[?status&component&schedule&id_prefix&limit&cursor]` | workflows, newest first |
//! | `GET /v1/workflow-counts[?component]` | how many workflows there are of each status |
//! | `GET /v1/workflows/{id}` | one workflow |
//! | `DELETE /v1/workflows/{id}` | delete an ended workflow (409 before it ends) |
//! | `GET /v1/workflows/{id}/result[?wait=SECONDS]` | 200 once final, else 202 |
//! | `GET /v1/workflows/{id}/journal[?after&limit]` | journal entries as JSON |
//! | `GET /v1/workflows/{id}/logs[?after&limit]` | log lines |
//! | `POST /v1/workflows/{id}/signals/{name}` | send a signal (JSON body; `Idempotency-Key`) |
//! | `POST /v1/workflows/{id}/cancel[?force=true]` | cancel, or terminate with `force` |
//! | `GET /v1/workflows/{id}/events/{key}[?wait=SECONDS]` | a durable event; long-polls for the first value |
//! | `POST /v1/workflows/{id}/replay` | replay the journal against a component (JSON `{"component"}` or its bytes); changes nothing |
//! | `POST /v1/workflows/{id}/upgrade` | move the workflow to a component its journal replays on |
//! | `POST /v1/schedules`, `GET /v1/schedules[?after&limit]` | create (idempotent by `id`) and list schedules |
//! | `GET /v1/schedules/{id}`, `DELETE /v1/schedules/{id}` | a schedule with its next ticks, runs and skips; delete it |
//! | `POST /v1/schedules/{id}/pause`, `…/resume`, `…/trigger` | pause or resume (JSON `{"note"}`), or start a workflow now |
//! | `GET /v1/hosts` | the live hosts on this database, with their lease counts |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document of this API |
//! | `GET /healthz` | 200 with the host's id and counters when the database answers, else 503 |
//! | `GET /metrics` | Prometheus metrics (text format 0.0.4) |
//! | `GET /`, `GET /console/{file}` | the web console ([`console`]) |
//!
//! With API tokens ([`Access`]), every route but `/healthz`, the console's
//! files (and `/metrics` unless protected) needs `Authorization: Bearer TOKEN` with a role high
//! enough for it; see [`auth`].
//!
//! Each handler carries its `#[utoipa::path]` description, and [`app`]
//! registers it with utoipa-axum's `routes!`, so a route cannot be served
//! without being in the OpenAPI document ([`openapi`]).

pub mod auth;
mod components;
pub mod console;
mod error;
mod extract;
mod metrics;
mod openapi;
mod requests;
mod schedules;
mod upgrades;
mod views;
mod waits;
mod workflows;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, State};
use tower::{BoxError, ServiceBuilder};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use auth::Access;
pub use error::Error;

use crate::runtime::Runtime;
use views::{ErrorBody, Health, HostList};

/// Size and time limits of API requests.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest component upload, in bytes (default 64 MiB).
    pub max_component_bytes: usize,
    /// Largest JSON request body (a workflow start with its input), in bytes
    /// (default 1 MiB).
    pub max_json_bytes: usize,
    /// Longest time to answer one request, reading its body included
    /// (default 30 s). A request still unanswered then is dropped and
    /// answered 503 `request_timeout`; a start or an upload may have taken
    /// effect all the same, and repeating it (with the same workflow `id`) is
    /// safe. Does not apply to the long poll of the result endpoint, which is
    /// bounded by its largest wait plus 10 s (310 s), or by this timeout if
    /// that is longer.
    pub request_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_component_bytes: 64 << 20,
            max_json_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Time the result endpoint's long poll may take beyond its largest wait
/// (300 s) to read the store and answer, before it too is answered 503
/// `request_timeout`.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);

/// What every handler can reach.
#[derive(Clone)]
struct AppState {
    runtime: Runtime,
    /// This API's OpenAPI document, served by `GET /v1/openapi.json`.
    openapi: Arc<utoipa::openapi::OpenApi>,
}

/// The API's router, guarded by `access`.
pub fn app(runtime: Runtime, limits: ApiLimits, access: Access) -> Router {
    let long_poll_timeout =
        (Duration::from_secs_f64(workflows::MAX_WAIT_SECONDS) + LONG_POLL_MARGIN).max(limits.request_timeout);
    let upload_limit = DefaultBodyLimit::max(limits.max_component_bytes);
    let long_poll = OpenApiRouter::new().routes(routes!(workflows::result)).routes(routes!(waits::event));
    let bounded = OpenApiRouter::new()
        .routes(routes!(components::push).layer(upload_limit))
        .routes(routes!(components::list))
        .routes(routes!(components::get, components::delete))
        .routes(routes!(workflows::start, workflows::list))
        .routes(routes!(workflows::counts))
        .routes(routes!(workflows::get, workflows::delete))
        .routes(routes!(workflows::journal))
        .routes(routes!(workflows::logs))
        .routes(routes!(waits::signal))
        .routes(routes!(waits::cancel))
        .routes(routes!(upgrades::replay).layer(upload_limit))
        .routes(routes!(upgrades::upgrade))
        .routes(routes!(schedules::create, schedules::list))
        .routes(routes!(schedules::get, schedules::delete))
        .routes(routes!(schedules::pause))
        .routes(routes!(schedules::resume))
        .routes(routes!(schedules::trigger))
        .routes(routes!(hosts))
        .routes(routes!(openapi::serve))
        .routes(routes!(healthz))
        .routes(routes!(metrics::scrape))
        .fallback(|| async { Error::NotFound("no such route".into()) });
    let (router, paths) = with_timeout(bounded, limits.request_timeout)
        .merge(with_timeout(long_poll, long_poll_timeout))
        .split_for_parts();
    router
        .merge(console::router())
        // After the merge, so that it reaches the long poll's route as well.
        .method_not_allowed_fallback(|| async {
            Error::MethodNotAllowed("method not allowed on this route".into())
        })
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        .layer(axum::middleware::from_fn_with_state(access, auth::authorize))
        .layer(axum::middleware::from_fn(requests::observe))
        .with_state(AppState { runtime, openapi: Arc::new(openapi::document(paths)) })
}

/// `router` with each request bounded by `limit`: a request still unanswered
/// then is dropped (its handler future with it) and answered with
/// [`Error::RequestTimeout`].
fn with_timeout(router: OpenApiRouter<AppState>, limit: Duration) -> OpenApiRouter<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                if error.is::<tower::timeout::error::Elapsed>() {
                    Error::RequestTimeout(limit)
                } else {
                    // The routes inside cannot fail (axum's `Infallible`), so
                    // the timeout is the only layer error there is.
                    Error::Layer(error)
                }
            }))
            .timeout(limit),
    )
}

/// Checks that the host can serve.
///
/// 200 with the host's id and the runtime's counters (commits, stale and
/// failed commits, retries, runs in flight, compiled components) when the
/// database answers; 503 `database_unavailable` when it does not.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses(
        (status = OK, description = "The host and its database answer.", body = Health),
        (status = SERVICE_UNAVAILABLE, description = "The database does not answer \
            (`database_unavailable`).", body = ErrorBody),
    ),
)]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    state.runtime.store().ping().await?;
    Ok(Json(Health::new(state.runtime.host(), state.runtime.stats())))
}

/// Lists the live hosts on this host's database, oldest first.
#[utoipa::path(
    get,
    path = "/v1/hosts",
    operation_id = "list_hosts",
    tag = "operations",
    responses((status = OK, description = "The live hosts.", body = HostList)),
)]
async fn hosts(State(state): State<AppState>) -> Result<Json<HostList>, Error> {
    let (hosts, this) = state.runtime.hosts().await?;
    Ok(Json(HostList::new(&hosts, &this)))
}
