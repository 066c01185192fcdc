//! The replay cursor: the journal contract in one type.
//!
//! A run starts with the entries committed so far. For each host call the
//! cursor is asked first ([`Cursor::replay`]): while recorded entries remain
//! the call must equal the one recorded at that `seq`, and the recorded outcome
//! is returned; once they are used up the run is live, the host performs the
//! call and [`Cursor::record`]s it. Recorded-live entries and log lines wait in
//! the cursor until the run commits them ([`Cursor::take_pending`]).

use std::fmt;

use super::{Call, Entry, LogLevel, LogLine, LogStream, Outcome};

/// A replayed workflow made a different call than the one its journal
/// recorded at `seq`: its code or its inputs changed under it.
///
/// The workflow is stopped with status `stuck`; it never silently continues.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Nondeterminism {
    /// The journal position where the calls differ.
    pub seq: u64,
    /// The call recorded at `seq`.
    pub recorded: Call,
    /// The call the workflow made instead; `None` when it returned from `run`
    /// before reaching `seq`.
    pub attempted: Option<Call>,
}

impl fmt::Display for Nondeterminism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "non-determinism at seq {}: the journal recorded {} but the workflow ",
            self.seq, self.recorded
        )?;
        match &self.attempted {
            Some(call) => write!(f, "now calls {call}"),
            None => f.write_str("now returns without making it"),
        }
    }
}

/// Most log lines one run keeps; past it lines are counted, not kept, so a
/// guest printing in a loop cannot exhaust the host's memory.
pub const MAX_LOG_LINES_PER_RUN: usize = 10_000;

/// Replay position and pending writes of one run; see the module docs.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Entries committed before this run, in `seq` order.
    recorded: Vec<Entry>,
    /// `seq` of the next call.
    next_seq: u64,
    /// Entries recorded live in this run and not yet committed.
    pending: Vec<Entry>,
    /// Log lines written live in this run and not yet committed.
    pending_logs: Vec<LogLine>,
    /// Live log lines dropped past [`MAX_LOG_LINES_PER_RUN`].
    dropped_logs: usize,
    /// The first divergence, once found: later calls fail with it too.
    diverged: Option<Nondeterminism>,
}

impl Cursor {
    /// A cursor that replays `recorded`, which must be dense from seq 0.
    pub fn new(recorded: Vec<Entry>) -> Self {
        Self { recorded, ..Self::default() }
    }

    /// Number of entries in the journal so far: recorded, replayed and new.
    pub fn len(&self) -> u64 {
        self.next_seq.max(self.recorded.len() as u64)
    }

    /// Whether the journal has no entries yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether recorded entries remain, i.e. the guest is re-executing steps
    /// whose effects (including log lines) already happened.
    pub fn is_replaying(&self) -> bool {
        self.recorded_index() < self.recorded.len()
    }

    /// Checks `call` against the journal.
    ///
    /// Returns the recorded outcome while replaying, or `None` when the run is
    /// live: then the caller performs the call and passes the result to
    /// [`Self::record`].
    ///
    /// # Errors
    /// [`Nondeterminism`] if the entry at this `seq` records a different call;
    /// once that happened, every later call fails with the same error.
    pub fn replay(&mut self, call: &Call) -> Result<Option<Outcome>, Nondeterminism> {
        if let Some(diverged) = &self.diverged {
            return Err(diverged.clone());
        }
        let Some(entry) = self.recorded.get(self.recorded_index()) else {
            return Ok(None);
        };
        if entry.call != *call {
            let diverged = Nondeterminism {
                seq: entry.seq,
                recorded: entry.call.clone(),
                attempted: Some(call.clone()),
            };
            self.diverged = Some(diverged.clone());
            return Err(diverged);
        }
        self.next_seq += 1;
        Ok(Some(entry.outcome.clone()))
    }

    /// Records the outcome of a live call, at `recorded_at_ns` (ns since the Unix epoch).
    pub fn record(&mut self, call: Call, outcome: Outcome, recorded_at_ns: u64) {
        self.pending.push(Entry { seq: self.next_seq, call, outcome, recorded_at_ns });
        self.next_seq += 1;
    }

