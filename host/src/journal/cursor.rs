//! The replay cursor: the journal contract in one type.
//!
//! A run starts with the entries committed so far. For each host call the
//! cursor is asked first ([`Cursor::replay`]): while recorded entries remain
//! the call must equal the one recorded at that `seq`, and the recorded outcome
//! is returned; once they are used up the run is live, the host performs the
//! call and [`Cursor::record`]s it. Recorded-live entries and log lines wait in
//! the cursor until the run commits them ([`Cursor::take_pending`]).
//!
//! A call whose arguments are complete only after the guest goes on (a
//! `wasi:http` request, whose body the guest may write after handing the
//! request over) takes its position at once ([`Cursor::reserve`]) and is
//! compared or filled in later ([`Cursor::check_reserved`],
//! [`Cursor::fill`]). Until it is filled its position is a hole: only the
//! entries before the first hole can be committed, so the committed journal
//! stays dense.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use super::{Call, Entry, LogLevel, LogLine, LogStream, Outcome, codec};

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
        write!(f, "{}", Divergence::head(self.seq, &self.recorded.to_string()))?;
        match &self.attempted {
            Some(call) => write!(f, "{CALLS}{call}"),
            None => f.write_str(RETURNS),
        }
    }
}

/// How a divergence message begins, before the seq.
const LEAD: &str = "non-determinism at seq ";
/// How it goes on when the workflow made another call.
const CALLS: &str = "now calls ";
/// How it ends when the workflow returned instead.
const RETURNS: &str = "now returns without making it";

/// A [`Nondeterminism`] with its calls as the journal prints them.
///
/// A `stuck` workflow keeps only the divergence's message, as its error;
/// [`Divergence::read`] reads it back, with the call still recorded at its
/// seq, for those who inspect the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The journal position where the calls differ.
    pub seq: u64,
    /// The call recorded at `seq`.
    pub recorded: String,
    /// The call the workflow made instead, or `None` when it returned.
    pub attempted: Option<String>,
}

impl Divergence {
    fn head(seq: u64, recorded: &str) -> String {
        format!("{LEAD}{seq}: the journal recorded {recorded} but the workflow ")
    }

    /// The seq that `message`, a [`Nondeterminism`]'s, names; `None` for
    /// another message.
    pub fn seq_in(message: &str) -> Option<u64> {
        let (digits, _) = message.strip_prefix(LEAD)?.split_once(':')?;
        digits.parse().ok()
    }

    /// `message` read back, given `recorded`, the call at the seq it names;
    /// `None` if it is not that divergence's message.
    pub fn read(message: &str, recorded: &Call) -> Option<Self> {
        let seq = Self::seq_in(message)?;
        let recorded = recorded.to_string();
        let tail = message.strip_prefix(&Self::head(seq, &recorded))?;
        let attempted = if tail == RETURNS { None } else { Some(tail.strip_prefix(CALLS)?.to_owned()) };
        Some(Self { seq, recorded, attempted })
    }
}

impl From<&Nondeterminism> for Divergence {
    fn from(divergence: &Nondeterminism) -> Self {
        Self {
            seq: divergence.seq,
            recorded: divergence.recorded.to_string(),
            attempted: divergence.attempted.as_ref().map(ToString::to_string),
        }
    }
}

/// A replay check ([`Cursor::checking`]) reached the end of the recorded
/// journal: the component made every recorded call, and the call it makes
/// now would be the first live one. The check stops there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the replay check reached the end of the journal at seq {seq}")]
pub struct HistoryEnd {
    /// The position of the call that would be live: the journal's length.
    pub seq: u64,
}

