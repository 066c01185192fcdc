//! The scripted runtime: a fake host that answers the SDK's calls on this
//! thread from a [`Script`], with a fake clock, and records each call.
//!
//! Time moves only when the workflow waits: a sleep advances the clock by
//! its duration, and a wait jumps to the moment its winner arrives.
//! Everything else takes no time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Call, ChildScript, Script};
use crate::activity::{self, Options};
use crate::http::{self, Request, Response};
use crate::wait::{Cancelled, ChildEnd, ChildStatus, Outcome};
use crate::{Level, nanos};

/// Most handles one `wait-any` takes, as on the host.
const MAX_WAIT_HANDLES: usize = 1_024;

/// A wait handle of the scripted runtime: the seq of the call that made it.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) key: u64,
}

/// What a handle waits for.
enum Waitable {
    Timer { fire_at_ns: u64 },
    Signal { name: String },
    Child { end_at_ns: u64, end: ChildEnd },
}

/// The panic payload that ends a run whose workflow waits for something
/// the script never delivers.
pub(super) struct WaitsForever;

pub(crate) struct Runtime {
    pub(super) script: Script,
    pub(super) now_ns: u64,
    random_state: u64,
    cancel_told: bool,
    waitables: BTreeMap<u64, Waitable>,
    /// Handles that won a wait, with their outcome: they stay ready.
    won: BTreeMap<u64, Outcome>,
    pub(super) calls: Vec<Call>,
    pub(super) logs: Vec<(Level, String)>,
}

