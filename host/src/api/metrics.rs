//! `GET /metrics` and the count of API requests behind it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, Error};
use crate::telemetry::metrics;

/// `GET /metrics`: the host's metrics in Prometheus's text format (0.0.4),
/// the gauges read now (the workflows by status from the database). 404
/// `not_found` if the process installed no metrics recorder; the usual 503
/// `database_unavailable` when the database does not answer.
pub(super) async fn scrape(State(state): State<AppState>) -> Result<Response, Error> {
    if metrics::render().is_none() {
        return Err(Error::NotFound("this process exports no metrics".into()));
    }
    metrics::observe(&state.runtime.metrics_snapshot().await?);
    let text = metrics::render().unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// Middleware: counts each request by method, route pattern (`unmatched`
/// for no route) and status, and times it.
pub(super) async fn count_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    metrics::http_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
