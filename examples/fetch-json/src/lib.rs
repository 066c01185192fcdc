//! An activity (the `duro:workflow/activity` world) that GETs a URL with
//! plain `wasi:http` and returns the JSON it answers.
//!
//! Input: `{"url": "http://…"}`. Output: `{"status": 200, "body": <JSON>}`.
//! A transport failure or a refusal by the host's allowlist is an error of
//! type `http`; a body that is not JSON, of type `not-json` (not retried).
//! The host adds the activity call's `idempotency-key` to the request.

#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "activity" });
}

use bindings::duro::workflow::types::ActivityError;
use serde_json::{Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// Largest body read, in bytes.
const MAX_BODY_BYTES: usize = 4 << 20;

struct FetchJson;

fn error(type_name: &str, message: String, non_retryable: bool) -> ActivityError {
    ActivityError {
        type_name: type_name.to_owned(),
        message,
        non_retryable,
        details: None,
        next_retry_delay_ms: None,
    }
}

impl bindings::Guest for FetchJson {
    fn run(input: String) -> Result<String, ActivityError> {
        let input: Value =
            serde_json::from_str(&input).map_err(|e| error("bad-input", e.to_string(), true))?;
        let url = input["url"].as_str().ok_or_else(|| error("bad-input", "no url".into(), true))?;
        let (status, body) = get(url)?;
        let body: Value =
            serde_json::from_slice(&body).map_err(|e| error("not-json", e.to_string(), true))?;
        Ok(json!({ "status": status, "body": body }).to_string())
    }
}

/// GETs `url`: the status and the whole body.
fn get(url: &str) -> Result<(u16, Vec<u8>), ActivityError> {
    let invalid = |what: &str| error("bad-input", format!("{what} in {url:?}"), true);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(invalid("an unknown scheme")),
    };
    request.set_method(&Method::Get).map_err(|()| invalid("a bad method"))?;
    request.set_scheme(Some(&scheme)).map_err(|()| invalid("a bad scheme"))?;
    request.set_authority(Some(authority)).map_err(|()| invalid("a bad authority"))?;
    request.set_path_with_query(Some(path)).map_err(|()| invalid("a bad path"))?;
    let body = request.body().map_err(|()| invalid("no body"))?;
    OutgoingBody::finish(body, None).map_err(|e| error("http", format!("{e:?}"), false))?;
    let pending =
        outgoing_handler::handle(request, None).map_err(|e| error("http", format!("{e:?}"), false))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(error("http", format!("{code:?}"), false)),
        Some(Err(())) | None => return Err(error("http", "no response".into(), false)),
    };
    let status = response.status();
    let incoming = response.consume().map_err(|()| error("http", "no body".into(), false))?;
    let stream = incoming.stream().map_err(|()| error("http", "no body stream".into(), false))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(error("http", e.to_debug_string(), false));
            }
        }
        if bytes.len() > MAX_BODY_BYTES {
            return Err(error("too-large", format!("the body is over {MAX_BODY_BYTES} bytes"), true));
        }
    }
    drop(stream);
    IncomingBody::finish(incoming);
    Ok((status, bytes))
}

bindings::export!(FetchJson with_types_in bindings);
