//! Testing workflows and activities without a host: `cargo test` runs them
//! natively against a scripted runtime.
//!
//! On targets other than wasm the SDK's calls go to a fake host on the
//! current thread instead of the wit-bindgen imports, so a workflow's own
//! code runs unchanged. A [`Script`] says what the world does: the start
//! time, signals and when they arrive, HTTP answers, activity results,
//! how child workflows end, and when the workflow is asked to cancel.
//! [`Script::run`] runs the workflow to its end (or until it waits for
//! something the script never delivers) and returns a [`Run`]: the result,
//! every call the workflow made in order ([`Call`]), its log lines and
//! events, and the time that passed on the fake clock.
//!
//! * The clock starts at [`Script::start_time`] (2025-01-01T00:00:00Z by
//!   default) and moves only when the workflow waits: a sleep advances it
//!   by its duration, a wait jumps to the arrival of its winner. HTTP
//!   requests and activities take no time.
//! * A wait is won by the earliest arrival, the lowest index on a tie, as
//!   on the host; a cancellation scripted at or before that arrival comes
//!   first, once.
//! * A call the script has no answer for (an HTTP request, an activity, a
//!   child) panics, naming it, so the test fails where the script is
//!   incomplete.
//! * `calls()[n]` is the call at seq `n`, so a handle's
//!   [`key`](crate::wait::Pending::key) indexes the call that made it. The
//!   host's journal has more entries (one per retry of an effect, and
//!   those of language runtimes), so its seqs can differ.
//!
//! ```
//! use std::time::Duration;
//!
//! use duro_sdk::testing::{Call, Script};
//! use serde_json::json;
//!
//! async fn greet(name: String) -> Result<String, duro_sdk::wait::WaitError> {
//!     let greeting: String = duro_sdk::future::signal("greeting").await?;
//!     Ok(format!("{greeting}, {name}!"))
//! }
//!
//! let run = Script::new()
//!     .signal_at(Duration::from_secs(30), "greeting", &"Hello")
//!     .run(greet, json!("Ada"));
//! assert_eq!(run.output(), Some(&json!("Hello, Ada!")));
//! assert_eq!(run.elapsed(), Duration::from_secs(30));
//! assert_eq!(run.calls()[0], Call::ReceiveSignal("greeting".to_owned()));
//! ```
//!
//! Activities run the same way with [`Attempt`].

pub(crate) mod runtime;

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::activity::{self, Failure, Options};
use crate::http::{self, Request, Response};
use crate::wait::{Cancelled, ChildStatus, Outcome};
use crate::{Level, Workflow, nanos};
use runtime::{AttemptState, Runtime, WaitsForever};

/// What the world does while a workflow runs under test; build it, then
/// [`run`](Self::run) a workflow against it.
///
/// ```
/// use std::time::Duration;
///
/// use duro_sdk::http::Response;
/// use duro_sdk::testing::Script;
/// use serde_json::json;
///
/// let script = Script::new()
///     .workflow_id("order-7")
///     .signal("approve", &json!({ "by": "alice" }))
///     .http("GET", "https://shop.example/stock", Ok(Response::new(200, br#"{"left":3}"#)))
///     .activity("charge-card", Ok(json!({ "receipt": "r-1" })))
///     .child_completes("ship", Duration::from_secs(60), &json!({ "tracking": "t-1" }))
///     .cancel_after(Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct Script {
    workflow_id: String,
    start_ns: u64,
    random: VecDeque<u64>,
    signals: Vec<ScriptedSignal>,
    http: Vec<(String, String, Result<Response, http::Error>)>,
    activities: Vec<(String, Result<String, activity::Error>)>,
    children: Vec<(String, ChildScript)>,
    cancel_after: Option<Duration>,
}

#[derive(Debug, Clone)]
struct ScriptedSignal {
    after: Duration,
    name: String,
    payload_json: String,
    received: bool,
}

/// How a scripted child workflow ends.
#[derive(Debug, Clone)]
enum ChildScript {
    Refused(String),
    Completes { after: Duration, output_json: String },
    Ends { after: Duration, status: ChildStatus, error: Option<String> },
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

/// `value` as JSON text.
///
/// # Panics
/// When it does not serialize: a mistake in the test.
fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(json) => json,
        Err(e) => panic!("duro-sdk testing: a scripted value does not serialize: {e}"),
    }
}

