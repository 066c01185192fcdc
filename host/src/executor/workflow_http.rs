//! `wasi:http/outgoing-handler` for workflows: standard HTTP clients
//! (JavaScript's `fetch` under componentize-js, Python's through
//! componentize-py's `poll_loop`, Rust's `wstd` or `waki`) are durable
//! without an SDK, through the same journaled path as
//! `duro:workflow/http.send`.
//!
//! A request is one journal entry: [`Call::Http`], attempt 1, with no retry
//! policy (the guest's client decides about retries), its answer recorded
//! whole. It goes like this:
//!
//! 1. `handle` (shadowed here) first commits what the run recorded, so the
//!    request's journal position, and with it its idempotency key
//!    `<workflow id>/<seq>`, cannot move. The hook then takes the next
//!    position in guest order ([`Cursor::reserve`]): the guest may write the
//!    body after `handle` returns, and may make other journaled calls (a
//!    JavaScript engine reads the clock) meanwhile.
//! 2. A detached task collects the body under the host's body cap, within
//!    the request timeout, and builds the journaled call. Replaying, it
//!    compares the call with the entry recorded at that position and
//!    answers from the entry; nothing is sent. Live, it sends the request
//!    once with [`HttpClient::send`] (allowlist, idempotency key,
//!    redaction, caps and timeouts as for `http.send`) and records the
//!    answer in its position. The task is detached, so the answer is
//!    recorded even if the guest drops the request.
//! 3. `future-incoming-response.get` (shadowed here) commits before it hands
//!    a response over: the guest never sees an answer that is not durable.
//!    A crash before that re-sends the request, with the same key.
//!
//! Requests go out one at a time in journal order, because step 1 waits for
//! the answers of earlier requests: a guest that starts several at once
//! (`Promise.all`) gets them one after another, and a guest that hands a
//! request over and writes its body only after handing over a second one
//! waits until the first times out.
//!
//! A guest that waits on several requests at once (`wasi:io/poll` with two
//! response futures) may see them become ready in another order on replay,
//! since readiness is not journaled; waiting on one at a time, as `await`
//! does, replays exactly.
//!
//! The host sets `Host` and `Content-Length` from the URL and the body;
//! neither is journaled. The request's `first-byte-timeout`, if set (capped
//! by `--http-timeout-ms`, the default), bounds both the wait for the whole
//! body and the exchange; other timeouts are the host's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::watch;
use tracing::Instrument;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::p2::bindings::http::outgoing_handler;
use wasmtime_wasi_http::p2::bindings::http::types::HostFutureIncomingResponse as _;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{
    Error as WasiError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks, WasiHttpView,
};

use super::Error;
use super::checkpoint::{Checkpointer, Waiting};
use super::host::RunState;
use super::http::RESPONSE_OVERHEAD_BYTES;
use super::journal_handle::JournalHandle;
use crate::clock;
use crate::effects::HttpClient;
use crate::effects::http::{Request, without_credentials};
use crate::journal::{
    Attempt, Call, Cursor, HttpAttempt, HttpError, HttpResponse, Outcome, Reservation, codec,
};
use crate::telemetry::metrics::{self, AttemptOutcome};

/// The future wasmtime-wasi-http hands to and takes from the hook.
type IoFuture = Box<dyn Future<Output = Result<(), WasiError>> + Send>;

/// The version of `wasi:http` wasmtime-wasi-http 48.0.8 defines; guests
/// importing any 0.2.x link to it. It must match exactly, or the shadowing
/// lands in an unused instance (`tests/wasi_http.rs` fails then).
const WASI_HTTP_VERSION: &str = "0.2.12";

/// Writes the guest may make to a request body before the host reads them
/// (the host reads from `handle` on), and the most bytes one write may carry
/// (what `check-write` reports): a client that writes its whole body before
/// `handle` (waki does) blocks past 64 writes, and an unsent body holds at
/// most 1 MiB of host memory. A guest that waits on such a body past
/// `wasi.rs`'s poll limit traps.
const BODY_BUFFER_WRITES: usize = 64;
const BODY_WRITE_BYTES: usize = 16 << 10;

/// Headers the host sets from the URL and the body; the guest's are dropped
/// (wasmtime-wasi-http already refuses `Host`).
const HOST_SET: [http::HeaderName; 2] = [http::header::HOST, http::header::CONTENT_LENGTH];

