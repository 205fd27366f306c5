//! Taking entries out of a relationship record: what a taken-back entry counted against the
//! business's quotas is given back whole, and the owner's removals never leave entries that
//! no longer fold (which a vault imported into would refuse).

mod common;

use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::relationship::{
    Author, Date, Entry, EntryId, Item, Limits, PromiseStatus, QuotaRefusal,
};
use kluis_store::{Appended, NewEntry, StoreError};

use common::vault;

/// 2026-12-01T10:00Z.
const T0: i64 = 1_796_119_200_000;

fn shop() -> BusinessId {
    BusinessId::parse("shop.example").unwrap()
}

fn id(n: u8) -> EntryId {
    EntryId::from_random([n; 16])
}

fn entry(n: u8, author: Author, item: Item, bytes: u64) -> NewEntry {
    NewEntry {
        entry: Entry {
            id: id(n),
            at_ms: T0 + i64::from(n),
            author,
            item,
        },
        attachment: None,
        bytes,
    }
}

fn by_business() -> Author {
    Author::Business {
        grant: GrantId::from_random([3; 16]),
        request_sha256: "abc".into(),
        jkt: None,
    }
}

fn promise() -> Item {
    Item::Promise {
        what: "Call back".into(),
        due_on: Date::new(2026, 12, 5).unwrap(),
    }
}

fn settled(n: u8, status: PromiseStatus) -> Item {
    Item::Settled {
        promise: id(n),
        status,
    }
}

fn stored(r: Appended) {
    assert!(matches!(r, Appended::Stored), "{r:?}");
}

#[test]
fn a_taken_back_entry_gives_back_its_bytes_as_well_as_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let limits = Limits {
        entries_per_day: 10,
        bytes_in_all: 150,
    };
    let mut rel = v.open_relationships().unwrap().with_limits(limits);
    stored(
        rel.append(&shop(), &entry(1, by_business(), promise(), 100))
            .unwrap(),
    );
    // The log could not record it: the caller was answered 503 and sends it again.
    rel.take_back(&id(1), 100).unwrap();
    let usage = rel.standing(&shop()).unwrap().unwrap().usage;
    assert_eq!((usage.bytes, usage.day_count), (0, 0), "{usage:?}");
    stored(
        rel.append(&shop(), &entry(2, by_business(), promise(), 100))
            .unwrap(),
    );
    // What it did send still counts.
    let over = rel
        .append(&shop(), &entry(3, by_business(), promise(), 100))
        .unwrap();
    assert!(
        matches!(
            over,
            Appended::OverQuota(QuotaRefusal::Bytes { limit: 150 })
        ),
        "{over:?}"
    );
}

/// Whatever a record holds can be carried into a fresh vault.
fn imports_into_a_fresh_vault(rel: &kluis_store::Relationships) {
    let export = rel.export().unwrap();
    let other = tempfile::tempdir().unwrap();
    let w = vault(other.path());
    let mut into = w.open_relationships().unwrap();
    into.import(&export)
        .expect("an export of a record the owner edited imports");
    assert_eq!(
        into.standing(&shop()).unwrap().unwrap().promises,
        rel.standing(&shop()).unwrap().unwrap().promises
    );
}

#[test]
fn a_settled_promise_cannot_be_removed_before_its_settlement() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    stored(
        rel.append(&shop(), &entry(1, Author::Owner, promise(), 0))
            .unwrap(),
    );
    stored(
        rel.append(
            &shop(),
            &entry(2, Author::Owner, settled(1, PromiseStatus::Kept), 0),
        )
        .unwrap(),
    );
    let err = rel.remove(&id(1)).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(err.to_string().contains(id(2).as_str()), "{err}");
    // Nothing changed: both entries are there, the promise kept.
    assert_eq!(rel.entries(&shop()).unwrap().len(), 2);
    let standing = rel.standing(&shop()).unwrap().unwrap();
    assert_eq!(standing.promises[0].value.status, PromiseStatus::Kept);
    imports_into_a_fresh_vault(&rel);
    // The settlement first, then the promise.
    rel.remove(&id(2)).unwrap();
    rel.remove(&id(1)).unwrap();
    let standing = rel.standing(&shop()).unwrap().unwrap();
    assert!(standing.promises.is_empty());
    assert_eq!(standing.entries, 0);
}

#[test]
fn a_settlement_a_later_one_follows_stays_until_that_one_goes() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    stored(
        rel.append(&shop(), &entry(1, by_business(), promise(), 10))
            .unwrap(),
    );
    // Kept, opened again, broken: without the reopening, kept could not become broken.
    for (n, status) in [
        (2, PromiseStatus::Kept),
        (3, PromiseStatus::Open),
        (4, PromiseStatus::Broken),
    ] {
        stored(
            rel.append(&shop(), &entry(n, Author::Owner, settled(1, status), 0))
                .unwrap(),
        );
    }
    let err = rel.remove(&id(3)).unwrap_err();
    assert!(err.to_string().contains(id(4).as_str()), "{err}");
    let standing = rel.standing(&shop()).unwrap().unwrap();
    assert_eq!(standing.promises[0].value.status, PromiseStatus::Broken);
    assert_eq!(standing.entries, 4);
    imports_into_a_fresh_vault(&rel);
    // The newest settlement can go: the promise is open again.
    rel.remove(&id(4)).unwrap();
    let standing = rel.standing(&shop()).unwrap().unwrap();
    assert_eq!(standing.promises[0].value.status, PromiseStatus::Open);
    imports_into_a_fresh_vault(&rel);
}