impl Script {
    /// An empty script: workflow id `test`, starting at
    /// 2025-01-01T00:00:00Z, no signals, no answers, no cancellation.
    ///
    /// ```
    /// let script = duro_sdk::testing::Script::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            workflow_id: "test".to_owned(),
            start_ns: 1_735_689_600 * 1_000_000_000,
            random: VecDeque::new(),
            signals: Vec::new(),
            http: Vec::new(),
            activities: Vec::new(),
            children: Vec::new(),
            cancel_after: None,
        }
    }

    /// Sets the workflow's id (default `test`), which names children
    /// started without an id (`<id>:<seq>`).
    ///
    /// ```
    /// let script = duro_sdk::testing::Script::new().workflow_id("order-7");
    /// ```
    #[must_use]
    pub fn workflow_id(mut self, id: &str) -> Self {
        self.workflow_id = id.to_owned();
        self
    }

    /// Sets the fake clock's start (default 2025-01-01T00:00:00Z).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let script = duro_sdk::testing::Script::new().start_time(UNIX_EPOCH + Duration::from_secs(1_000_000));
    /// ```
    #[must_use]
    pub fn start_time(mut self, start: SystemTime) -> Self {
        self.start_ns = start.duration_since(UNIX_EPOCH).map_or(0, nanos);
        self
    }

    /// Values for [`random`](crate::random) to return, in order; after
    /// them it returns a fixed pseudo-random sequence.
    ///
    /// ```
    /// let script = duro_sdk::testing::Script::new().random([4, 2]);
    /// ```
    #[must_use]
    pub fn random(mut self, values: impl IntoIterator<Item = u64>) -> Self {
        self.random.extend(values);
        self
    }

    /// A signal `name` with `payload` (as JSON), in the inbox from the
    /// start: sent before the workflow asks for it.
    ///
    /// ```
    /// let script = duro_sdk::testing::Script::new().signal("approve", &serde_json::json!({ "by": "alice" }));
    /// ```
    #[must_use]
    pub fn signal<T: Serialize + ?Sized>(self, name: &str, payload: &T) -> Self {
        self.signal_at(Duration::ZERO, name, payload)
    }

    /// A signal `name` with `payload` (as JSON), sent `after` the start.
    /// Signals of one name are received in the order sent (the order
    /// scripted on a tie).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let script = duro_sdk::testing::Script::new().signal_at(Duration::from_secs(90), "reject", &"no");
    /// ```
    #[must_use]
    pub fn signal_at<T: Serialize + ?Sized>(mut self, after: Duration, name: &str, payload: &T) -> Self {
        let payload_json = to_json(payload);
        self.signals.push(ScriptedSignal { after, name: name.to_owned(), payload_json, received: false });
        self
    }

    /// The answer to the next HTTP request with `method` (any case) to
    /// exactly `url`: a response or an error, as the host would give after
    /// its retries. Answers for one method and URL are used in the order
    /// scripted, each once.
    ///
    /// ```
    /// use duro_sdk::http::{Error, Response};
    ///
    /// let script = duro_sdk::testing::Script::new()
    ///     .http("POST", "https://pay.example/charge", Err(Error::Timeout("slow".to_owned())))
    ///     .http("POST", "https://pay.example/charge", Ok(Response::new(201, "ok")));
    /// ```
    #[must_use]
    pub fn http(mut self, method: &str, url: &str, answer: Result<Response, http::Error>) -> Self {
        self.http.push((method.to_owned(), url.to_owned(), answer));
        self
    }

    /// The result of the next call of activity `component`: its output or
    /// its last attempt's error. Results for one component are used in the
    /// order scripted, each once.
    ///
    /// ```
    /// use duro_sdk::activity::Error;
    ///
    /// let script = duro_sdk::testing::Script::new()
    ///     .activity("charge-card", Ok(serde_json::json!({ "receipt": "r-1" })))
    ///     .activity(
    ///         "charge-card",
    ///         Err(Error {
    ///             type_name: "declined".to_owned(),
    ///             message: "card declined".to_owned(),
    ///             non_retryable: true,
    ///             details: None,
    ///         }),
    ///     );
    /// ```
    #[must_use]
    pub fn activity(mut self, component: &str, result: Result<Value, activity::Error>) -> Self {
        let result = result.map(|output| to_json(&output));
        self.activities.push((component.to_owned(), result));
        self
    }

    /// The next child of `component` completes `after` its start with
    /// `output` (as JSON).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let script = duro_sdk::testing::Script::new()
    ///     .child_completes("hello", Duration::from_secs(1), &serde_json::json!({ "greeting": "Hello, Ada!" }));
    /// ```
    #[must_use]
    pub fn child_completes<T: Serialize + ?Sized>(
        mut self,
        component: &str,
        after: Duration,
        output: &T,
    ) -> Self {
        let output_json = to_json(output);
        self.children.push((component.to_owned(), ChildScript::Completes { after, output_json }));
        self
    }

    /// The next child of `component` ends `after` its start with `status`
    /// (other than completed) and `error`. Cancelling a child before it
    /// ends (with [`Child::cancel`](crate::child::Child::cancel)) ends it
    /// `cancelled` at once, whatever the script says.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use duro_sdk::wait::ChildStatus;
    ///
    /// let script =
    ///     duro_sdk::testing::Script::new().child_ends("hello", Duration::from_secs(1), ChildStatus::Failed, Some("boom"));
    /// ```
    #[must_use]
    pub fn child_ends(
        mut self,
        component: &str,
        after: Duration,
        status: ChildStatus,
        error: Option<&str>,
    ) -> Self {
        let error = error.map(str::to_owned);
        self.children.push((component.to_owned(), ChildScript::Ends { after, status, error }));
        self
    }

    /// The next child of `component` cannot start: [`child::start`](crate::child::start)
    /// returns `message` as its error.
    ///
    /// ```
    /// let script = duro_sdk::testing::Script::new().child_refused("hello", "unknown component hello");
    /// ```
    #[must_use]
    pub fn child_refused(mut self, component: &str, message: &str) -> Self {
        self.children.push((component.to_owned(), ChildScript::Refused(message.to_owned())));
        self
    }

    /// The workflow is asked to cancel `after` the start: the first wait
    /// in progress then (or the next one) returns
    /// [`Cancelled`], once.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let script = duro_sdk::testing::Script::new().cancel_after(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn cancel_after(mut self, after: Duration) -> Self {
        self.cancel_after = Some(after);
        self
    }

    /// Runs `workflow` (a plain or `async` workflow function, as given to
    /// [`workflow!`](crate::workflow)) with `input` as its JSON input, on
    /// this thread, against this script.
    ///
    /// The run ends when the workflow returns, or when it waits for
    /// something the script never delivers ([`Run::is_waiting`]).
    ///
    /// # Panics
    /// When the workflow panics, or makes a call the script has no answer
    /// for (the panic names it), or `input` does not serialize.
    ///
    /// ```
    /// use duro_sdk::testing::Script;
    ///
    /// fn double(n: u64) -> Result<u64, String> {
    ///     Ok(n * 2)
    /// }
    ///
    /// assert_eq!(Script::new().run(double, 21).output(), Some(&serde_json::json!(42)));
    /// ```
    pub fn run<M>(self, workflow: impl Workflow<M>, input: impl Serialize) -> Run {
        let input = to_json(&input);
        runtime::install(Runtime::new(self));
        let result = panic::catch_unwind(AssertUnwindSafe(|| workflow.run_json(&input)));
        let runtime = runtime::uninstall();
        let result = match result {
            Ok(result) => {
                Some(result.map(|output| serde_json::from_str(&output).unwrap_or(Value::String(output))))
            }
            Err(payload) if payload.is::<WaitsForever>() => None,
            Err(payload) => panic::resume_unwind(payload),
        };
        let Some(runtime) = runtime else { panic!("duro-sdk testing: the scripted runtime went missing") };
        let cancelled =
            runtime.calls.iter().any(|call| matches!(call, Call::WaitAny { answer: Err(Cancelled), .. }));
        Run { result, cancelled, elapsed: runtime.elapsed(), calls: runtime.calls, logs: runtime.logs }
    }
}

