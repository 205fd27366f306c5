//! Run with: cargo bench -p kluis-store --bench log
//!
//! Appending access-log records as the server's ledger does: a batch of records as one frame of
//! the log file. Measured without the flush (`Vault::log_without_fsync`) to show the CPU cost of
//! the append alone, and with it. The file grows by 8 MiB of zeros (flushed) whenever its
//! zeroed space runs out; that cost is in the figures. (Before the log had its own file, each
//! append was a SQLite transaction; `docs/performance.md` has both.)

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{KdfParams, Passphrase, Vault};

fn record(i: usize) -> AccessRecord {
    AccessRecord {
        at_ms: 1_800_000_000_000 + i as i64,
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(GrantId::from_random([i as u8; 16])),
        business: Some(BusinessId::parse(&format!("shop-{i}.example")).unwrap()),
        purpose: Some("order delivery and the invoices that go with it".into()),
        fields: [
            "/profile/email",
            "/profile/address",
            "/preferences/channels",
        ]
        .iter()
        .map(|p| Pointer::parse(p).unwrap())
        .collect(),
        outcome: Outcome::Allowed,
        reason: None,
        contact: None,
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append");
    // Flushed first: the unflushed appends leave hundreds of MB for the kernel to write back,
    // which would slow the flushes measured after them (1.4–1.9 ms instead of 0.1–0.2 ms).
    for fsync in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::create(
            dir.path(),
            &Passphrase::new("bench"),
            KdfParams::OWASP_MINIMUM,
        )
        .unwrap();
        if !fsync {
            vault.log_without_fsync();
        }
        for batch in [1usize, 11, 32] {
            let records: Vec<_> = (0..batch).map(record).collect();
            group.throughput(Throughput::Elements(batch as u64));
            let name = if fsync { "fsync" } else { "no_fsync" };
            group.bench_with_input(BenchmarkId::new(name, batch), &records, |b, records| {
                b.iter(|| vault.append_log(black_box(records)).unwrap())
            });
        }
    }
    group.finish();
}

fn encode_one(c: &mut Criterion) {
    let r = record(7);
    c.bench_function("log_record_to_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&r)).unwrap())
    });
}

criterion_group!(benches, append, encode_one);
criterion_main!(benches);
