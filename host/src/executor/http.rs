//! `duro:workflow/http.send`: a journaled HTTP request with retries.
//!
//! Each attempt is one journal entry ([`Call::Http`] with its attempt
//! number). Live, an attempt runs like this:
//!
//! 1. what the run recorded before it is committed, so the request's
//!    idempotency key (`<workflow id>/<seq of attempt 1>`) names a journal
//!    position no re-execution can move;
//! 2. the request is sent once and its answer recorded, with the time of the
//!    next attempt if the retry policy asks for one;
//! 3. the entry is committed, and only then does the guest see the answer,
//!    or the host wait out the backoff (in memory when short, suspended like
//!    a timer when longer). A crash before step 3 re-sends the request with
//!    the same key; a crash after it never does.
//!
//! On replay the recorded attempts are walked through in order and the last
//! one's answer is returned; nothing is sent.

use std::time::Instant;

use serde_bytes::ByteBuf;
use tracing::Instrument;

use super::Error;
use super::bindings::{RetryPolicy, http, types};
use super::effect::EffectProgress;
use super::host::RunState;
use crate::clock;
use crate::effects::HttpClient;
use crate::effects::http::{Request, retry_after, retryable_type, without_credentials};
use crate::journal::{
    Attempt, Call, HttpAttempt, HttpError, HttpResponse, Outcome, RetryPolicy as RetryPolicyRecord,
};
use crate::telemetry::metrics::{self, AttemptOutcome};

/// `duro:workflow/types` has only types.
impl types::Host for RunState {}

impl http::Host for RunState {
    async fn send(
        &mut self,
        request: http::Request,
        retry: Option<RetryPolicy>,
    ) -> wasmtime::Result<Result<http::Response, http::Error>> {
        let request = Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        let policy = retry.map(RetryPolicyRecord::from);
        HttpClient::check_size(&request).map_err(Error::OversizeRequest)?;
        let key = format!("{}/{}", self.workflow_id, self.journal.lock().next_seq());
        let progress = EffectProgress {
            effect: format!("{} {}", request.method, without_credentials(&request.url)),
            max_attempts: policy.as_ref().map_or(1, |policy| policy.maximum_attempts),
        };
        let mut attempt = 1;
        loop {
            let call = {
                let mut cursor = self.journal.lock();
                let recorded = match cursor.peek() {
                    Some(Call::Http { request, .. }) => Some(&**request),
                    _ => None,
                };
                let journaled = self.http.journaled(&self.workflow_id, &request, policy.clone(), recorded);
                let call = Call::Http { request: Box::new(journaled), attempt };
                let recorded = cursor.replay(&call)?;
                (call, recorded)
            };
            let (call, recorded) = call;
            let outcome = match recorded {
                Some(Outcome::Http(outcome)) => *outcome,
                Some(outcome) => return Err(Error::CorruptJournal { call, outcome }.into()),
                None => {
                    self.attempt_started(&progress, attempt);
                    let span = tracing::debug_span!("duro.http", effect = %progress.effect, attempt);
                    let outcome = self
                        .attempt_live(call, policy.as_ref(), &request, &key, attempt)
                        .instrument(span)
                        .await?;
                    let counted = AttemptOutcome::new(outcome.result.is_err(), outcome.retry_at_ns.is_some());
                    metrics::effect_attempt("http", counted);
                    outcome
                }
            };
            if !self.back_off(&progress, attempt, outcome.retry_at_ns).await? {
                return Ok(to_guest(outcome.result));
            }
            attempt += 1;
        }
    }
}

impl RunState {
    /// Sends attempt `attempt` of `request` and commits its entry; see the
    /// module docs.
    async fn attempt_live(
        &mut self,
        call: Call,
        policy: Option<&RetryPolicyRecord>,
        request: &Request,
        key: &str,
        attempt: u32,
    ) -> wasmtime::Result<HttpAttempt> {
        self.commit_pending().await?;
        // The response must fit one journal entry: the smaller of that and
        // the host's response cap limits it.
        let call_bytes = crate::journal::codec::encoded_len(&call, &Outcome::Time { ns: 0 });
        let entry_room = {
            let cursor = self.journal.lock();
            cursor.admit(&call, call_bytes).map_err(Error::Budget)?;
            cursor.entry_room(call_bytes + RESPONSE_OVERHEAD_BYTES)
        };
        self.charge_cpu()?;
        let started = Instant::now();
        let result = self.http.send(request, key, entry_room).await;
        self.cpu.resume();
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let retry_at_ns = policy.and_then(|policy| {
            let error_type = retryable_type(&result)?;
            let asked_ns = retry_after(&result).map_or(0, |wait| wait.as_nanos() as u64);
            policy.retry_at(attempt, &error_type, clock::now_ns(), asked_ns)
        });
        let mut outcome = Attempt { result, retry_at_ns, duration_ms };
        {
            let mut cursor = self.journal.lock();
            let recorded =
                cursor.record(call.clone(), Outcome::Http(Box::new(outcome.clone())), clock::now_ns());
            if let Err(over) = recorded {
                // The answer came but does not fit the journal (the
                // estimate of its overhead was short): the guest gets an
                // error that does, and no retry.
                outcome = Attempt {
                    result: Err(HttpError::ResponseTooLarge(format!("the answer was received but {over}"))),
                    retry_at_ns: None,
                    duration_ms,
                };
                cursor
                    .record(call, Outcome::Http(Box::new(outcome.clone())), clock::now_ns())
                    .map_err(Error::Budget)?;
            }
        }
        self.commit_pending().await?;
        Ok(outcome)
    }
}

/// Bytes of an HTTP outcome besides the body and header bytes: status,
/// lengths, times, variant tags.
pub(super) const RESPONSE_OVERHEAD_BYTES: u64 = 64;

/// An attempt's result as the guest's types.
fn to_guest(result: Result<HttpResponse, HttpError>) -> Result<http::Response, http::Error> {
    match result {
        Ok(response) => Ok(http::Response {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(name, value)| (name, ByteBuf::into_vec(value)))
                .collect(),
            body: response.body,
        }),
        Err(HttpError::Denied(message)) => Err(http::Error::Denied(message)),
        Err(HttpError::Timeout(message)) => Err(http::Error::Timeout(message)),
        Err(HttpError::Connection(message)) => Err(http::Error::Connection(message)),
        Err(HttpError::TooLarge(message)) => Err(http::Error::TooLarge(message)),
        Err(HttpError::InvalidRequest(message)) => Err(http::Error::InvalidRequest(message)),
        Err(HttpError::ResponseTooLarge(message)) => Err(http::Error::ResponseTooLarge(message)),
    }
}
