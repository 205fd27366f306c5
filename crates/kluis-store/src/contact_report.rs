//! The contact report: per business, how often it tried to reach the owner (contact checks and
//! inbox deliveries in the access log), how often that was allowed, and how often it was refused
//! against the owner's wishes, by reason. Read from the log index's contact entries only
//! ([`LogIndex::contact_report`]) or, without an index, by walking the log once
//! ([`Vault::contact_report`]).

use std::collections::HashMap;

use kluis_core::access::{AccessRecord, Actor, Outcome};
use kluis_core::contact::Reason;
use kluis_core::grant::BusinessId;

use crate::error::Result;
use crate::logindex::{LogIndex, is_contact_action};
use crate::vault::Vault;

/// Every refusal reason of the contact rules, in the order a report lists them.
pub const REASONS: [Reason; 7] = [
    Reason::NoContactRight,
    Reason::DoNotContact,
    Reason::ChannelOff,
    Reason::TopicBlocked,
    Reason::TopicNotChosen,
    Reason::CapReached,
    Reason::QuietHours,
];

/// One business's contact attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusinessContacts {
    pub business: BusinessId,
    /// Attempts the owner's policy and the grant allowed.
    pub allowed: u64,
    /// Attempts refused by the contact rules, per reason in [`REASONS`]' order: against the
    /// owner's wishes (`no_contact_right`: outside the right the owner gave).
    pub refused: [u64; REASONS.len()],
    /// Attempts refused for another reason: a token or grant that did not hold (revoked,
    /// expired, a bad proof), not a contact the owner turned down.
    pub refused_other: u64,
    /// The latest attempt, in milliseconds since 1970.
    pub last_attempt_ms: i64,
}

impl BusinessContacts {
    fn new(business: BusinessId) -> Self {
        Self {
            business,
            allowed: 0,
            refused: [0; REASONS.len()],
            refused_other: 0,
            last_attempt_ms: i64::MIN,
        }
    }

    /// The attempts refused against the owner's wishes, all reasons together.
    pub fn against_wishes(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// The count per reason, with the reason, leaving out those that never happened.
    pub fn refused_by_reason(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        REASONS
            .iter()
            .zip(self.refused)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (*r, n))
    }

    /// All attempts counted.
    pub fn attempts(&self) -> u64 {
        self.allowed + self.against_wishes() + self.refused_other
    }
}

/// The report: the businesses that tried to reach the owner, the most refused against the
/// owner's wishes first, then the most recent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactReport {
    pub businesses: Vec<BusinessContacts>,
}

impl ContactReport {
    /// The report over `records` (any order), counting those at or after `since_ms`. Records
    /// that are not a business's contact attempt are passed over.
    pub fn from_records<'a>(
        records: impl IntoIterator<Item = &'a AccessRecord>,
        since_ms: Option<i64>,
    ) -> Self {
        let since_ms = since_ms.unwrap_or(i64::MIN);
        let mut by_business: HashMap<&BusinessId, BusinessContacts> = HashMap::new();
        for r in records {
            let Some(business) = &r.business else {
                continue;
            };
            if r.actor != Actor::Business || !is_contact_action(r.action) || r.at_ms < since_ms {
                continue;
            }
            let seen = by_business
                .entry(business)
                .or_insert_with(|| BusinessContacts::new(business.clone()));
            seen.last_attempt_ms = seen.last_attempt_ms.max(r.at_ms);
            match r.outcome {
                Outcome::Allowed => seen.allowed += 1,
                Outcome::Refused => match r.reason.as_deref().and_then(reason_index) {
                    Some(i) => seen.refused[i] += 1,
                    None => seen.refused_other += 1,
                },
            }
        }
        let mut businesses: Vec<BusinessContacts> = by_business.into_values().collect();
        businesses.sort_by(|a, b| {
            b.against_wishes()
                .cmp(&a.against_wishes())
                .then(b.last_attempt_ms.cmp(&a.last_attempt_ms))
                .then_with(|| a.business.cmp(&b.business))
        });
        Self { businesses }
    }
}

