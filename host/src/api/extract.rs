//! Extractors whose rejections are [`Error`]s, so that a malformed path,
//! query or body gets the API's error shape like every other failure.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::Error;

/// [`Path`] with [`Error`] as rejection.
pub(super) struct ApiPath<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Ok(Self(Path::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// [`Query`] with [`Error`] as rejection.
pub(super) struct ApiQuery<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Ok(Self(Query::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// [`Json`] with [`Error`] as rejection.
pub(super) struct ApiJson<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        Ok(Self(Json::<T>::from_request(request, state).await?.0))
    }
}