    /// Keeps `line` for the log unless the guest is replaying, in which case
    /// the line was stored by the run that first wrote it.
    pub fn log(&mut self, line: LogLine) {
        if self.is_replaying() || self.diverged.is_some() {
            return;
        }
        if self.pending_logs.len() < MAX_LOG_LINES_PER_RUN {
            self.pending_logs.push(line);
        } else {
            self.dropped_logs += 1;
        }
    }

    /// Called when the guest returned from `run`: a journal with entries left
    /// over means this execution skipped calls an earlier one made.
    ///
    /// # Errors
    /// The first divergence seen in this run, or a [`Nondeterminism`] naming
    /// the first unused entry.
    pub fn finish(&mut self) -> Result<(), Nondeterminism> {
        if let Some(diverged) = &self.diverged {
            return Err(diverged.clone());
        }
        match self.recorded.get(self.recorded_index()) {
            None => Ok(()),
            Some(entry) => {
                let diverged =
                    Nondeterminism { seq: entry.seq, recorded: entry.call.clone(), attempted: None };
                self.diverged = Some(diverged.clone());
                Err(diverged)
            }
        }
    }

    /// The first divergence seen in this run, if any.
    pub fn divergence(&self) -> Option<&Nondeterminism> {
        self.diverged.as_ref()
    }

    /// Takes the entries and log lines recorded live since the last call, for
    /// the caller to commit.
    /// Lines dropped past the per-run limit are summed up in one last line.
    pub fn take_pending(&mut self) -> (Vec<Entry>, Vec<LogLine>) {
        let mut logs = std::mem::take(&mut self.pending_logs);
        if self.dropped_logs > 0 {
            let at_ns = logs.last().map_or(0, |line| line.at_ns);
            logs.push(LogLine {
                at_ns,
                level: LogLevel::Warn,
                stream: LogStream::Log,
                message: format!(
                    "{} more log lines dropped: a run keeps at most {MAX_LOG_LINES_PER_RUN}",
                    std::mem::take(&mut self.dropped_logs)
                ),
            });
        }
        (std::mem::take(&mut self.pending), logs)
    }

    fn recorded_index(&self) -> usize {
        usize::try_from(self.next_seq).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, call: Call, outcome: Outcome) -> Entry {
        Entry { seq, call, outcome, recorded_at_ns: 0 }
    }

    fn line(message: &str) -> LogLine {
        LogLine { at_ns: 0, level: LogLevel::Info, stream: LogStream::Log, message: message.into() }
    }

    fn recorded() -> Vec<Entry> {
        vec![
            entry(0, Call::Now, Outcome::Time { ns: 10 }),
            entry(1, Call::Sleep { duration_ns: 5 }, Outcome::Timer { wake_at_ns: 15 }),
        ]
    }

    #[test]
    fn replay_returns_recorded_outcomes_then_goes_live() {
        let mut cursor = Cursor::new(recorded());
        assert_eq!(cursor.replay(&Call::Now), Ok(Some(Outcome::Time { ns: 10 })));
        assert_eq!(
            cursor.replay(&Call::Sleep { duration_ns: 5 }),
            Ok(Some(Outcome::Timer { wake_at_ns: 15 }))
        );
        assert!(!cursor.is_replaying());
        assert_eq!(cursor.replay(&Call::RandomU64), Ok(None));
        cursor.record(Call::RandomU64, Outcome::Random { value: 7 }, 99);
        let (pending, _) = cursor.take_pending();
        assert_eq!(
            pending,
            vec![Entry {
                seq: 2,
                call: Call::RandomU64,
                outcome: Outcome::Random { value: 7 },
                recorded_at_ns: 99
            }]
        );
        assert_eq!(cursor.finish(), Ok(()));
    }

