//! The host's wall clock, in the units the layers use.
//!
//! One place reads the system clock, so every layer agrees on what "now" is.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch. Saturates at `u64::MAX` (year 2554) and
/// reads 0 before 1970.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch, as stored in `*_ms` columns.
pub fn now_ms() -> i64 {
    i64::try_from(now_ns() / 1_000_000).unwrap_or(i64::MAX)
}
