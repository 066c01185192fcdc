//! Outbound HTTP for workflows: one attempt of one request, bounded in time
//! and bytes, through the operator's allowlist, with the idempotency key
//! added; and the journaled form of a request, with credentials redacted.
//!
//! The client never follows redirects (a 3xx is a response like any other,
//! and a new request is a new journal entry with its own allowlist check) and
//! buffers whole bodies under caps, since the journal records a response as
//! one entry.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use super::allowlist::Allowlist;
use crate::journal::{FieldValue, HttpCall, HttpError, HttpResponse, RetryPolicy};

/// The header that carries an effect's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Headers whose values are always journaled as a digest.
pub const REDACTED_BY_DEFAULT: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Headers the host sets itself; a request that sets one is invalid.
const HOST_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

/// Most bytes of request header names and values together, with
/// [`HEADER_OVERHEAD_BYTES`] per header.
const MAX_REQUEST_HEADER_BYTES: usize = 64 << 10;
/// Bytes a header costs besides its name and value (in the journal, length
/// prefixes and a variant tag; in memory, more).
const HEADER_OVERHEAD_BYTES: usize = 16;
/// Longest URL, in bytes (browsers and servers commonly stop near 8 KiB).
const MAX_URL_BYTES: usize = 8 << 10;
/// Longest method, in bytes.
const MAX_METHOD_BYTES: usize = 32;
/// Longest error message journaled, in bytes.
const MAX_MESSAGE_BYTES: usize = 1 << 10;

/// Limits and policy of outbound HTTP.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Destinations workflows may reach (default: none).
    pub allow: Allowlist,
    /// Header names (lower case) journaled as a digest besides
    /// [`REDACTED_BY_DEFAULT`].
    pub redact_headers: Vec<String>,
    /// Largest request body, in bytes (default 1 MiB).
    pub max_request_body_bytes: u64,
    /// Largest response body, in bytes (default 16 MiB).
    pub max_response_bytes: u64,
    /// Longest attempt, connecting to reading the whole response, and the
    /// timeout of an attempt that names none (default 60 s).
    pub max_timeout: Duration,
    /// Longest wait for a connection (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allow: Allowlist::default(),
            redact_headers: Vec::new(),
            max_request_body_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            max_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A request as the guest gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The per-attempt timeout asked for, in ms.
    pub timeout_ms: Option<u64>,
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// Sends workflows' requests; shared by all runs.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
}

impl HttpClient {
    /// A client applying `config`.
    ///
    /// # Errors
    /// [`ClientError`] if the TLS backend cannot be initialised.
    pub fn new(config: HttpConfig) -> Result<Self, ClientError> {
        // Direct connections: the allowlist names the destinations.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.max_timeout)
            .build()?;
        Ok(Self { client, config })
    }

    /// The limits and policy this client applies.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The journaled form of `request` for `workflow_id`: header names lower
    /// case, credentials replaced by a digest, the body by its length and
    /// digest, credentials in the URL (which [`Self::send`] refuses) cut out.
    ///
    /// While replaying, `recorded` is the call journaled at this position: a
    /// header journaled there in clear (or as a digest) is shaped the same
    /// way here when it is the same header, so changing `--redact-header`
    /// does not make workflows in flight diverge; the digest still tells a
    /// changed value.
    pub fn journaled(
        &self,
        workflow_id: &str,
        request: &Request,
        retry: Option<RetryPolicy>,
        recorded: Option<&HttpCall>,
    ) -> HttpCall {
        let headers = request
            .headers
            .iter()
            .enumerate()
            .map(|(index, (name, value))| {
                let name = name.to_ascii_lowercase();
                let was = recorded.and_then(|call| call.headers.get(index)).filter(|(was, _)| *was == name);
                let redact = match was {
                    Some((_, FieldValue::Clear(_))) => false,
                    Some((_, FieldValue::Sha256(_))) => true,
                    None => self.redacts(&name),
                };
                let value = if redact {
                    FieldValue::Sha256(redacted_digest(workflow_id, &name, value))
                } else {
                    FieldValue::Clear(value.clone())
                };
                (name, value)
            })
            .collect();
        HttpCall {
            method: request.method.clone(),
            url: without_credentials(&request.url),
            headers,
            body_len: request.body.as_ref().map(|body| body.len() as u64),
            body_sha256: Sha256::digest(request.body.as_deref().unwrap_or_default()).into(),
            timeout_ms: request.timeout_ms,
            retry,
        }
    }

