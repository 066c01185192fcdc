//! When a schedule's ticks fall: a cron expression read in a time zone, or
//! a fixed interval with a phase.
//!
//! Cron expressions are parsed and searched by `croner`, on `jiff`'s time
//! zones (the system's tz database, or the one jiff bundles where there is
//! none). Around daylight saving changes they behave as Vixie cron does: a
//! fixed time that a spring-forward skips fires at the first moment after
//! the gap, on the same day; a fixed time that a fall-back repeats fires
//! once, on its first pass; wildcard and step fields fire on each real
//! instant that matches. Searches move in real time, never backwards.
//!
//! Intervals count from the Unix epoch plus the phase, so a schedule every
//! 5 minutes with no phase ticks at :00, :05, … whatever its creation time,
//! and every host computes the same ticks (as Temporal's interval specs do).

use std::str::FromStr;

use crate::store::ScheduleSpec;

/// Shortest interval between ticks, in ms.
const MIN_INTERVAL_MS: i64 = 1_000;
/// Longest interval between ticks, in ms (about 10 years).
pub const MAX_INTERVAL_MS: i64 = 315_360_000_000;
/// Longest cron expression, in bytes.
const MAX_EXPRESSION_BYTES: usize = 256;
/// The time zone of a cron expression given none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// A schedule's ticks, ready to compute.
#[derive(Debug, Clone)]
pub(super) enum Ticks {
    /// A cron expression in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Its time zone.
        zone: jiff::tz::TimeZone,
    },
    /// Every `every_ms`, at `phase_ms` past each multiple of it since the
    /// Unix epoch.
    Interval {
        /// The interval, in ms.
        every_ms: i64,
        /// The offset, in ms: at least 0 and less than `every_ms`.
        phase_ms: i64,
    },
}

impl Ticks {
    /// Checks `spec` and prepares it.
    ///
    /// # Errors
    /// A message saying what is wrong: a cron expression that does not
    /// parse, an unknown time zone, an interval under 1 s or over about 10
    /// years, or a phase outside `0..interval`.
    pub(super) fn new(spec: &ScheduleSpec) -> Result<Self, String> {
        match spec {
            ScheduleSpec::Cron { expression, time_zone } => {
                if expression.len() > MAX_EXPRESSION_BYTES {
                    return Err(format!("a cron expression is at most {MAX_EXPRESSION_BYTES} bytes"));
                }
                let cron = croner::Cron::from_str(expression)
                    .map_err(|error| format!("invalid cron expression {expression:?}: {error}"))?;
                let zone = jiff::tz::TimeZone::get(time_zone).map_err(|error| {
                    format!("unknown time zone {:?}: {error}", crate::ids::shown(time_zone))
                })?;
                Ok(Self::Cron { cron: Box::new(cron), zone })
            }
            ScheduleSpec::Interval { every_ms, phase_ms } => {
                if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(every_ms) {
                    return Err(format!(
                        "the interval must be at least {} s and at most {} s",
                        MIN_INTERVAL_MS / 1000,
                        MAX_INTERVAL_MS / 1000
                    ));
                }
                if !(0..*every_ms).contains(phase_ms) {
                    return Err("the phase must be at least 0 and less than the interval".to_owned());
                }
                Ok(Self::Interval { every_ms: *every_ms, phase_ms: *phase_ms })
            }
        }
    }

