//! The log index: pages newest first with a cursor, filters, picking up appends, frames altered
//! after indexing, and a log still kept in the database by an old vault.

mod common;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{record, record_by, vault};
use kluis_core::access::{AccessRecord, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{LOG_FILE, LogEntry, LogIndex, LogQuery, Passphrase, StoreError, Vault};

const DAY_MS: i64 = 86_400_000;
/// 2027-01-15T08:00:00Z: not on a day boundary.
const T0: i64 = 1_800_000_000_000;

fn grant(n: u8) -> GrantId {
    GrantId::from_random([n; 16])
}

fn business(name: &str) -> BusinessId {
    BusinessId::parse(name).unwrap()
}

/// 30 entries in frames of 1 to 5 records: three businesses, three grants, every third
/// refused, an hour apart. Returns them in order (entry `seq` at `seq - 1`).
fn planted(v: &Vault) -> Vec<AccessRecord> {
    let shops = ["a.example", "b.example", "c.example"];
    let all: Vec<AccessRecord> = (0..30)
        .map(|i| {
            let outcome = if i % 3 == 2 {
                Outcome::Refused
            } else {
                Outcome::Allowed
            };
            let shop = shops[i % 3 / 2 + i % 2];
            record_by(
                T0 + i as i64 * 3_600_000,
                shop,
                &grant((i % 3) as u8),
                outcome,
            )
        })
        .collect();
    let mut rest = &all[..];
    for size in [1, 5, 2, 3, 4, 5, 1, 2, 3, 4].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (frame, after) = rest.split_at(size.min(rest.len()));
        v.append_log(frame).unwrap();
        rest = after;
    }
    all
}

fn refreshed(v: &Vault) -> LogIndex {
    let mut index = LogIndex::new();
    index.refresh(v).unwrap();
    index
}

/// Every page of `q` from the newest, following the cursor.
fn all_pages(index: &LogIndex, v: &Vault, q: &LogQuery) -> Vec<Vec<LogEntry>> {
    let mut pages = Vec::new();
    let mut q = q.clone();
    loop {
        let page = index.query(v, &q).unwrap();
        assert!(page.entries.len() <= q.limit);
        pages.push(page.entries);
        match page.next {
            Some(next) => q.before = Some(next),
            None => return pages,
        }
    }
}

/// What `q` must find, computed from the records directly: newest first.
fn expected(records: &[AccessRecord], q: &LogQuery) -> Vec<LogEntry> {
    let mut found: Vec<LogEntry> = (1..)
        .zip(records)
        .filter(|(_, r)| q.business.is_none() || r.business == q.business)
        .filter(|(_, r)| q.grant.is_none() || r.grant == q.grant)
        .filter(|(_, r)| q.outcome.is_none_or(|o| r.outcome == o))
        .filter(|(_, r)| q.since_ms.is_none_or(|t| r.at_ms >= t))
        .filter(|(_, r)| q.until_ms.is_none_or(|t| r.at_ms < t))
        .filter(|(seq, _)| q.before.is_none_or(|b| *seq < b))
        .map(|(seq, r)| LogEntry {
            seq,
            record: r.clone(),
        })
        .collect();
    found.reverse();
    found
}

