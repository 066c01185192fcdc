//! The host's lease: who this process is to the other hosts on the
//! database, and whether it may still act for the workflows it owns.
//!
//! Liveness belongs to the process and fencing to the workflow. The process
//! registers a row in `hosts` under a new [`HostId`] and its heartbeat
//! renews the row's lease (by the database's clock) every fifth of the TTL,
//! on a connection of its own. A workflow in a run is owned by the host
//! through its row; every commit of the run is compared and set against the
//! workflow's `revision`, which each change of owner bumps, so the database
//! itself refuses a run whose host lost the workflow.
//!
//! Locally the lease is *held* until four fifths of the TTL after the last
//! successful renewal was sent, on the monotonic clock: always before the
//! database judges it expired. While it is not held the host claims nothing
//! and starts no effect ([`Lease::held`]); the database cannot fence an
//! HTTP request, so this check is what keeps a paused host from sending one
//! after another host took its workflow over. When a renewal finds the lease
//! expired, the runs in flight are abandoned (their commits would be
//! refused) and the process registers anew under a new id: an expired lease
//! is never revived.
//!
//! Each renewal is followed by a reclaim: any host deletes the rows of
//! hosts whose lease expired and releases their workflows, due at once. On
//! a store only one host can open (SQLite), every other row is reclaimed at
//! registration, since its process is known dead. This follows the
//! lease-per-host, token-per-unit design of Temporal's shard `range_id` and
//! Hatchet's worker heartbeats (see `../shared/design/scale-out.md`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Inner, lock};
use crate::ids::HostId;

/// Pause before trying to register again after a failure.
const REGISTER_RETRY: Duration = Duration::from_secs(1);
/// Longest a renewal may take before it counts as failed.
const RENEW_TIMEOUT: Duration = Duration::from_secs(2);

/// This process's identity and lease; see the module docs.
#[derive(Debug)]
pub(super) struct Lease {
    /// The lease's time to live, as renewed.
    ttl: Duration,
    state: Mutex<LeaseState>,
}

#[derive(Debug)]
struct LeaseState {
    /// The id registered (or being registered).
    host: HostId,
    /// Until when the lease is held locally; `None` before registration.
    held_until: Option<Instant>,
}

impl Lease {
    /// A lease not yet registered, with time to live `ttl`.
    pub(super) fn new(ttl: Duration) -> Self {
        Self { ttl, state: Mutex::new(LeaseState { host: HostId::generate(), held_until: None }) }
    }

    /// The id under which this process owns workflows now.
    pub(super) fn host(&self) -> HostId {
        lock(&self.state).host.clone()
    }

    /// Whether the lease is held: registered, and renewed recently enough
    /// that no other host can have taken this host's workflows over.
    pub(super) fn held(&self) -> bool {
        self.held_at(Instant::now())
    }

    /// Whether the lease is held at `at`.
    fn held_at(&self, at: Instant) -> bool {
        lock(&self.state).held_until.is_some_and(|until| at < until)
    }

    /// The TTL in ms, as the store takes it.
    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// How often the lease is renewed: a fifth of the TTL.
    fn period(&self) -> Duration {
        self.ttl / 5
    }

    /// Notes a renewal (or registration) sent at `sent` that succeeded.
    fn renewed(&self, sent: Instant) {
        lock(&self.state).held_until = Some(sent + self.ttl - self.period());
    }

    /// Gives the lease up locally and takes a new id to register under.
    fn lost(&self) -> HostId {
        let mut state = lock(&self.state);
        state.held_until = None;
        state.host = HostId::generate();
        state.host.clone()
    }

    /// Gives the lease up locally, for good: the host is retiring.
    fn give_up(&self) {
        lock(&self.state).held_until = None;
    }
}

/// Until `stop`: registers this host and renews its lease; see the module
/// docs. Stopped only once the runs have stopped, just before
/// [`retire`], so the lease holds through a graceful shutdown.
pub(super) async fn heartbeat(inner: Arc<Inner>, stop: tokio_util::sync::CancellationToken) {
    tokio::select! {
        () = renew(&inner) => {}
        () = stop.cancelled() => {}
    }
}

/// Until shutdown, every fifth of the TTL: reclaims the leases of dead
/// hosts. A task of its own, so a reclaim held up by a row lock never
/// delays a renewal.
pub(super) async fn reclaimer(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(inner.lease.period()) => {}
            () = inner.shutdown.cancelled() => return,
        }
        if inner.lease.held() {
            reclaim(&inner, None).await;
        }
    }
}

