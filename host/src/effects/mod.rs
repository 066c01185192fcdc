//! Effects: what workflows do to the outside world, outside wasm.
//!
//! The executor journals effects and decides when to retry them; this layer
//! performs one attempt at a time and knows nothing of wasm or the database:
//! the HTTP client with its allowlist, caps and credential redaction
//! ([`http`]), and the allowlist's patterns ([`allowlist`]).

pub mod allowlist;
pub mod http;

pub use allowlist::{Allowlist, Pattern, PatternError};
pub use http::{HttpClient, HttpConfig};
