//! The path every shop request takes, whatever its method and path:
//!
//! 1. log its arrival (status `null` for now) and take the fault that hits it;
//! 2. wait out the fault's delay, then answer the fault's status if it has one;
//! 3. route it to its endpoint (or answer 404/405);
//! 4. answer it, replaying the stored answer for a repeated `Idempotency-Key`;
//! 5. fill the answered status into its log entry.
//!
//! Requests whose caller goes away during the delay are dropped there, so
//! their log entry keeps status `null` and they create nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};

use crate::endpoints::Endpoint;
use crate::reply::Reply;
use crate::state::{Fault, Shop};

/// The idempotency header; header names are matched case-insensitively.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Handles any request that is not for a control endpoint.
pub(crate) async fn handle(
    State(shop): State<Arc<Shop>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let path = uri.path();
    let key = header_text(&headers, &IDEMPOTENCY_KEY);
    let authorization = header_text(&headers, &header::AUTHORIZATION);
    let traceparent = header_text(&headers, &HeaderName::from_static("traceparent"));
    let (seq, fault) = shop.arrive(method.as_str(), path, key.clone(), authorization, traceparent);
    let reply = respond(&shop, &method, path, key.as_deref(), &body, fault).await;
    shop.finish(seq, reply.status);
    reply
}

async fn respond(
    shop: &Shop,
    method: &Method,
    path: &str,
    key: Option<&str>,
    body: &[u8],
    fault: Option<Fault>,
) -> Reply {
    if let Some(fault) = fault {
        if !fault.delay.is_zero() {
            tokio::time::sleep(fault.delay).await;
        }
        if let Some(status) = fault.status {
            return Reply::injected(status, fault.retry_after_secs);
        }
    }
    let endpoint = match Endpoint::route(method, path) {
        Ok(endpoint) => endpoint,
        Err(reply) => return reply,
    };
    let key = if endpoint.replays() { key } else { None };
    shop.answer(path, key, |ids| endpoint.serve(body, ids))
}

/// A header's value as text (lossily, should it not be UTF-8), if present.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers.get(name).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}
