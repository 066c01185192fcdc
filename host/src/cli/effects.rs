//! The `duro serve` flags of effects: which HTTP destinations workflows may
//! reach, which headers are journaled as digests, and HTTP's caps.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::effects::{Allowlist, HttpConfig, Pattern};

/// Outbound HTTP policy.
#[derive(Debug, Args)]
pub(super) struct EffectArgs {
    /// Lets workflows send HTTP requests to PATTERN: `host` (any port),
    /// `host:port`, `*.domain` (its subdomains) or `*` (anywhere).
    /// Repeatable; with none, every destination is refused.
    #[arg(long = "allow-http", value_name = "PATTERN")]
    allow_http: Vec<Pattern>,
    /// Journals values of request header NAME as a SHA-256 digest, besides
    /// `authorization`, `cookie` and `proxy-authorization`. Repeatable.
    #[arg(long = "redact-header", value_name = "NAME")]
    redact_header: Vec<String>,
    /// Largest HTTP response a workflow may receive (headers and body), in
    /// MiB; it must also fit one journal entry (`--max-entry-bytes`).
    #[arg(long, default_value_t = HttpConfig::default().max_response_bytes >> 20)]
    max_http_response_mib: u64,
    /// Largest HTTP request body a workflow may send, in KiB.
    #[arg(long, default_value_t = HttpConfig::default().max_request_body_bytes >> 10)]
    max_http_request_kib: u64,
    /// Longest HTTP attempt, connecting to reading the whole response, in
    /// ms; also the timeout of a request that names none.
    #[arg(long, default_value_t = HttpConfig::default().max_timeout.as_millis() as u64)]
    http_timeout_ms: u64,
}

impl EffectArgs {
    /// The HTTP client's configuration.
    ///
    /// # Errors
    /// If a size does not fit in 64 bits.
    pub(super) fn http_config(&self) -> anyhow::Result<HttpConfig> {
        Ok(HttpConfig {
            allow: Allowlist::new(self.allow_http.clone()),
            redact_headers: self.redact_header.iter().map(|name| name.to_ascii_lowercase()).collect(),
            max_response_bytes: self
                .max_http_response_mib
                .checked_mul(1 << 20)
                .context("--max-http-response-mib is too large")?,
            max_request_body_bytes: self
                .max_http_request_kib
                .checked_mul(1 << 10)
                .context("--max-http-request-kib is too large")?,
            max_timeout: Duration::from_millis(self.http_timeout_ms),
            ..HttpConfig::default()
        })
    }
}
