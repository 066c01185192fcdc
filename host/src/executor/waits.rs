//! `duro:workflow/waits` and `duro:workflow/events`: timers, signals and
//! child workflows as handles, `wait-any` over them, and durable events.
//!
//! A handle's key is the seq of the entry that made it, and its
//! representation in the guest's handle table is that key, so the host needs
//! no table of its own: [`WaitState`] maps keys to what they wait for,
//! rebuilt by replay as the guest makes its calls again.
//!
//! A live `wait-any` first tells the workflow of a cancellation request it
//! has not been told of; else it asks the [`Inbox`] which handles are ready
//! and takes the one that arrived first (timers by when they fired, signals
//! by when they were sent, children by when they ended; the lowest index on
//! a tie). The winner is journaled, so replay returns it whatever arrived
//! since; a signal it received is consumed by the commit that holds the
//! entry, never by the look. With nothing ready the run waits in memory up
//! to the inline threshold (woken by the inbox's arrivals or the earliest
//! timer), then unwinds with [`Suspend`]: the workflow is stored as waiting
//! for what the handles name and holds no memory until one arrives.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::Resource;

use super::Error;
use super::bindings::{events, waits};
use super::host::{HostFailure, RunState, SMALL_ENTRY_BYTES, Suspend, Suspension};
use super::inbox::{ChildAdmission, Inbox};
use crate::clock;
use crate::ids::{WorkflowId, hex};
use crate::journal::{self, Call, ChildCall, ChildEnd, ChildStart, ChildStatus, Outcome, WaitOutcome, Won};

/// Largest event value, in bytes of JSON text.
const MAX_EVENT_BYTES: usize = 64 << 10;
/// Largest child input, in bytes of JSON text.
const MAX_CHILD_INPUT_BYTES: usize = 1 << 20;
/// Most handles one `wait-any` takes.
const MAX_WAIT_HANDLES: usize = 1_024;
/// Most children one workflow may start in its life (Temporal's default
/// limit on pending children is 2,000); more are refused.
const MAX_CHILDREN: usize = 2_000;

/// What a handle waits for.
#[derive(Debug, Clone)]
enum Source {
    Timer { wake_at_ns: u64 },
    Signal { name: String },
    Child { id: String },
}

/// The handles of one run and what they came to; see the module docs.
pub(crate) struct WaitState {
    inbox: Arc<dyn Inbox>,
    sources: HashMap<u64, Source>,
    won: HashMap<u64, WaitOutcome>,
    /// Per signal name, the arrival number of the last signal received
    /// (replayed or live): later looks skip it and those before it.
    received: HashMap<String, u64>,
    /// Child ids started in this run, so one id is never started twice.
    children: HashSet<String>,
    /// Whether the workflow has been told of a cancellation request.
    pub(crate) cancel_told: bool,
}

impl WaitState {
    pub(crate) fn new(inbox: Arc<dyn Inbox>) -> Self {
        Self {
            inbox,
            sources: HashMap::new(),
            won: HashMap::new(),
            received: HashMap::new(),
            children: HashSet::new(),
            cancel_told: false,
        }
    }

    /// Records what a replayed or live `wait-any` over `keys` came to, and
    /// converts it for the guest.
    fn apply(&mut self, keys: &[u64], call: &Call, outcome: Outcome) -> wasmtime::Result<WaitResult> {
        match outcome {
            Outcome::Won(won) => {
                let Some(key) = keys.get(won.index as usize).copied() else {
                    return Err(
                        Error::CorruptJournal { call: call.clone(), outcome: Outcome::Won(won) }.into()
                    );
                };
                if let (WaitOutcome::Signal { arrival, .. }, Some(Source::Signal { name })) =
                    (&won.outcome, self.sources.get(&key))
                {
                    let last = self.received.entry(name.clone()).or_default();
                    *last = (*last).max(*arrival);
                }
                self.won.insert(key, won.outcome.clone());
                Ok(Ok(waits::Winner { index: won.index, outcome: guest_outcome(won.outcome) }))
            }
            Outcome::Cancelled => {
                self.cancel_told = true;
                Ok(Err(waits::Interrupted::Cancelled))
            }
            outcome => Err(Error::CorruptJournal { call: call.clone(), outcome }.into()),
        }
    }