/// A call a workflow made under test, in the order made; see
/// [`Run::calls`].
///
/// ```
/// use std::time::Duration;
///
/// use duro_sdk::testing::{Call, Script};
///
/// fn nap(_: ()) -> Result<(), String> {
///     duro_sdk::sleep(Duration::from_secs(5));
///     Ok(())
/// }
///
/// assert_eq!(Script::new().run(nap, ()).calls(), [Call::Sleep(Duration::from_secs(5))]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// [`now`](crate::now) or [`now_ns`](crate::now_ns).
    Now,
    /// [`random`](crate::random).
    Random,
    /// The blocking [`sleep`](crate::sleep).
    Sleep(Duration),
    /// [`set_event`](crate::set_event), with the value.
    SetEvent {
        /// The event's key.
        key: String,
        /// Its new value.
        value: Value,
    },
    /// An HTTP request, as sent.
    Http(Request),
    /// An activity call.
    Activity {
        /// The activity's component.
        component: String,
        /// Its input.
        input: Value,
        /// Its timeouts and retries.
        options: Options,
    },
    /// A durable timer ([`wait::timer`](crate::wait::timer),
    /// [`future::sleep`](crate::future::sleep), [`wait::sleep`](crate::wait::sleep)).
    StartTimer(Duration),
    /// A signal receive ([`wait::signal`](crate::wait::signal),
    /// [`future::signal`](crate::future::signal), [`wait::receive`](crate::wait::receive)),
    /// with the signal's name.
    ReceiveSignal(String),
    /// A child workflow's start.
    StartChild {
        /// Its component.
        component: String,
        /// Its input.
        input: Value,
        /// The id asked for, if any.
        id: Option<String>,
    },
    /// A child's cancellation, with the child's id.
    CancelChild(String),
    /// A wait on several handles: their keys (the seqs of the calls that
    /// made them), in the order given, and the answer: the winner's index
    /// and outcome, or [`Cancelled`].
    WaitAny {
        /// The handles' keys.
        keys: Vec<u64>,
        /// What the wait returned.
        answer: Result<(usize, Outcome), Cancelled>,
    },
}