/// Why a call can be neither replayed nor made live.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The call differs from the journal.
    #[error(transparent)]
    Diverged(#[from] Nondeterminism),
    /// A replay check reached the end of the journal.
    #[error(transparent)]
    HistoryEnd(#[from] HistoryEnd),
}

/// The byte and count budgets of one workflow's journal and log.
///
/// They bound what a run holds in memory whatever the guest does: the entries
/// it replays and records, and the log lines it writes. A call past a journal
/// budget fails the workflow ([`BudgetExceeded`]); log lines past a log budget
/// are counted, not kept, and one last line says how many were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most entries a journal may hold (default 100,000; Temporal caps a
    /// history at 51,200 events for the same reason).
    pub max_entries: u64,
    /// Most payload bytes a journal may hold, summed over its entries
    /// (default 64 MiB).
    pub max_journal_bytes: u64,
    /// Largest payload of one entry, in bytes (default 2 MiB, Temporal's
    /// payload limit).
    pub max_entry_bytes: u64,
    /// Most log lines one run keeps (default 10,000).
    pub max_log_lines_per_run: usize,
    /// Most log bytes (message text) a workflow keeps over its whole life
    /// (default 16 MiB).
    pub max_log_bytes: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_journal_bytes: 64 << 20,
            max_entry_bytes: 2 << 20,
            max_log_lines_per_run: 10_000,
            max_log_bytes: 16 << 20,
        }
    }
}

/// A live call would take the journal past its [`Budget`]; the workflow fails
/// with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetExceeded {
    /// The journal holds [`Budget::max_entries`] entries.
    #[error("the journal is full: a workflow may record at most {limit} entries")]
    Entries {
        /// The limit.
        limit: u64,
    },
    /// One entry's payload would be over [`Budget::max_entry_bytes`].
    #[error("{call} would record {bytes} bytes; one journal entry may hold at most {limit} bytes")]
    EntryBytes {
        /// The call, as the guest made it.
        call: String,
        /// The entry's size (or the size asked for).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The journal's payloads would sum to more than [`Budget::max_journal_bytes`].
    #[error(
        "the journal is full: {call} would take it to {bytes} bytes; a workflow may record at most {limit} bytes"
    )]
    JournalBytes {
        /// The call, as the guest made it.
        call: String,
        /// The journal's size with the new entry.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
}

/// What a workflow had already stored when a run began: the inputs of the
/// per-workflow budgets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Log bytes (message text) stored by earlier runs.
    pub log_bytes: u64,
}

/// Replay position and pending writes of one run; see the module docs.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Committed entries not yet replayed, in `seq` order; each is dropped
    /// once replayed, so memory shrinks as replay proceeds.
    recorded: VecDeque<Entry>,
    /// `seq` of the next call.
    next_seq: u64,
    budget: Budget,
    /// Payload bytes of the whole journal: committed and pending.
    journal_bytes: u64,
    /// Log bytes of the workflow: stored and pending.
    log_bytes: u64,
    /// Entries recorded live in this run and not yet committed.
    pending: Vec<Entry>,
    /// Payload bytes of `pending`.
    pending_bytes: u64,
    /// Log lines written live in this run and not yet committed.
    pending_logs: Vec<LogLine>,
    /// Log lines kept in this run, committed or not.
    logged_lines: usize,
    /// Live log lines dropped past a log budget, and their bytes.
    dropped_logs: (u64, u64),
    /// The first divergence, once found: later calls fail with it too.
    diverged: Option<Nondeterminism>,
    /// Positions reserved live and not yet filled.
    holes: BTreeSet<u64>,
    /// Whether this cursor only checks a replay: it stops at the end of the
    /// recorded journal instead of going live.
    checking: bool,
    /// Where a replay check stopped, once it did.
    history_end: Option<HistoryEnd>,
}

/// A journal position taken before its call is complete; see the module docs.
#[derive(Debug)]
pub struct Reservation {
    /// The position.
    pub seq: u64,
    /// The entry recorded there, while replaying; `None` when live.
    pub recorded: Option<Entry>,
}

impl Cursor {
    /// A cursor that replays `recorded`, which must be dense from seq 0, under
    /// `budget`, for a workflow that has stored `usage` so far.
    pub fn new(recorded: Vec<Entry>, budget: Budget, usage: Usage) -> Self {
        let journal_bytes =
            recorded.iter().map(|entry| codec::encoded_len(&entry.call, &entry.outcome)).sum();
        Self {
            recorded: recorded.into(),
            budget,
            journal_bytes,
            log_bytes: usage.log_bytes,
            ..Self::default()
        }
    }

    /// A cursor that checks whether a component replays `recorded` (dense
    /// from seq 0): it replays as [`Self::new`] does, but the first call
    /// past the journal fails with [`HistoryEnd`] instead of going live, so
    /// nothing is performed or recorded.
    pub fn checking(recorded: Vec<Entry>, budget: Budget) -> Self {
        Self { checking: true, ..Self::new(recorded, budget, Usage::default()) }
    }