/// Where `reason` (as the log keeps it) is in [`REASONS`]; `None` for a reason of another kind.
fn reason_index(reason: &str) -> Option<usize> {
    REASONS.iter().position(|r| r.as_str() == reason)
}

impl Vault {
    /// The contact report over the whole access log (walked once), counting attempts at or
    /// after `since_ms`. A broken log is an error, as for [`Vault::log_entries`].
    pub fn contact_report(&self, since_ms: Option<i64>) -> Result<ContactReport> {
        let entries = self.log_entries()?;
        Ok(ContactReport::from_records(
            entries.iter().map(|e| &e.record),
            since_ms,
        ))
    }
}

impl LogIndex {
    /// The contact report from the indexed log: only the frames holding contact attempts at or
    /// after `since_ms` are read again (their links checked against what the index saw).
    pub fn contact_report(&self, vault: &Vault, since_ms: Option<i64>) -> Result<ContactReport> {
        let entries = self.read(vault, &self.contact_seqs(since_ms))?;
        Ok(ContactReport::from_records(
            entries.iter().map(|e| &e.record),
            since_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use kluis_core::access::{Action, ContactNote};

    use super::*;

    fn attempt(at_ms: i64, business: &str, outcome: Outcome, reason: Option<&str>) -> AccessRecord {
        AccessRecord {
            at_ms,
            actor: Actor::Business,
            action: Action::ContactCheck,
            request: None,
            grant: None,
            business: Some(BusinessId::parse(business).unwrap()),
            purpose: None,
            fields: vec![],
            outcome,
            reason: reason.map(str::to_owned),
            contact: Some(ContactNote {
                channel: "inbox".into(),
                topic: "orders".into(),
                message: None,
                counted: false,
            }),
        }
    }

    #[test]
    fn attempts_are_counted_per_business_and_reason() {
        let mut read = attempt(5, "a.example", Outcome::Allowed, None);
        read.action = Action::Read;
        let mut delivered = attempt(6, "b.example", Outcome::Refused, Some("quiet_hours"));
        delivered.action = Action::InboxDeliver;
        let records = [
            attempt(1, "a.example", Outcome::Allowed, None),
            attempt(2, "a.example", Outcome::Refused, Some("cap_reached")),
            attempt(3, "b.example", Outcome::Refused, Some("cap_reached")),
            attempt(4, "b.example", Outcome::Refused, Some("no_contact_right")),
            attempt(
                9,
                "b.example",
                Outcome::Refused,
                Some("the grant was revoked"),
            ),
            read,
            delivered,
        ];
        let report = ContactReport::from_records(&records, None);
        let [b, a] = &report.businesses[..] else {
            panic!("{report:?}")
        };
        assert_eq!(b.business.as_str(), "b.example");
        assert_eq!(
            b.refused_by_reason().collect::<Vec<_>>(),
            [
                (Reason::NoContactRight, 1),
                (Reason::CapReached, 1),
                (Reason::QuietHours, 1)
            ]
        );
        assert_eq!((b.against_wishes(), b.refused_other, b.allowed), (3, 1, 0));
        assert_eq!((b.last_attempt_ms, b.attempts()), (9, 4));
        // The read is no contact attempt.
        assert_eq!(
            (a.allowed, a.against_wishes(), a.last_attempt_ms),
            (1, 1, 2)
        );

        let since = ContactReport::from_records(&records, Some(3));
        assert_eq!(since.businesses.len(), 1);
        assert_eq!(since.businesses[0].against_wishes(), 3);
        assert_eq!(
            ContactReport::from_records(&records, Some(10)).businesses,
            []
        );
    }

    #[test]
    fn every_reason_is_known_by_its_wire_name() {
        for (i, r) in REASONS.iter().enumerate() {
            let wire = serde_json::to_value(r).unwrap();
            assert_eq!(reason_index(wire.as_str().unwrap()), Some(i));
        }
    }
}
