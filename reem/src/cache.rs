//! [`BoundedCache`]: a small map that never grows past its limit.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

/// A thread-safe map of at most `limit` entries: inserting into a full cache empties it
/// first. Keys may come from untrusted data (stored keys, fingerprints): the limit bounds
/// the memory they can take, and emptying keeps the cost of a miss at one recomputation.
#[derive(Debug)]
pub(crate) struct BoundedCache<K, V> {
    map: Mutex<HashMap<K, V>>,
    limit: usize,
}

impl<K: Eq + Hash, V: Clone> BoundedCache<K, V> {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            limit,
        }
    }

    /// The value cached for `key`, cloned.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Caches `value` for `key`.
    pub(crate) fn insert(&self, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.limit && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, value);
    }
}
