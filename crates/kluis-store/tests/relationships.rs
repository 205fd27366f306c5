//! Relationship records in `relationships.db`: entries by the owner and by a business, the
//! standing folded from them, quotas, taking back, files, confinement of sealed rows to their
//! record, the timeline with what the log saw, and export/import.

mod common;

use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::relationship::entry::sha256_hex;
use kluis_core::relationship::{
    Attachment, Author, Contract, Date, Entry, EntryId, Item, Limits, Notice, NoticeUnit,
    PromiseStatus, QuotaRefusal,
};
use kluis_store::{
    Appended, LogIndex, NewEntry, Observed, Relationships, StoreError, TimelineItem,
    observed_in_log,
};
use rusqlite::Connection;

use common::{record_by, vault};

/// 2026-12-01T10:00Z.
const T0: i64 = 1_796_119_200_000;

fn business(name: &str) -> BusinessId {
    BusinessId::parse(name).unwrap()
}

fn date(y: i16, m: i8, d: i8) -> Date {
    Date::new(y, m, d).unwrap()
}

fn id(n: u8) -> EntryId {
    EntryId::from_random([n; 16])
}

fn by_business() -> Author {
    Author::Business {
        grant: GrantId::from_random([3; 16]),
        request_sha256: "abc".into(),
        jkt: Some("thumb".into()),
    }
}

fn new(n: u8, at_ms: i64, author: Author, item: Item) -> NewEntry {
    NewEntry {
        entry: Entry {
            id: id(n),
            at_ms,
            author,
            item,
        },
        attachment: None,
        bytes: 100,
    }
}

fn promise(what: &str, due_on: Date) -> Item {
    Item::Promise {
        what: what.into(),
        due_on,
    }
}

fn stored(r: Appended) {
    assert!(matches!(r, Appended::Stored), "{r:?}");
}

#[test]
fn entries_fold_into_the_standing_and_what_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    let shop = business("shop.example");
    let telco = business("telco.example");
    stored(
        rel.append(
            &shop,
            &new(
                1,
                T0,
                by_business(),
                promise("Call back", date(2026, 11, 28)),
            ),
        )
        .unwrap(),
    );
    let contract = Contract {
        what: "Mobile subscription".into(),
        starts_on: date(2026, 1, 1),
        ends_on: Some(date(2026, 12, 31)),
        renews: true,
        notice: Some(Notice {
            amount: 1,
            unit: NoticeUnit::Months,
        }),
    };
    stored(
        rel.append(
            &telco,
            &new(2, T0, Author::Owner, Item::Contract { contract }),
        )
        .unwrap(),
    );
    let note = Item::Note {
        text: "Asked for the manager".into(),
    };
    stored(
        rel.append(&shop, &new(3, T0 + 1, Author::Owner, note))
            .unwrap(),
    );

    let list = rel.list().unwrap();
    assert_eq!(
        list.iter().map(|s| s.business.as_str()).collect::<Vec<_>>(),
        ["shop.example", "telco.example"]
    );
    let due = rel.due(date(2026, 12, 1), 30).unwrap();
    // The overdue promise (28 Nov) first, then the notice deadline (30 Nov less… 30 Nov is
    // passed: 31 Dec less a month is 30 Nov, so the next deadline is out of 30 days).
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].business, shop);
    let due = rel.due(date(2026, 11, 20), 30).unwrap();
    assert_eq!(
        due.iter()
            .map(|d| (d.on, d.business.as_str()))
            .collect::<Vec<_>>(),
        [
            (date(2026, 11, 28), "shop.example"),
            (date(2026, 11, 30), "telco.example")
        ]
    );

    // Settled: no longer due; the settlement is an entry of its own.
    let kept = Item::Settled {
        promise: id(1),
        status: PromiseStatus::Kept,
    };
    stored(
        rel.append(&shop, &new(4, T0 + 2, Author::Owner, kept))
            .unwrap(),
    );
    assert!(rel.due(date(2026, 12, 1), 30).unwrap().is_empty());
    // A settlement must name a promise of the same record.
    let elsewhere = Item::Settled {
        promise: id(1),
        status: PromiseStatus::Open,
    };
    let err = rel
        .append(&telco, &new(5, T0 + 3, Author::Owner, elsewhere))
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(rel.entry(&id(5)).is_err());

    let entries = rel.entries(&shop).unwrap();
    assert_eq!(entries.len(), 3);
    // Newest first by the day they are about: the note and settlement (1 Dec), the promise
    // (recorded 1 Dec too, so by time).
    assert_eq!(entries[0].id, id(4));
    let standing = rel.standing(&shop).unwrap().unwrap();
    assert_eq!(standing.entries, 3);
    assert_eq!(
        standing.usage.bytes, 100,
        "only the business's entry counts"
    );
}