    /// Checks that `request` is within the sizes the host handles at all: a
    /// method of at most 32 bytes, a URL of at most 8 KiB, headers of at most
    /// 64 KiB (each counted with 16 bytes of overhead). Checked before the
    /// host copies the request, so the copies stay small.
    ///
    /// # Errors
    /// A message naming the limit; the workflow fails with it.
    pub fn check_size(request: &Request) -> Result<(), String> {
        if request.method.len() > MAX_METHOD_BYTES {
            return Err(format!(
                "the HTTP method is {} bytes; the limit is {MAX_METHOD_BYTES}",
                request.method.len()
            ));
        }
        if request.url.len() > MAX_URL_BYTES {
            return Err(format!("the URL is {} bytes; the limit is {MAX_URL_BYTES}", request.url.len()));
        }
        let header_bytes = header_bytes(&request.headers);
        if header_bytes > MAX_REQUEST_HEADER_BYTES {
            return Err(format!(
                "the request headers are {header_bytes} bytes (16 per header included); the limit is \
                 {MAX_REQUEST_HEADER_BYTES}"
            ));
        }
        Ok(())
    }

    /// Whether values of header `name` (lower case) are journaled as a digest.
    pub fn redacts(&self, name: &str) -> bool {
        REDACTED_BY_DEFAULT.contains(&name)
            || self.config.redact_headers.iter().any(|redacted| redacted == name)
    }

    /// Checks `request` and sends it once, adding `idempotency-key: key`
    /// unless it sets that header, and reads the whole response: at most the
    /// host's response cap or `room` bytes (of headers and body), whichever
    /// is smaller. `room` is what the journal can still take.
    ///
    /// # Errors
    /// [`HttpError::InvalidRequest`] or [`HttpError::TooLarge`] for a
    /// request that breaks the rules, [`HttpError::Denied`] for a
    /// destination outside the allowlist (nothing is sent then), and
    /// [`HttpError::Timeout`], [`HttpError::Connection`] or
    /// [`HttpError::ResponseTooLarge`] for what happened on the wire.
    pub async fn send(&self, request: &Request, key: &str, room: u64) -> Result<HttpResponse, HttpError> {
        let (method, url, headers) = self.check(request)?;
        let mut headers = headers;
        if !headers.contains_key(IDEMPOTENCY_KEY) {
            let value = HeaderValue::from_str(key).map_err(|_| {
                HttpError::InvalidRequest(format!("idempotency key {key:?} is not a header value"))
            })?;
            headers.insert(IDEMPOTENCY_KEY, value);
        }
        let timeout = request
            .timeout_ms
            .map_or(self.config.max_timeout, |ms| Duration::from_millis(ms).min(self.config.max_timeout));
        // The attempt's trace context, added here and never journaled, and
        // never over a `traceparent` the workflow set itself.
        if let Some((name, value)) = crate::telemetry::traces::inject()
            && !headers.contains_key(name)
            && let Ok(value) = reqwest::header::HeaderValue::from_str(&value)
        {
            headers.insert(name, value);
        }
        let mut builder = self.client.request(method, url).headers(headers).timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let cap = self.config.max_response_bytes;
        let too_large = || {
            HttpError::ResponseTooLarge(if room < cap {
                format!(
                    "the response is over {room} bytes, the room left in the workflow's journal \
                     (duro serve --max-entry-bytes, --max-journal-mib)"
                )
            } else {
                format!(
                    "the response is over the host's limit of {cap} bytes (duro serve --max-http-response-mib)"
                )
            })
        };
        let limit = cap.min(room);
        let exchange = async {
            let mut response = builder.send().await.map_err(wire_error)?;
            let status = response.status().as_u16();
            let headers: Vec<(String, ByteBuf)> = response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), ByteBuf::from(value.as_bytes())))
                .collect();
            let mut size = header_bytes(&headers) as u64;
            if size > limit {
                return Err(too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(wire_error)? {
                size += chunk.len() as u64;
                if size > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, headers, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout(format!("no whole response within {} ms", timeout.as_millis()))),
        }
    }

    /// The method, URL and headers of `request`, or why it may not be sent.
    fn check(&self, request: &Request) -> Result<(reqwest::Method, Url, HeaderMap), HttpError> {
        let invalid = |message: String| Err(HttpError::InvalidRequest(bounded(message)));
        let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
            Ok(method) => method,
            Err(_) => return invalid(format!("{:?} is not an HTTP method", request.method)),
        };
        let url = match Url::parse(&request.url) {
            Ok(url) => url,
            Err(error) => return invalid(format!("{:?} is not an absolute URL: {error}", request.url)),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return invalid(format!("scheme {:?} is not http or https", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return invalid(
                "the URL carries credentials, which would be journaled in clear; send them in the \
                 authorization header, which is journaled as a digest"
                    .into(),
            );
        }
        if !self.config.allow.admits(&url) {
            return Err(HttpError::Denied(format!(
                "{} is not in the host's allowlist (duro serve --allow-http)",
                url.host_str().unwrap_or_default()
            )));
        }
        let body_len = request.body.as_ref().map_or(0, Vec::len) as u64;
        if body_len > self.config.max_request_body_bytes {
            return Err(HttpError::TooLarge(format!(
                "the request body is {body_len} bytes; the limit is {} bytes",
                self.config.max_request_body_bytes
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                return invalid(format!("{name:?} is not a header name"));
            };
            if HOST_HEADERS.contains(&header.as_str()) {
                return invalid(format!("the host sets the {header} header itself"));
            }
            // The value is not quoted: it may be a credential.
            let Ok(value) = HeaderValue::from_bytes(value) else {
                return invalid(format!("the value of header {header} is not a valid header value"));
            };
            headers.append(header, value);
        }
        Ok((method, url, headers))
    }
}

/// The error type of an attempt's result for a retry policy, if the result
/// may be retried at all: transport failures, 5xx and 429. Refusals and
/// other statuses are final.
pub fn retryable_type(result: &Result<HttpResponse, HttpError>) -> Option<String> {
    match result {
        Ok(response) if response.status >= 500 || response.status == 429 => {
            Some(format!("status-{}", response.status))
        }
        Ok(_) => None,
        Err(error @ (HttpError::Timeout(_) | HttpError::Connection(_))) => Some(error.type_name().to_owned()),
        Err(
            HttpError::Denied(_)
            | HttpError::TooLarge(_)
            | HttpError::InvalidRequest(_)
            | HttpError::ResponseTooLarge(_),
        ) => None,
    }
}

/// A 429 or 503 response's `retry-after`, if given in seconds (capped at a
/// day): the earliest time the server asks to be called again.
pub fn retry_after(result: &Result<HttpResponse, HttpError>) -> Option<Duration> {
    let Ok(response) = result else { return None };
    if response.status != 429 && response.status != 503 {
        return None;
    }
    let (_, value) = response.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?;
    let seconds: u64 = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(24 * 60 * 60)))
}

