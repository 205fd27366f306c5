//! Growing delays after failed sign-ins, per client address and overall: after a few failures
//! from one address, each further try from it must wait twice as long as the last (up to five
//! minutes); after many failures from anywhere, every try waits. A success clears its address.
//! Failures older than [`FORGET_AFTER`] are forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures from one address before waits begin.
const FREE_TRIES: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Failures from all addresses together before every try waits.
const OVERALL_FREE: u32 = 30;
const OVERALL_MAX_WAIT: Duration = Duration::from_secs(60);
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (a flood from many addresses is met by the overall wait).
const MAX_CLIENTS: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Default)]
pub struct Throttle {
    clients: HashMap<IpAddr, Failures>,
    overall: Option<Failures>,
}

impl Throttle {
    /// How long a try from `client` must still wait, if it must.
    pub fn wait(&mut self, client: IpAddr, now: Instant) -> Option<Duration> {
        self.forget(now);
        let own = self
            .clients
            .get(&client)
            .and_then(|f| remaining(f, now, FREE_TRIES, MAX_WAIT, Duration::from_secs(1)));
        let overall = self.overall.as_ref().and_then(|f| {
            remaining(
                f,
                now,
                OVERALL_FREE,
                OVERALL_MAX_WAIT,
                Duration::from_millis(500),
            )
        });
        own.max(overall)
    }

    /// Takes a try from `client`, or says how long it must still wait. A try taken counts as a
    /// failure until [`Throttle::succeeded`] says otherwise: taken and counted under one lock,
    /// so many tries sent at once cannot all slip past the count while their passphrases are
    /// still being checked.
    pub fn attempt(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.wait(client, now) {
            return Err(wait);
        }
        self.failed(client, now);
        Ok(())
    }

    pub fn failed(&mut self, client: IpAddr, now: Instant) {
        if self.clients.len() >= MAX_CLIENTS {
            self.clients.clear();
        }
        let bump = |f: Option<Failures>| Failures {
            count: f.map_or(0, |f| f.count).saturating_add(1),
            last: now,
        };
        let own = bump(self.clients.get(&client).copied());
        self.clients.insert(client, own);
        self.overall = Some(bump(self.overall));
    }

    /// A try from `client` proved right: its address starts over, and the try no longer counts
    /// towards the overall failures.
    pub fn succeeded(&mut self, client: IpAddr) {
        self.clients.remove(&client);
        if let Some(overall) = self.overall.as_mut() {
            overall.count = overall.count.saturating_sub(1);
        }
    }

    fn forget(&mut self, now: Instant) {
        self.clients
            .retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        if self
            .overall
            .is_some_and(|f| now.duration_since(f.last) >= FORGET_AFTER)
        {
            self.overall = None;
        }
    }
}

/// The wait left after `f`: none for the first `free` failures, then `step` doubling with each
/// one (capped at `max`), counted from the last failure.
fn remaining(
    f: &Failures,
    now: Instant,
    free: u32,
    max: Duration,
    step: Duration,
) -> Option<Duration> {
    let over = f.count.checked_sub(free)?;
    let wait = step
        .checked_mul(1u32.checked_shl(over.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    wait.checked_sub(now.duration_since(f.last))
        .filter(|left| !left.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_per_address_and_a_success_clears_them() {
        let mut t = Throttle::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_TRIES {
            assert_eq!(t.wait(a, now), None);
            t.failed(a, now);
        }
        assert_eq!(t.wait(a, now), Some(Duration::from_secs(1)));
        t.failed(a, now);
        assert_eq!(t.wait(a, now), Some(Duration::from_secs(2)));
        assert_eq!(t.wait(a, now + Duration::from_secs(3)), None);
        assert_eq!(t.wait(b, now), None, "another address is not held up");
        for _ in 0..30 {
            t.failed(a, now);
        }
        assert_eq!(t.wait(a, now), Some(MAX_WAIT));
        t.succeeded(a);
        // The overall count still holds every address back a little.
        assert!(t.wait(a, now).is_some_and(|w| w <= OVERALL_MAX_WAIT));
        assert!(t.wait(b, now).is_some());
        assert_eq!(
            t.wait(b, now + FORGET_AFTER),
            None,
            "forgotten after a while"
        );
    }

    #[test]
    fn tries_at_once_are_counted_as_they_are_taken() {
        let mut t = Throttle::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        // Sent together, none checked yet: only the free tries get through.
        let taken = (0..10).filter(|_| t.attempt(a, now).is_ok()).count();
        assert_eq!(taken as u32, FREE_TRIES);
        // A right one clears its address.
        t.succeeded(a);
        assert!(t.attempt(a, now).is_ok());
    }
}
