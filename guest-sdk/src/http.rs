//! Journaled outbound HTTP: [`Request`] builds a request, [`Request::send`]
//! sends it through the host.
//!
//! The host sends the request, journals the response and only then hands it
//! back; on replay the recorded response is returned and nothing is sent.
//! A request can still reach the server more than once (the host may crash
//! while it is in flight), so the host adds `idempotency-key: <workflow
//! id>/<seq>`, the same on every attempt and re-execution, unless the
//! request sets that header. The operator decides which destinations are
//! allowed (`duro serve --allow-http`); others fail with [`Error::Denied`].
//!
//! ```no_run
//! use duro_sdk::RetryPolicy;
//! use duro_sdk::http::Request;
//!
//! # fn charge() -> Result<(), Box<dyn std::error::Error>> {
//! let response = Request::post("https://payments.example.com/charge")
//!     .json(&serde_json::json!({ "amount_cents": 1299 }))?
//!     .retry(RetryPolicy::attempts(5))
//!     .send()?;
//! if response.is_success() {
//!     let receipt: serde_json::Value = response.json()?;
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use crate::__private::bindings::duro::workflow::http;
use crate::RetryPolicy;

/// An outgoing request; build it, then [`send`](Self::send) it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Longest wait for one attempt; `None` means the host's cap (60 s by default).
    pub timeout: Option<Duration>,
    /// How the host retries connection errors, timeouts, 5xx and 429;
    /// `None` means the first answer is final.
    pub retry: Option<RetryPolicy>,
}

impl Request {
    /// A request with `method` to `url`, with no headers or body.
    #[must_use]
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            retry: None,
        }
    }

    /// A `GET` request.
    #[must_use]
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    #[must_use]
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    ///
    /// # Errors
    /// If `value` cannot be serialized.
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sets the per-attempt timeout (whole ms).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Sends the request through the host and returns the response of the
    /// last attempt, whatever its status.
    ///
    /// # Errors
    /// [`Error`] when no response came back.
    pub fn send(self) -> Result<Response, Error> {
        let request = http::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        };
        let retry = self.retry.as_ref().map(RetryPolicy::to_wit);
        match http::send(&request, retry.as_ref()) {
            Ok(response) => {
                Ok(Response { status: response.status, headers: response.headers, body: response.body })
            }
            Err(http::Error::Denied(message)) => Err(Error::Denied(message)),
            Err(http::Error::Timeout(message)) => Err(Error::Timeout(message)),
            Err(http::Error::Connection(message)) => Err(Error::Connection(message)),
            Err(http::Error::TooLarge(message)) => Err(Error::TooLarge(message)),
            Err(http::Error::InvalidRequest(message)) => Err(Error::InvalidRequest(message)),
            Err(http::Error::ResponseTooLarge(message)) => Err(Error::ResponseTooLarge(message)),
        }
    }
}

/// A response, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_slice())
    }

    /// The body as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// If the body is not JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The destination is not in the host's allowlist; nothing was sent.
    Denied(String),
    /// The attempt took longer than its timeout.
    Timeout(String),
    /// No connection, or it broke before the whole response arrived.
    Connection(String),
    /// The request is over a size cap; nothing was sent.
    TooLarge(String),
    /// The request is malformed: bad method, URL, header or scheme.
    InvalidRequest(String),
    /// The request was sent, but the response is over the host's cap or
    /// does not fit the journal.
    ResponseTooLarge(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, message) = match self {
            Self::Denied(message) => ("denied", message),
            Self::Timeout(message) => ("timeout", message),
            Self::Connection(message) => ("connection", message),
            Self::TooLarge(message) => ("too large", message),
            Self::InvalidRequest(message) => ("invalid request", message),
            Self::ResponseTooLarge(message) => ("response too large", message),
        };
        write!(f, "HTTP request failed ({kind}): {message}")
    }
}

impl std::error::Error for Error {}
