//! The HTTP API: JSON over HTTP/1.1, built with axum.
//!
//! [`app`] builds the whole router from a [`Runtime`], so tests and `duro
//! serve` serve the same thing. Handlers are small: extractors parse, the
//! runtime and the store do the work, `views` turn records into JSON, and
//! every failure is an [`Error`] rendered as
//! `{"error":{"code":"…","message":"…"}}` with a fitting status.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/components[?name=N]` | store a component (body: its bytes) |
//! | `GET /v1/components`, `GET /v1/components/{digest-or-name}` | components |
//! | `POST /v1/workflows` | start a workflow (idempotent by `id`) |
//! | `GET /v1/workflows[?status&component&limit&cursor]` | workflows, newest first |
//! | `GET /v1/workflows/{id}` | one workflow |
//! | `GET /v1/workflows/{id}/result[?wait=SECONDS]` | 200 once final, else 202 |
//! | `GET /v1/workflows/{id}/journal[?after&limit]` | journal entries as JSON |
//! | `GET /v1/workflows/{id}/logs[?after&limit]` | log lines |
//! | `GET /healthz` | 200 when the database answers, else 503 |

mod components;
mod error;
mod extract;
mod views;
mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::Error;

use crate::runtime::Runtime;

/// Size limits of API requests.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest component upload, in bytes (default 64 MiB).
    pub max_component_bytes: usize,
    /// Largest JSON request body (a workflow start with its input), in bytes
    /// (default 1 MiB).
    pub max_json_bytes: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self { max_component_bytes: 64 << 20, max_json_bytes: 1 << 20 }
    }
}

/// What every handler can reach.
#[derive(Clone)]
struct AppState {
    runtime: Runtime,
}

/// The API's router.
pub fn app(runtime: Runtime, limits: ApiLimits) -> Router {
    Router::new()
        .route(
            "/v1/components",
            post(components::push)
                .layer(DefaultBodyLimit::max(limits.max_component_bytes))
                .get(components::list),
        )
        .route("/v1/components/{key}", get(components::get))
        .route("/v1/workflows", post(workflows::start).get(workflows::list))
        .route("/v1/workflows/{id}", get(workflows::get))
        .route("/v1/workflows/{id}/result", get(workflows::result))
        .route("/v1/workflows/{id}/journal", get(workflows::journal))
        .route("/v1/workflows/{id}/logs", get(workflows::logs))
        .route("/healthz", get(healthz))
        .fallback(|| async { Error::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            Error::MethodNotAllowed("method not allowed on this route".into())
        })
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        .with_state(AppState { runtime })
}

/// `GET /healthz`: `{"status":"ok"}` when the database answers, the usual
/// 503 `database_unavailable` error when it does not.
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    state.runtime.store().ping().await?;
    Ok(axum::Json(serde_json::json!({ "status": "ok" })))
}
