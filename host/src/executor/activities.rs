//! `duro:workflow/activities.call`: an activity called from a workflow, with
//! timeouts and retries, journaled like every effect.
//!
//! Each attempt is one journal entry ([`Call::Activity`] with its attempt
//! number), and runs as HTTP attempts do (see `http.rs`): what the run
//! recorded is committed first, the attempt runs in a fresh activity
//! instance, its result is recorded and committed, and only then does the
//! workflow see it or the host wait out the backoff. On replay the recorded
//! attempts are walked through and nothing runs.
//!
//! Timeouts follow Temporal's: start-to-close bounds one attempt,
//! schedule-to-close all attempts and waits from the first attempt's start,
//! heartbeat the silence within an attempt. A timed-out attempt is an error
//! like any other, retried under the policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::activity_host::{AttemptContext, run_attempt};
use super::bindings::activities;
use super::bindings::types::ActivityError as GuestError;
use super::effect::EffectProgress;
use super::host::{HostFailure, RunState};
use super::{ActivityUnavailable, Error, Prepared};
use crate::clock;
use crate::effects::HttpClient;
use crate::engine::Engine;
use crate::journal::{ActivityAttempt, ActivityCall, ActivityError, Call, InFlight, Outcome, RetryPolicy};
use crate::telemetry::metrics::{self, AttemptOutcome};

impl activities::Host for RunState {
    async fn call(
        &mut self,
        component: String,
        input: String,
        options: activities::ActivityOptions,
    ) -> wasmtime::Result<Result<String, GuestError>> {
        if input.len() > MAX_INPUT_BYTES {
            let message =
                format!("the activity input is {} bytes; the limit is {MAX_INPUT_BYTES}", input.len());
            return Err(Error::OversizeRequest(message).into());
        }
        let call = ActivityCall {
            component,
            input_len: input.len() as u64,
            input_sha256: Sha256::digest(input.as_bytes()).into(),
            start_to_close_ms: options.start_to_close_timeout_ms,
            schedule_to_close_ms: options.schedule_to_close_timeout_ms,
            heartbeat_ms: options.heartbeat_timeout_ms,
            retry: options.retry.map(RetryPolicy::from),
        };
        let key = format!("{}/{}", self.workflow_id, self.journal.lock().next_seq());
        let progress = EffectProgress {
            effect: call.to_string(),
            max_attempts: call.retry.as_ref().map_or(1, |policy| policy.maximum_attempts),
        };
        let call = Box::new(call);
        let mut first_started_ns = None;
        let mut last_heartbeat = None;
        let mut in_flight = None;
        let mut attempt = 1;
        loop {
            let entry = Call::Activity { call: call.clone(), attempt };
            let recorded = self.journal.lock().replay(&entry)?;
            let outcome = match recorded {
                Some(Outcome::InFlight(marker)) => {
                    // The attempt started (or heartbeat) here; its next entry
                    // is a later heartbeat, its result, or nothing: lost.
                    first_started_ns.get_or_insert(marker.started_at_ns);
                    if marker.heartbeat.is_some() {
                        last_heartbeat.clone_from(&marker.heartbeat);
                    }
                    in_flight = Some(*marker);
                    continue;
                }
                Some(Outcome::Activity(outcome)) => *outcome,
                Some(outcome) => return Err(Error::CorruptJournal { call: entry, outcome }.into()),
                None => match in_flight.take() {
                    Some(lost) => self.attempt_lost(entry, &call, attempt, lost, first_started_ns)?,
                    None => {
                        self.attempt_started(&progress, attempt);
                        let context = AttemptContext::new(attempt, last_heartbeat.clone(), key.clone());
                        let span = tracing::debug_span!("duro.activity", effect = %progress.effect, attempt);
                        let outcome = self
                            .activity_live(entry, &call, &input, context, first_started_ns)
                            .instrument(span)
                            .await?;
                        let counted =
                            AttemptOutcome::new(outcome.result.is_err(), outcome.retry_at_ns.is_some());
                        metrics::effect_attempt("activity", counted);
                        outcome
                    }
                },
            };
            in_flight = None;
            first_started_ns.get_or_insert(outcome.started_at_ns);
            if outcome.heartbeat.is_some() {
                last_heartbeat.clone_from(&outcome.heartbeat);
            }
            if !self.back_off(&progress, attempt, outcome.retry_at_ns).await? {
                return Ok(outcome.result.map_err(GuestError::from));
            }
            attempt += 1;
        }
    }
}

