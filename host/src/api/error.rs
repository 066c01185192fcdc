//! [`Error`]: every way an API request fails, and its HTTP rendering.

use std::time::Duration;

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::views::{Divergence, ErrorBody};
use crate::{runtime, store};

/// An API failure; see [`IntoResponse`] below for codes and statuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed JSON, a bad query parameter or a bad path.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No bearer token, or one the server does not know. 401, with
    /// `WWW-Authenticate: Bearer` (RFC 6750).
    #[error("{0}")]
    Unauthorized(String),
    /// The token's role is below what the route needs. 403.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown route.
    #[error("{0}")]
    NotFound(String),
    /// The workflow exists but has not set the event asked for.
    #[error("{0}")]
    EventNotFound(String),
    /// Known route, other method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request was not answered within its time limit (the duration); its
    /// handler was dropped. 503, so clients may retry.
    #[error(
        "the request was not answered within {}; it was cancelled and may be repeated",
        humantime::format_duration(*.0)
    )]
    RequestTimeout(Duration),
    /// A middleware layer failed in a way that has no variant of its own; the
    /// API's layers cannot, so this is a bug. 500.
    #[error("middleware failed: {0}")]
    Layer(tower::BoxError),
    /// A runtime operation refused.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        Self::Runtime(error.into())
    }
}

fn rejection(status: StatusCode, text: String) -> Error {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge(format!("request body is over the size limit: {text}"))
    } else {
        Error::BadRequest(text)
    }
}

/// Each axum rejection becomes [`Error::PayloadTooLarge`] or [`Error::BadRequest`]
/// with axum's own explanation.
macro_rules! from_rejections {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for Error {
            fn from(error: $rejection) -> Self {
                rejection(error.status(), error.body_text())
            }
        }
    )*};
}

from_rejections!(BytesRejection, JsonRejection, PathRejection, QueryRejection);

impl Error {
    /// The HTTP status, the stable error code, and the message for the client:
    /// the error itself, or for server-side failures a generic line that
    /// reveals no internals.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use runtime::Error as R;
        let (status, code) = match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::EventNotFound(_) => (StatusCode::NOT_FOUND, "event_not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RequestTimeout(_) => {
                return (StatusCode::SERVICE_UNAVAILABLE, "request_timeout", self.to_string());
            }
            Self::Layer(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::Runtime(error) => match error {
                R::UnknownComponent(_) => (StatusCode::NOT_FOUND, "component_not_found"),
                R::UnknownWorkflow(_) => (StatusCode::NOT_FOUND, "workflow_not_found"),
                R::InvalidWorkflowId(_) => (StatusCode::BAD_REQUEST, "invalid_workflow_id"),
                R::WorkflowIdConflict(_) => (StatusCode::CONFLICT, "workflow_id_conflict"),
                R::UnknownSchedule(_) => (StatusCode::NOT_FOUND, "schedule_not_found"),
                R::InvalidSchedule(_) => (StatusCode::BAD_REQUEST, "invalid_schedule"),
                R::ScheduleIdConflict(_) => (StatusCode::CONFLICT, "schedule_id_conflict"),
                R::ScheduleChanged(_) => (StatusCode::CONFLICT, "schedule_changed"),
                R::WorkflowNotFinal { .. } => (StatusCode::CONFLICT, "workflow_not_final"),
                R::ComponentInUse(_) => (StatusCode::CONFLICT, "component_in_use"),
                R::WorkflowEnded { .. } => (StatusCode::CONFLICT, "workflow_ended"),
                R::ReplayDiverged { .. } => (StatusCode::CONFLICT, "replay_diverged"),
                R::ReplayFailed { .. } => (StatusCode::CONFLICT, "replay_failed"),
                R::WorkflowChanged(_) => (StatusCode::CONFLICT, "workflow_changed"),
                R::InvalidComponent(_) => (StatusCode::BAD_REQUEST, "invalid_component"),
                R::NoInstanceSlot => {
                    return (StatusCode::SERVICE_UNAVAILABLE, "no_instance_slot", self.to_string());
                }
                R::ShuttingDown => {
                    return (StatusCode::SERVICE_UNAVAILABLE, "shutting_down", self.to_string());
                }
                R::Store(store_error) if store_error.is_unavailable() => {
                    let message = "the database is unavailable; try again".to_owned();
                    return (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", message);
                }
                R::Executor(_) | R::HostSide(_) | R::Engine(_) | R::Store(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            },
        };
        let message = if status.is_server_error() {
            "internal error; see the server log".to_owned()
        } else {
            self.to_string()
        };
        (status, code, message)
    }
}

impl IntoResponse for Error {
    /// [`ErrorBody`]: `{"error":{"code":"…","message":"…"}}`, with
    /// `"divergence"` (see [`Divergence`]) for `replay_diverged`. Server-side
    /// failures are logged.
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
        }
        let divergence = if let Self::Runtime(runtime::Error::ReplayDiverged { divergence, .. }) = &self {
            Some(Divergence::new(divergence))
        } else {
            None
        };
        let mut response = (status, axum::Json(ErrorBody::new(code, message, divergence))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