#[test]
fn a_business_is_held_to_its_quotas_and_nothing_over_them_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let limits = Limits {
        entries_per_day: 2,
        bytes_in_all: 250,
    };
    let mut rel = v.open_relationships().unwrap().with_limits(limits);
    let shop = business("shop.example");
    let interaction = |n: u8| Item::Interaction {
        on: date(2026, 12, 1),
        channel: "phone".into(),
        summary: format!("Call {n}"),
    };
    stored(
        rel.append(&shop, &new(1, T0, by_business(), interaction(1)))
            .unwrap(),
    );
    stored(
        rel.append(&shop, &new(2, T0, by_business(), interaction(2)))
            .unwrap(),
    );
    let third = rel
        .append(&shop, &new(3, T0, by_business(), interaction(3)))
        .unwrap();
    assert!(
        matches!(third, Appended::OverQuota(QuotaRefusal::Day { limit: 2 })),
        "{third:?}"
    );
    assert!(
        rel.entry(&id(3)).is_err(),
        "nothing over the quota is stored"
    );
    // The owner is not held to it.
    stored(
        rel.append(&shop, &new(4, T0, Author::Owner, interaction(4)))
            .unwrap(),
    );
    // The next day the count starts again, but 300 bytes in all would pass 250.
    let next_day = T0 + 86_400_000;
    let fourth = rel
        .append(&shop, &new(5, next_day, by_business(), interaction(5)))
        .unwrap();
    assert!(
        matches!(
            fourth,
            Appended::OverQuota(QuotaRefusal::Bytes { limit: 250 })
        ),
        "{fourth:?}"
    );
    // Another business has quotas of its own.
    stored(
        rel.append(
            &business("other.example"),
            &new(6, T0, by_business(), interaction(6)),
        )
        .unwrap(),
    );
    // Quotas survive reopening (they are in the sealed standing).
    drop(rel);
    let mut rel = v.open_relationships().unwrap().with_limits(limits);
    let again = rel
        .append(&shop, &new(7, T0, by_business(), interaction(7)))
        .unwrap();
    assert!(matches!(
        again,
        Appended::OverQuota(QuotaRefusal::Day { .. })
    ));
}

#[test]
fn only_the_owners_entries_can_be_removed_unless_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    let shop = business("shop.example");
    stored(
        rel.append(
            &shop,
            &new(1, T0, by_business(), promise("Refund", date(2026, 12, 5))),
        )
        .unwrap(),
    );
    stored(
        rel.append(
            &shop,
            &new(2, T0, Author::Owner, promise("Visit", date(2026, 12, 6))),
        )
        .unwrap(),
    );
    let err = rel.remove(&id(1)).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    rel.remove(&id(2)).unwrap();
    let standing = rel.standing(&shop).unwrap().unwrap();
    assert_eq!(standing.promises.len(), 1, "the standing is folded again");
    assert_eq!(standing.promises[0].entry, id(1));
    // Taking back (the log could not record it) removes a business's entry and its count.
    rel.take_back(&id(1), 100).unwrap();
    let standing = rel.standing(&shop).unwrap().unwrap();
    assert!(standing.promises.is_empty());
    assert_eq!(standing.usage.day_count, 0);
}