/// How a workflow run under test went: made by [`Script::run`].
///
/// ```
/// use duro_sdk::testing::Script;
///
/// fn fail(_: ()) -> Result<(), String> {
///     duro_sdk::set_event("status", "failing")?;
///     Err("no".to_owned())
/// }
///
/// let run = Script::new().run(fail, ());
/// assert_eq!(run.error(), Some("no"));
/// assert_eq!(run.event("status"), Some(&serde_json::json!("failing")));
/// ```
#[derive(Debug, Clone)]
pub struct Run {
    result: Option<Result<Value, String>>,
    cancelled: bool,
    elapsed: Duration,
    calls: Vec<Call>,
    logs: Vec<(Level, String)>,
}

impl Run {
    /// What the workflow returned: its output as JSON, or its error
    /// message; `None` while it waits ([`is_waiting`](Self::is_waiting)).
    ///
    /// ```
    /// fn echo(s: String) -> Result<String, String> {
    ///     Ok(s)
    /// }
    ///
    /// let run = duro_sdk::testing::Script::new().run(echo, "hi");
    /// assert_eq!(run.result(), Some(&Ok(serde_json::json!("hi"))));
    /// ```
    #[must_use]
    pub fn result(&self) -> Option<&Result<Value, String>> {
        self.result.as_ref()
    }

    /// The output, if the workflow returned `Ok`.
    ///
    /// ```
    /// fn one(_: ()) -> Result<u8, String> {
    ///     Ok(1)
    /// }
    ///
    /// assert_eq!(duro_sdk::testing::Script::new().run(one, ()).output(), Some(&serde_json::json!(1)));
    /// ```
    #[must_use]
    pub fn output(&self) -> Option<&Value> {
        self.result.as_ref()?.as_ref().ok()
    }

