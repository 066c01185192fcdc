//! Outbound `wasi:http` for activities, served by wasmtime-wasi-http under
//! the host's HTTP policy.
//!
//! An activity is not replayed, so its requests are not journaled: the
//! activity's result is. They go through the same allowlist as workflows'
//! (`--allow-http`; a refusal is `HttpRequestDenied`, and nothing is sent),
//! carry the activity call's `idempotency-key` unless the activity sets
//! one (the same on every attempt), have their connect, first-byte and
//! between-bytes timeouts clamped to the host's HTTP timeouts, and at most
//! [`MAX_REQUESTS_IN_FLIGHT`] are in flight per attempt. The attempt's own
//! timeouts bound the rest. With traces on, each carries the attempt's
//! `traceparent` unless the activity sets one. Connections are direct (no `HTTP(S)_PROXY`),
//! as workflows' are.

use std::sync::Arc;

use http_body_util::BodyExt;
use reqwest::Url;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, default_send_request};

use crate::effects::HttpClient;
use crate::effects::http::IDEMPOTENCY_KEY;
use crate::telemetry::traces::TRACEPARENT;

/// The future wasmtime-wasi-http hands to and takes from the hook.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Most requests one attempt may have in flight (until each response body
/// is read or dropped); more wait their turn.
pub(crate) const MAX_REQUESTS_IN_FLIGHT: usize = 16;

/// The hooks of one activity attempt.
pub(crate) struct ActivityHttpHooks {
    pub(crate) http: Arc<HttpClient>,
    pub(crate) idempotency_key: String,
    /// The W3C `traceparent` of the attempt's span, when traces are on.
    pub(crate) traceparent: Option<String>,
    /// [`MAX_REQUESTS_IN_FLIGHT`] permits.
    pub(crate) in_flight: Arc<Semaphore>,
}

impl WasiHttpHooks for ActivityHttpHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_io: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send> {
        let config = self.http.config();
        let admitted = Url::parse(&request.uri().to_string()).is_ok_and(|url| config.allow.admits(&url));
        if !admitted {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if !request.headers().contains_key(IDEMPOTENCY_KEY)
            && let Ok(value) = http::HeaderValue::from_str(&self.idempotency_key)
        {
            request.headers_mut().insert(IDEMPOTENCY_KEY, value);
        }
        if let Some(traceparent) = &self.traceparent
            && !request.headers().contains_key(TRACEPARENT)
            && let Ok(value) = http::HeaderValue::from_str(traceparent)
        {
            request.headers_mut().insert(TRACEPARENT, value);
        }
        let cap = |asked: Option<std::time::Duration>| {
            Some(asked.map_or(config.max_timeout, |t| t.min(config.max_timeout)))
        };
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout).map(|t| t.min(config.connect_timeout)),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        };
        let in_flight = self.in_flight.clone();
        Box::new(async move {
            let permit = in_flight.acquire_owned().await.map_err(|_| Error::ConnectionLimitReached)?;
            let (response, io) = default_send_request(request, Some(options)).await?;
            // The connection lives until `io` ends: the permit with it.
            let io = async move {
                let ended = io.await;
                drop(permit);
                ended
            };
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
        })
    }
}
