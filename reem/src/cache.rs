//! [`BoundedCache`]: the one bounded cache of the crate.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// A thread-safe map that never holds more than about twice its `limit` entries, for
/// caches whose keys come from stored data (fingerprints, Redis keys), so that hostile data
/// cannot grow memory without bound.
///
/// Two generations: inserts go to the current one; when it is full it becomes the previous
/// one (the older previous one is dropped). A hit in the previous generation moves the entry
/// back to the current one, so entries in use survive, and every operation is O(1). An
/// evicted entry only costs its recomputation: a cache must hold nothing that is not
/// correct for every reader with the same key.
#[derive(Debug)]
pub(crate) struct BoundedCache<K, V> {
    limit: usize,
    generations: Mutex<Generations<K, V>>,
}

#[derive(Debug)]
struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    /// An empty cache holding at most `limit` entries per generation (at least 1).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            generations: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
            }),
        }
    }

    /// A copy of the value cached for `key`, if any.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut g = self.lock();
        if let Some(v) = g.current.get(key) {
            return Some(v.clone());
        }
        let (k, v) = g.previous.remove_entry(key)?;
        let found = v.clone();
        self.insert_locked(&mut g, k, v);
        Some(found)
    }

    /// Caches `value` for `key`, replacing any value cached for it.
    pub(crate) fn insert(&self, key: K, value: V) {
        let mut g = self.lock();
        g.previous.remove(&key);
        self.insert_locked(&mut g, key, value);
    }

    /// Number of entries cached (both generations).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    fn insert_locked(&self, g: &mut Generations<K, V>, key: K, value: V) {
        if g.current.len() >= self.limit && !g.current.contains_key(&key) {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(key, value);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<K, V>> {
        // A panic while holding the lock cannot leave the maps inconsistent.
        crate::lock::lock(&self.generations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_two_generations_and_keeps_entries_in_use() {
        let c = BoundedCache::new(4);
        for i in 0..100u32 {
            c.insert(i, i * 10);
            assert!(c.len() <= 8);
            // Entry 0 is read at every step: it survives every eviction.
            assert_eq!(c.get(&0), Some(0), "after inserting {i}");
        }
        assert_eq!(c.get(&99), Some(990));
        assert_eq!(c.get(&1), None);
        c.insert(99, 1);
        assert_eq!(c.get(&99), Some(1));
    }

    #[test]
    fn borrowed_keys_look_up_owned_ones() {
        let c: BoundedCache<String, Vec<u8>> = BoundedCache::new(2);
        c.insert("robot/pose".to_owned(), b"Pose2".to_vec());
        assert_eq!(c.get("robot/pose"), Some(b"Pose2".to_vec()));
        assert_eq!(c.get("robot/other"), None);
    }
}