    /// The first tick strictly after `after_ms` (ms since the Unix epoch),
    /// or `None` if there is none (a cron expression that matches no date
    /// to come, or one past the range of times).
    pub(super) fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Self::Interval { every_ms, phase_ms } => {
                let k = after_ms.checked_sub(*phase_ms)?.div_euclid(*every_ms).checked_add(1)?;
                k.checked_mul(*every_ms)?.checked_add(*phase_ms)
            }
            Self::Cron { cron, zone } => {
                let start = jiff::Timestamp::from_millisecond(after_ms).ok()?.to_zoned(zone.clone());
                let next = cron.find_next_occurrence(&start, false).ok()?;
                Some(next.timestamp().as_millisecond())
            }
        }
    }

    /// Up to `count` ticks strictly after `after_ms`, in order.
    pub(super) fn next_n(&self, after_ms: i64, count: usize) -> Vec<i64> {
        let mut ticks = Vec::with_capacity(count);
        let mut at = after_ms;
        while ticks.len() < count {
            match self.next_after(at) {
                Some(next) => {
                    ticks.push(next);
                    at = next;
                }
                None => break,
            }
        }
        ticks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        jiff::Timestamp::from_str(rfc3339).map(|t| t.as_millisecond()).unwrap_or(i64::MIN)
    }

    fn cron(expression: &str, zone: &str) -> Result<Ticks, String> {
        Ticks::new(&ScheduleSpec::Cron { expression: expression.into(), time_zone: zone.into() })
    }

    fn times(ticks: &Ticks, after: &str, count: usize) -> Vec<String> {
        ticks
            .next_n(ms(after), count)
            .into_iter()
            .map(|at| jiff::Timestamp::from_millisecond(at).map(|t| t.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn an_interval_counts_from_the_epoch_plus_its_phase() -> Result<(), String> {
        let every_5_min = Ticks::new(&ScheduleSpec::Interval { every_ms: 300_000, phase_ms: 60_000 })?;
        assert_eq!(
            times(&every_5_min, "2026-11-23T04:00:00Z", 3),
            ["2026-11-23T04:01:00Z", "2026-11-23T04:06:00Z", "2026-11-23T04:11:00Z"]
        );
        // Strictly after: a tick's own time gives the next one.
        assert_eq!(times(&every_5_min, "2026-11-23T04:01:00Z", 1), ["2026-11-23T04:06:00Z"]);
        assert_eq!(every_5_min.next_after(-1), Some(60_000));
        Ok(())
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let interval = |every_ms, phase_ms| Ticks::new(&ScheduleSpec::Interval { every_ms, phase_ms });
        assert!(interval(999, 0).is_err_and(|e| e.contains("at least 1 s")));
        assert!(interval(1_000, 1_000).is_err_and(|e| e.contains("phase")));
        assert!(interval(1_000, -1).is_err_and(|e| e.contains("phase")));
        assert!(cron("61 * * * *", "UTC").is_err_and(|e| e.contains("invalid cron expression")));
        assert!(cron("0 2 * * *", "Mars/Olympus_Mons").is_err_and(|e| e.contains("unknown time zone")));
    }

    /// 02:30 every day in New York, across 2026's spring-forward (8 March:
    /// 02:00 EST becomes 03:00 EDT, so 02:30 does not exist) and fall-back
    /// (1 November: 02:00 EDT becomes 01:00 EST).
    #[test]
    fn a_cron_in_a_time_zone_follows_its_daylight_saving_changes() -> Result<(), String> {
        let half_past_two = cron("30 2 * * *", "America/New_York")?;
        assert_eq!(
            times(&half_past_two, "2026-03-06T12:00:00Z", 4),
            [
                "2026-03-07T07:30:00Z", // 02:30 EST
                "2026-03-08T07:00:00Z", // the gap: 03:00 EDT, the first moment after it
                "2026-03-09T06:30:00Z", // 02:30 EDT
                "2026-03-10T06:30:00Z",
            ]
        );
        // 01:30 happens twice on 1 November; a fixed time fires once.
        let half_past_one = cron("30 1 * * *", "America/New_York")?;
        assert_eq!(
            times(&half_past_one, "2026-10-31T00:00:00Z", 3),
            [
                "2026-10-31T05:30:00Z", // 01:30 EDT
                "2026-11-01T05:30:00Z", // 01:30 EDT, the first pass; not 06:30 (EST) again
                "2026-11-02T06:30:00Z", // 01:30 EST
            ]
        );
        // A wildcard hour fires on each real hour, the repeated one included.
        let hourly = cron("0 * * * *", "America/New_York")?;
        assert_eq!(
            times(&hourly, "2026-11-01T04:30:00Z", 3),
            ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]
        );
        // The same expression in UTC knows no such change.
        let utc = cron("30 2 * * *", "UTC")?;
        assert_eq!(times(&utc, "2026-03-07T12:00:00Z", 2), ["2026-03-08T02:30:00Z", "2026-03-09T02:30:00Z"]);
        Ok(())
    }
}
