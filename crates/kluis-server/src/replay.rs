//! Remembers DPoP proof ids long enough that a proof cannot be used twice: two generations of
//! keyed 64-bit fingerprints, each covering longer than a proof's allowed clock skew.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;

use kluis_core::dpop::MAX_SKEW_SECS;

/// A generation lasts this long; a fingerprint is kept for one to two generations, so a proof
/// is remembered for at least 2 × the skew window it can be accepted in.
const GENERATION_SECS: i64 = 2 * MAX_SKEW_SECS + 1;

pub struct ReplayCache {
    hasher: RandomState,
    inner: Mutex<Generations>,
}

struct Generations {
    started: i64,
    current: HashSet<u64>,
    previous: HashSet<u64>,
}

impl ReplayCache {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            inner: Mutex::new(Generations {
                started: i64::MIN,
                current: HashSet::new(),
                previous: HashSet::new(),
            }),
        }
    }

    /// Records a proof; `false` if it was seen before.
    pub fn first_use(&self, jkt: &str, jti: &str, now: i64) -> bool {
        let fingerprint = self.hasher.hash_one((jkt, jti));
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        if now.saturating_sub(g.started) >= GENERATION_SECS {
            g.previous = std::mem::take(&mut g.current);
            g.started = now;
        }
        if g.previous.contains(&fingerprint) {
            return false;
        }
        g.current.insert(fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_within_its_window() {
        let cache = ReplayCache::new();
        assert!(cache.first_use("k", "a", 1000));
        assert!(!cache.first_use("k", "a", 1001));
        assert!(
            cache.first_use("other", "a", 1001),
            "the key is part of the identity"
        );
        // Still remembered one generation later, when its iat can no longer pass anyway.
        assert!(!cache.first_use("k", "a", 1000 + GENERATION_SECS));
        assert!(cache.first_use("k", "a", 1000 + 3 * GENERATION_SECS));
    }
}
