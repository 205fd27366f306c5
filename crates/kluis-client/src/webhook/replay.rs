//! The replay cache: the `webhook-id`s accepted lately, so each delivery is accepted once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// What [`ReplayCache::admit`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Not seen before: now remembered.
    New,
    /// Already accepted, and still remembered.
    Seen,
    /// Every place is taken by an id that is still remembered.
    Full,
}

/// Ids with the time until which each is remembered. Bounded: once `capacity` ids are
/// remembered and none has lapsed, a new id is refused ([`Admit::Full`]) rather than an old one
/// forgotten, because a forgotten id could be replayed while its timestamp is still fresh.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Remembers `id` until `until` (Unix seconds), unless it is remembered already at `now`.
    pub(crate) fn admit(&self, id: &str, until: i64, now: i64) -> Admit {
        let mut seen = self.lock();
        if seen.get(id).is_some_and(|&t| t >= now) {
            return Admit::Seen;
        }
        if !seen.contains_key(id) && seen.len() >= self.capacity {
            seen.retain(|_, t| *t >= now);
            if seen.len() >= self.capacity {
                return Admit::Full;
            }
        }
        seen.insert(id.to_owned(), until);
        Admit::New
    }

    /// Forgets `id`, so that its next delivery is accepted again.
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The map stays consistent whatever a panicking holder did (each change is one call), so a
    /// poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_admitted_once_until_it_lapses() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.admit("a", 100, 0), Admit::New);
        assert_eq!(cache.admit("a", 200, 50), Admit::Seen);
        assert_eq!(
            cache.admit("a", 200, 100),
            Admit::Seen,
            "until is inclusive"
        );
        assert_eq!(cache.admit("a", 300, 101), Admit::New, "lapsed");
        cache.forget("a");
        assert_eq!(cache.admit("a", 300, 101), Admit::New, "forgotten");
    }

    #[test]
    fn a_full_cache_refuses_until_an_entry_lapses() {
        let cache = ReplayCache::new(2);
        assert_eq!(cache.admit("a", 100, 0), Admit::New);
        assert_eq!(cache.admit("b", 200, 0), Admit::New);
        assert_eq!(cache.admit("c", 300, 50), Admit::Full);
        assert_eq!(
            cache.admit("a", 300, 50),
            Admit::Seen,
            "nothing was forgotten"
        );
        assert_eq!(
            cache.admit("c", 300, 101),
            Admit::New,
            "a lapsed, c takes its place"
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.admit("a", 300, 101), Admit::Full);
    }
}
