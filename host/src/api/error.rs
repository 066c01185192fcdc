//! [`Error`]: every way an API request fails, and its HTTP rendering.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{executor, runtime, store};

/// An API failure; see [`IntoResponse`] below for codes and statuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed JSON, a bad query parameter or a bad path.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Unknown route.
    #[error("{0}")]
    NotFound(String),
    /// Known route, other method.
    #[error("{0}")]
    MethodNotAllowed(String),
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
    /// The HTTP status and the stable error code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use runtime::Error as R;
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Runtime(error) => match error {
                R::UnknownComponent(_) => (StatusCode::NOT_FOUND, "component_not_found"),
                R::UnknownWorkflow(_) => (StatusCode::NOT_FOUND, "workflow_not_found"),
                R::InvalidWorkflowId(_) => (StatusCode::BAD_REQUEST, "invalid_workflow_id"),
                R::WorkflowIdConflict(_) => (StatusCode::CONFLICT, "workflow_id_conflict"),
                R::Executor(executor::Error::NoInstanceSlot) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "no_instance_slot")
                }
                R::Executor(_) => (StatusCode::BAD_REQUEST, "invalid_component"),
                R::Engine(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                R::Store(store_error) if store_error.is_unavailable() => {
                    (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
                }
                R::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
        }
    }
}

impl IntoResponse for Error {
    /// `{"error":{"code":"…","message":"…"}}`. Server-side failures are logged
    /// and answered with a generic message that reveals no internals.
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            match code {
                "database_unavailable" => "the database is unavailable; try again".to_owned(),
                "no_instance_slot" => "every instance slot is busy; try again".to_owned(),
                _ => "internal error; see the server log".to_owned(),
            }
        } else {
            self.to_string()
        };
        (status, axum::Json(json!({ "error": { "code": code, "message": message } }))).into_response()
    }
}
