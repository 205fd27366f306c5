//! Read budgets at rest: the owner's action that sets one, and the day's read counts the grant
//! API's ledger saves and finds again (saved counts plus the log written after them).

mod common;

use std::collections::HashMap;

use common::{p, raw, record_by, vault};
use kluis_core::access::{Action, Actor, Outcome};
use kluis_core::budget::DAY_SECS;
use kluis_core::grant::{BusinessId, GrantId, GrantRequest};
use kluis_store::{DayReads, GrantDay, LogIndex, StoreError, Vault, Via, unix_now};

fn request(to: &str) -> GrantRequest {
    GrantRequest {
        audience: BusinessId::parse(to).unwrap(),
        fields: vec![p("/profile/email")],
        purpose: "newsletter".into(),
        purpose_category: None,
        lifetime_secs: 3600,
        key_thumbprint: None,
        append_record: false,
        contact: None,
    }
}

fn budget_of(v: &Vault, id: &GrantId) -> Option<u32> {
    v.grant_state(id.as_str()).unwrap().unwrap().read_budget
}

#[test]
fn the_owner_sets_a_budget_in_one_recorded_transaction_bound_to_the_grants_mac() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let owner = v.owner(Via::Cli);
    let (grant, _) = owner.create_grant(request("shop.example")).unwrap();
    assert_eq!(
        budget_of(&v, &grant.id),
        None,
        "a new grant has the default"
    );
    let before = v.log_entries().unwrap().len();

    let (_, changed) = owner.set_read_budget(&grant.id, Some(500)).unwrap();
    assert!(changed);
    let other = Vault::connect(dir.path(), v.unlocked()).unwrap();
    assert_eq!(budget_of(&other, &grant.id), Some(500));
    assert_eq!(
        other.read_budgets().unwrap(),
        HashMap::from([(grant.id.clone(), 500)])
    );
    let entries = v.log_entries().unwrap();
    assert_eq!(entries.len(), before + 1);
    let record = &entries.last().unwrap().record;
    assert_eq!(
        (record.actor, record.action, record.grant.as_ref()),
        (Actor::OwnerCli, Action::GrantBudget, Some(&grant.id))
    );
    assert_eq!(
        record.reason.as_deref(),
        Some("read budget now 500 reads a day; was 10000 reads a day (the default)")
    );

    // The same budget again changes and records nothing.
    let (_, changed) = owner.set_read_budget(&grant.id, Some(500)).unwrap();
    assert!(!changed);
    assert_eq!(v.log_entries().unwrap().len(), before + 1);

    // Back to the default; a narrowing later keeps the MAC right.
    owner.set_read_budget(&grant.id, None).unwrap();
    assert_eq!(budget_of(&v, &grant.id), None);
    assert!(v.read_budgets().unwrap().is_empty());
    owner.set_read_budget(&grant.id, Some(7)).unwrap();
    let mut wide = request("shop.example");
    wide.fields.push(p("/profile/name"));
    let (wide, _) = owner.create_grant(wide).unwrap();
    owner.set_read_budget(&wide.id, Some(9)).unwrap();
    owner
        .narrow_grant(&wide.id, vec![p("/profile/name")])
        .unwrap();
    let state = v.grant_state(wide.id.as_str()).unwrap().unwrap();
    assert_eq!(state.read_budget, Some(9));
    assert_eq!(state.narrowed, Some(vec![p("/profile/name")]));

    // Raising it by editing the file is caught where reads are checked.
    raw(dir.path())
        .execute(
            "UPDATE grants SET read_budget = 10000000 WHERE id = ?1",
            [grant.id.as_str()],
        )
        .unwrap();
    assert!(matches!(
        v.grant_state(grant.id.as_str()),
        Err(StoreError::Tampered(_))
    ));
}

