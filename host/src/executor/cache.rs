//! [`CompiledCache`]: prepared components by digest, least recently used
//! evicted first once their compiled code passes a memory budget.
//!
//! Compiling is the expensive part of running a component the first time
//! (milliseconds for a small Rust workflow, seconds for an 18 MB Python one),
//! so prepared components stay in memory, but not without bound: a host that
//! has run many components keeps the ones in use. Evicting an entry drops
//! only the cache's reference; runs using it keep theirs until they end.

use std::collections::HashMap;

use crate::ids::ComponentDigest;

/// See the module docs. `T` is the prepared component.
pub(crate) struct CompiledCache<T> {
    entries: HashMap<ComponentDigest, Cached<T>>,
    /// Compiled code bytes of all entries.
    bytes: usize,
    budget_bytes: usize,
    /// Increases with each use; an entry's `last_used` orders evictions.
    clock: u64,
}

struct Cached<T> {
    value: T,
    bytes: usize,
    last_used: u64,
}

impl<T: Clone> CompiledCache<T> {
    /// An empty cache keeping at most `budget_bytes` of compiled code (but
    /// always the entry inserted last, whatever its size).
    pub(crate) fn new(budget_bytes: usize) -> Self {
        Self { entries: HashMap::new(), bytes: 0, budget_bytes, clock: 0 }
    }

    /// The entry for `digest`, marked as used now.
    pub(crate) fn get(&mut self, digest: &ComponentDigest) -> Option<T> {
        self.clock += 1;
        let entry = self.entries.get_mut(digest)?;
        entry.last_used = self.clock;
        Some(entry.value.clone())
    }

    /// Adds `value` of `bytes` compiled code, then evicts the least recently
    /// used other entries until the cache fits its budget.
    pub(crate) fn insert(&mut self, digest: ComponentDigest, value: T, bytes: usize) {
        self.clock += 1;
        let cached = Cached { value, bytes, last_used: self.clock };
        if let Some(old) = self.entries.insert(digest.clone(), cached) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        while self.bytes > self.budget_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .filter(|(key, _)| **key != digest)
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.bytes -= evicted.bytes;
                tracing::debug!(component = %oldest, bytes = evicted.bytes, "compiled component evicted");
            }
        }
    }

    /// Entries and their compiled bytes.
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> ComponentDigest {
        ComponentDigest::of(&[n])
    }

    #[test]
    fn least_recently_used_entries_are_evicted_past_the_budget() {
        let mut cache = CompiledCache::new(100);
        cache.insert(digest(1), 1, 40);
        cache.insert(digest(2), 2, 40);
        assert_eq!(cache.get(&digest(1)), Some(1)); // 2 is now the oldest
        cache.insert(digest(3), 3, 40);
        assert_eq!(cache.get(&digest(2)), None);
        assert_eq!(cache.get(&digest(3)), Some(3));
        assert_eq!(cache.get(&digest(1)), Some(1));
        assert_eq!(cache.usage(), (2, 80));
        // An entry over the whole budget is kept alone.
        cache.insert(digest(4), 4, 500);
        assert_eq!(cache.usage(), (1, 500));
        assert_eq!(cache.get(&digest(4)), Some(4));
    }
}