thread_local! {
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    static ATTEMPT: RefCell<Option<AttemptState>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's runtime.
///
/// # Panics
/// When no runtime is installed: the SDK's calls have no host outside a
/// component except [`Script::run`].
pub(crate) fn with<T>(f: impl FnOnce(&mut Runtime) -> T) -> T {
    RUNTIME.with(|runtime| match runtime.borrow_mut().as_mut() {
        Some(runtime) => f(runtime),
        None => panic!(
            "duro-sdk: a workflow call outside a component needs a scripted runtime: \
             run the workflow with duro_sdk::testing::Script::run"
        ),
    })
}

pub(super) fn install(runtime: Runtime) {
    RUNTIME.with(|slot| {
        let mut slot = slot.borrow_mut();
        assert!(slot.is_none(), "duro-sdk: Script::run cannot run inside another run");
        *slot = Some(runtime);
    });
}

pub(super) fn uninstall() -> Option<Runtime> {
    RUNTIME.with(|slot| slot.borrow_mut().take())
}

/// `wait-any`, or the end of the run when nothing the workflow waits for
/// will ever arrive.
pub(crate) fn wait_any(handles: &[&Handle]) -> Result<(usize, Outcome), Cancelled> {
    match with(|runtime| runtime.wait_any(handles)) {
        Some(answer) => answer,
        None => std::panic::resume_unwind(Box::new(WaitsForever)),
    }
}

impl Runtime {
    pub(super) fn new(script: Script) -> Self {
        let now_ns = script.start_ns;
        Self {
            script,
            now_ns,
            random_state: 0,
            cancel_told: false,
            waitables: BTreeMap::new(),
            won: BTreeMap::new(),
            calls: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Records `call`; returns its seq.
    fn record(&mut self, call: Call) -> u64 {
        self.calls.push(call);
        self.calls.len() as u64 - 1
    }

    fn elapsed_ns(&self) -> u64 {
        self.now_ns - self.script.start_ns
    }

    pub(crate) fn now_ns(&mut self) -> u64 {
        self.record(Call::Now);
        self.now_ns
    }

    pub(crate) fn random_u64(&mut self) -> u64 {
        self.record(Call::Random);
        if let Some(value) = self.script.random.pop_front() {
            return value;
        }
        // splitmix64: a fixed sequence, the same on every run.
        self.random_state = self.random_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn sleep(&mut self, duration_ns: u64) {
        self.record(Call::Sleep(Duration::from_nanos(duration_ns)));
        self.now_ns = self.now_ns.saturating_add(duration_ns);
    }

    pub(crate) fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    pub(crate) fn set_event(&mut self, key: &str, value_json: &str) {
        let value = json_value(value_json);
        self.record(Call::SetEvent { key: key.to_owned(), value });
    }

    /// # Panics
    /// When the script has no answer for the request.
    pub(crate) fn http_send(&mut self, request: &Request) -> Result<Response, http::Error> {
        self.record(Call::Http(request.clone()));
        let answers = &mut self.script.http;
        let Some(index) = answers
            .iter()
            .position(|(method, url, _)| method.eq_ignore_ascii_case(&request.method) && *url == request.url)
        else {
            panic!("duro-sdk testing: no scripted answer for HTTP {} {}", request.method, request.url)
        };
        answers.remove(index).2
    }

    /// # Panics
    /// When the script has no answer for the activity.
    pub(crate) fn activity_call(
        &mut self,
        component: &str,
        input_json: &str,
        options: &Options,
    ) -> Result<String, activity::Error> {
        let input = json_value(input_json);
        self.record(Call::Activity { component: component.to_owned(), input, options: options.clone() });
        let answers = &mut self.script.activities;
        let Some(index) = answers.iter().position(|(name, _)| name == component) else {
            panic!("duro-sdk testing: no scripted answer for activity {component}")
        };
        answers.remove(index).1
    }

    pub(crate) fn start_timer(&mut self, duration_ns: u64) -> Handle {
        let key = self.record(Call::StartTimer(Duration::from_nanos(duration_ns)));
        let fire_at_ns = self.now_ns.saturating_add(duration_ns);
        self.waitables.insert(key, Waitable::Timer { fire_at_ns });
        Handle { key }
    }

    pub(crate) fn receive_signal(&mut self, name: &str) -> Handle {
        let key = self.record(Call::ReceiveSignal(name.to_owned()));
        self.waitables.insert(key, Waitable::Signal { name: name.to_owned() });
        Handle { key }
    }

    /// # Panics
    /// When the script says nothing about children of `component`.
    pub(crate) fn start_child(
        &mut self,
        component: &str,
        input_json: &str,
        id: Option<&str>,
    ) -> Result<Handle, String> {
        let input = json_value(input_json);
        let key = self.record(Call::StartChild {
            component: component.to_owned(),
            input,
            id: id.map(str::to_owned),
        });
        let children = &mut self.script.children;
        let Some(index) = children.iter().position(|(name, _)| name == component) else {
            panic!("duro-sdk testing: no scripted child of component {component}")
        };
        let id = id.map_or_else(|| format!("{}:{key}", self.script.workflow_id), str::to_owned);
        let (after, status, output, error) = match children.remove(index).1 {
            ChildScript::Refused(message) => return Err(message),
            ChildScript::Completes { after, output_json } => {
                (after, ChildStatus::Completed, Some(output_json), None)
            }
            ChildScript::Ends { after, status, error } => (after, status, None, error),
        };
        let end_at_ns = self.now_ns.saturating_add(nanos(after));
        self.waitables
            .insert(key, Waitable::Child { end_at_ns, end: ChildEnd { id, status, output, error } });
        Ok(Handle { key })
    }

    pub(crate) fn cancel_child(&mut self, child: &Handle) {
        let now_ns = self.now_ns;
        let won = self.won.contains_key(&child.key);
        let Some(Waitable::Child { end_at_ns, end }) = self.waitables.get_mut(&child.key) else {
            self.record(Call::CancelChild(String::new()));
            return;
        };
        let id = end.id.clone();
        if !won && *end_at_ns > now_ns {
            *end_at_ns = now_ns;
            *end = ChildEnd { id: id.clone(), status: ChildStatus::Cancelled, output: None, error: None };
        }
        self.record(Call::CancelChild(id));
    }

    /// The winner of a `wait-any`, or `None` when nothing will ever come.
    ///
    /// # Panics
    /// For no handles or more than 1,024, as the host fails the workflow.
    fn wait_any(&mut self, handles: &[&Handle]) -> Option<Result<(usize, Outcome), Cancelled>> {
        assert!(
            (1..=MAX_WAIT_HANDLES).contains(&handles.len()),
            "wait-any over {} handles; it takes 1 to {MAX_WAIT_HANDLES}",
            handles.len()
        );
        let keys: Vec<u64> = handles.iter().map(|handle| handle.key).collect();
        // The earliest arrival, the lowest index on a tie.
        let mut first: Option<(u64, usize)> = None;
        for (index, key) in keys.iter().enumerate() {
            if let Some(at_ns) = self.arrival_ns(*key)
                && first.is_none_or(|(first_ns, _)| at_ns < first_ns)
            {
                first = Some((at_ns, index));
            }
        }
        let cancel_at_ns = match self.script.cancel_after {
            Some(after) if !self.cancel_told => Some(self.script.start_ns.saturating_add(nanos(after))),
            _ => None,
        };
        // A cancellation requested by the time the winner arrives comes first.
        let now_ns = self.now_ns;
        let winner =
            first.filter(|(at_ns, _)| cancel_at_ns.is_none_or(|cancel_ns| cancel_ns > now_ns.max(*at_ns)));
        let answer = if let Some((at_ns, index)) = winner {
            self.now_ns = now_ns.max(at_ns);
            Ok((index, self.take_outcome(keys[index])))
        } else if let Some(cancel_ns) = cancel_at_ns {
            self.now_ns = now_ns.max(cancel_ns);
            self.cancel_told = true;
            Err(Cancelled)
        } else {
            return None;
        };
        self.record(Call::WaitAny { keys, answer: answer.clone() });
        Some(answer)
    }

    /// When handle `key`'s outcome arrives (ns since the epoch), if ever.
    fn arrival_ns(&self, key: u64) -> Option<u64> {
        if self.won.contains_key(&key) {
            return Some(0);
        }
        match self.waitables.get(&key)? {
            Waitable::Timer { fire_at_ns } => Some(*fire_at_ns),
            Waitable::Signal { name } => self.next_signal(name).map(|index| self.signal_at_ns(index)),
            Waitable::Child { end_at_ns, .. } => Some(*end_at_ns),
        }
    }

    /// The oldest signal named `name` not yet received.
    fn next_signal(&self, name: &str) -> Option<usize> {
        let signals = self.script.signals.iter().enumerate();
        let unread = signals.filter(|(_, signal)| !signal.received && signal.name == name);
        unread.min_by_key(|(index, signal)| (signal.after, *index)).map(|(index, _)| index)
    }

    fn signal_at_ns(&self, index: usize) -> u64 {
        self.script.start_ns.saturating_add(nanos(self.script.signals[index].after))
    }

    /// Handle `key`'s outcome, which has arrived: it is its outcome from now on.
    fn take_outcome(&mut self, key: u64) -> Outcome {
        if let Some(outcome) = self.won.get(&key) {
            return outcome.clone();
        }
        let outcome = match self.waitables.get(&key) {
            Some(Waitable::Timer { .. }) | None => Outcome::Fired,
            Some(Waitable::Signal { name }) => {
                let index = self.next_signal(name);
                let signal = index.and_then(|index| self.script.signals.get_mut(index));
                signal.map_or(Outcome::Fired, |signal| {
                    signal.received = true;
                    Outcome::Signal(signal.payload_json.clone())
                })
            }
            Some(Waitable::Child { end, .. }) => Outcome::Child(end.clone()),
        };
        self.won.insert(key, outcome.clone());
        outcome
    }

    pub(super) fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed_ns())
    }
}

/// One attempt of an activity under test, for the activity context calls.
pub(crate) struct AttemptState {
    pub(crate) number: u32,
    pub(crate) last_heartbeat: Option<String>,
    pub(crate) idempotency_key: String,
    pub(super) heartbeats: Vec<String>,
}

impl AttemptState {
    pub(crate) fn heartbeat(&mut self, details: &str) {
        self.heartbeats.push(details.to_owned());
    }
}

/// Runs `f` on this thread's activity attempt.
///
/// # Panics
/// When no attempt is installed: the activity context has no host outside
/// a component except [`super::Attempt::run`].
pub(crate) fn with_attempt<T>(f: impl FnOnce(&mut AttemptState) -> T) -> T {
    ATTEMPT.with(|attempt| match attempt.borrow_mut().as_mut() {
        Some(attempt) => f(attempt),
        None => panic!(
            "duro-sdk: an activity context call outside a component needs a scripted attempt: \
             run the activity with duro_sdk::testing::Attempt::run"
        ),
    })
}

pub(super) fn install_attempt(attempt: AttemptState) {
    ATTEMPT.with(|slot| *slot.borrow_mut() = Some(attempt));
}

pub(super) fn uninstall_attempt() -> Option<AttemptState> {
    ATTEMPT.with(|slot| slot.borrow_mut().take())
}

fn json_value(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.to_owned()))
}
