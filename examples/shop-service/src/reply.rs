//! [`Reply`]: an answer of the shop kept as plain data (status and JSON body),
//! so it can be logged, stored for idempotent replay and sent again unchanged.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Header set on an answer replayed for a repeated `Idempotency-Key`, as
/// Stripe does; the status and body are those of the first answer.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A status and JSON body, plus the few headers the shop ever sets.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The JSON body.
    pub(crate) body: Value,
    /// `Retry-After` in seconds, for injected faults that ask for it.
    retry_after_secs: Option<u64>,
    /// Whether this is a stored answer sent again for a repeated key.
    replayed: bool,
}

impl Reply {
    /// A `200 OK` with `body`.
    pub(crate) fn ok(body: Value) -> Self {
        Self::new(StatusCode::OK, body)
    }

    /// An error answer: `status` with body `{"error": message}`.
    pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, json!({ "error": message.into() }))
    }

    /// The answer to a request hit by an injected fault.
    pub(crate) fn injected(status: StatusCode, retry_after_secs: Option<u64>) -> Self {
        Self { retry_after_secs, ..Self::error(status, "injected fault") }
    }

    /// This stored answer, marked as replayed.
    pub(crate) fn replay(&self) -> Self {
        Self { replayed: true, ..self.clone() }
    }

    /// Whether the answer is a success (2xx), the only kind stored for replay.
    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body, retry_after_secs: None, replayed: false }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.replayed {
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}
