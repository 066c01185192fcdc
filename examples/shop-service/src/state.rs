//! The shop's memory: the id counter, the request log, the answers stored for
//! idempotent replay and the injected faults, all behind one lock.
//!
//! One lock keeps the bookkeeping simple and makes each step atomic: logging a
//! request's arrival together with taking its fault (so log order and fault
//! order agree), and looking up a stored answer together with creating and
//! storing a new one (so two concurrent requests with the same key cannot
//! both create an id). The lock is never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::reply::Reply;

/// One request as recorded in the log served by `GET /requests`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LogEntry {
    /// Position in arrival order, from 1; not reset when the log is cleared.
    pub(crate) seq: u64,
    /// The HTTP method.
    pub(crate) method: String,
    /// The path, without the query string.
    pub(crate) path: String,
    /// The `Idempotency-Key` header, if any.
    pub(crate) idempotency_key: Option<String>,
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
    /// The W3C `traceparent` header, if any.
    pub(crate) traceparent: Option<String>,
    /// The status answered; `null` while the request is still being served,
    /// or for good if its caller went away first.
    pub(crate) status: Option<u16>,
}

/// The body of `POST /faults`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    /// The path whose requests the fault hits, e.g. `/payments/charge`.
    pub(crate) path: String,
    /// Status to answer with; absent means answer normally, after the delay.
    pub(crate) status: Option<u16>,
    /// How many requests the fault hits; absent means all of them.
    pub(crate) times: Option<u32>,
    /// Value for a `Retry-After` header on the injected answer.
    pub(crate) retry_after_secs: Option<u64>,
    /// How long to wait before answering, in milliseconds.
    pub(crate) delay_ms: Option<u64>,
}

/// What an injected fault does to one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fault {
    /// Status to answer with instead of serving the request, if any.
    pub(crate) status: Option<StatusCode>,
    /// `Retry-After` seconds to send with that status.
    pub(crate) retry_after_secs: Option<u64>,
    /// Wait before answering.
    pub(crate) delay: Duration,
}

/// A fault waiting for requests to its path.
#[derive(Debug)]
struct ArmedFault {
    fault: Fault,
    /// Requests still to hit (never 0); `None` for unlimited.
    remaining: Option<u32>,
}

/// Hands out the shop's ids: `res-1`, `pay-2`, `shp-3`, … from one counter.
#[derive(Debug)]
pub(crate) struct Ids {
    next: u64,
}

impl Ids {
    /// The next id, as `{prefix}-{n}`.
    pub(crate) fn issue(&mut self, prefix: &str) -> String {
        let n = self.next;
        self.next += 1;
        format!("{prefix}-{n}")
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self { next: 1 }
    }
}

/// The shop's shared state.
#[derive(Debug, Default)]
pub(crate) struct Shop {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: Ids,
    last_seq: u64,
    log: Vec<LogEntry>,
    /// Successful answers by (path, idempotency key).
    answers: HashMap<(String, String), Reply>,
    faults: HashMap<String, ArmedFault>,
}

impl Shop {
    /// Records a request's arrival and takes the fault, if any, that hits it.
    /// Returns the request's `seq`, for [`Shop::finish`].
    pub(crate) fn arrive(
        &self,
        method: &str,
        path: &str,
        idempotency_key: Option<String>,
        authorization: Option<String>,
        traceparent: Option<String>,
    ) -> (u64, Option<Fault>) {
        let mut inner = self.lock();
        inner.last_seq += 1;
        let seq = inner.last_seq;
        inner.log.push(LogEntry {
            seq,
            method: method.to_owned(),
            path: path.to_owned(),
            idempotency_key,
            authorization,
            traceparent,
            status: None,
        });
        (seq, inner.take_fault(path))
    }

    /// Fills in the status answered to request `seq` (unless the log has been
    /// cleared since it arrived).
    pub(crate) fn finish(&self, seq: u64, status: StatusCode) {
        let mut inner = self.lock();
        if let Ok(i) = inner.log.binary_search_by_key(&seq, |entry| entry.seq) {
            inner.log[i].status = Some(status.as_u16());
        }
    }

    /// Answers a request to `path`: with the stored answer if `idempotency_key`
    /// was already answered successfully for this path, otherwise with
    /// `serve`'s answer, stored for later if it is a success and there is a key.
    pub(crate) fn answer(
        &self,
        path: &str,
        idempotency_key: Option<&str>,
        serve: impl FnOnce(&mut Ids) -> Reply,
    ) -> Reply {
        let mut inner = self.lock();
        let Some(key) = idempotency_key else {
            return serve(&mut inner.ids);
        };
        let slot = (path.to_owned(), key.to_owned());
        if let Some(stored) = inner.answers.get(&slot) {
            return stored.replay();
        }
        let reply = serve(&mut inner.ids);
        if reply.is_success() {
            inner.answers.insert(slot, reply.clone());
        }
        reply
    }

