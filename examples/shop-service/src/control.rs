//! The control endpoints tests use to steer the shop and inspect it:
//! `POST`/`DELETE /faults` and `GET`/`DELETE /requests`. They are not logged
//! and faults never hit them.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::reply::Reply;
use crate::state::{Fault, FaultSpec, LogEntry, Shop};

/// `POST /faults`: arms a fault for a path; 204, or 400 for a bad body.
pub(crate) async fn set_fault(State(shop): State<Arc<Shop>>, body: Bytes) -> Result<StatusCode, Reply> {
    let bad = |message: String| Reply::error(StatusCode::BAD_REQUEST, message);
    let spec: FaultSpec = serde_json::from_slice(&body).map_err(|e| bad(format!("invalid fault: {e}")))?;
    if !spec.path.starts_with('/') {
        return Err(bad(format!("fault path {:?} does not start with /", spec.path)));
    }
    let status = spec
        .status
        .map(|code| StatusCode::from_u16(code).map_err(|_| bad(format!("invalid fault status {code}"))))
        .transpose()?;
    let fault = Fault {
        status,
        retry_after_secs: spec.retry_after_secs,
        delay: Duration::from_millis(spec.delay_ms.unwrap_or(0)),
    };
    shop.set_fault(spec.path, fault, spec.times);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /faults`: disarms all faults; 204.
pub(crate) async fn clear_faults(State(shop): State<Arc<Shop>>) -> StatusCode {
    shop.clear_faults();
    StatusCode::NO_CONTENT
}

/// Query of `GET /requests`.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestsQuery {
    /// Only list requests to this path.
    path: Option<String>,
}

/// `GET /requests[?path=/p]`: the request log in arrival order.
pub(crate) async fn list_requests(
    State(shop): State<Arc<Shop>>,
    Query(query): Query<RequestsQuery>,
) -> Json<Vec<LogEntry>> {
    Json(shop.requests(query.path.as_deref()))
}

/// `DELETE /requests`: empties the request log; 204.
pub(crate) async fn clear_requests(State(shop): State<Arc<Shop>>) -> StatusCode {
    shop.clear_requests();
    StatusCode::NO_CONTENT
}