#[test]
fn pages_hold_every_entry_once_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let records = planted(&v);
    let index = refreshed(&v);
    assert_eq!(index.len(), 30);
    assert_eq!(
        (index.check().entries, &index.check().first_broken),
        (30, &None)
    );
    for limit in [1, 4, 7, 30, 31, 100] {
        let q = LogQuery {
            limit,
            ..LogQuery::default()
        };
        let pages = all_pages(&index, &v, &q);
        assert_eq!(pages.len(), 30usize.div_ceil(limit), "limit {limit}");
        let flat: Vec<LogEntry> = pages.into_iter().flatten().collect();
        assert_eq!(flat, expected(&records, &q), "limit {limit}");
    }
    // The default page is the 50 most recent: all 30 here, with no cursor.
    let page = index.query(&v, &LogQuery::default()).unwrap();
    assert_eq!(page.entries.len(), 30);
    assert_eq!(page.next, None);
    // A cursor past the end is the newest page; one at the start is empty.
    let q = |before| LogQuery {
        before: Some(before),
        limit: 3,
        ..LogQuery::default()
    };
    let seqs = |page: kluis_store::LogPage| page.entries.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(index.query(&v, &q(1000)).unwrap()), [30, 29, 28]);
    assert_eq!(seqs(index.query(&v, &q(12)).unwrap()), [11, 10, 9]);
    assert!(index.query(&v, &q(1)).unwrap().entries.is_empty());
    assert!(index.query(&v, &q(-5)).unwrap().entries.is_empty());
    let none = LogQuery {
        limit: 0,
        ..LogQuery::default()
    };
    assert_eq!(index.query(&v, &none).unwrap().entries, []);
}

#[test]
fn each_filter_keeps_only_its_entries_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let records = planted(&v);
    let index = refreshed(&v);
    let base = LogQuery {
        limit: 2,
        ..LogQuery::default()
    };
    let queries = [
        LogQuery {
            business: Some(business("b.example")),
            ..base.clone()
        },
        LogQuery {
            grant: Some(grant(1)),
            ..base.clone()
        },
        LogQuery {
            outcome: Some(Outcome::Refused),
            ..base.clone()
        },
        LogQuery {
            outcome: Some(Outcome::Allowed),
            business: Some(business("a.example")),
            grant: Some(grant(0)),
            ..base.clone()
        },
        LogQuery {
            since_ms: Some(T0 + 5 * 3_600_000),
            until_ms: Some(T0 + 17 * 3_600_000),
            ..base.clone()
        },
        LogQuery {
            since_ms: Some(T0 + 29 * 3_600_000),
            ..base.clone()
        },
        LogQuery {
            until_ms: Some(T0),
            ..base.clone()
        },
        LogQuery {
            business: Some(business("nobody.example")),
            ..base.clone()
        },
        LogQuery {
            before: Some(20),
            outcome: Some(Outcome::Allowed),
            ..base.clone()
        },
    ];
    for q in queries {
        let want = expected(&records, &q);
        let got: Vec<LogEntry> = all_pages(&index, &v, &q).into_iter().flatten().collect();
        assert_eq!(got, want, "{q:?}");
        assert!(
            want.len() < 30 || q.business.is_none(),
            "the filter keeps some out: {q:?}"
        );
    }
    // The filters really filter (the expectation is not vacuous).
    let refused = LogQuery {
        outcome: Some(Outcome::Refused),
        limit: 100,
        ..LogQuery::default()
    };
    let page = index.query(&v, &refused).unwrap();
    assert_eq!(page.entries.len(), 10);
    assert!(
        page.entries
            .iter()
            .all(|e| e.record.outcome == Outcome::Refused)
    );
    let since = LogQuery {
        since_ms: Some(T0 + 20 * 3_600_000),
        limit: 100,
        ..LogQuery::default()
    };
    let page = index.query(&v, &since).unwrap();
    assert_eq!(page.entries.iter().map(|e| e.seq).min(), Some(21));
}