/// Registers this host and renews its lease, for ever.
async fn renew(inner: &Inner) {
    let lease = &inner.lease;
    loop {
        register(inner).await;
        loop {
            let sent = Instant::now();
            let renewed =
                tokio::time::timeout(RENEW_TIMEOUT, inner.store.renew_lease(&lease.host(), lease.ttl_ms()))
                    .await;
            match renewed {
                Ok(Ok(true)) => lease.renewed(sent),
                Ok(Ok(false)) => {
                    tracing::warn!(host = %lease.host(), "lease expired; abandoning runs and registering anew");
                    abandon(inner);
                    break;
                }
                Ok(Err(error)) => tracing::warn!(%error, "cannot renew the lease"),
                Err(_) => tracing::warn!("lease renewal took longer than {RENEW_TIMEOUT:?}"),
            }
            if !lease.held() && !inner.lock_active().is_empty() {
                tracing::warn!("lease no longer held; abandoning runs");
                abandon(inner);
            }
            tokio::time::sleep_until(sent + lease.period()).await;
        }
        lease.lost();
    }
}

/// Registers the current id, retrying until it works, under a new id each
/// time (a registration whose answer was lost may have been stored).
async fn register(inner: &Inner) {
    let lease = &inner.lease;
    loop {
        let sent = Instant::now();
        let host = lease.host();
        let registered = tokio::time::timeout(
            RENEW_TIMEOUT,
            inner.store.register_host(&host, &inner.host_name, lease.ttl_ms()),
        );
        match registered.await {
            Ok(Ok(())) => {
                lease.renewed(sent);
                tracing::info!(%host, name = %inner.host_name, ttl = ?lease.ttl, "host registered");
                if inner.store.single_host() {
                    reclaim(inner, Some(&host)).await;
                }
                inner.arrivals.scheduler.notify_one();
                return;
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot register the host; retrying"),
            Err(_) => tracing::warn!("registration took longer than {RENEW_TIMEOUT:?}; retrying"),
        }
        lease.lost();
        tokio::time::sleep(REGISTER_RETRY).await;
    }
}

/// Reclaims the leases of dead hosts (all others than `sole`, if given) and
/// nudges the scheduler for what was released.
async fn reclaim(inner: &Inner, sole: Option<&HostId>) {
    match inner.store.reclaim(sole).await {
        Ok(released) => inner.arrivals.poke(&released),
        Err(error) => tracing::warn!(%error, "cannot reclaim the leases of dead hosts"),
    }
}

/// Stops every run in flight: this host no longer owns their workflows.
fn abandon(inner: &Inner) {
    inner.arrivals.abandon_all();
}

/// The workflows this host owns without a run in flight (a run that ended
/// without giving its workflow up, or was abandoned while the lease
/// looked lost): released, due at once. Called by the scheduler between
/// claims, so a claim is never taken for an orphan.
pub(super) async fn release_orphans(inner: &Inner) -> Result<(), crate::store::Error> {
    let host = inner.lease.host();
    let owned = inner.store.owned(&host).await?;
    let orphans: Vec<_> = {
        let active = inner.lock_active();
        owned.into_iter().filter(|id| !active.contains(id)).collect()
    };
    for id in &orphans {
        if inner.store.release(&host, id, crate::clock::now_ms(), None).await? {
            tracing::info!(workflow = %id, "released a workflow this host owned without a run");
        }
    }
    inner.arrivals.poke(&orphans);
    Ok(())
}

/// Gives this host's workflows up and deletes its row, so other hosts take
/// over at once rather than after the TTL (graceful shutdown, once the
/// heartbeat has stopped). A run still in flight stops before its next
/// effect.
pub(super) async fn retire(inner: &Inner) {
    inner.lease.give_up();
    let host = inner.lease.host();
    match inner.store.retire_host(&host).await {
        Ok(released) => tracing::info!(%host, released = released.len(), "lease released"),
        Err(error) => {
            tracing::warn!(%error, "cannot release the lease; other hosts take over once it expires")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_held_until_four_fifths_of_the_ttl_after_the_renewal_was_sent() {
        let lease = Lease::new(Duration::from_secs(10));
        assert!(!lease.held(), "not held before registration");
        let sent = Instant::now();
        lease.renewed(sent);
        assert!(lease.held_at(sent + Duration::from_millis(7_999)));
        assert!(!lease.held_at(sent + Duration::from_millis(8_000)));
        let before = lease.host();
        assert_ne!(lease.lost(), before, "a lost lease registers under a new id");
        assert!(!lease.held_at(sent), "a lost lease is not held");
    }
}