    /// The log in arrival order, only the requests to `path` if given.
    pub(crate) fn requests(&self, path: Option<&str>) -> Vec<LogEntry> {
        let inner = self.lock();
        inner.log.iter().filter(|entry| path.is_none_or(|path| entry.path == path)).cloned().collect()
    }

    /// Empties the log; `seq` numbering carries on.
    pub(crate) fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// Arms `fault` for the next `times` requests to `path` (all of them if
    /// `None`), replacing any fault armed for that path; `times` 0 just
    /// disarms the path.
    pub(crate) fn set_fault(&self, path: String, fault: Fault, times: Option<u32>) {
        let mut inner = self.lock();
        if times == Some(0) {
            inner.faults.remove(&path);
        } else {
            inner.faults.insert(path, ArmedFault { fault, remaining: times });
        }
    }

    /// Disarms all faults.
    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent across a panic (every update is a single
        // step), so a poisoned lock is still fine to use.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let armed = self.faults.get_mut(path)?;
        let fault = armed.fault;
        if let Some(remaining) = &mut armed.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                self.faults.remove(path);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fault(status: Option<u16>) -> Fault {
        Fault {
            status: status.map(|s| StatusCode::from_u16(s).unwrap()),
            retry_after_secs: None,
            delay: Duration::ZERO,
        }
    }

    #[test]
    fn a_fault_hits_the_next_times_requests_to_its_path_only() {
        let shop = Shop::default();
        shop.set_fault("/p".into(), fault(Some(500)), Some(2));
        assert!(shop.arrive("POST", "/q", None, None, None).1.is_none());
        assert!(shop.arrive("POST", "/p", None, None, None).1.is_some());
        assert!(shop.arrive("POST", "/p", None, None, None).1.is_some());
        assert!(shop.arrive("POST", "/p", None, None, None).1.is_none());
    }

    #[test]
    fn a_fault_without_times_is_unlimited_and_a_new_one_replaces_it() {
        let shop = Shop::default();
        shop.set_fault("/p".into(), fault(Some(500)), None);
        for _ in 0..5 {
            assert_eq!(
                shop.arrive("POST", "/p", None, None, None).1.unwrap().status,
                Some(StatusCode::from_u16(500).unwrap())
            );
        }
        shop.set_fault("/p".into(), fault(None), Some(1));
        assert_eq!(shop.arrive("POST", "/p", None, None, None).1.unwrap().status, None);
        assert!(shop.arrive("POST", "/p", None, None, None).1.is_none());
    }

    #[test]
    fn only_successes_are_replayed_and_only_for_the_same_path_and_key() {
        let shop = Shop::default();
        let create = |ids: &mut Ids| Reply::ok(json!({ "id": ids.issue("x") }));
        let fail = |_: &mut Ids| Reply::error(StatusCode::PAYMENT_REQUIRED, "no");
        assert_eq!(shop.answer("/p", Some("k"), fail).status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(shop.answer("/p", Some("k"), create).body, json!({ "id": "x-1" }));
        assert_eq!(shop.answer("/p", Some("k"), create).body, json!({ "id": "x-1" }));
        assert_eq!(shop.answer("/q", Some("k"), create).body, json!({ "id": "x-2" }));
        assert_eq!(shop.answer("/p", None, create).body, json!({ "id": "x-3" }));
    }

    #[test]
    fn the_log_keeps_arrival_order_and_seq_survives_clearing() {
        let shop = Shop::default();
        let (first, _) = shop.arrive("POST", "/p", Some("k".into()), Some("Bearer t".into()), None);
        let (second, _) = shop.arrive("GET", "/q", None, None, None);
        shop.finish(second, StatusCode::OK);
        let log = shop.requests(None);
        assert_eq!((log[0].seq, log[0].status), (first, None));
        assert_eq!((log[1].seq, log[1].status), (second, Some(200)));
        assert_eq!(shop.requests(Some("/q")).len(), 1);
        shop.clear_requests();
        shop.finish(first, StatusCode::OK);
        assert!(shop.requests(None).is_empty());
        assert_eq!(shop.arrive("POST", "/p", None, None, None).0, 3);
    }
}