fn document(n: u8, data: &[u8]) -> NewEntry {
    let mut entry = new(
        n,
        T0,
        by_business(),
        Item::Document {
            title: "Invoice 1042".into(),
            body: serde_json::json!({"total": "12.50"}),
            attachment: Some(Attachment {
                name: "invoice.pdf".into(),
                media_type: "application/pdf".into(),
                size: data.len() as u64,
                sha256: sha256_hex(data),
            }),
        },
    );
    entry.attachment = Some(data.to_vec());
    entry
}

#[test]
fn files_come_back_as_stored_and_an_altered_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    let shop = business("shop.example");
    stored(rel.append(&shop, &document(1, b"%PDF-1.7 hello")).unwrap());
    let (owner, info, bytes) = rel.attachment(&id(1)).unwrap();
    assert_eq!(
        (owner, info.size, bytes.as_slice()),
        (shop.clone(), 14, &b"%PDF-1.7 hello"[..])
    );
    // A file that is not the one the entry names is refused.
    let mut wrong = document(2, b"one");
    wrong.attachment = Some(b"two".to_vec());
    assert!(rel.append(&shop, &wrong).is_err());
    let mut missing = document(3, b"one");
    missing.attachment = None;
    assert!(rel.append(&shop, &missing).is_err());
    // The file of another entry, swapped in on disk, does not open.
    stored(rel.append(&shop, &document(4, b"other file")).unwrap());
    drop(rel);
    let db = Connection::open(dir.path().join(kluis_store::RELATIONSHIPS_FILE)).unwrap();
    db.execute(
        "UPDATE attachments SET data = (SELECT data FROM attachments ORDER BY entry DESC LIMIT 1)
         WHERE entry = (SELECT MIN(entry) FROM attachments)",
        [],
    )
    .unwrap();
    let rel = v.open_relationships().unwrap();
    assert!(matches!(
        rel.attachment(&id(1)),
        Err(StoreError::Crypto(_) | StoreError::Tampered(_))
    ));
}

#[test]
fn an_entry_moved_to_another_record_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    stored(
        rel.append(
            &business("shop.example"),
            &new(1, T0, by_business(), promise("Refund", date(2026, 12, 5))),
        )
        .unwrap(),
    );
    rel.ensure(&business("other.example"), T0).unwrap();
    drop(rel);
    let db = Connection::open(dir.path().join(kluis_store::RELATIONSHIPS_FILE)).unwrap();
    db.execute(
        "UPDATE entries SET record = (SELECT MAX(seq) FROM records)",
        [],
    )
    .unwrap();
    let rel = v.open_relationships().unwrap();
    assert!(rel.entries(&business("other.example")).is_err());
    assert!(rel.entry(&id(1)).is_err());
    // Nor does a record's pending part (what `due` reads) moved to another record.
    assert!(rel.due(date(2026, 12, 1), 30).unwrap().len() == 1);
    db.execute(
        "UPDATE records SET pending = (SELECT pending FROM records WHERE seq = 1) WHERE seq = 2",
        [],
    )
    .unwrap();
    assert!(rel.due(date(2026, 12, 1), 30).is_err());
}

#[test]
fn the_timeline_holds_what_the_vault_saw() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let grant = GrantId::from_random([7; 16]);
    let event = AccessRecord {
        at_ms: T0,
        actor: Actor::OwnerCli,
        action: Action::GrantCreate,
        request: None,
        grant: Some(grant.clone()),
        business: Some(business("shop.example")),
        purpose: Some("orders".into()),
        fields: vec![],
        outcome: Outcome::Allowed,
        reason: None,
        contact: None,
    };
    v.append_log(&[
        event,
        record_by(T0 + 1, "shop.example", &grant, Outcome::Allowed),
        record_by(T0 + 2, "shop.example", &grant, Outcome::Allowed),
        record_by(T0 + 86_400_000, "shop.example", &grant, Outcome::Allowed),
        record_by(T0 + 3, "other.example", &grant, Outcome::Allowed),
    ])
    .unwrap();
    let mut index = LogIndex::new();
    index.refresh(&v).unwrap();
    let mut rel: Relationships = v.open_relationships().unwrap();
    let shop = business("shop.example");
    let note = Item::Note {
        text: "Nice people".into(),
    };
    stored(
        rel.append(&shop, &new(1, T0 + 5, Author::Owner, note))
            .unwrap(),
    );
    let observed = observed_in_log(&index, &v, &[], &shop).unwrap();
    let timeline = rel.timeline(&shop, observed).unwrap();
    let kinds: Vec<String> = timeline
        .iter()
        .map(|i| match i {
            TimelineItem::Entry(e) => e.item.kind().to_owned(),
            TimelineItem::Observed(Observed::Reads { day, count }) => {
                format!("reads {day} {count}")
            }
            TimelineItem::Observed(Observed::Logged(e)) => e.record.action.as_str().to_owned(),
            TimelineItem::Observed(Observed::Asked { .. }) => "asked".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "reads 2026-12-02 1",
            "reads 2026-12-01 2",
            "note",
            "grant_create"
        ]
    );
}

