//! Resolving a component's name or digest for starts and activity calls,
//! with a short-lived cache.
//!
//! Each workflow start and each activity attempt names its component; a
//! read of the store for each would cost as much as the step itself. A
//! digest always names the same bytes, and a name is re-pointed only by a
//! push: this host forgets everything it cached at each push it takes, and
//! a push through another host is seen here within [`FRESH_FOR`]. A
//! component not found is never cached, so a push is seen at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Error, lock};
use crate::store::{self, ComponentKind, ComponentRecord, Store};

/// How long a resolved name is trusted before the store is read again.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// Most names and digests cached; the cache is emptied when it is full.
const CAPACITY: usize = 1024;

/// A cache of [`Store::component`] answers in front of the store.
pub(super) struct ComponentLookup {
    store: Arc<dyn Store>,
    cached: Mutex<HashMap<String, (Instant, ComponentRecord)>>,
    /// Bumped by [`Self::forget`]: an answer read from the store before a
    /// push is not cached after it.
    generation: AtomicU64,
}

impl ComponentLookup {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Self { store, cached: Mutex::new(HashMap::new()), generation: AtomicU64::new(0) }
    }

    /// The workflow component a digest or name refers to, for a start (by
    /// the API or a schedule's tick).
    ///
    /// # Errors
    /// [`Error::UnknownComponent`] if none does, [`Error::InvalidComponent`]
    /// if it is an activity, [`Error::Store`].
    pub(super) async fn resolve_workflow(&self, key: &str) -> Result<ComponentRecord, Error> {
        let component = self.resolve(key).await?.ok_or_else(|| Error::UnknownComponent(key.to_owned()))?;
        if component.kind != ComponentKind::Workflow {
            return Err(Error::InvalidComponent(format!(
                "component {} is an activity: workflows call it, it cannot be started",
                component.digest
            )));
        }
        Ok(component)
    }

    /// The component a digest or name refers to, `None` if none does.
    ///
    /// # Errors
    /// [`store::Error`] if the store cannot be read.
    pub(super) async fn resolve(&self, key: &str) -> store::Result<Option<ComponentRecord>> {
        if let Some((at, record)) = lock(&self.cached).get(key)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(Some(record.clone()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let record = self.store.component(key).await?;
        if let Some(record) = &record {
            let mut cached = lock(&self.cached);
            if self.generation.load(Ordering::Acquire) != generation {
                return Ok(Some(record.clone()));
            }
            if cached.len() >= CAPACITY {
                cached.clear();
            }
            cached.insert(key.to_owned(), (Instant::now(), record.clone()));
        }
        Ok(record)
    }

    /// Forgets every answer: a push may have re-pointed a name.
    pub(super) fn forget(&self) {
        let mut cached = lock(&self.cached);
        self.generation.fetch_add(1, Ordering::AcqRel);
        cached.clear();
    }
}
