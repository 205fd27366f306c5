//! The contact report over a real vault's access log: from the log index (reading only the
//! contact entries) and from a walk of the whole log, which must agree, across appends and with
//! a start date.

mod common;

use kluis_core::access::{AccessRecord, Action, Actor, ContactNote, Outcome};
use kluis_core::contact::Reason;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{ContactReport, LogIndex};

use common::{record_by, vault};

const T0: i64 = 1_800_000_000_000;

fn attempt(at_ms: i64, business: &str, action: Action, reason: Option<&str>) -> AccessRecord {
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action,
        request: None,
        grant: None,
        business: Some(BusinessId::parse(business).unwrap()),
        purpose: None,
        fields: vec![],
        outcome: if reason.is_some() {
            Outcome::Refused
        } else {
            Outcome::Allowed
        },
        reason: reason.map(str::to_owned),
        contact: Some(ContactNote {
            channel: "inbox".into(),
            topic: "news".into(),
            message: None,
            counted: reason.is_none(),
        }),
    }
}

#[test]
fn the_index_and_the_walk_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    // A served read by the same business: no contact attempt.
    let grant = GrantId::from_random([7; 16]);
    v.append_log(&[
        record_by(T0, "shop.example", &grant, Outcome::Allowed),
        attempt(T0 + 1, "shop.example", Action::ContactCheck, None),
        attempt(
            T0 + 2,
            "shop.example",
            Action::ContactCheck,
            Some("cap_reached"),
        ),
        attempt(
            T0 + 3,
            "spam.example",
            Action::InboxDeliver,
            Some("topic_blocked"),
        ),
    ])
    .unwrap();
    let mut index = LogIndex::new();
    index.refresh(&v).unwrap();
    let from_index = index.contact_report(&v, None).unwrap();
    assert_eq!(from_index, v.contact_report(None).unwrap());
    // One refusal each: the latest attempt first.
    let [spam, shop] = &from_index.businesses[..] else {
        panic!("{from_index:?}")
    };
    assert_eq!(spam.business.as_str(), "spam.example");
    assert_eq!(shop.business.as_str(), "shop.example");
    assert_eq!((shop.allowed, shop.against_wishes()), (1, 1));
    assert_eq!(shop.last_attempt_ms, T0 + 2);

    // Appended later: the index reads only what is new, and still agrees.
    v.append_log(&[
        attempt(
            T0 + 10,
            "spam.example",
            Action::InboxDeliver,
            Some("quiet_hours"),
        ),
        attempt(
            T0 + 11,
            "spam.example",
            Action::ContactCheck,
            Some("no_contact_right"),
        ),
        attempt(
            T0 + 12,
            "spam.example",
            Action::ContactCheck,
            Some("token expired"),
        ),
    ])
    .unwrap();
    index.refresh(&v).unwrap();
    let report = index.contact_report(&v, None).unwrap();
    assert_eq!(report, v.contact_report(None).unwrap());
    let spam = &report.businesses[0];
    assert_eq!(spam.business.as_str(), "spam.example");
    assert_eq!(
        spam.refused_by_reason().collect::<Vec<_>>(),
        [
            (Reason::NoContactRight, 1),
            (Reason::TopicBlocked, 1),
            (Reason::QuietHours, 1)
        ]
    );
    assert_eq!((spam.refused_other, spam.allowed), (1, 0));

    let since = index.contact_report(&v, Some(T0 + 3)).unwrap();
    assert_eq!(since, v.contact_report(Some(T0 + 3)).unwrap());
    assert_eq!(since.businesses.len(), 1);
    assert_eq!(since.businesses[0].against_wishes(), 3);
    assert_eq!(
        index.contact_report(&v, Some(T0 + 13)).unwrap(),
        ContactReport::default()
    );
}
