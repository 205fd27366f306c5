//! The contact policy: `ContactPolicy::from_preferences` on any `/preferences` object, and
//! `contact::decide` over a run of contact attempts, each allowed one counted as the server
//! counts it, against the server's `IndexedHistory` and the plain `MemoryHistory` side by side.
//!
//! Input: JSON `{"preferences": {...}, "right": {"channels": [...], "topics": [...]},
//! "asks": [[unix_secs, business, channel, topic, repeat?, step_secs?], ...]}`. Without
//! `right`, the grant may use every channel and topic asked about. An ask with `repeat` is made
//! that many times, `step_secs` apart (at most 1500 attempts in all).
//!
//! Checked: nothing panics; both histories give the same decision at every step (the index
//! keeps only the latest contacts per key and must not answer differently for it); a refusal
//! that says when to retry names a time after now.
#![no_main]

use kluis_core::contact::{
    self, Contact, ContactPolicy, ContactRight, Decision, IndexedHistory, MemoryHistory, Timestamp,
};
use kluis_core::grant::BusinessId;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    preferences: Value,
    right: Option<ContactRight>,
    #[serde(default)]
    asks: Vec<Ask>,
}

#[derive(Deserialize)]
struct Ask(
    i64,
    String,
    String,
    String,
    #[serde(default)] Option<u16>,
    #[serde(default)] Option<i64>,
);

const MAX_ATTEMPTS: usize = 1500;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    let Ok(policy) = ContactPolicy::from_preferences(&input.preferences) else {
        assert!(contact::validate_preferences(&input.preferences).is_err());
        return;
    };
    assert!(contact::validate_preferences(&input.preferences).is_ok());
    let right = input.right.unwrap_or_else(|| ContactRight {
        channels: input.asks.iter().map(|a| a.2.clone()).collect(),
        topics: input.asks.iter().map(|a| a.3.clone()).collect(),
    });

    let mut memory = MemoryHistory::default();
    let mut indexed = IndexedHistory::default();
    let mut attempts = 0;
    for Ask(at, business, channel, topic, repeat, step) in &input.asks {
        let Ok(business) = BusinessId::parse(business) else {
            continue;
        };
        for i in 0..i64::from(repeat.unwrap_or(1)) {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                return;
            }
            let secs = step.unwrap_or(1).saturating_mul(i).saturating_add(*at);
            let Ok(now) = Timestamp::from_second(secs) else {
                continue;
            };
            let by_memory =
                contact::decide(&policy, &business, channel, topic, &right, &memory, now);
            let by_index =
                contact::decide(&policy, &business, channel, topic, &right, &indexed, now);
            assert_eq!(
                by_memory, by_index,
                "the indexed history decides otherwise at {now}"
            );
            if let Decision::Refused {
                retry_after: Some(at),
                reason,
            } = by_index
            {
                assert!(at > now, "{reason:?}: retry at {at}, not after {now}");
            }
            if by_index.is_allowed() {
                let contact = Contact {
                    at: now,
                    business: business.clone(),
                    channel: channel.clone(),
                    topic: topic.clone(),
                };
                indexed.record(contact.clone());
                memory.contacts.push(contact);
            }
        }
    }
});
