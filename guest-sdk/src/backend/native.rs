//! The backend on native targets: every call is answered by the scripted
//! runtime that [`crate::testing`] installs on the current thread.

use crate::Level;
use crate::activity::{self, Options};
use crate::testing::runtime::{self, Runtime};
use crate::wait::{Cancelled, Outcome};

pub(crate) use runtime::Handle;

pub(crate) fn handle_key(handle: &Handle) -> u64 {
    handle.key
}

pub(crate) fn now_ns() -> u64 {
    runtime::with(Runtime::now_ns)
}

pub(crate) fn random_u64() -> u64 {
    runtime::with(Runtime::random_u64)
}

pub(crate) fn sleep(duration_ns: u64) {
    runtime::with(|runtime| runtime.sleep(duration_ns));
}

pub(crate) fn log(level: Level, message: &str) {
    runtime::with(|runtime| runtime.log(level, message));
}

pub(crate) fn set_event(key: &str, value_json: &str) {
    runtime::with(|runtime| runtime.set_event(key, value_json));
}

pub(crate) fn http_send(request: &crate::http::Request) -> Result<crate::http::Response, crate::http::Error> {
    runtime::with(|runtime| runtime.http_send(request))
}

pub(crate) fn activity_call(
    component: &str,
    input_json: &str,
    options: &Options,
) -> Result<String, activity::Error> {
    runtime::with(|runtime| runtime.activity_call(component, input_json, options))
}

pub(crate) fn start_timer(duration_ns: u64) -> Handle {
    runtime::with(|runtime| runtime.start_timer(duration_ns))
}

pub(crate) fn receive_signal(name: &str) -> Handle {
    runtime::with(|runtime| runtime.receive_signal(name))
}

pub(crate) fn start_child(component: &str, input_json: &str, id: Option<&str>) -> Result<Handle, String> {
    runtime::with(|runtime| runtime.start_child(component, input_json, id))
}

pub(crate) fn cancel_child(child: &Handle) {
    runtime::with(|runtime| runtime.cancel_child(child));
}

pub(crate) fn wait_any(handles: &[&Handle]) -> Result<(usize, Outcome), Cancelled> {
    runtime::wait_any(handles)
}

pub(crate) fn heartbeat(details: &str) {
    runtime::with_attempt(|attempt| attempt.heartbeat(details));
}

pub(crate) fn attempt() -> u32 {
    runtime::with_attempt(|attempt| attempt.number)
}

pub(crate) fn last_heartbeat() -> Option<String> {
    runtime::with_attempt(|attempt| attempt.last_heartbeat.clone())
}

pub(crate) fn idempotency_key() -> String {
    runtime::with_attempt(|attempt| attempt.idempotency_key.clone())
}
