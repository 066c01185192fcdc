//! What every API request leaves behind: a span (a child of the caller's
//! span when the request carries a W3C `traceparent`) and its count and
//! duration in the metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::telemetry::{metrics, traces};

/// Middleware: runs the request in an `http.request` span (at `debug`, as
/// tower-http's, so that it costs nothing unless traces are exported), and
/// counts it by method, route pattern (`unmatched` for no route) and status.
pub(super) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let span = tracing::debug_span!("http.request", http.method = %method, http.route = %route);
    let caller = request.headers().get(traces::TRACEPARENT).and_then(|value| value.to_str().ok());
    traces::set_parent(&span, caller);
    let response = next.run(request).instrument(span).await;
    metrics::http_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