/// Bytes of `headers` counted against [`MAX_REQUEST_HEADER_BYTES`].
fn header_bytes<V: AsRef<[u8]>>(headers: &[(String, V)]) -> usize {
    headers.iter().map(|(name, value)| name.len() + value.as_ref().len() + HEADER_OVERHEAD_BYTES).sum()
}

/// `url` with any user name and password cut out, for the journal.
pub fn without_credentials(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Setting these fails only for URLs that cannot have credentials.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

/// `message` cut to [`MAX_MESSAGE_BYTES`].
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        message.truncate(message.floor_char_boundary(MAX_MESSAGE_BYTES));
        message.push_str(" [truncated]");
    }
    message
}

/// SHA-256 of a redacted header: keyed by the workflow id and the header
/// name, so equal secrets in different workflows do not share a digest.
fn redacted_digest(workflow_id: &str, name: &str, value: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [workflow_id.as_bytes(), name.as_bytes(), value] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    digest.finalize().into()
}

/// A transport failure as the guest sees it. reqwest's messages name the
/// URL, never header values.
fn wire_error(error: reqwest::Error) -> HttpError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let message = bounded(message);
    if error.is_timeout() {
        HttpError::Timeout(message)
    } else if error.is_builder() {
        HttpError::InvalidRequest(message)
    } else {
        HttpError::Connection(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn client(allow: &[&str]) -> Result<HttpClient, Box<dyn std::error::Error>> {
        let allow = Allowlist::new(allow.iter().map(|p| p.parse()).collect::<Result<_, _>>()?);
        let config = HttpConfig { allow, redact_headers: vec!["x-api-key".into()], ..HttpConfig::default() };
        Ok(HttpClient::new(config)?)
    }

    fn request(url: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".into(),
            url: url.into(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec())).collect(),
            body: Some(b"{}".to_vec()),
            timeout_ms: None,
        }
    }

    #[test]
    fn credentials_are_journaled_as_digests_that_still_compare() -> TestResult {
        let client = client(&[])?;
        let secret = [("Authorization", "Bearer s3cret"), ("X-Api-Key", "k3y"), ("Accept", "text/plain")];
        let call = client.journaled("wf-1", &request("http://a/", &secret), None, None);
        let names: Vec<&str> = call.headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["authorization", "x-api-key", "accept"]);
        assert!(matches!(call.headers[0].1, FieldValue::Sha256(_)));
        assert!(matches!(call.headers[1].1, FieldValue::Sha256(_)));
        assert_eq!(call.headers[2].1, FieldValue::Clear(b"text/plain".to_vec()));
        let encoded = crate::journal::codec::encode(
            &crate::journal::Call::Http { request: Box::new(call.clone()), attempt: 1 },
            &crate::journal::Outcome::Time { ns: 0 },
        );
        assert!(!encoded.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(call, client.journaled("wf-1", &request("http://a/", &secret), None, None));
        let other = [("Authorization", "Bearer other"), ("X-Api-Key", "k3y"), ("Accept", "text/plain")];
        assert_ne!(call, client.journaled("wf-1", &request("http://a/", &other), None, None));
        assert_ne!(call, client.journaled("wf-2", &request("http://a/", &secret), None, None));
        Ok(())
    }

    #[test]
    fn a_header_is_shaped_as_recorded_so_changing_redaction_keeps_replay() -> TestResult {
        let headers = [("x-api-key", "k3y"), ("x-trace", "t1")];
        let before = client(&[])?.journaled("wf", &request("http://a/", &headers), None, None);
        // Now x-trace is redacted too, and x-api-key no longer is.
        let config = HttpConfig { redact_headers: vec!["x-trace".into()], ..HttpConfig::default() };
        let after = HttpClient::new(config)?;
        assert_ne!(after.journaled("wf", &request("http://a/", &headers), None, None), before);
        assert_eq!(after.journaled("wf", &request("http://a/", &headers), None, Some(&before)), before);
        let changed = [("x-api-key", "other"), ("x-trace", "t1")];
        assert_ne!(after.journaled("wf", &request("http://a/", &changed), None, Some(&before)), before);
        Ok(())
    }

    #[test]
    fn credentials_in_the_url_are_not_journaled() -> TestResult {
        let call = client(&[])?.journaled("wf", &request("http://user:pw@a.example/x", &[]), None, None);
        assert_eq!(call.url, "http://a.example/x");
        Ok(())
    }

    #[test]
    fn oversize_methods_urls_and_headers_are_refused_before_copying() {
        assert!(HttpClient::check_size(&request("http://a/", &[("a", "b")])).is_ok());
        let long_url = format!("http://a/{}", "x".repeat(MAX_URL_BYTES));
        assert!(HttpClient::check_size(&request(&long_url, &[])).is_err());
        let many: Vec<(String, Vec<u8>)> = (0..5_000).map(|_| (String::new(), Vec::new())).collect();
        assert!(HttpClient::check_size(&Request { headers: many, ..request("http://a/", &[]) }).is_err());
        let method = Request { method: "X".repeat(33), ..request("http://a/", &[]) };
        assert!(HttpClient::check_size(&method).is_err());
    }

    #[tokio::test]
    async fn requests_outside_the_allowlist_or_malformed_are_refused_before_sending() -> TestResult {
        let client = client(&["allowed.example"])?;
        let cases: [(Request, &str); 6] = [
            (request("http://denied.example/", &[]), "denied"),
            (request("ftp://allowed.example/", &[]), "invalid-request"),
            (request("http://user:pw@allowed.example/", &[]), "invalid-request"),
            (request("/relative", &[]), "invalid-request"),
            (request("http://allowed.example/", &[("Host", "x")]), "invalid-request"),
            (
                Request { method: "BAD METHOD".into(), ..request("http://allowed.example/", &[]) },
                "invalid-request",
            ),
        ];
        for (request, expected) in cases {
            let error = client.send(&request, "wf/0", u64::MAX).await.err().ok_or("sent")?;
            assert_eq!(error.type_name(), expected, "{request:?}: {error}");
        }
        let big = Request { body: Some(vec![0; (1 << 20) + 1]), ..request("http://allowed.example/", &[]) };
        let error = client.send(&big, "wf/0", u64::MAX).await.err().ok_or("sent")?;
        assert_eq!(error.type_name(), "too-large");
        Ok(())
    }

    #[test]
    fn only_transport_failures_5xx_and_429_are_retryable() {
        let response = |status| Ok(HttpResponse { status, headers: Vec::new(), body: Vec::new() });
        assert_eq!(retryable_type(&response(503)).as_deref(), Some("status-503"));
        assert_eq!(retryable_type(&response(429)).as_deref(), Some("status-429"));
        assert_eq!(retryable_type(&response(404)), None);
        assert_eq!(retryable_type(&Err(HttpError::Timeout(String::new()))).as_deref(), Some("timeout"));
        assert_eq!(retryable_type(&Err(HttpError::Denied(String::new()))), None);
    }

    #[test]
    fn retry_after_in_seconds() {
        let response = |status, value: &str| {
            Ok(HttpResponse {
                status,
                headers: vec![("retry-after".into(), ByteBuf::from(value.as_bytes()))],
                body: Vec::new(),
            })
        };
        assert_eq!(retry_after(&response(429, "7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&response(429, "Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&response(500, "7")), None);
    }
}
