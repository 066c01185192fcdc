//! One attempt of an activity: a fresh instance of an `activity` component
//! in its own `Store`, with real WASI clocks and randomness (an activity is
//! not replayed, so it needs no journal), the `activity-context` imports,
//! and the memory limit of workflows.
//!
//! The attempt is bounded from outside: the caller drops its future at a
//! timeout (start-to-close, schedule-to-close, heartbeat), which stops the
//! wasm at its next epoch tick or host call.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use tokio::sync::Semaphore;

use super::activity_http::{ActivityHttpHooks, MAX_REQUESTS_IN_FLIGHT};
use super::bindings::activity::duro::workflow::activity_context;
use super::bindings::activity::{Activity, ActivityPre};
use crate::effects::HttpClient;
use crate::engine::Engine;
use crate::journal::ActivityError;

/// Most host resources (streams, requests, pollables) an attempt may hold.
const MAX_RESOURCES: usize = 10_000;

/// Largest `wasi:random` request, in bytes.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Longest heartbeat details kept, in bytes; longer ones are cut.
const MAX_HEARTBEAT_BYTES: usize = 64 << 10;

/// What an attempt knows of its call, and what it reports back.
#[derive(Debug)]
pub(crate) struct AttemptContext {
    pub(crate) attempt: u32,
    /// The last heartbeat details of the earlier attempts.
    pub(crate) last_heartbeat: Option<String>,
    pub(crate) idempotency_key: String,
    beat: Mutex<Beat>,
}

/// The attempt's last heartbeat: when, and its details.
#[derive(Debug)]
struct Beat {
    at: Instant,
    details: Option<String>,
}

impl AttemptContext {
    pub(crate) fn new(attempt: u32, last_heartbeat: Option<String>, idempotency_key: String) -> Self {
        Self {
            attempt,
            last_heartbeat,
            idempotency_key,
            beat: Mutex::new(Beat { at: Instant::now(), details: None }),
        }
    }

    /// Starts the heartbeat clock again: the attempt starts running now.
    pub(crate) fn restart_clock(&self) {
        self.lock().at = Instant::now();
    }

    /// When the attempt last showed life: its last heartbeat, or its start.
    pub(crate) fn last_beat(&self) -> Instant {
        self.lock().at
    }

    /// The details of this attempt's last heartbeat, if it sent one.
    pub(crate) fn heartbeat_details(&self) -> Option<String> {
        self.lock().details.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Beat> {
        self.beat.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The data of an attempt's `Store`.
pub(crate) struct ActivityState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    context: Arc<AttemptContext>,
    http: WasiHttpCtx,
    hooks: ActivityHttpHooks,
}

impl WasiView for ActivityState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for ActivityState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// `duro:workflow/types` has only types.
impl super::bindings::types::Host for ActivityState {}

impl activity_context::Host for ActivityState {
    async fn heartbeat(&mut self, mut details: String) -> wasmtime::Result<()> {
        details.truncate(details.floor_char_boundary(MAX_HEARTBEAT_BYTES));
        let mut beat = self.context.lock();
        *beat = Beat { at: Instant::now(), details: Some(details) };
        Ok(())
    }

    async fn attempt(&mut self) -> wasmtime::Result<u32> {
        Ok(self.context.attempt)
    }

    async fn last_heartbeat(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.context.last_heartbeat.clone())
    }

    async fn idempotency_key(&mut self) -> wasmtime::Result<String> {
        Ok(self.context.idempotency_key.clone())
    }
}

/// Links and runs activities; shared by all runs.
pub(crate) struct ActivityHost {
    linker: Linker<ActivityState>,
}

impl ActivityHost {
    /// A linker with WASI 0.2 (real clocks and randomness, no filesystem,
    /// sockets or environment), outbound `wasi:http` under the host's HTTP
    /// policy (`activity_http.rs`), and `activity-context`.
    pub(crate) fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(engine.wasmtime());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Activity::add_to_linker::<_, HasSelf<ActivityState>>(&mut linker, |state| state)?;
        Ok(Self { linker })
    }

    /// `component` checked against the `activity` world.
    pub(crate) fn prepare(
        &self,
        component: &wasmtime::component::Component,
    ) -> wasmtime::Result<ActivityPre<ActivityState>> {
        ActivityPre::new(self.linker.instantiate_pre(component)?)
    }
}

/// Runs one attempt of `activity` on `input`, to its end: the output, or
/// the activity's error, or a trap as an error of type `trap`. Its HTTP
/// requests go through `http`'s policy.
pub(crate) async fn run_attempt(
    engine: &Engine,
    http: Arc<HttpClient>,
    activity: &ActivityPre<ActivityState>,
    input: &str,
    context: Arc<AttemptContext>,
) -> Result<String, ActivityError> {
    let limits = engine.limits();
    let hooks = ActivityHttpHooks {
        http,
        idempotency_key: context.idempotency_key.clone(),
        traceparent: crate::telemetry::traces::current_traceparent(),
        in_flight: Arc::new(Semaphore::new(MAX_REQUESTS_IN_FLIGHT)),
    };
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    let state = ActivityState {
        wasi: WasiCtx::builder().max_random_size(MAX_RANDOM_BYTES).build(),
        table,
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.max_memory_bytes)
            .trap_on_grow_failure(true)
            .build(),
        context,
        http: WasiHttpCtx::new(),
        hooks,
    };
    let mut store = Store::new(engine.wasmtime(), state);
    store.limiter(|state| &mut state.limits);
    // Yield at every epoch tick, so a timeout can stop the attempt.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    let trap = |error: wasmtime::Error| {
        ActivityError::new("trap", format!("the activity trapped: {}", error.root_cause()), false)
    };
    let instance = activity.instantiate_async(&mut store).await.map_err(trap)?;
    instance.call_run(&mut store, input).await.map_err(trap)?.map_err(ActivityError::from)
}