impl RunState {
    /// Runs one attempt of `call` and commits its entry; `first_started_ns`
    /// is when the call's first attempt started, as journaled (for
    /// schedule-to-close), `None` for the first attempt. An attempt whose
    /// schedule-to-close deadline has passed fails without running.
    ///
    /// # Errors
    /// [`HostFailure`] if the host cannot get the component now; a budget,
    /// a failed checkpoint, a CPU limit.
    async fn activity_live(
        &mut self,
        entry: Call,
        call: &ActivityCall,
        input: &str,
        context: AttemptContext,
        first_started_ns: Option<u64>,
    ) -> wasmtime::Result<ActivityAttempt> {
        let call_bytes = crate::journal::codec::encoded_len(&entry, &Outcome::Time { ns: 0 });
        self.journal.lock().admit(&entry, call_bytes).map_err(Error::Budget)?;
        let started_at_ns = clock::now_ns();
        let deadline_ns = call
            .schedule_to_close_ms
            .map(|ms| first_started_ns.unwrap_or(started_at_ns).saturating_add(ms.saturating_mul(1_000_000)));
        let started = Instant::now();
        let attempt = context.attempt;
        let context = Arc::new(context);
        self.charge_cpu()?;
        let max_attempt = self.settings.max_activity_attempt;
        let (digest, result) = match self.checkpointer.activity(&call.component).await {
            Err(ActivityUnavailable::HostSide(message)) => return Err(HostFailure(message).into()),
            Err(ActivityUnavailable::Unrunnable(message)) => {
                (None, Err(ActivityError::new("unknown-component", message, true)))
            }
            Ok(_) if deadline_ns.is_some_and(|deadline| deadline <= clock::now_ns()) => {
                let message = "the schedule-to-close deadline passed before this attempt".to_owned();
                (None, Err(ActivityError::new("schedule-to-close-timeout", message, false)))
            }
            Ok(prepared) => {
                // What the run recorded before the attempt is durable before
                // it runs, so the idempotency key cannot move. The attempt
                // itself is journaled as in flight only once it has run for
                // `IN_FLIGHT_AFTER` (see `journaling_heartbeats`).
                self.cpu.resume();
                self.commit_pending().await?;
                let digest = prepared.digest.to_string();
                let (engine, http) = (self.engine.clone(), self.http.clone());
                let limits = AttemptLimits { deadline_ns, max_attempt };
                let attempt =
                    attempt_within_timeouts(&engine, http, &prepared, call, input, &context, limits);
                let result =
                    self.journaling_heartbeats(attempt, &entry, started_at_ns, call, &context).await?;
                (Some(digest), result)
            }
        };
        self.cpu.resume();
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now_ns = clock::now_ns();
        let retry_at_ns = match (&result, &call.retry) {
            (Err(error), Some(policy)) if !error.non_retryable => policy
                .retry_at(attempt, &error.type_name, now_ns, 0)
                .map(|at| match error.next_retry_delay_ms {
                    Some(ms) => now_ns.saturating_add(ms.saturating_mul(1_000_000)),
                    None => at,
                })
                .filter(|at| deadline_ns.is_none_or(|deadline| *at < deadline)),
            _ => None,
        };
        let heartbeat = context.heartbeat_details();
        let mut outcome =
            ActivityAttempt { result, retry_at_ns, started_at_ns, duration_ms, digest, heartbeat };
        {
            let mut cursor = self.journal.lock();
            if let Err(over) =
                cursor.record(entry.clone(), Outcome::Activity(Box::new(outcome.clone())), now_ns)
            {
                // The output (or heartbeat) does not fit the journal: the
                // workflow gets an error that does.
                outcome.result =
                    Err(ActivityError::new("too-large", format!("the activity's answer {over}"), true));
                outcome.retry_at_ns = None;
                outcome.heartbeat = None;
                cursor
                    .record(entry, Outcome::Activity(Box::new(outcome.clone())), now_ns)
                    .map_err(Error::Budget)?;
            }
        }
        self.commit_pending().await?;
        Ok(outcome)
    }
}