    /// Where a replay check stopped at the end of the journal, if it did.
    pub fn history_end(&self) -> Option<HistoryEnd> {
        self.history_end
    }

    /// Lets the next call be made live, which a replay check never does.
    ///
    /// # Errors
    /// [`HistoryEnd`] when this cursor only checks a replay.
    pub fn go_live(&mut self) -> Result<(), HistoryEnd> {
        if !self.checking {
            return Ok(());
        }
        let end = *self.history_end.get_or_insert(HistoryEnd { seq: self.next_seq });
        Err(end)
    }

    /// Number of entries in the journal so far: recorded, replayed and new.
    pub fn len(&self) -> u64 {
        self.next_seq + self.recorded.len() as u64
    }

    /// Whether the journal has no entries yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `seq` the next call gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The most payload bytes one more entry may have under the budget, less
    /// `reserved` bytes: what is left for an effect's answer.
    pub fn entry_room(&self, reserved: u64) -> u64 {
        let journal_room = self.budget.max_journal_bytes.saturating_sub(self.journal_bytes);
        self.budget.max_entry_bytes.min(journal_room).saturating_sub(reserved)
    }

    /// Payload bytes of the whole journal so far.
    pub fn journal_bytes(&self) -> u64 {
        self.journal_bytes
    }

    /// Whether recorded entries remain, i.e. the guest is re-executing steps
    /// whose effects (including log lines) already happened.
    pub fn is_replaying(&self) -> bool {
        !self.recorded.is_empty()
    }

    /// The call recorded at the next `seq`, while replaying: lets a host
    /// call shape its call as recorded where two forms are equivalent (a
    /// header journaled in clear before the operator chose to redact it).
    pub fn peek(&self) -> Option<&Call> {
        self.recorded.front().map(|entry| &entry.call)
    }

    /// Checks `call` against the journal.
    ///
    /// Returns the recorded outcome while replaying, or `None` when the run is
    /// live: then the caller performs the call and passes the result to
    /// [`Self::record`].
    ///
    /// # Errors
    /// [`ReplayError::Diverged`] if the entry at this `seq` records a
    /// different call; once that happened, every later call fails with the
    /// same error. [`ReplayError::HistoryEnd`] for a call past the journal
    /// when this cursor only checks a replay ([`Self::checking`]).
    pub fn replay(&mut self, call: &Call) -> Result<Option<Outcome>, ReplayError> {
        if let Some(diverged) = &self.diverged {
            return Err(diverged.clone().into());
        }
        let Some(entry) = self.recorded.front() else {
            self.go_live()?;
            return Ok(None);
        };
        if entry.call != *call {
            let diverged = Nondeterminism {
                seq: entry.seq,
                recorded: entry.call.clone(),
                attempted: Some(call.clone()),
            };
            self.diverged = Some(diverged.clone());
            return Err(diverged.into());
        }
        self.next_seq += 1;
        Ok(self.recorded.pop_front().map(|entry| entry.outcome))
    }

    /// Checks, before a live call is performed, that an entry for `call`
    /// whose payload will be about `payload_bytes` fits the budget, so a
    /// request that cannot be recorded is refused before the host does the work.
    ///
    /// # Errors
    /// [`BudgetExceeded`] naming the budget.
    pub fn admit(&self, call: &Call, payload_bytes: u64) -> Result<(), BudgetExceeded> {
        self.admit_entry()?;
        self.admit_bytes(call, payload_bytes)
    }

    /// Checks that the journal has room for one more entry.
    ///
    /// # Errors
    /// [`BudgetExceeded::Entries`].
    pub fn admit_entry(&self) -> Result<(), BudgetExceeded> {
        let max_entries = self.budget.max_entries;
        if self.len() >= max_entries {
            return Err(BudgetExceeded::Entries { limit: max_entries });
        }
        Ok(())
    }