#[test]
fn refresh_reads_new_appends_by_this_and_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    let mut index = refreshed(&v);
    assert!(index.is_empty());
    v.append_log(&[record(1), record(2)]).unwrap();
    index.refresh(&v).unwrap();
    assert_eq!(index.len(), 2);
    index.refresh(&v).unwrap();
    assert_eq!(index.len(), 2, "nothing new, nothing added twice");

    // Another connection, kept open: its second append leaves the header's head behind.
    let other = Vault::connect(d, v.unlocked()).unwrap();
    other.append_log(&[record(3)]).unwrap();
    other.append_log(&[record(4), record(5)]).unwrap();
    index.refresh(&v).unwrap();
    assert_eq!(index.len(), 5);
    assert_eq!(index.check().first_broken, None);
    // Again while the head lags behind what the index read: it must name one of those frames.
    index.refresh(&v).unwrap();
    assert_eq!((index.len(), &index.check().first_broken), (5, &None));
    // The head catches up behind what the index read already.
    drop(other);
    index.refresh(&v).unwrap();
    assert_eq!((index.len(), &index.check().first_broken), (5, &None));

    let page = index.query(&v, &LogQuery::default()).unwrap();
    let records: Vec<_> = page.entries.into_iter().map(|e| e.record).collect();
    assert_eq!(records, (1..=5).rev().map(record).collect::<Vec<_>>());
    // Another process's index sees the same.
    let elsewhere = refreshed(&Vault::connect(d, v.unlocked()).unwrap());
    assert_eq!(elsewhere.len(), 5);
}

fn flip_bit(dir: &Path, frame: usize, at: u64) -> impl FnOnce() {
    let path = dir.join(LOG_FILE);
    let range = kluis_store::frame_ranges(&path).unwrap()[frame].clone();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, range.start + at).unwrap();
    file.write_all_at(&[byte[0] ^ 1], range.start + at).unwrap();
    move || file.write_all_at(&byte, range.start + at).unwrap()
}

#[test]
fn a_frame_altered_after_indexing_is_reported_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    for batch in 0..3 {
        v.append_log(&[record(batch * 2 + 1), record(batch * 2 + 2)])
            .unwrap();
    }
    // The head over all three frames: inside it, a frame that does not fit breaks the chain
    // (past it, it would end the log).
    v.settle_log().unwrap();
    let mut index = refreshed(&v);
    let restore = flip_bit(d, 1, 30);
    let page = |index: &LogIndex, limit| {
        index.query(
            &v,
            &LogQuery {
                limit,
                ..LogQuery::default()
            },
        )
    };
    // The newest page holds only the third frame: still shown.
    assert_eq!(page(&index, 2).unwrap().entries.len(), 2);
    let out = page(&index, 3);
    assert!(
        matches!(&out, Err(StoreError::Tampered(why)) if why.contains("entry 3") && why.contains("altered")),
        "{out:?}"
    );
    // The index does not read indexed frames again on refresh; verification walks them all.
    index.refresh(&v).unwrap();
    assert_eq!(index.check().first_broken, None);
    assert_eq!(v.verify_log().unwrap().first_broken.unwrap().0, 3);
    restore();
    assert_eq!(page(&index, 6).unwrap().entries.len(), 6);

    // A frame of the same length swapped in for the indexed one is not shown either.
    let path = d.join(LOG_FILE);
    let frames: Vec<_> = kluis_store::frame_ranges(&path)
        .unwrap()
        .into_iter()
        .map(|r| r.start as usize..r.end as usize)
        .collect();
    let bytes = fs::read(&path).unwrap();
    let mut swapped = bytes.clone();
    let (two, three) = (frames[1].clone(), frames[2].clone());
    swapped[two.clone()].copy_from_slice(&bytes[three.clone()]);
    swapped[three].copy_from_slice(&bytes[two]);
    fs::write(&path, &swapped).unwrap();
    assert!(matches!(page(&index, 4), Err(StoreError::Tampered(_))));
    assert!(matches!(page(&index, 2), Err(StoreError::Tampered(_))));
    fs::write(&path, &bytes).unwrap();
    assert_eq!(page(&index, 6).unwrap().entries.len(), 6);
}

