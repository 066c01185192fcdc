//! What the host tells its operators: Prometheus metrics ([`metrics`]) and
//! its log ([`logs`]).
//!
//! A leaf, like [`crate::clock`]: every layer records through it, and it
//! depends on none of them. Recording is a no-op until `duro serve`
//! installs the process's recorder, so a library user or a test that never
//! installs one pays nothing.

pub mod logs;
pub mod metrics;