    /// The ready handle among `keys` that arrived first, if any.
    async fn first_ready(&self, keys: &[u64]) -> wasmtime::Result<Option<Won>> {
        let now_ns = clock::now_ns();
        let mut first: Option<(u64, Won)> = None;
        for (index, key) in keys.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let ready = if let Some(outcome) = self.won.get(key) {
                Some((0, outcome.clone()))
            } else {
                match self.sources.get(key) {
                    Some(Source::Timer { wake_at_ns }) => {
                        (*wake_at_ns <= now_ns).then_some((*wake_at_ns, WaitOutcome::Fired))
                    }
                    Some(Source::Signal { name }) => {
                        let after = self.received.get(name).copied().unwrap_or(0);
                        self.inbox.next_signal(name, after).await.map_err(HostFailure)?.map(|signal| {
                            let outcome =
                                WaitOutcome::Signal { arrival: signal.arrival, payload: signal.payload };
                            (signal.arrived_at_ns, outcome)
                        })
                    }
                    Some(Source::Child { id }) => self
                        .inbox
                        .child_end(id)
                        .await
                        .map_err(HostFailure)?
                        .map(|ended| (ended.ended_at_ns, WaitOutcome::Child(ended.end))),
                    None => None,
                }
            };
            if let Some((at_ns, outcome)) = ready
                && first.as_ref().is_none_or(|(first_at, _)| at_ns < *first_at)
            {
                first = Some((at_ns, Won { index, outcome }));
            }
        }
        Ok(first.map(|(_, won)| won))
    }

    /// What the workflow waits for when nothing among `keys` is ready.
    fn suspension(&self, keys: &[u64]) -> Suspension {
        let mut suspension = Suspension { cancellable: !self.cancel_told, ..Suspension::default() };
        for key in keys {
            match self.sources.get(key) {
                Some(Source::Timer { wake_at_ns }) => {
                    suspension.wake_at_ns =
                        Some(suspension.wake_at_ns.map_or(*wake_at_ns, |at| at.min(*wake_at_ns)));
                }
                Some(Source::Signal { name }) if !suspension.signals.contains(name) => {
                    suspension.signals.push(name.clone());
                }
                Some(Source::Child { id }) if !suspension.children.contains(id) => {
                    suspension.children.push(id.clone());
                }
                Some(_) | None => {}
            }
        }
        suspension
    }
}

type WaitResult = Result<waits::Winner, waits::Interrupted>;

fn guest_outcome(outcome: WaitOutcome) -> waits::Outcome {
    match outcome {
        WaitOutcome::Fired => waits::Outcome::Fired,
        WaitOutcome::Signal { payload, .. } => waits::Outcome::Signal(payload),
        WaitOutcome::Child(end) => waits::Outcome::Child(guest_child_end(end)),
    }
}

fn guest_child_end(end: ChildEnd) -> waits::ChildEnd {
    let status = match end.status {
        ChildStatus::Completed => waits::ChildStatus::Completed,
        ChildStatus::Failed => waits::ChildStatus::Failed,
        ChildStatus::Stuck => waits::ChildStatus::Stuck,
        ChildStatus::Cancelled => waits::ChildStatus::Cancelled,
        ChildStatus::Terminated => waits::ChildStatus::Terminated,
    };
    waits::ChildEnd { id: end.id, status, output: end.output, error: end.error }
}

/// The id of a child started at `seq` without one: `<parent>:<seq>`, or,
/// when that is too long, the parent's digest in its place.
fn child_id(parent: &str, seq: u64) -> String {
    let id = format!("{parent}:{seq}");
    if id.len() <= WorkflowId::MAX_LEN {
        return id;
    }
    format!("{}:{seq}", &hex(&Sha256::digest(parent.as_bytes()))[..32])
}

fn check_name(what: &str, name: &str) -> wasmtime::Result<()> {
    journal::check_name(what, name).map_err(|message| Error::InvalidCall(message).into())
}

impl RunState {
    /// A handle on the source made at `key`.
    fn pending(&mut self, key: u64, source: Source) -> Resource<waits::Pending> {
        self.waits.sources.insert(key, source);
        Resource::new_own(u32::try_from(key).unwrap_or(u32::MAX))
    }

    /// Journals `call` with a live outcome from `live` (or replays it), and
    /// returns the outcome and the entry's seq.
    fn journal_call(
        &mut self,
        call: Call,
        payload_bytes: u64,
        live: impl FnOnce() -> Outcome,
    ) -> wasmtime::Result<(u64, Outcome)> {
        let seq = self.journal.lock().next_seq();
        let outcome = self.journal.call(call, payload_bytes, live)?;
        Ok((seq, outcome))
    }

    /// Journals (or replays) `call`, a call with nothing to answer, whose
    /// entry carries `data_bytes` of its own; returns the entry's seq.
    fn journal_done(&mut self, call: Call, data_bytes: usize) -> wasmtime::Result<u64> {
        let (seq, outcome) =
            self.journal_call(call.clone(), data_bytes as u64 + SMALL_ENTRY_BYTES, || Outcome::Done)?;
        if outcome != Outcome::Done {
            return Err(Error::CorruptJournal { call, outcome }.into());
        }
        Ok(seq)
    }