#[test]
fn a_chain_broken_before_indexing_is_named_and_pages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    for n in 1..=3 {
        v.append_log(&[record(n)]).unwrap();
    }
    v.settle_log().unwrap();
    let restore = flip_bit(d, 1, 30);
    let mut index = refreshed(&v);
    let check = index.check().clone();
    assert_eq!(check.entries, 1);
    let (seq, why) = check.first_broken.unwrap();
    assert_eq!(seq, 2);
    assert!(why.contains("altered"), "{why}");
    assert!(matches!(
        index.query(&v, &LogQuery::default()),
        Err(StoreError::Tampered(why)) if why.contains("entry 2")
    ));
    restore();
    index.refresh(&v).unwrap();
    assert_eq!((index.len(), &index.check().first_broken), (3, &None));

    // A missing file breaks the log at entry 1.
    fs::rename(d.join(LOG_FILE), d.join("kept.log")).unwrap();
    index.refresh(&v).unwrap();
    let (seq, why) = index.check().first_broken.clone().unwrap();
    assert_eq!(seq, 1);
    assert!(why.contains("missing"), "{why}");
    assert!(index.query(&v, &LogQuery::default()).is_err());
}

#[test]
fn an_empty_log_has_an_empty_page() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let index = refreshed(&v);
    let page = index.query(&v, &LogQuery::default()).unwrap();
    assert_eq!((page.entries, page.next), (vec![], None));
    assert_eq!(index.check().entries, 0);
    assert_eq!(index.check().first_broken, None);
    assert!(index.reads_per_grant().is_empty());
    assert!(
        index
            .counts_by_business_and_day(&LogQuery::default(), 0)
            .is_empty()
    );
    // Entries it does not have are not found, whatever the cursor.
    assert!(matches!(index.read(&v, &[1]), Err(StoreError::NotFound(_))));
}

/// The fixture of tests/log.rs: an old vault whose log (`record(1..=5)`) is in the table.
fn old_vault() -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault-with-log-in-db");
    let dir = tempfile::tempdir().unwrap();
    fs::copy(fixture.join("vault.db"), dir.path().join("vault.db")).unwrap();
    dir
}

#[test]
fn a_log_kept_in_the_database_is_paged_and_followed_into_its_file() {
    let dir = old_vault();
    let d = dir.path();
    let v = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    let mut index = refreshed(&v);
    assert_eq!((index.len(), &index.check().first_broken), (5, &None));
    let q = LogQuery {
        limit: 2,
        ..LogQuery::default()
    };
    let flat: Vec<_> = all_pages(&index, &v, &q).into_iter().flatten().collect();
    let want: Vec<_> = (1..=5).rev().map(|n| (n, record(n))).collect();
    assert_eq!(
        flat.into_iter()
            .map(|e| (e.seq, e.record))
            .collect::<Vec<_>>(),
        want
    );
    assert!(!d.join(LOG_FILE).exists(), "reading moves nothing");

    // The first append moves the log into its file; the index follows it there.
    v.append_log(&[record(6)]).unwrap();
    assert!(
        matches!(index.query(&v, &q), Err(StoreError::Conflict(_))),
        "not read from an emptied table"
    );
    index.refresh(&v).unwrap();
    assert_eq!(index.len(), 6);
    let page = index.query(&v, &q).unwrap();
    assert_eq!(page.entries[0].record, record(6));
    assert_eq!(page.next, Some(5));
}

#[test]
fn a_broken_log_in_the_database_is_named() {
    let dir = old_vault();
    let d = dir.path();
    common::raw(d)
        .execute("DELETE FROM access_log WHERE seq = 3", [])
        .unwrap();
    let v = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    let index = refreshed(&v);
    assert_eq!(index.check().first_broken.as_ref().unwrap().0, 3);
    assert!(matches!(
        index.query(&v, &LogQuery::default()),
        Err(StoreError::Tampered(_))
    ));
}