impl RunState {
    /// Runs `attempt` to its end. Once it has run for [`IN_FLIGHT_AFTER`],
    /// journals it as in flight (with its heartbeat details, if any), so
    /// that a restart counts it as lost; then journals its heartbeat
    /// details as they change, at most once per [`heartbeat_interval`], so
    /// that a restart hands the last of them to the next attempt. A
    /// heartbeat that does not fit the journal is not journaled (the
    /// attempt's result carries its last heartbeat anyway).
    ///
    /// # Errors
    /// A failed checkpoint.
    async fn journaling_heartbeats(
        &mut self,
        attempt: impl Future<Output = Result<String, ActivityError>>,
        entry: &Call,
        started_at_ns: u64,
        call: &ActivityCall,
        context: &AttemptContext,
    ) -> wasmtime::Result<Result<String, ActivityError>> {
        let interval = heartbeat_interval(call.heartbeat_ms);
        let mut marked = false;
        let mut journaled = None;
        tokio::pin!(attempt);
        loop {
            let pause = if marked { interval } else { IN_FLIGHT_AFTER };
            tokio::select! {
                result = &mut attempt => return Ok(result),
                () = tokio::time::sleep(pause) => {
                    let heartbeat = context.heartbeat_details();
                    if marked && (heartbeat.is_none() || heartbeat == journaled) {
                        continue;
                    }
                    marked = true;
                    let marker = Outcome::InFlight(Box::new(InFlight { started_at_ns, heartbeat: heartbeat.clone() }));
                    if self.journal.lock().record(entry.clone(), marker, clock::now_ns()).is_ok() {
                        // The activity's CPU time is not the workflow's.
                        self.cpu.resume();
                        self.commit_pending().await?;
                        journaled = heartbeat;
                    }
                }
            }
        }
    }

    /// Records attempt `attempt` of `call`, found started in the journal
    /// but never finished (the host stopped while it ran), as failed with
    /// type `host-lost`: the retry policy decides what follows, so an
    /// activity that brings its host down (after [`IN_FLIGHT_AFTER`], when
    /// its attempt was journaled) is not run forever. Without a
    /// policy it is run again at once, as it was before: the host's
    /// failure is not the activity's.
    ///
    /// # Errors
    /// A journal budget.
    fn attempt_lost(
        &mut self,
        entry: Call,
        call: &ActivityCall,
        attempt: u32,
        lost: InFlight,
        first_started_ns: Option<u64>,
    ) -> wasmtime::Result<ActivityAttempt> {
        let now_ns = clock::now_ns();
        let deadline_ns = call.schedule_to_close_ms.map(|ms| {
            first_started_ns.unwrap_or(lost.started_at_ns).saturating_add(ms.saturating_mul(1_000_000))
        });
        let retry_at_ns = match &call.retry {
            Some(policy) => policy.retry_at(attempt, HOST_LOST, now_ns, 0),
            None => Some(now_ns),
        }
        .filter(|at| deadline_ns.is_none_or(|deadline| *at < deadline));
        let message = "the host stopped while this attempt ran; its outcome is unknown".to_owned();
        let outcome = ActivityAttempt {
            result: Err(ActivityError::new(HOST_LOST, message, false)),
            retry_at_ns,
            started_at_ns: lost.started_at_ns,
            duration_ms: now_ns.saturating_sub(lost.started_at_ns) / 1_000_000,
            digest: None,
            heartbeat: lost.heartbeat,
        };
        let recorded = Outcome::Activity(Box::new(outcome.clone()));
        self.journal.lock().record(entry, recorded, now_ns).map_err(Error::Budget)?;
        Ok(outcome)
    }
}

