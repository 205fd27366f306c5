//! Counted contacts across restarts: the saved contacts plus the counted ones the log holds
//! past the save's mark (what a ledger that crashed finds again), and nothing else.

mod common;

use kluis_core::access::{AccessRecord, Action, ContactNote, Outcome};
use kluis_core::contact::{Contact, Timestamp};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::StoreError;

fn attempt(
    at_ms: i64,
    business: &str,
    topic: &str,
    action: Action,
    outcome: Outcome,
    counted: bool,
) -> AccessRecord {
    let mut record = common::record_by(at_ms, business, &GrantId::from_random([1; 16]), outcome);
    record.action = action;
    record.fields = Vec::new();
    record.contact = Some(ContactNote {
        channel: "inbox".into(),
        topic: topic.into(),
        message: None,
        counted,
    });
    record
}

fn contact(at_ms: i64, business: &str, topic: &str) -> Contact {
    Contact {
        at: Timestamp::from_millisecond(at_ms).unwrap(),
        business: BusinessId::parse(business).unwrap(),
        channel: "inbox".into(),
        topic: topic.into(),
    }
}

#[test]
fn saved_contacts_and_the_logs_tail_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let v = common::vault(dir.path());
    assert!(v.saved_contacts().unwrap().is_none(), "nothing saved yet");
    v.append_log(&[attempt(
        1_000,
        "a.example",
        "old",
        Action::InboxDeliver,
        Outcome::Allowed,
        true,
    )])
    .unwrap();
    let mark = v.log_mark().unwrap();
    v.save_contacts(&[contact(400, "a.example", "older")], &mark, 0, false)
        .unwrap();
    v.save_contacts(&[contact(500, "a.example", "saved")], &mark, 0, false)
        .unwrap();
    // Past the mark: two that count, and three that do not.
    v.append_log(&[
        attempt(
            2_000,
            "a.example",
            "orders",
            Action::InboxDeliver,
            Outcome::Allowed,
            true,
        ),
        attempt(
            2_001,
            "b.example",
            "orders",
            Action::ContactCheck,
            Outcome::Allowed,
            true,
        ),
        attempt(
            2_002,
            "b.example",
            "orders",
            Action::ContactCheck,
            Outcome::Allowed,
            false,
        ),
        attempt(
            2_003,
            "b.example",
            "orders",
            Action::ContactCheck,
            Outcome::Refused,
            false,
        ),
        attempt(
            2_004,
            "b.example",
            "orders",
            Action::Read,
            Outcome::Allowed,
            true,
        ),
    ])
    .unwrap();
    let found = v.saved_contacts().unwrap().unwrap();
    assert_eq!(
        found.saved,
        vec![
            contact(400, "a.example", "older"),
            contact(500, "a.example", "saved")
        ]
    );
    assert_eq!(
        found.unsaved,
        vec![
            contact(2_000, "a.example", "orders"),
            contact(2_001, "b.example", "orders"),
        ],
        "the record before the mark is in a batch (or not), never twice"
    );

    // A save past them drops the batches older than asked, and the tail is empty again.
    let mark = v.log_mark().unwrap();
    v.save_contacts(&found.unsaved, &mark, 450, false).unwrap();
    let found = v.saved_contacts().unwrap().unwrap();
    assert_eq!(
        found.saved,
        vec![
            contact(500, "a.example", "saved"),
            contact(2_000, "a.example", "orders"),
            contact(2_001, "b.example", "orders"),
        ]
    );
    assert!(found.unsaved.is_empty());
}

#[test]
fn altered_saved_contacts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let v = common::vault(dir.path());
    v.append_log(&[common::record(1)]).unwrap();
    v.save_contacts(
        &[contact(1, "a.example", "x")],
        &v.log_mark().unwrap(),
        0,
        false,
    )
    .unwrap();
    let raw = common::raw(dir.path());
    let mut sealed: Vec<u8> = raw
        .query_row("SELECT value FROM meta WHERE name = 'contacts'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    raw.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'contacts'",
        [sealed],
    )
    .unwrap();
    let found = v.saved_contacts();
    assert!(matches!(found, Err(StoreError::Tampered(_))), "{found:?}");
}