    /// The error message, if the workflow returned `Err` (or its input did
    /// not decode).
    ///
    /// ```
    /// fn one(_: ()) -> Result<u8, String> {
    ///     Ok(1)
    /// }
    ///
    /// let run = duro_sdk::testing::Script::new().run(one, "not unit");
    /// assert!(run.error().is_some_and(|e| e.starts_with("invalid input: ")));
    /// ```
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.result.as_ref()?.as_ref().err().map(String::as_str)
    }

    /// Whether the workflow still waits: it waited for something the script
    /// never delivers, and has not returned. On a host it would be
    /// `waiting` (or `sleeping`).
    ///
    /// ```
    /// fn wait(_: ()) -> Result<serde_json::Value, duro_sdk::wait::WaitError> {
    ///     duro_sdk::wait::receive("go")
    /// }
    ///
    /// assert!(duro_sdk::testing::Script::new().run(wait, ()).is_waiting());
    /// ```
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        self.result.is_none()
    }

    /// Whether the workflow was told it was cancelled; on a host it would
    /// end `cancelled`, its output or error kept.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// fn nap(_: ()) -> Result<(), duro_sdk::wait::Cancelled> {
    ///     duro_sdk::wait::sleep(Duration::from_secs(60))
    /// }
    ///
    /// let run = duro_sdk::testing::Script::new().cancel_after(Duration::from_secs(5)).run(nap, ());
    /// assert!(run.cancelled());
    /// assert_eq!(run.error(), Some("the workflow was cancelled"));
    /// ```
    #[must_use]
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// The calls the workflow made, in order: `calls()[n]` is the call at
    /// seq `n`. Log lines are in [`logs`](Self::logs).
    ///
    /// ```
    /// use duro_sdk::testing::{Call, Script};
    ///
    /// fn roll(_: ()) -> Result<u64, String> {
    ///     Ok(duro_sdk::random() % 6 + 1)
    /// }
    ///
    /// let run = Script::new().random([3]).run(roll, ());
    /// assert_eq!(run.calls(), [Call::Random]);
    /// assert_eq!(run.output(), Some(&serde_json::json!(4)));
    /// ```
    #[must_use]
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The log lines, in order.
    ///
    /// ```
    /// use duro_sdk::Level;
    ///
    /// fn hello(_: ()) -> Result<(), String> {
    ///     duro_sdk::log(Level::Info, "hello");
    ///     Ok(())
    /// }
    ///
    /// let run = duro_sdk::testing::Script::new().run(hello, ());
    /// assert_eq!(run.logs(), [(Level::Info, "hello".to_owned())]);
    /// ```
    #[must_use]
    pub fn logs(&self) -> &[(Level, String)] {
        &self.logs
    }

    /// The latest value of event `key`, if the workflow set it.
    ///
    /// ```
    /// fn publish(_: ()) -> Result<(), String> {
    ///     duro_sdk::set_event("stage", "one")?;
    ///     duro_sdk::set_event("stage", "two")
    /// }
    ///
    /// let run = duro_sdk::testing::Script::new().run(publish, ());
    /// assert_eq!(run.event("stage"), Some(&serde_json::json!("two")));
    /// ```
    #[must_use]
    pub fn event(&self, key: &str) -> Option<&Value> {
        self.calls.iter().rev().find_map(|call| match call {
            Call::SetEvent { key: set, value } if set == key => Some(value),
            _ => None,
        })
    }

    /// How long the run took on the fake clock.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// fn nap(_: ()) -> Result<(), String> {
    ///     duro_sdk::sleep(Duration::from_secs(5));
    ///     Ok(())
    /// }
    ///
    /// assert_eq!(duro_sdk::testing::Script::new().run(nap, ()).elapsed(), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// One attempt of an activity, to run an activity function under test with
/// the context it would get from the host.
///
/// ```
/// use duro_sdk::activity::{self, Failure};
/// use duro_sdk::testing::Attempt;
///
/// fn resume(_: ()) -> Result<String, Failure> {
///     activity::heartbeat("page 3");
///     Ok(format!("attempt {} after {:?}", activity::attempt(), activity::last_heartbeat()))
/// }
///
/// let run = Attempt::new().number(2).last_heartbeat("page 2").run(resume, ());
/// assert_eq!(run.output::<String>(), Ok("attempt 2 after Some(\"page 2\")".to_owned()));
/// assert_eq!(run.heartbeats(), ["page 3"]);
/// ```
#[derive(Debug, Clone)]
pub struct Attempt {
    number: u32,
    last_heartbeat: Option<String>,
    idempotency_key: String,
}

impl Default for Attempt {
    fn default() -> Self {
        Self::new()
    }
}

