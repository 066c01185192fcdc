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

use crate::{RetryPolicy, backend};

/// An outgoing request; build it, then [`send`](Self::send) it.
///
/// ```no_run
/// # fn f() -> Result<(), duro_sdk::http::Error> {
/// let response = duro_sdk::http::Request::get("https://example.com/").send()?;
/// # Ok(())
/// # }
/// ```
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
    ///
    /// ```
    /// let request = duro_sdk::http::Request::new("DELETE", "https://shop.example/carts/7");
    /// ```
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
    ///
    /// ```
    /// let request = duro_sdk::http::Request::get("https://shop.example/stock");
    /// ```
    #[must_use]
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    ///
    /// ```
    /// let request = duro_sdk::http::Request::post("https://shop.example/orders");
    /// ```
    #[must_use]
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    ///
    /// ```
    /// let request = duro_sdk::http::Request::get("https://api.example/").header("authorization", "Bearer t0ken");
    /// ```
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body.
    ///
    /// ```
    /// let request = duro_sdk::http::Request::post("https://api.example/notes").body("remember the milk");
    /// ```
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    ///
    /// # Errors
    /// If `value` cannot be serialized.
    ///
    /// ```
    /// let request = duro_sdk::http::Request::post("https://api.example/orders").json(&serde_json::json!({ "sku": "a" }))?;
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sets the per-attempt timeout (whole ms).
    ///
    /// ```
    /// let request = duro_sdk::http::Request::get("https://api.example/").timeout(std::time::Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the retry policy.
    ///
    /// ```
    /// let request = duro_sdk::http::Request::get("https://api.example/").retry(duro_sdk::RetryPolicy::attempts(3));
    /// ```
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
    ///
    /// ```no_run
    /// # fn f() -> Result<(), duro_sdk::http::Error> {
    /// let response = duro_sdk::http::Request::get("https://api.example/health").send()?;
    /// println!("{}", response.status);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send(self) -> Result<Response, Error> {
        backend::http_send(&self)
    }
}

/// A response, whatever its status.
///
/// ```
/// let response = duro_sdk::http::Response::new(404, "not found");
/// assert!(!response.is_success());
/// assert_eq!(response.text(), "not found");
/// ```
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
    /// A response with `status` and `body` and no headers, for scripted
    /// answers in [`testing`](crate::testing).
    ///
    /// ```
    /// let response = duro_sdk::http::Response::new(200, r#"{"ok":true}"#);
    /// assert!(response.is_success());
    /// ```
    #[must_use]
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    /// Whether the status is 2xx.
    ///
    /// ```
    /// assert!(duro_sdk::http::Response::new(204, "").is_success());
    /// ```
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case).
    ///
    /// ```
    /// let mut response = duro_sdk::http::Response::new(200, "");
    /// response.headers.push(("content-type".to_owned(), b"text/plain".to_vec()));
    /// assert_eq!(response.header("Content-Type"), Some(&b"text/plain"[..]));
    /// ```
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_slice())
    }

    /// The body as text (invalid UTF-8 replaced).
    ///
    /// ```
    /// assert_eq!(duro_sdk::http::Response::new(200, "hi").text(), "hi");
    /// ```
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// If the body is not JSON of type `T`.
    ///
    /// ```
    /// let response = duro_sdk::http::Response::new(200, r#"{"left":3}"#);
    /// let stock: serde_json::Value = response.json()?;
    /// assert_eq!(stock["left"], 3);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Why no response came back.
///
/// ```no_run
/// use duro_sdk::http::{Error, Request};
///
/// match Request::get("https://api.example/").send() {
///     Ok(response) => println!("{}", response.status),
///     Err(Error::Denied(why)) => println!("not allowed: {why}"),
///     Err(other) => println!("{other}"),
/// }
/// ```
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
