//! The backend on `wasm32-wasip2`: every call goes to the host through the
//! wit-bindgen imports of `duro:workflow`, converted from and to the SDK's
//! own types here and nowhere else.

use crate::__private::activity_bindings::duro::workflow::activity_context;
use crate::__private::bindings::duro::workflow::{activities, events, http, runtime, types, waits};
use crate::activity::{self, Options};
use crate::wait::{Cancelled, ChildEnd, ChildStatus, Outcome};
use crate::{Level, RetryPolicy};

/// `duration` in whole milliseconds, rounded up (so a short timeout is not
/// 0, which the WIT reads as "the default"), clamped to `u64::MAX`.
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A wait handle: the host's `pending` resource.
pub(crate) type Handle = waits::Pending;

pub(crate) fn handle_key(handle: &Handle) -> u64 {
    handle.key()
}

pub(crate) fn now_ns() -> u64 {
    runtime::now()
}

pub(crate) fn random_u64() -> u64 {
    runtime::random_u64()
}

pub(crate) fn sleep(duration_ns: u64) {
    runtime::sleep(duration_ns);
}

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => runtime::Level::Trace,
        Level::Debug => runtime::Level::Debug,
        Level::Info => runtime::Level::Info,
        Level::Warn => runtime::Level::Warn,
        Level::Error => runtime::Level::Error,
    };
    runtime::log(level, message);
}

pub(crate) fn set_event(key: &str, value_json: &str) {
    events::set_event(key, value_json);
}

fn retry_policy(policy: &RetryPolicy) -> types::RetryPolicy {
    types::RetryPolicy {
        initial_interval_ms: millis(policy.initial_interval),
        backoff_coefficient: policy.backoff_coefficient,
        maximum_interval_ms: policy.maximum_interval.map_or(0, millis),
        maximum_attempts: policy.maximum_attempts,
        non_retryable_error_types: policy.non_retryable_error_types.clone(),
    }
}

pub(crate) fn http_send(request: &crate::http::Request) -> Result<crate::http::Response, crate::http::Error> {
    use crate::http::Error;
    let wit_request = http::Request {
        method: request.method.clone(),
        url: request.url.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
        timeout_ms: request.timeout.map(millis),
    };
    let retry = request.retry.as_ref().map(retry_policy);
    match http::send(&wit_request, retry.as_ref()) {
        Ok(response) => Ok(crate::http::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }),
        Err(http::Error::Denied(message)) => Err(Error::Denied(message)),
        Err(http::Error::Timeout(message)) => Err(Error::Timeout(message)),
        Err(http::Error::Connection(message)) => Err(Error::Connection(message)),
        Err(http::Error::TooLarge(message)) => Err(Error::TooLarge(message)),
        Err(http::Error::InvalidRequest(message)) => Err(Error::InvalidRequest(message)),
        Err(http::Error::ResponseTooLarge(message)) => Err(Error::ResponseTooLarge(message)),
    }
}

pub(crate) fn activity_call(
    component: &str,
    input_json: &str,
    options: &Options,
) -> Result<String, activity::Error> {
    let options = activities::ActivityOptions {
        start_to_close_timeout_ms: millis(options.start_to_close),
        schedule_to_close_timeout_ms: options.schedule_to_close.map(millis),
        heartbeat_timeout_ms: options.heartbeat.map(millis),
        retry: options.retry.as_ref().map(retry_policy),
    };
    activities::call(component, input_json, &options).map_err(|error| activity::Error {
        type_name: error.type_name,
        message: error.message,
        non_retryable: error.non_retryable,
        details: error.details,
    })
}

pub(crate) fn start_timer(duration_ns: u64) -> Handle {
    waits::start_timer(duration_ns)
}

pub(crate) fn receive_signal(name: &str) -> Handle {
    waits::receive_signal(name)
}

pub(crate) fn start_child(component: &str, input_json: &str, id: Option<&str>) -> Result<Handle, String> {
    waits::start_child(component, input_json, id)
}

pub(crate) fn cancel_child(child: &Handle) {
    waits::cancel_child(child);
}

pub(crate) fn wait_any(handles: &[&Handle]) -> Result<(usize, Outcome), Cancelled> {
    match waits::wait_any(handles) {
        Ok(winner) => Ok((winner.index as usize, outcome(winner.outcome))),
        Err(waits::Interrupted::Cancelled) => Err(Cancelled),
    }
}

fn outcome(outcome: waits::Outcome) -> Outcome {
    match outcome {
        waits::Outcome::Fired => Outcome::Fired,
        waits::Outcome::Signal(payload) => Outcome::Signal(payload),
        waits::Outcome::Child(end) => Outcome::Child(ChildEnd {
            id: end.id,
            status: match end.status {
                waits::ChildStatus::Completed => ChildStatus::Completed,
                waits::ChildStatus::Failed => ChildStatus::Failed,
                waits::ChildStatus::Stuck => ChildStatus::Stuck,
                waits::ChildStatus::Cancelled => ChildStatus::Cancelled,
                waits::ChildStatus::Terminated => ChildStatus::Terminated,
            },
            output: end.output,
            error: end.error,
        }),
    }
}

pub(crate) fn heartbeat(details: &str) {
    activity_context::heartbeat(details);
}

pub(crate) fn attempt() -> u32 {
    activity_context::attempt()
}

pub(crate) fn last_heartbeat() -> Option<String> {
    activity_context::last_heartbeat()
}

pub(crate) fn idempotency_key() -> String {
    activity_context::idempotency_key()
}

/// The activity world's error record, from the SDK's [`activity::Failure`].
pub(crate) fn activity_failure(
    failure: activity::Failure,
) -> crate::__private::activity_bindings::duro::workflow::types::ActivityError {
    crate::__private::activity_bindings::duro::workflow::types::ActivityError {
        type_name: failure.type_name,
        message: failure.message,
        non_retryable: failure.non_retryable,
        details: failure.details,
        next_retry_delay_ms: failure.next_retry_delay.map(millis),
    }
}