/// How long an attempt runs before it is journaled as in flight. A shorter
/// attempt costs one commit (its result) instead of two; if the host stops
/// during it, replay finds no trace of it and runs it again under the same
/// attempt number and idempotency key, as for an HTTP attempt (effects are
/// at least once). Temporal likewise keeps a retried activity's start out
/// of the history until the attempt ends; DBOS and Restate record a step
/// only once it has run.
const IN_FLIGHT_AFTER: Duration = Duration::from_millis(100);

/// The error type of an attempt the host lost track of.
const HOST_LOST: &str = "host-lost";

/// How often a running attempt's heartbeats are journaled, at most: 80% of
/// its heartbeat timeout, at least 1 s, or 30 s without one (Temporal
/// throttles heartbeats the same way).
fn heartbeat_interval(heartbeat_ms: Option<u64>) -> Duration {
    heartbeat_ms
        .map_or(Duration::from_secs(30), |ms| Duration::from_millis(ms / 5 * 4).max(Duration::from_secs(1)))
}

/// One attempt, stopped at the first timeout that passes.
async fn attempt_within_timeouts(
    engine: &Engine,
    http: Arc<HttpClient>,
    prepared: &Prepared,
    call: &ActivityCall,
    input: &str,
    context: &Arc<AttemptContext>,
    limits: AttemptLimits,
) -> Result<String, ActivityError> {
    let AttemptLimits { deadline_ns, max_attempt } = limits;
    let Some(activity) = prepared.as_activity() else {
        return Err(ActivityError::new(
            "unknown-component",
            format!("{} is not an activity", call.component),
            true,
        ));
    };
    // The host's cap bounds what the workflow asked for; the journal keeps
    // what it asked.
    let start_to_close = Duration::from_millis(call.start_to_close_ms).min(max_attempt);
    let to_deadline =
        deadline_ns.map(|deadline| Duration::from_nanos(deadline.saturating_sub(clock::now_ns())));
    let (limit, timeout_type) = match to_deadline {
        Some(left) if left < start_to_close => (left, "schedule-to-close-timeout"),
        _ => (start_to_close, "start-to-close-timeout"),
    };
    let heartbeat = call.heartbeat_ms.map(Duration::from_millis);
    // The heartbeat clock starts now, not before the lookup and compilation.
    context.restart_clock();
    tokio::select! {
        result = tokio::time::timeout(limit, run_attempt(engine, http, activity, input, context.clone())) => {
            result.unwrap_or_else(|_| {
                Err(ActivityError::new(timeout_type, format!("the attempt ran past its {timeout_type} of {} ms", limit.as_millis()), false))
            })
        }
        () = heartbeat_silence(context, heartbeat) => {
            let ms = heartbeat.map_or(0, |timeout| timeout.as_millis());
            Err(ActivityError::new("heartbeat-timeout", format!("no heartbeat for {ms} ms"), false))
        }
    }
}

/// What bounds an attempt besides its own start-to-close timeout.
#[derive(Debug, Clone, Copy)]
struct AttemptLimits {
    /// The schedule-to-close deadline, in ns since the Unix epoch.
    deadline_ns: Option<u64>,
    /// The host's cap on one attempt.
    max_attempt: Duration,
}

/// Largest activity input, in bytes (JSON text); a larger one fails the
/// workflow.
const MAX_INPUT_BYTES: usize = 1 << 20;

/// Returns once the attempt has gone `timeout` without a heartbeat; never
/// without a timeout.
async fn heartbeat_silence(context: &AttemptContext, timeout: Option<Duration>) {
    let Some(timeout) = timeout else { return std::future::pending().await };
    loop {
        let due = context.last_beat() + timeout;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due.into()).await;
    }
}