    /// As [`Self::admit`] for the bytes only, for an entry whose position is
    /// already taken.
    ///
    /// # Errors
    /// [`BudgetExceeded::EntryBytes`] or [`BudgetExceeded::JournalBytes`].
    pub fn admit_bytes(&self, call: &Call, payload_bytes: u64) -> Result<(), BudgetExceeded> {
        let Budget { max_journal_bytes, max_entry_bytes, .. } = self.budget;
        if payload_bytes > max_entry_bytes {
            return Err(BudgetExceeded::EntryBytes {
                call: call.to_string(),
                bytes: payload_bytes,
                limit: max_entry_bytes,
            });
        }
        let bytes = self.journal_bytes.saturating_add(payload_bytes);
        if bytes > max_journal_bytes {
            return Err(BudgetExceeded::JournalBytes {
                call: call.to_string(),
                bytes,
                limit: max_journal_bytes,
            });
        }
        Ok(())
    }

    /// Records the outcome of a live call, at `recorded_at_ns` (ns since the
    /// Unix epoch).
    ///
    /// # Errors
    /// [`BudgetExceeded`] if the entry does not fit the budget; nothing is recorded.
    pub fn record(
        &mut self,
        call: Call,
        outcome: Outcome,
        recorded_at_ns: u64,
    ) -> Result<(), BudgetExceeded> {
        let bytes = codec::encoded_len(&call, &outcome);
        self.admit(&call, bytes)?;
        self.journal_bytes += bytes;
        self.pending_bytes += bytes;
        self.pending.push(Entry { seq: self.next_seq, call, outcome, recorded_at_ns });
        self.next_seq += 1;
        Ok(())
    }

    /// Takes the next position for a call that is complete only later (see
    /// the module docs), as a hole: while replaying, with the entry recorded
    /// there, to be compared with [`Self::check_reserved`]; live, to be
    /// [`Self::fill`]ed. Until then nothing after it is committed, so a
    /// divergence found late still stops the run before its live steps
    /// become durable. The caller checks [`Self::divergence`] and
    /// [`Self::admit`] first.
    pub fn reserve(&mut self) -> Reservation {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.holes.insert(seq);
        Reservation { seq, recorded: self.recorded.pop_front() }
    }

    /// Compares the call made at reserved position `seq` with the `recorded`
    /// one, which closes the hole.
    ///
    /// # Errors
    /// [`Nondeterminism`] if they differ (or the run diverged before): every
    /// later call fails with the first divergence.
    pub fn check_reserved(&mut self, seq: u64, recorded: &Call, call: &Call) -> Result<(), Nondeterminism> {
        self.holes.remove(&seq);
        if recorded != call {
            let diverged = Nondeterminism { seq, recorded: recorded.clone(), attempted: Some(call.clone()) };
            self.diverged.get_or_insert(diverged);
        }
        match &self.diverged {
            Some(diverged) => Err(diverged.clone()),
            None => Ok(()),
        }
    }

    /// Records the outcome of the live call at reserved position `seq`.
    ///
    /// # Errors
    /// [`BudgetExceeded`] if the entry does not fit the byte budgets; the
    /// hole stays, for a smaller outcome ([`Self::fill_over_budget`]).
    pub fn fill(
        &mut self,
        seq: u64,
        call: Call,
        outcome: Outcome,
        recorded_at_ns: u64,
    ) -> Result<(), BudgetExceeded> {
        self.admit_bytes(&call, codec::encoded_len(&call, &outcome))?;
        self.fill_over_budget(seq, call, outcome, recorded_at_ns);
        Ok(())
    }

    /// As [`Self::fill`] whatever the byte budgets say, for the error that
    /// replaces an outcome that did not fit: a hole must always be filled,
    /// and the next live call is refused at admission. Does nothing if
    /// `seq` is not a hole.
    pub fn fill_over_budget(&mut self, seq: u64, call: Call, outcome: Outcome, recorded_at_ns: u64) {
        if !self.holes.remove(&seq) {
            return;
        }
        let bytes = codec::encoded_len(&call, &outcome);
        self.journal_bytes += bytes;
        self.pending_bytes += bytes;
        let at = self.pending.partition_point(|entry| entry.seq < seq);
        self.pending.insert(at, Entry { seq, call, outcome, recorded_at_ns });
    }

    /// Closes the hole at replayed position `seq` without a comparison (the
    /// host could not build the call); the run diverges there.
    pub fn abandon_reserved(&mut self, seq: u64, recorded: Call) {
        if self.holes.remove(&seq) {
            let diverged = Nondeterminism { seq, recorded, attempted: None };
            self.diverged.get_or_insert(diverged);
        }
    }