    async fn start_child_live(&mut self, call: &ChildCall, seq: u64) -> wasmtime::Result<ChildStart> {
        let id = call.id.clone().unwrap_or_else(|| child_id(&self.workflow_id, seq));
        if let Err(error) = WorkflowId::parse(&id) {
            return Ok(ChildStart::Refused(error));
        }
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&call.input) {
            return Ok(ChildStart::Refused(format!("the child's input is not JSON: {error}")));
        }
        if self.waits.children.contains(&id) {
            return Ok(ChildStart::Refused(format!("workflow {id} was already started by this workflow")));
        }
        if self.waits.children.len() >= MAX_CHILDREN {
            return Ok(ChildStart::Refused(format!(
                "this workflow has started {MAX_CHILDREN} children, the most one may"
            )));
        }
        Ok(match self.waits.inbox.admit_child(&call.component, &id).await.map_err(HostFailure)? {
            ChildAdmission::Admitted { digest } => ChildStart::Started { id, digest },
            ChildAdmission::Refused(reason) => ChildStart::Refused(reason),
        })
    }

    /// A live `wait-any` over `keys`: see the module docs.
    async fn wait_any_live(&mut self, call: Call, keys: &[u64]) -> wasmtime::Result<WaitResult> {
        let inline_until = Instant::now() + self.settings.inline_sleep_max;
        loop {
            let cancel =
                !self.waits.cancel_told && self.waits.inbox.cancel_requested().await.map_err(HostFailure)?;
            let outcome = if cancel {
                Some(Outcome::Cancelled)
            } else {
                self.waits.first_ready(keys).await?.map(|won| Outcome::Won(Box::new(won)))
            };
            if let Some(outcome) = outcome {
                self.journal
                    .lock()
                    .record(call.clone(), outcome.clone(), clock::now_ns())
                    .map_err(Error::Budget)?;
                let result = self.waits.apply(keys, &call, outcome)?;
                self.checkpoint_if_due().await?;
                return Ok(result);
            }
            let suspension = self.waits.suspension(keys);
            let now_ns = clock::now_ns();
            let until_timer =
                suspension.wake_at_ns.map(|at| std::time::Duration::from_nanos(at.saturating_sub(now_ns)));
            let inline_left = inline_until.saturating_duration_since(Instant::now());
            if until_timer.is_some_and(|wait| wait.is_zero()) {
                continue;
            }
            // Under contention for instance slots, a wait that may be short
            // (on timers alone, or with a timer due within the inline
            // threshold) yields like `sleep`, after a checkpoint interval,
            // since yielding at each short wait makes progress quadratic; a
            // wait on signals or children that may last long yields at once.
            let timers_only = suspension.signals.is_empty() && suspension.children.is_empty();
            let timer_soon = until_timer.is_some_and(|wait| wait <= self.settings.inline_sleep_max);
            let yield_slot = if timers_only || timer_soon {
                self.should_yield_slot()
            } else {
                self.checkpointer.slots_contended()
            };
            if inline_left.is_zero() || yield_slot {
                return Err(Suspend(suspension).into());
            }
            self.checkpoint_if_due().await?;
            let wait = until_timer.map_or(inline_left, |timer| timer.min(inline_left));
            let arrivals = self.waits.inbox.arrivals();
            self.charge_cpu()?;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = arrivals.notified() => {}
            }
            self.cpu.resume();
        }
    }
}

impl waits::HostPending for RunState {
    async fn key(&mut self, handle: Resource<waits::Pending>) -> wasmtime::Result<u64> {
        Ok(u64::from(handle.rep()))
    }

    async fn drop(&mut self, _handle: Resource<waits::Pending>) -> wasmtime::Result<()> {
        // Dropping a handle has no durable effect: see the WIT.
        Ok(())
    }
}

impl waits::Host for RunState {
    async fn start_timer(&mut self, duration_ns: u64) -> wasmtime::Result<Resource<waits::Pending>> {
        let call = Call::StartTimer { duration_ns };
        let live = || Outcome::Timer { wake_at_ns: clock::now_ns().saturating_add(duration_ns) };
        let (seq, outcome) = self.journal_call(call.clone(), SMALL_ENTRY_BYTES, live)?;
        let Outcome::Timer { wake_at_ns } = outcome else {
            return Err(Error::CorruptJournal { call, outcome }.into());
        };
        self.checkpoint_if_due().await?;
        Ok(self.pending(seq, Source::Timer { wake_at_ns }))
    }