/// A run's `wasi:http` state: wasmtime-wasi-http's context and the hooks.
pub(crate) struct WorkflowHttp {
    ctx: WasiHttpCtx,
    hooks: WorkflowHttpHooks,
    /// Changes each time a reserved position is closed; dropped with the
    /// run, which tells requests not yet sent that nobody waits for them.
    filled: watch::Receiver<()>,
}

impl WorkflowHttp {
    pub(crate) fn new(
        workflow_id: String,
        journal: JournalHandle,
        client: Arc<HttpClient>,
        checkpointer: Arc<dyn Checkpointer>,
    ) -> Self {
        let (filled_tx, filled) = watch::channel(());
        let exchange = Exchange { workflow_id, journal, client, checkpointer, filled: Arc::new(filled_tx) };
        Self { ctx: WasiHttpCtx::new(), hooks: WorkflowHttpHooks { exchange, trap: None }, filled }
    }

    /// Waits until every request handed over has its answer recorded (or,
    /// replaying, compared with the journal), so that everything the run
    /// recorded can be committed. Bounded by twice the HTTP timeout per
    /// request: the body, then the exchange.
    pub(crate) async fn answered(&mut self, journal: &JournalHandle) {
        loop {
            self.filled.borrow_and_update();
            if !journal.lock().has_holes() || self.filled.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The hooks wasmtime-wasi-http calls; see the module docs.
struct WorkflowHttpHooks {
    exchange: Exchange,
    /// Why the last `handle` must trap (a request over the host's size
    /// limits, a full journal); taken by the shadowed `handle`.
    trap: Option<wasmtime::Error>,
}

/// What the task of one request needs.
#[derive(Clone)]
struct Exchange {
    workflow_id: String,
    journal: JournalHandle,
    client: Arc<HttpClient>,
    checkpointer: Arc<dyn Checkpointer>,
    filled: Arc<watch::Sender<()>>,
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.wasi_http.ctx,
            table: &mut self.table,
            hooks: &mut self.wasi_http.hooks,
        }
    }
}

impl WasiHttpHooks for WorkflowHttpHooks {
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        BODY_BUFFER_WRITES
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_WRITE_BYTES
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_io: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), WasiError>> + Send> {
        let (parts, body) = request.into_parts();
        let head = Request {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .filter(|(name, _)| !HOST_SET.contains(name))
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body: None,
            timeout_ms: options
                .and_then(|options| options.first_byte_timeout)
                .map(|timeout| u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        };
        let refused = || -> Box<dyn Future<Output = _> + Send> {
            Box::new(async { Err(WasiError::InternalError(Some("the request was refused".into()))) })
        };
        if let Err(message) = HttpClient::check_size(&head) {
            self.trap = Some(Error::OversizeRequest(message).into());
            return refused();
        }
        let exchange = &self.exchange;
        let head_call = Call::Http {
            request: Box::new(exchange.client.journaled(&exchange.workflow_id, &head, None, None)),
            attempt: 1,
        };
        let reservation = {
            let mut cursor = exchange.journal.lock();
            if cursor.divergence().is_some() {
                return refused();
            }
            if !cursor.is_replaying() {
                // A replay check ends here; the guest is told the request failed.
                if cursor.go_live().is_err() {
                    return refused();
                }
                if let Err(full) = cursor.admit(&head_call, 0) {
                    self.trap = Some(Error::Budget(full).into());
                    return refused();
                }
            }
            cursor.reserve()
        };
        let closer = Closer {
            journal: exchange.journal.clone(),
            filled: exchange.filled.clone(),
            seq: reservation.seq,
            recorded: reservation.recorded.as_ref().map(|entry| entry.call.clone()),
            head_call,
        };
        let answer = tokio::spawn(exchange.clone().run(head, body, reservation, closer));
        Box::new(async move {
            let answer =
                answer.await.map_err(|stopped| WasiError::InternalError(Some(stopped.to_string())))?;
            let response = answer.map_err(to_wasi_error)?;
            Ok((to_wasi_response(response), Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

impl Exchange {
    /// Collects the body, then answers from the journal (replay) or sends
    /// the request and records the answer at the reserved position (live).
    async fn run(
        self,
        mut request: Request,
        body: WasiBody,
        reservation: Reservation,
        _closer: Closer,
    ) -> Result<HttpResponse, HttpError> {
        let config = self.client.config().clone();
        let body = collect(body, config.max_request_body_bytes, request_timeout(&request, &config)).await;
        if let Ok(bytes) = &body {
            request.body = (!bytes.is_empty()).then(|| bytes.to_vec());
        }
        let Reservation { seq, recorded } = reservation;
        let recorded_request = match recorded.as_ref().map(|entry| &entry.call) {
            Some(Call::Http { request, .. }) => Some(&**request),
            _ => None,
        };
        let journaled = self.client.journaled(&self.workflow_id, &request, None, recorded_request);
        let call = Call::Http { request: Box::new(journaled), attempt: 1 };
        if let Some(entry) = recorded {
            if let Err(diverged) = self.journal.lock().check_reserved(seq, &entry.call, &call) {
                // The guest's next journaled call traps with the divergence.
                return Err(HttpError::InvalidRequest(diverged.to_string()));
            }
            return match entry.outcome {
                Outcome::Http(attempt) => attempt.result,
                outcome => Err(HttpError::InvalidRequest(
                    Error::CorruptJournal { call: entry.call, outcome }.to_string(),
                )),
            };
        }
        let started = Instant::now();
        let result = match body {
            Err(refused) => Err(refused),
            // The run is gone (its store dropped, which ends an unfinished
            // body as if it were whole): nothing may be sent for it.
            Ok(_) if self.filled.is_closed() => {
                Err(HttpError::InvalidRequest("the run ended before the request was sent".into()))
            }
            Ok(_) => {
                let span = tracing::debug_span!(
                    "duro.http",
                    effect = %format_args!("{} {}", request.method, without_credentials(&request.url)),
                    attempt = 1
                );
                self.send(&call, &request, seq).instrument(span).await
            }
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        metrics::effect_attempt("http", AttemptOutcome::new(result.is_err(), false));
        let outcome = Attempt { result, retry_at_ns: None, duration_ms };
        let mut cursor = self.journal.lock();
        fill(&mut cursor, seq, call, outcome)
    }

    /// Sends `request` once with the key of position `seq`, reading at most
    /// what the journal can still take.
    async fn send(&self, call: &Call, request: &Request, seq: u64) -> Result<HttpResponse, HttpError> {
        let call_bytes = codec::encoded_len(call, &Outcome::Time { ns: 0 });
        let room = {
            let cursor = self.journal.lock();
            // A full journal refuses the request before it is sent.
            cursor
                .admit_bytes(call, call_bytes + RESPONSE_OVERHEAD_BYTES)
                .map_err(|full| HttpError::TooLarge(full.to_string()))?;
            cursor.entry_room(call_bytes + RESPONSE_OVERHEAD_BYTES)
        };
        self.checkpointer.waiting(Some(Waiting {
            effect: format!("{} {}", request.method, without_credentials(&request.url)),
            attempt: 1,
            max_attempts: 1,
            next_attempt_at_ns: None,
        }));
        let result = self.client.send(request, &format!("{}/{seq}", self.workflow_id), room).await;
        self.checkpointer.waiting(None);
        result
    }
}

/// Closes a request's reserved position when its task ends, however it
/// ends (a panic included): a hole left open would hold back every later
/// commit of the run. A position already filled or checked is left alone.
struct Closer {
    journal: JournalHandle,
    filled: Arc<watch::Sender<()>>,
    seq: u64,
    /// The call recorded there, while replaying.
    recorded: Option<Call>,
    /// The request without its body, for the entry of a live request whose
    /// task failed.
    head_call: Call,
}

impl Drop for Closer {
    fn drop(&mut self) {
        {
            let mut cursor = self.journal.lock();
            match self.recorded.take() {
                Some(recorded) => cursor.abandon_reserved(self.seq, recorded),
                None => {
                    let error = HttpError::Connection("the host stopped handling this request".into());
                    let outcome = Attempt { result: Err(error), retry_at_ns: None, duration_ms: 0 };
                    let call = self.head_call.clone();
                    cursor.fill_over_budget(
                        self.seq,
                        call,
                        Outcome::Http(Box::new(outcome)),
                        clock::now_ns(),
                    );
                }
            }
        }
        self.filled.send_replace(());
    }
}

/// Records `outcome` at reserved position `seq`, or, if it does not fit the
/// journal, an error that does; returns the result the guest sees.
fn fill(cursor: &mut Cursor, seq: u64, call: Call, outcome: HttpAttempt) -> Result<HttpResponse, HttpError> {
    let result = outcome.result.clone();
    let now = clock::now_ns();
    match cursor.fill(seq, call.clone(), Outcome::Http(Box::new(outcome)), now) {
        Ok(()) => result,
        Err(over) => {
            let error = HttpError::ResponseTooLarge(format!("the answer was received but {over}"));
            let outcome = Attempt { result: Err(error.clone()), retry_at_ns: None, duration_ms: 0 };
            cursor.fill_over_budget(seq, call, Outcome::Http(Box::new(outcome)), now);
            Err(error)
        }
    }
}

/// The overall timeout of `request`: what it asks for, capped by the host's.
fn request_timeout(request: &Request, config: &crate::effects::HttpConfig) -> Duration {
    request.timeout_ms.map_or(config.max_timeout, |ms| Duration::from_millis(ms).min(config.max_timeout))
}

/// The whole request body, at most `max_bytes`, within `timeout`.
async fn collect(body: WasiBody, max_bytes: u64, timeout: Duration) -> Result<Bytes, HttpError> {
    let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(HttpError::TooLarge(format!(
                "the request body is over the limit of {max_bytes} bytes (duro serve --max-http-request-kib)"
            )))
        }
        Ok(Err(error)) => {
            Err(HttpError::InvalidRequest(format!("the request body was not finished: {error}")))
        }
        Err(_) => Err(HttpError::Timeout(format!(
            "the workflow did not finish the request body within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// A journaled answer as wasmtime-wasi-http's response: headers in the
/// order recorded, the body whole.
fn to_wasi_response(response: HttpResponse) -> http::Response<WasiBody> {
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let body = Full::new(Bytes::from(response.body)).map_err(|never| match never {}).boxed_unsync();
    builder.body(body).unwrap_or_else(|_| {
        // Recorded from a real response, so the status and headers parse;
        // a corrupt entry gets an empty 500 rather than a panic.
        let mut fallback =
            http::Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync());
        *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

/// A journaled error as `wasi:http`'s error code.
fn to_wasi_error(error: HttpError) -> WasiError {
    match error {
        HttpError::Denied(_) => WasiError::HttpRequestDenied,
        HttpError::Timeout(_) => WasiError::ConnectionTimeout,
        HttpError::TooLarge(_) => WasiError::HttpRequestBodySize(None),
        HttpError::ResponseTooLarge(_) => WasiError::HttpResponseBodySize(None),
        error @ (HttpError::Connection(_) | HttpError::InvalidRequest(_)) => {
            WasiError::InternalError(Some(error.to_string()))
        }
    }
}

/// Adds `wasi:http` 0.2 (types and `outgoing-handler`) and shadows
/// `handle` and `future-incoming-response.get`; see the module docs.
///
/// # Errors
/// If wasmtime-wasi-http's interfaces cannot be added or a signature is
/// rejected.
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    linker.allow_shadowing(true);
    linker.instance(&format!("wasi:http/outgoing-handler@{WASI_HTTP_VERSION}"))?.func_wrap_async(
        "handle",
        |mut store: StoreContextMut<'_, RunState>,
         (request, options): (Resource<HostOutgoingRequest>, Option<Resource<RequestOptions>>)| {
            Box::new(async move {
                let state = store.data_mut();
                state.commit_pending().await?;
                let handed = outgoing_handler::Host::handle(&mut state.http(), request, options);
                if let Some(trap) = state.wasi_http.hooks.trap.take() {
                    return Err(trap);
                }
                if let Some(diverged) = state.journal.lock().divergence() {
                    return Err(diverged.clone().into());
                }
                match handed {
                    Ok(future) => Ok((Ok(future),)),
                    Err(error) => Ok((Err(error.downcast()?),)),
                }
            })
        },
    )?;
    linker.instance(&format!("wasi:http/types@{WASI_HTTP_VERSION}"))?.func_wrap_async(
        "[method]future-incoming-response.get",
        |mut store: StoreContextMut<'_, RunState>, (future,): (Resource<HostFutureIncomingResponse>,)| {
            Box::new(async move {
                let state = store.data_mut();
                let answer = state.http().get(future)?;
                if answer.is_some() {
                    state.commit_pending().await?;
                }
                Ok((answer,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
