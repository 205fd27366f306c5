//! Run with: cargo bench -p kluis-store --bench log_page
//!
//! Paging the access log through `LogIndex` as `kluis log` and the dashboard do, on a log of
//! 1,000,000 entries (10,000 frames of 100 records, ~2,000 businesses each with its grant):
//! `refresh` when nothing changed plus a query of the newest page, of a page deep in the log
//! (by cursor), and of one business's newest page; 50 entries each. Before criterion's figures
//! it prints the one-time index build, the index's memory per entry, and p50/p99 of each case
//! over 1,000 runs (criterion reports means and medians, the target is a p99).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{KdfParams, LogIndex, LogQuery, Passphrase, Vault};

const ENTRIES: usize = 1_000_000;
const PER_FRAME: usize = 100;
const BUSINESSES: usize = 2_000;

fn record(i: usize, businesses: &[(BusinessId, GrantId)], fields: &[Pointer]) -> AccessRecord {
    let (business, grant) = &businesses[(i * 7919) % BUSINESSES];
    let refused = i % 10 == 9;
    AccessRecord {
        at_ms: 1_800_000_000_000 + i as i64 * 1000,
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(grant.clone()),
        business: Some(business.clone()),
        purpose: Some("order delivery and the invoices that go with it".into()),
        fields: if refused { Vec::new() } else { fields.to_vec() },
        outcome: if refused {
            Outcome::Refused
        } else {
            Outcome::Allowed
        },
        reason: refused.then(|| "the grant was revoked".into()),
        contact: None,
    }
}

fn percentiles(name: &str, mut run: impl FnMut()) {
    let mut times: Vec<Duration> = (0..1000)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name}: p50 {:?}, p99 {:?}, max {:?}",
        times[500], times[990], times[999]
    );
}

fn pages(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::create(
        dir.path(),
        &Passphrase::new("bench"),
        KdfParams::OWASP_MINIMUM,
    )
    .unwrap();
    vault.log_without_fsync();
    let businesses: Vec<(BusinessId, GrantId)> = (0..BUSINESSES)
        .map(|b| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(b as u64).to_be_bytes());
            (
                BusinessId::parse(&format!("shop-{b}.example")).unwrap(),
                GrantId::from_random(id),
            )
        })
        .collect();
    let fields: Vec<Pointer> = ["/profile/email", "/profile/address"]
        .iter()
        .map(|p| Pointer::parse(p).unwrap())
        .collect();
    let start = Instant::now();
    for frame in 0..ENTRIES / PER_FRAME {
        let records: Vec<AccessRecord> = (frame * PER_FRAME..(frame + 1) * PER_FRAME)
            .map(|i| record(i, &businesses, &fields))
            .collect();
        vault.append_log(&records).unwrap();
    }
    vault.settle_log().unwrap();
    println!("setup: {ENTRIES} entries appended in {:?}", start.elapsed());

    let start = Instant::now();
    let mut index = LogIndex::new();
    index.refresh(&vault).unwrap();
    let built = start.elapsed();
    assert_eq!(index.len(), ENTRIES);
    println!(
        "index build: {built:?} ({:.2} µs per entry); memory {:.1} MB, {:.1} bytes per entry",
        built.as_secs_f64() * 1e6 / ENTRIES as f64,
        index.memory_bytes() as f64 / 1e6,
        index.memory_bytes() as f64 / ENTRIES as f64
    );

    let newest = LogQuery::default();
    let deep = LogQuery {
        before: Some(ENTRIES as i64 / 2),
        ..LogQuery::default()
    };
    let one_business = LogQuery {
        business: Some(businesses[1234].0.clone()),
        ..LogQuery::default()
    };
    let cases = [
        ("refresh_and_newest_page", newest),
        ("refresh_and_deep_page", deep),
        ("refresh_and_one_business", one_business),
    ];
    for (name, q) in &cases {
        let mut run = || {
            index.refresh(&vault).unwrap();
            let page = index.query(&vault, black_box(q)).unwrap();
            assert_eq!(page.entries.len(), 50);
        };
        percentiles(name, &mut run);
    }
    // What the dashboard's chart asks: served reads per business and day over whole days.
    let days = LogQuery {
        since_ms: Some((1_800_000_000_000i64 / 86_400_000 + 5) * 86_400_000),
        ..LogQuery::default()
    };
    percentiles("counts_by_business_and_day", || {
        let counts = index.counts_by_business_and_day(black_box(&days), 0);
        assert!(counts.len() > BUSINESSES);
    });
    let mut group = c.benchmark_group("log_page");
    for (name, q) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                index.refresh(&vault).unwrap();
                index.query(&vault, black_box(q)).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