#[test]
fn allowed_reads_are_counted_per_business_and_day_and_per_grant() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (g1, g2) = (grant(1), grant(2));
    let day0 = T0.div_euclid(DAY_MS);
    v.append_log(&[
        record_by(T0, "a.example", &g1, Outcome::Allowed),
        record_by(T0 + 1000, "a.example", &g1, Outcome::Allowed),
        record_by(T0 + 2000, "a.example", &g1, Outcome::Refused),
        record_by(T0 + DAY_MS, "a.example", &g2, Outcome::Allowed),
        record_by(T0 + DAY_MS + 5, "b.example", &g2, Outcome::Allowed),
        record(9),
    ])
    .unwrap();
    let index = refreshed(&v);
    let a = business("a.example");
    let b = business("b.example");
    assert_eq!(
        index.counts_by_business_and_day(&LogQuery::default(), 0),
        [
            (a.clone(), day0, 2),
            (a.clone(), day0 + 1, 1),
            (b.clone(), day0 + 1, 1)
        ]
    );
    // 16 hours east of UTC, T0 (08:00Z) is already the next day.
    let east = index.counts_by_business_and_day(&LogQuery::default(), 16 * 3600);
    assert_eq!(east[0], (a.clone(), day0 + 1, 2));
    let only_b = LogQuery {
        business: Some(b.clone()),
        ..LogQuery::default()
    };
    assert_eq!(
        index.counts_by_business_and_day(&only_b, 0),
        [(b.clone(), day0 + 1, 1)]
    );
    // Whole UTC days are read from the per-day counts, anything else from the entries: the
    // same answers either way (no entry is at a day's first or last millisecond, so bounds a
    // millisecond inside the days keep the same entries, and force the scan).
    let day = |d: i64| Some((day0 + d) * DAY_MS);
    for (since_ms, until_ms) in [
        (None, None),
        (day(0), None),
        (day(1), None),
        (None, day(1)),
        (day(0), day(1)),
        (day(1), day(0)),
        (day(2), None),
    ] {
        for business in [None, Some(a.clone())] {
            let whole = LogQuery {
                business,
                since_ms,
                until_ms,
                ..LogQuery::default()
            };
            let scanned = LogQuery {
                since_ms: Some(since_ms.unwrap_or(i64::MIN) + 1),
                until_ms: Some(until_ms.unwrap_or(i64::MAX) - 1),
                ..whole.clone()
            };
            let counts = index.counts_by_business_and_day(&whole, 0);
            assert_eq!(
                counts,
                index.counts_by_business_and_day(&scanned, 0),
                "{whole:?}"
            );
            // The totals per business are the counts' sums, most first, either way.
            let mut totals: Vec<(BusinessId, u64)> = Vec::new();
            for (b, _, n) in counts {
                match totals.iter_mut().find(|t| t.0 == b) {
                    Some(t) => t.1 += n,
                    None => totals.push((b, n)),
                }
            }
            totals.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            assert_eq!(index.reads_by_business(&whole), totals, "{whole:?}");
            assert_eq!(index.reads_by_business(&scanned), totals, "{whole:?}");
        }
    }
    assert_eq!(
        index.counts_by_business_and_day(
            &LogQuery {
                since_ms: day(1),
                ..LogQuery::default()
            },
            0
        ),
        [(a.clone(), day0 + 1, 1), (b.clone(), day0 + 1, 1)]
    );
    let reads = index.reads_per_grant();
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[&g1], (2, T0 + 1000), "the refusal does not count");
    assert_eq!(reads[&g2], (2, T0 + DAY_MS + 5));

    // Kept up as the log grows: a refresh adds the new reads to what was counted.
    let mut index = index;
    v.append_log(&[
        record_by(T0 + 3 * DAY_MS, "a.example", &g1, Outcome::Allowed),
        record_by(T0 + 4 * DAY_MS, "b.example", &g2, Outcome::Refused),
    ])
    .unwrap();
    index.refresh(&v).unwrap();
    let reads = index.reads_per_grant();
    assert_eq!(reads[&g1], (3, T0 + 3 * DAY_MS));
    assert_eq!(reads[&g2], (2, T0 + DAY_MS + 5));
}