    #[test]
    fn changed_sleep_duration_is_nondeterministic() {
        let mut cursor = Cursor::new(recorded());
        cursor.replay(&Call::Now).ok();
        let error = cursor.replay(&Call::Sleep { duration_ns: 6 });
        let expected = Nondeterminism {
            seq: 1,
            recorded: Call::Sleep { duration_ns: 5 },
            attempted: Some(Call::Sleep { duration_ns: 6 }),
        };
        assert_eq!(error, Err(expected.clone()));
        assert_eq!(
            expected.to_string(),
            "non-determinism at seq 1: the journal recorded sleep(duration_ns: 5) but the workflow now calls sleep(duration_ns: 6)"
        );
        // Sticky: a later call that would match still fails.
        assert_eq!(cursor.replay(&Call::Now), Err(expected.clone()));
        assert_eq!(cursor.finish(), Err(expected));
    }

    #[test]
    fn returning_early_is_nondeterministic() {
        let mut cursor = Cursor::new(recorded());
        cursor.replay(&Call::Now).ok();
        assert_eq!(
            cursor.finish(),
            Err(Nondeterminism { seq: 1, recorded: Call::Sleep { duration_ns: 5 }, attempted: None })
        );
    }

    #[test]
    fn log_lines_written_during_replay_are_dropped() {
        let mut cursor = Cursor::new(recorded());
        cursor.log(line("first run wrote this"));
        cursor.replay(&Call::Now).ok();
        cursor.replay(&Call::Sleep { duration_ns: 5 }).ok();
        cursor.log(line("new"));
        let (_, logs) = cursor.take_pending();
        assert_eq!(logs, vec![line("new")]);
    }

    #[test]
    fn log_lines_past_the_limit_are_counted_not_kept() {
        let mut cursor = Cursor::new(Vec::new());
        for _ in 0..MAX_LOG_LINES_PER_RUN + 5 {
            cursor.log(line("spam"));
        }
        let (_, logs) = cursor.take_pending();
        assert_eq!(logs.len(), MAX_LOG_LINES_PER_RUN + 1);
        assert_eq!(
            logs[MAX_LOG_LINES_PER_RUN].message,
            "5 more log lines dropped: a run keeps at most 10000"
        );
    }

    #[test]
    fn replay_resumed_at_every_seq_equals_replay_in_one_go() {
        // Record a run live, then replay every prefix of its journal and go on
        // live with different answers: the prefix must come back verbatim and
        // the rest must be new entries at the following seqs.
        let calls = [Call::Now, Call::RandomU64, Call::Sleep { duration_ns: 3 }, Call::WasiWallClock];
        let first_answer = |seq: u64| Outcome::Time { ns: seq * 100 };
        let second_answer = |seq: u64| Outcome::Time { ns: seq * 100 + 1 };
        let mut live = Cursor::new(Vec::new());
        for call in &calls {
            assert_eq!(live.replay(call), Ok(None));
            live.record(call.clone(), first_answer(live.next_seq), 0);
        }
        let (full, _) = live.take_pending();
        for cut in 0..=full.len() {
            let mut cursor = Cursor::new(full[..cut].to_vec());
            let mut seen = Vec::new();
            for call in &calls {
                let outcome = match cursor.replay(call) {
                    Ok(Some(outcome)) => outcome,
                    Ok(None) => {
                        let outcome = second_answer(cursor.next_seq);
                        cursor.record(call.clone(), outcome.clone(), 0);
                        outcome
                    }
                    Err(error) => panic!("cut {cut}: {error}"),
                };
                seen.push(outcome);
            }
            let expected: Vec<Outcome> = (0..calls.len() as u64)
                .map(|seq| if seq < cut as u64 { first_answer(seq) } else { second_answer(seq) })
                .collect();
            assert_eq!(seen, expected, "cut {cut}");
            let (pending, _) = cursor.take_pending();
            let pending_seqs: Vec<u64> = pending.iter().map(|entry| entry.seq).collect();
            assert_eq!(pending_seqs, (cut as u64..calls.len() as u64).collect::<Vec<_>>(), "cut {cut}");
            let pending_calls: Vec<&Call> = pending.iter().map(|entry| &entry.call).collect();
            assert_eq!(pending_calls, calls[cut..].iter().collect::<Vec<_>>(), "cut {cut}");
        }
    }
}