impl Attempt {
    /// The first attempt, with no earlier heartbeat and idempotency key
    /// `test/0`.
    ///
    /// ```
    /// let attempt = duro_sdk::testing::Attempt::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self { number: 1, last_heartbeat: None, idempotency_key: "test/0".to_owned() }
    }

    /// Sets the attempt's number (from 1).
    ///
    /// ```
    /// let third = duro_sdk::testing::Attempt::new().number(3);
    /// ```
    #[must_use]
    pub fn number(mut self, number: u32) -> Self {
        self.number = number;
        self
    }

    /// Sets the details of the earlier attempts' last heartbeat.
    ///
    /// ```
    /// let resumed = duro_sdk::testing::Attempt::new().number(2).last_heartbeat("page 7");
    /// ```
    #[must_use]
    pub fn last_heartbeat(mut self, details: &str) -> Self {
        self.last_heartbeat = Some(details.to_owned());
        self
    }

    /// Sets the idempotency key (default `test/0`).
    ///
    /// ```
    /// let attempt = duro_sdk::testing::Attempt::new().idempotency_key("order-7/12");
    /// ```
    #[must_use]
    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.idempotency_key = key.to_owned();
        self
    }

    /// Runs activity function `activity` (as given to
    /// [`activity!`](crate::activity!)) with `input` as its JSON input.
    ///
    /// # Panics
    /// When the activity panics, or `input` does not serialize.
    ///
    /// ```
    /// fn shout(text: String) -> Result<String, duro_sdk::activity::Failure> {
    ///     Ok(text.to_uppercase())
    /// }
    ///
    /// let run = duro_sdk::testing::Attempt::new().run(shout, "hi");
    /// assert_eq!(run.output::<String>(), Ok("HI".to_owned()));
    /// ```
    pub fn run<In, Out, E>(
        self,
        activity: impl FnOnce(In) -> Result<Out, E>,
        input: impl Serialize,
    ) -> AttemptRun
    where
        In: DeserializeOwned,
        Out: Serialize,
        E: Into<Failure>,
    {
        let input = to_json(&input);
        runtime::install_attempt(AttemptState {
            number: self.number,
            last_heartbeat: self.last_heartbeat,
            idempotency_key: self.idempotency_key,
            heartbeats: Vec::new(),
        });
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| crate::__private::run_activity(&input, activity)));
        let state = runtime::uninstall_attempt();
        let result = result.unwrap_or_else(|payload| panic::resume_unwind(payload));
        AttemptRun { result, heartbeats: state.map(|state| state.heartbeats).unwrap_or_default() }
    }
}

/// How an activity attempt under test went: made by [`Attempt::run`].
///
/// ```
/// use duro_sdk::activity::Failure;
///
/// fn decline(_: ()) -> Result<(), Failure> {
///     Err(Failure::non_retryable("declined", "no"))
/// }
///
/// let run = duro_sdk::testing::Attempt::new().run(decline, ());
/// assert_eq!(run.failure().map(|f| f.type_name.as_str()), Some("declined"));
/// ```
#[derive(Debug, Clone)]
pub struct AttemptRun {
    result: Result<String, Failure>,
    heartbeats: Vec<String>,
}

impl AttemptRun {
    /// The output decoded as `T`.
    ///
    /// # Errors
    /// The attempt's [`Failure`], or one of type `invalid-output` if the
    /// output is not a `T`.
    ///
    /// ```
    /// fn answer(_: ()) -> Result<u8, duro_sdk::activity::Failure> {
    ///     Ok(42)
    /// }
    ///
    /// assert_eq!(duro_sdk::testing::Attempt::new().run(answer, ()).output::<u8>(), Ok(42));
    /// ```
    pub fn output<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        let output = self.result.as_ref().map_err(Clone::clone)?;
        serde_json::from_str(output).map_err(|e| Failure::non_retryable("invalid-output", e.to_string()))
    }

    /// The failure, if the attempt failed.
    ///
    /// ```
    /// fn flaky(_: ()) -> Result<(), duro_sdk::activity::Failure> {
    ///     Err("try again".into())
    /// }
    ///
    /// let run = duro_sdk::testing::Attempt::new().run(flaky, ());
    /// assert_eq!(run.failure().map(|f| f.non_retryable), Some(false));
    /// ```
    #[must_use]
    pub fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }

    /// The details of each heartbeat, in order.
    ///
    /// ```
    /// fn beat(_: ()) -> Result<(), duro_sdk::activity::Failure> {
    ///     duro_sdk::activity::heartbeat("half way");
    ///     Ok(())
    /// }
    ///
    /// assert_eq!(duro_sdk::testing::Attempt::new().run(beat, ()).heartbeats(), ["half way"]);
    /// ```
    #[must_use]
    pub fn heartbeats(&self) -> &[String] {
        &self.heartbeats
    }
}
