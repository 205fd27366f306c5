//! Run with: cargo bench -p kluis-store
//!
//! Reading one field (keyed-hash look-up + decrypt) in vaults of 100 to 100,000 fields, and
//! writing fields in batches (one transaction, one fsync per batch).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kluis_core::Pointer;
use kluis_store::{KdfParams, Passphrase, Vault};
use serde_json::json;

fn field(i: usize) -> Pointer {
    Pointer::parse(&format!("/custom/group{}/field{i}", i / 100)).unwrap()
}

fn vault_with(dir: &std::path::Path, n: usize) -> Vault {
    let vault = Vault::create(dir, &Passphrase::new("bench"), KdfParams::OWASP_MINIMUM).unwrap();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        batch.push((
            field(i),
            json!(format!("value number {i}, about forty bytes long")),
        ));
        if batch.len() == 1000 {
            vault.set_many(std::mem::take(&mut batch)).unwrap();
        }
    }
    vault.set_many(batch).unwrap();
    vault
}

fn read_one_field(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_one_field");
    for n in [100, 1_000, 10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault_with(dir.path(), n);
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(vault.get(&field(i)).unwrap())
            })
        });
    }
    group.finish();
}

fn write_fields(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_fields_batched");
    let dir = tempfile::tempdir().unwrap();
    let vault = vault_with(dir.path(), 10_000);
    let mut round = 0usize;
    for batch in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                round += 1;
                let writes = (0..batch)
                    .map(|i| {
                        (
                            field((round * 31 + i) % 20_000),
                            json!(format!("new value {round}")),
                        )
                    })
                    .collect();
                vault.set_many(writes).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = read_one_field, write_fields
}
criterion_main!(benches);
