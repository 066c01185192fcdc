//! `GET /metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::views::ErrorBody;
use super::{AppState, Error};
use crate::telemetry::metrics;

/// Exports the host's metrics for Prometheus.
///
/// The text format (0.0.4), with the gauges read now (the workflows by
/// status from the database). 404 `not_found` if the process installed no
/// metrics recorder; the usual 503 `database_unavailable` when the database
/// does not answer.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = OK, description = "The metrics, in Prometheus's text format 0.0.4.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = UNAUTHORIZED, description = "With `--protect-metrics`: no API token, or not a valid one.",
            body = ErrorBody),
        (status = NOT_FOUND, description = "This process exports no metrics (`not_found`).", body = ErrorBody),
    ),
)]
pub(super) async fn scrape(State(state): State<AppState>) -> Result<Response, Error> {
    if metrics::render().is_none() {
        return Err(Error::NotFound("this process exports no metrics".into()));
    }
    metrics::observe(&state.runtime.metrics_snapshot().await?);
    let text = metrics::render().unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}