    /// Whether a reserved position is still waiting for its outcome.
    pub fn has_holes(&self) -> bool {
        !self.holes.is_empty()
    }

    /// Keeps `line` for the log unless the guest is replaying, in which case
    /// the line was stored by the run that first wrote it. Past a log budget
    /// the line is counted, not kept.
    pub fn log(&mut self, line: LogLine) {
        self.log_with(line.message.len() as u64, || line);
    }

    /// As [`Self::log`] for a line of `bytes` bytes made by `line` only if it
    /// is kept, so a guest flooding its output past the budget costs a count,
    /// not an allocation, per line.
    pub fn log_with(&mut self, bytes: u64, line: impl FnOnce() -> LogLine) {
        if self.is_replaying() || self.diverged.is_some() {
            return;
        }
        if self.logged_lines < self.budget.max_log_lines_per_run
            && self.log_bytes.saturating_add(bytes) <= self.budget.max_log_bytes
        {
            self.logged_lines += 1;
            self.log_bytes += bytes;
            self.pending_logs.push(line());
        } else {
            self.dropped_logs.0 += 1;
            self.dropped_logs.1 += bytes;
        }
    }

    /// Entries and log lines recorded live and not yet taken, and the
    /// entries' payload bytes: what a checkpoint would commit.
    pub fn pending_size(&self) -> (usize, usize, u64) {
        (self.pending.len(), self.pending_logs.len(), self.pending_bytes)
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
        match self.recorded.front() {
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
    /// the caller to commit: every entry before the first hole, so what is
    /// committed stays dense. Lines dropped past a log budget are summed up
    /// in one last line.
    pub fn take_pending(&mut self) -> (Vec<Entry>, Vec<LogLine>) {
        let mut logs = std::mem::take(&mut self.pending_logs);
        let (lines, bytes) = std::mem::take(&mut self.dropped_logs);
        if lines > 0 {
            let at_ns = logs.last().map_or(0, |line| line.at_ns);
            logs.push(LogLine {
                at_ns,
                level: LogLevel::Warn,
                stream: LogStream::Log,
                message: format!(
                    "{lines} more log lines ({bytes} bytes) dropped: a run keeps at most {} lines and a \
                     workflow at most {} bytes of log",
                    self.budget.max_log_lines_per_run, self.budget.max_log_bytes
                ),
            });
        }
        let Some(&hole) = self.holes.first() else {
            self.pending_bytes = 0;
            return (std::mem::take(&mut self.pending), logs);
        };
        let dense = self.pending.partition_point(|entry| entry.seq < hole);
        let entries: Vec<Entry> = self.pending.drain(..dense).collect();
        let taken: u64 = entries.iter().map(|entry| codec::encoded_len(&entry.call, &entry.outcome)).sum();
        self.pending_bytes = self.pending_bytes.saturating_sub(taken);
        (entries, logs)
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
        let mut cursor = Cursor::new(recorded(), Budget::default(), Usage::default());
        assert_eq!(cursor.replay(&Call::Now), Ok(Some(Outcome::Time { ns: 10 })));
        assert_eq!(
            cursor.replay(&Call::Sleep { duration_ns: 5 }),
            Ok(Some(Outcome::Timer { wake_at_ns: 15 }))
        );
        assert!(!cursor.is_replaying());
        assert_eq!(cursor.replay(&Call::RandomU64), Ok(None));
        assert_eq!(cursor.record(Call::RandomU64, Outcome::Random { value: 7 }, 99), Ok(()));
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
        let mut cursor = Cursor::new(recorded(), Budget::default(), Usage::default());
        cursor.replay(&Call::Now).ok();
        let error = cursor.replay(&Call::Sleep { duration_ns: 6 });
        let expected = Nondeterminism {
            seq: 1,
            recorded: Call::Sleep { duration_ns: 5 },
            attempted: Some(Call::Sleep { duration_ns: 6 }),
        };
        assert_eq!(error, Err(expected.clone().into()));
        assert_eq!(
            expected.to_string(),
            "non-determinism at seq 1: the journal recorded sleep(duration_ns: 5) but the workflow now calls sleep(duration_ns: 6)"
        );
        // Sticky: a later call that would match still fails.
        assert_eq!(cursor.replay(&Call::Now), Err(expected.clone().into()));
        assert_eq!(cursor.finish(), Err(expected));
    }

    #[test]
    fn a_divergence_message_reads_back() {
        let recorded = Call::Sleep { duration_ns: 5 };
        for attempted in [Some(Call::Now), None] {
            let diverged = Nondeterminism { seq: 7, recorded: recorded.clone(), attempted };
            let message = diverged.to_string();
            assert_eq!(Divergence::seq_in(&message), Some(7));
            assert_eq!(Divergence::read(&message, &recorded), Some(Divergence::from(&diverged)));
            // Another recorded call, or a message cut short, is not this
            // divergence.
            assert_eq!(Divergence::read(&message, &Call::Now), None);
            assert_eq!(Divergence::read(&message[..40], &recorded), None);
        }
        assert_eq!(Divergence::seq_in("wasm trap: unreachable"), None);
    }

    #[test]
    fn a_replay_check_stops_at_the_end_of_the_journal() {
        let mut cursor = Cursor::checking(recorded(), Budget::default());
        assert_eq!(cursor.replay(&Call::Now), Ok(Some(Outcome::Time { ns: 10 })));
        assert_eq!(cursor.history_end(), None);
        assert_eq!(
            cursor.replay(&Call::Sleep { duration_ns: 5 }),
            Ok(Some(Outcome::Timer { wake_at_ns: 15 }))
        );
        let end = HistoryEnd { seq: 2 };
        assert_eq!(cursor.replay(&Call::RandomU64), Err(end.into()));
        assert_eq!(cursor.go_live(), Err(end));
        assert_eq!(cursor.history_end(), Some(end));
        assert_eq!(cursor.take_pending(), (Vec::new(), Vec::new()));
        // A live cursor goes on.
        let mut live = Cursor::new(recorded(), Budget::default(), Usage::default());
        assert_eq!(live.go_live(), Ok(()));
    }

    #[test]
    fn returning_early_is_nondeterministic() {
        let mut cursor = Cursor::new(recorded(), Budget::default(), Usage::default());
        cursor.replay(&Call::Now).ok();
        assert_eq!(
            cursor.finish(),
            Err(Nondeterminism { seq: 1, recorded: Call::Sleep { duration_ns: 5 }, attempted: None })
        );
    }

    #[test]
    fn log_lines_written_during_replay_are_dropped() {
        let mut cursor = Cursor::new(recorded(), Budget::default(), Usage::default());
        cursor.log(line("first run wrote this"));
        cursor.replay(&Call::Now).ok();
        cursor.replay(&Call::Sleep { duration_ns: 5 }).ok();
        cursor.log(line("new"));
        let (_, logs) = cursor.take_pending();
        assert_eq!(logs, vec![line("new")]);
    }

    #[test]
    fn log_lines_past_the_per_run_limit_are_counted_not_kept() {
        let budget = Budget { max_log_lines_per_run: 3, ..Budget::default() };
        let mut cursor = Cursor::new(Vec::new(), budget, Usage::default());
        for _ in 0..5 {
            cursor.log(line("spam"));
        }
        let (_, logs) = cursor.take_pending();
        assert_eq!(logs.len(), 4);
        assert_eq!(
            logs[3].message,
            "2 more log lines (8 bytes) dropped: a run keeps at most 3 lines and a workflow at most 16777216 bytes of log"
        );
    }

    #[test]
    fn log_bytes_count_what_earlier_runs_stored() {
        let budget = Budget { max_log_bytes: 10, ..Budget::default() };
        let mut cursor = Cursor::new(Vec::new(), budget, Usage { log_bytes: 4 });
        cursor.log(line("123456"));
        cursor.log(line("7"));
        let (_, logs) = cursor.take_pending();
        assert_eq!(logs[0], line("123456"));
        assert!(logs[1].message.starts_with("1 more log lines (1 bytes) dropped"), "{:?}", logs[1]);
    }

    #[test]
    fn only_entries_before_a_hole_are_taken_and_a_fill_keeps_seq_order() {
        let mut cursor = Cursor::default();
        cursor.record(Call::Now, Outcome::Time { ns: 1 }, 0).ok();
        let hole = cursor.reserve();
        assert_eq!((hole.seq, hole.recorded.is_none()), (1, true));
        cursor.record(Call::RandomU64, Outcome::Random { value: 2 }, 0).ok();
        let (taken, _) = cursor.take_pending();
        assert_eq!(taken.iter().map(|entry| entry.seq).collect::<Vec<_>>(), [0]);
        assert!(cursor.has_holes());
        assert_eq!(cursor.fill(1, Call::Now, Outcome::Time { ns: 3 }, 0), Ok(()));
        assert!(!cursor.has_holes());
        let (taken, _) = cursor.take_pending();
        assert_eq!(taken.iter().map(|entry| entry.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(cursor.pending_size(), (0, 0, 0));
    }

    #[test]
    fn a_reserved_position_replays_its_entry_and_diverges_on_another_call() {
        let mut cursor = Cursor::new(recorded(), Budget::default(), Usage::default());
        let reservation = cursor.reserve();
        let Some(entry) = reservation.recorded else {
            panic!("no recorded entry at a reserved position while replaying")
        };
        assert!(cursor.has_holes(), "a replayed position is a hole until it is checked");
        assert_eq!(cursor.check_reserved(0, &entry.call, &Call::Now), Ok(()));
        assert!(!cursor.has_holes());
        let diverged = cursor.check_reserved(0, &entry.call, &Call::RandomU64);
        assert_eq!(diverged.as_ref().map_err(|error| error.seq), Err(0));
        let diverged = cursor.replay(&Call::Sleep { duration_ns: 5 });
        assert!(
            matches!(diverged, Err(ReplayError::Diverged(Nondeterminism { seq: 0, .. }))),
            "{diverged:?}"
        );
    }

    #[test]
    fn journal_budgets_refuse_entries_that_do_not_fit() {
        let budget =
            Budget { max_entries: 3, max_journal_bytes: 25, max_entry_bytes: 20, ..Budget::default() };
        let mut cursor = Cursor::new(recorded(), budget, Usage::default());
        let used = cursor.journal_bytes();
        assert!(used > 5 && used < 20, "{used}");
        let big = Outcome::Bytes(vec![0; 30]);
        let call = Call::WasiRandomBytes { len: 30 };
        assert!(matches!(
            cursor.admit(&call, 30),
            Err(BudgetExceeded::EntryBytes { bytes: 30, limit: 20, .. })
        ));
        assert!(matches!(cursor.record(call, big, 0), Err(BudgetExceeded::EntryBytes { .. })));
        let call = Call::WasiRandomBytes { len: 16 };
        let error = cursor.admit(&call, 20).unwrap_err();
        assert!(matches!(error, BudgetExceeded::JournalBytes { limit: 25, .. }), "{error}");
        assert_eq!(cursor.record(Call::Now, Outcome::Time { ns: 1 }, 0), Ok(()));
        assert_eq!(
            cursor.record(Call::Now, Outcome::Time { ns: 1 }, 0),
            Err(BudgetExceeded::Entries { limit: 3 })
        );
        assert_eq!(cursor.pending_size().0, 1);
    }

    #[test]
    fn replay_resumed_at_every_seq_equals_replay_in_one_go() {
        // Record a run live, then replay every prefix of its journal and go on
        // live with different answers: the prefix must come back verbatim and
        // the rest must be new entries at the following seqs.
        let calls = [Call::Now, Call::RandomU64, Call::Sleep { duration_ns: 3 }, Call::WasiWallClock];
        let first_answer = |seq: u64| Outcome::Time { ns: seq * 100 };
        let second_answer = |seq: u64| Outcome::Time { ns: seq * 100 + 1 };
        let mut live = Cursor::new(Vec::new(), Budget::default(), Usage::default());
        for call in &calls {
            assert_eq!(live.replay(call), Ok(None));
            assert_eq!(live.record(call.clone(), first_answer(live.next_seq), 0), Ok(()));
        }
        let (full, _) = live.take_pending();
        for cut in 0..=full.len() {
            let mut cursor = Cursor::new(full[..cut].to_vec(), Budget::default(), Usage::default());
            let mut seen = Vec::new();
            for call in &calls {
                let outcome = match cursor.replay(call) {
                    Ok(Some(outcome)) => outcome,
                    Ok(None) => {
                        let outcome = second_answer(cursor.next_seq);
                        assert_eq!(cursor.record(call.clone(), outcome.clone(), 0), Ok(()));
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