    async fn receive_signal(&mut self, name: String) -> wasmtime::Result<Resource<waits::Pending>> {
        check_name("signal name", &name)?;
        let seq = self.journal_done(Call::ReceiveSignal { name: name.clone() }, name.len())?;
        self.checkpoint_if_due().await?;
        Ok(self.pending(seq, Source::Signal { name }))
    }

    async fn start_child(
        &mut self,
        component: String,
        input: String,
        id: Option<String>,
    ) -> wasmtime::Result<Result<Resource<waits::Pending>, String>> {
        if input.len() > MAX_CHILD_INPUT_BYTES {
            let message =
                format!("a child input of {} bytes; the limit is {MAX_CHILD_INPUT_BYTES}", input.len());
            return Err(Error::InvalidCall(message).into());
        }
        let child = ChildCall { component, input, id };
        let bytes = (child.component.len() + child.input.len()) as u64 + 2 * SMALL_ENTRY_BYTES + 256;
        let call = Call::StartChild(Box::new(child.clone()));
        let (seq, recorded) = {
            let mut cursor = self.journal.lock();
            let seq = cursor.next_seq();
            let recorded = cursor.replay(&call)?;
            if recorded.is_none() {
                cursor.admit(&call, bytes).map_err(Error::Budget)?;
            }
            (seq, recorded)
        };
        let outcome = match recorded {
            Some(outcome) => outcome,
            None => {
                let start = self.start_child_live(&child, seq).await?;
                let started = matches!(start, ChildStart::Started { .. });
                let outcome = Outcome::Child(Box::new(start));
                self.journal
                    .lock()
                    .record(call.clone(), outcome.clone(), clock::now_ns())
                    .map_err(Error::Budget)?;
                if started {
                    // The commit that holds the entry creates the child: it
                    // is durable before the child runs or the workflow goes on.
                    self.commit_pending().await?;
                }
                outcome
            }
        };
        match outcome {
            Outcome::Child(start) => match *start {
                ChildStart::Started { id, .. } => {
                    self.waits.children.insert(id.clone());
                    Ok(Ok(self.pending(seq, Source::Child { id })))
                }
                ChildStart::Refused(reason) => Ok(Err(reason)),
            },
            outcome => Err(Error::CorruptJournal { call, outcome }.into()),
        }
    }

    async fn cancel_child(&mut self, child: Resource<waits::Pending>) -> wasmtime::Result<()> {
        let key = u64::from(child.rep());
        let Some(Source::Child { id }) = self.waits.sources.get(&key).cloned() else { return Ok(()) };
        if self.waits.won.contains_key(&key) {
            return Ok(());
        }
        let bytes = id.len();
        self.journal_done(Call::CancelChild { id }, bytes)?;
        self.commit_pending().await
    }

    async fn wait_any(&mut self, handles: Vec<Resource<waits::Pending>>) -> wasmtime::Result<WaitResult> {
        if handles.is_empty() || handles.len() > MAX_WAIT_HANDLES {
            let message =
                format!("wait-any over {} handles; it takes 1 to {MAX_WAIT_HANDLES}", handles.len());
            return Err(Error::InvalidCall(message).into());
        }
        let keys: Vec<u64> = handles.iter().map(|handle| u64::from(handle.rep())).collect();
        if let Some(key) = keys.iter().find(|key| !self.waits.sources.contains_key(key)) {
            return Err(Error::InvalidCall(format!(
                "wait-any on handle {key}, which this workflow never made"
            ))
            .into());
        }
        let call = Call::WaitAny { keys: keys.clone() };
        let recorded = {
            let mut cursor = self.journal.lock();
            let recorded = cursor.replay(&call)?;
            if recorded.is_none() {
                // The outcome's size is known once it arrives; `record`
                // checks it then.
                cursor.admit_entry().map_err(Error::Budget)?;
            }
            recorded
        };
        match recorded {
            Some(outcome) => self.waits.apply(&keys, &call, outcome),
            None => self.wait_any_live(call, &keys).await,
        }
    }
}

impl events::Host for RunState {
    async fn set_event(&mut self, key: String, value: String) -> wasmtime::Result<()> {
        check_name("event key", &key)?;
        if value.len() > MAX_EVENT_BYTES {
            let message = format!("an event value of {} bytes; the limit is {MAX_EVENT_BYTES}", value.len());
            return Err(Error::InvalidCall(message).into());
        }
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&value) {
            return Err(Error::InvalidCall(format!(
                "event {key:?} is set to text that is not JSON: {error}"
            ))
            .into());
        }
        let bytes = key.len() + value.len();
        self.journal_done(Call::SetEvent { key, value }, bytes)?;
        // Callers see the event once this returns.
        self.commit_pending().await
    }
}