#[test]
fn bad_budgets_and_ended_grants_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let owner = v.owner(Via::Dashboard);
    let (grant, _) = owner.create_grant(request("shop.example")).unwrap();
    owner.set_read_budget(&grant.id, Some(40)).unwrap();
    let entries = v.log_entries().unwrap().len();
    for bad in [0, 10_000_001, u32::MAX] {
        let err = owner.set_read_budget(&grant.id, Some(bad)).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad}: {err}");
        assert!(err.to_string().contains("1 to 10000000"), "{err}");
    }
    let unknown = GrantId::from_random([9; 16]);
    assert!(matches!(
        owner.set_read_budget(&unknown, Some(5)),
        Err(StoreError::NotFound(_))
    ));
    owner.revoke_grant(&grant.id).unwrap();
    let entries_after_revoke = v.log_entries().unwrap().len();
    assert_eq!(entries_after_revoke, entries + 1);
    let err = owner.set_read_budget(&grant.id, Some(5)).unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("no longer active")),
        "{err}"
    );
    assert_eq!(budget_of(&v, &grant.id), Some(40));
    assert_eq!(v.log_entries().unwrap().len(), entries_after_revoke);
}

#[test]
fn the_days_reads_are_the_saved_counts_and_the_reads_logged_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let a = v
        .create_grant(request("a.example"), unix_now())
        .unwrap()
        .0
        .id;
    let b = v
        .create_grant(request("b.example"), unix_now())
        .unwrap()
        .0
        .id;
    let day = 21_000;
    let at = |secs: i64| (day * DAY_SECS + secs) * 1000;
    assert_eq!(v.day_reads(day).unwrap(), None, "nothing saved yet");

    // What a ledger does: append its batch, then save its counts as of the end of it.
    v.append_log(&[record_by(at(10), "a.example", &a, Outcome::Allowed)])
        .unwrap();
    let mark = v.log_mark().expect("appended through this connection");
    let saved = DayReads {
        day,
        grants: HashMap::from([(
            a.clone(),
            GrantDay {
                reads: 5,
                refusal_recorded: true,
            },
        )]),
    };
    v.save_day_reads(&saved, &mark).unwrap();
    // Then it crashes after logging more, without saving again.
    v.append_log(&[
        record_by(at(20), "a.example", &a, Outcome::Allowed),
        record_by(at(21), "a.example", &a, Outcome::Allowed),
        record_by(at(22), "a.example", &a, Outcome::Refused),
        record_by(at(23), "b.example", &b, Outcome::Allowed),
        record_by(at(-5), "b.example", &b, Outcome::Allowed),
    ])
    .unwrap();
    v.append_log(&[record_by(at(30), "a.example", &a, Outcome::Allowed)])
        .unwrap();

    let other = Vault::connect(dir.path(), v.unlocked()).unwrap();
    let found = other.day_reads(day).unwrap().unwrap();
    assert_eq!(found.day, day);
    assert_eq!(
        found.grants,
        HashMap::from([
            (
                a.clone(),
                GrantDay {
                    reads: 8,
                    refusal_recorded: true
                }
            ),
            (
                b.clone(),
                GrantDay {
                    reads: 1,
                    refusal_recorded: false
                }
            ),
        ])
    );
    // The next day starts from nothing but what the log holds of it.
    v.append_log(&[record_by(
        at(DAY_SECS + 1),
        "b.example",
        &b,
        Outcome::Allowed,
    )])
    .unwrap();
    let next = other.day_reads(day + 1).unwrap().unwrap();
    assert_eq!(
        next.grants,
        HashMap::from([(
            b.clone(),
            GrantDay {
                reads: 1,
                refusal_recorded: false
            }
        )])
    );

    // The log index keeps the same count per grant for its latest day.
    let mut index = LogIndex::new();
    index.refresh(&v).unwrap();
    assert_eq!(
        index.reads_per_grant_on(day),
        HashMap::from([(a.clone(), 4)]),
        "b was last read on the next day"
    );
    assert_eq!(index.reads_per_grant_on(day + 1), HashMap::from([(b, 1)]));

    // Saved counts that were altered are an error, not a fresh budget.
    raw(dir.path())
        .execute(
            "UPDATE meta SET value = zeroblob(80) WHERE name = 'day_reads'",
            [],
        )
        .unwrap();
    assert!(matches!(other.day_reads(day), Err(StoreError::Tampered(_))));
}