#[test]
fn an_export_imports_into_another_vault_once() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    let shop = business("shop.example");
    stored(
        rel.append(
            &shop,
            &new(1, T0, by_business(), promise("Refund", date(2026, 12, 5))),
        )
        .unwrap(),
    );
    stored(rel.append(&shop, &document(2, b"file bytes")).unwrap());
    let kept = Item::Settled {
        promise: id(1),
        status: PromiseStatus::Kept,
    };
    stored(
        rel.append(&shop, &new(3, T0 + 1, Author::Owner, kept))
            .unwrap(),
    );
    let export = rel.export().unwrap();
    let text = serde_json::to_string(&export).unwrap();

    let other = tempfile::tempdir().unwrap();
    let w = vault(other.path());
    let mut into = w.open_relationships().unwrap();
    let back: kluis_store::RelationshipsExport = serde_json::from_str(&text).unwrap();
    let done = into.import(&back).unwrap();
    assert_eq!((done.records, done.added, done.kept), (1, 3, 0));
    assert_eq!(into.entries(&shop).unwrap(), rel.entries(&shop).unwrap());
    let (a, b) = (
        into.standing(&shop).unwrap().unwrap(),
        rel.standing(&shop).unwrap().unwrap(),
    );
    // The same promises (kept) and contracts; quotas start afresh in the vault imported into.
    assert_eq!(
        (&a.promises, &a.contracts, a.entries),
        (&b.promises, &b.contracts, b.entries)
    );
    assert_eq!(into.attachment(&id(2)).unwrap().2, b"file bytes");
    // Again: nothing added.
    let again = into.import(&back).unwrap();
    assert_eq!((again.added, again.kept), (0, 3));

    // A bad entry anywhere changes nothing.
    let mut bad = back.clone();
    bad.records[0].entries.push(kluis_store::ExportedEntry {
        entry: Entry {
            id: id(9),
            at_ms: T0,
            author: Author::Owner,
            item: Item::Satisfaction {
                score: 9,
                on: date(2026, 12, 1),
                comment: None,
            },
        },
        attachment: None,
    });
    bad.records.insert(
        0,
        kluis_store::ExportedRecord {
            business: business("first.example"),
            created_ms: T0,
            entries: vec![],
        },
    );
    let fresh = tempfile::tempdir().unwrap();
    let x = vault(fresh.path());
    let mut into = x.open_relationships().unwrap();
    assert!(into.import(&bad).is_err());
    assert!(
        into.list().unwrap().is_empty(),
        "nothing of a refused import stays"
    );
}

#[test]
fn an_import_naming_an_entry_of_another_record_here_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut rel = v.open_relationships().unwrap();
    stored(
        rel.append(
            &business("shop.example"),
            &new(1, T0, Author::Owner, promise("Refund", date(2026, 12, 5))),
        )
        .unwrap(),
    );
    let mut export = rel.export().unwrap();
    export.records[0].business = business("other.example");
    let err = rel.import(&export).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(!rel.has_record(&business("other.example")).unwrap());
    // Settling a promise the way it already stands is refused: no empty entries.
    let again = Item::Settled {
        promise: id(1),
        status: PromiseStatus::Open,
    };
    let err = rel
        .append(&business("shop.example"), &new(2, T0, Author::Owner, again))
        .unwrap_err();
    assert!(err.to_string().contains("open already"), "{err}");
}
