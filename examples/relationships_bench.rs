//! Run with: cargo run --release --example relationships_bench -- [options]
//!
//! Relationship records at scale: a vault with `--businesses` records and `--entries` entries
//! in all (contracts, promises open and settled, interactions, documents, scores, notes), and
//! an access log holding for every business a grant, reads on many days and notifications.
//! It times what the owner waits for:
//!
//! - a relationship's **timeline** (the record's entries and what the vault saw: the log's
//!   events for that business through the log index, and its reads summed per day), for
//!   `--samples` businesses picked across the vault, with the index already built as the
//!   server keeps it (building it is timed apart);
//! - **what is due** over every record (`kluis due`'s work: every record's standing opened);
//! - with `--kluis PATH`, the real `kluis due` and `kluis rel show` as processes (each unlocks the
//!   vault with Argon2id first, which is timed apart).
//!
//! Each timed answer is checked (the timeline holds the record's entries; the due list what
//! was seeded as due), so the figures are of work actually done.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use kluis::core::access::{AccessRecord, Action, Actor, Outcome};
use kluis::core::grant::{BusinessId, GrantId};
use kluis::core::relationship::{
    Author, Contract, Date, Entry, EntryId, Item, Notice, NoticeUnit, PromiseStatus,
};
use kluis::store::{
    ExportedEntry, ExportedRecord, KdfParams, LogIndex, Passphrase, RELATIONSHIPS_FORMAT,
    RelationshipsExport, TimelineItem, Vault, observed_in_log,
};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const PASSPHRASE: &str = "benchmark pass phrase";

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    businesses: usize,
    /// Entries in all, spread evenly over the businesses.
    #[arg(long, default_value_t = 100_000)]
    entries: usize,
    /// Served reads in the log per business (over that many days).
    #[arg(long, default_value_t = 60)]
    reads: usize,
    /// Timelines timed.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Runs of the due list timed.
    #[arg(long, default_value_t = 50)]
    due_runs: usize,
    /// The `kluis` binary, to time `kluis due` and `kluis rel show` as processes too.
    #[arg(long, value_name = "PATH")]
    kluis: Option<PathBuf>,
    /// Keep the vault in DIR (made afresh) instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// 2026-12-01T10:00Z: "now" for the seeded data (the due list is asked as of this day).
const NOW_MS: i64 = 1_796_119_200_000;
const DAY_MS: i64 = 86_400_000;

fn main() -> Result<()> {
    let args = Args::parse();
    if args.businesses == 0 || args.samples == 0 || args.due_runs == 0 {
        return Err("--businesses, --samples and --due-runs must be positive".into());
    }
    let temp = tempfile::tempdir()?;
    let dir = match &args.keep {
        Some(keep) => {
            std::fs::create_dir_all(keep)?;
            keep.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let dir = dir.as_path();
    let started = Instant::now();
    let vault = Vault::create(dir, &Passphrase::new(PASSPHRASE), KdfParams::OWASP_MINIMUM)?;
    let per = args.entries / args.businesses;
    let (export, open_promises) = seed_records(args.businesses, per);
    let done = vault.open_relationships()?.import(&export)?;
    seed_log(&vault, args.businesses, args.reads)?;
    println!(
        "vault: {} records, {} entries, {} log entries; built in {:.1} s",
        done.records,
        done.added,
        args.businesses * (args.reads + 2),
        started.elapsed().as_secs_f64()
    );

    let rel = vault.open_relationships()?;
    let t = Instant::now();
    let mut index = LogIndex::new();
    index.refresh(&vault)?;
    println!(
        "log index built in {:.1} ms ({} entries)",
        ms(t.elapsed()),
        index.len()
    );

    let mut timeline_times = Vec::with_capacity(args.samples);
    for i in 0..args.samples {
        let b = business((i * 7919) % args.businesses);
        let t = Instant::now();
        let observed = observed_in_log(&index, &vault, &[], &b)?;
        let timeline = rel.timeline(&b, observed)?;
        timeline_times.push(t.elapsed());
        let entries = timeline
            .iter()
            .filter(|i| matches!(i, TimelineItem::Entry(_)))
            .count();
        if entries != per || timeline.len() < per + args.reads {
            return Err(format!(
                "{b}: the timeline holds {entries} entries of {per} and {} items",
                timeline.len()
            )
            .into());
        }
    }
    report("timeline of one relationship", &mut timeline_times, 10.0);

    let today = Date::new(2026, 12, 1)?;
    let mut due_times = Vec::with_capacity(args.due_runs);
    for _ in 0..args.due_runs {
        let t = Instant::now();
        let due = rel.due(today, 30)?;
        due_times.push(t.elapsed());
        let promises = due
            .iter()
            .filter(|d| matches!(d.kind, kluis::core::relationship::DueKind::Promise { .. }))
            .count();
        if promises != open_promises {
            return Err(
                format!("due lists {promises} promises, {open_promises} were seeded").into(),
            );
        }
    }
    report("what is due, over every record", &mut due_times, 50.0);

    if let Some(kluis) = &args.kluis {
        let t = Instant::now();
        Vault::open(dir, &Passphrase::new(PASSPHRASE))?;
        println!(
            "unlocking (Argon2id, OWASP minimum): {:.1} ms",
            ms(t.elapsed())
        );
        let mut due = Vec::new();
        let mut due_json = Vec::new();
        let mut show = Vec::new();
        for i in 0..10 {
            due.push(run(kluis, dir, &["due"])?);
            due_json.push(run(kluis, dir, &["due", "--json"])?);
            let b = business((i * 7919) % args.businesses).to_string();
            show.push(run(kluis, dir, &["rel", "show", &b, "--json"])?);
        }
        report("`kluis due` as a process", &mut due, 50.0);
        report(
            "`kluis due --json` as a process",
            &mut due_json,
            f64::INFINITY,
        );
        report(
            "`kluis rel show B --json` as a process",
            &mut show,
            f64::INFINITY,
        );
    }
    Ok(())
}

fn business(i: usize) -> BusinessId {
    BusinessId::parse(&format!("shop{i}.example")).expect("a business id")
}

fn id(n: u64) -> EntryId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bytes[8] = 0xbe;
    EntryId::from_random(bytes)
}

fn day(offset: i64) -> Date {
    kluis::core::relationship::entry::day_of_ms(NOW_MS + offset * DAY_MS)
}

/// `per` entries for each of `businesses` records, and how many promises are open (all of
/// them due within 30 days or overdue).
fn seed_records(businesses: usize, per: usize) -> (RelationshipsExport, usize) {
    let mut n = 0u64;
    let mut open = 0;
    let grant = GrantId::from_random([9; 16]);
    let records = (0..businesses)
        .map(|b| {
            let mut entries = Vec::with_capacity(per);
            let mut promises: Vec<EntryId> = Vec::new();
            for k in 0..per {
                n += 1;
                let at_ms = NOW_MS - (per - k) as i64 * 3_600_000;
                let by_business = k % 3 == 0;
                let item = match k % 10 {
                    0 if k == 0 => Item::Contract {
                        contract: Contract {
                            what: format!("Subscription {b}"),
                            starts_on: Date::new(2024, 1, 1).expect("a date"),
                            ends_on: Some(Date::new(2024, 12, 31).expect("a date")),
                            renews: true,
                            notice: Some(Notice {
                                amount: 1,
                                unit: NoticeUnit::Months,
                            }),
                        },
                    },
                    0..=2 => Item::Interaction {
                        on: day(-((per - k) as i64) / 24),
                        channel: "phone".into(),
                        summary: format!("Call about order {k}"),
                    },
                    3 | 4 => {
                        promises.push(id(n));
                        Item::Promise {
                            what: format!("Deliver part {k}"),
                            due_on: day((k % 20) as i64 - 5),
                        }
                    }
                    5 if !promises.is_empty() => Item::Settled {
                        promise: promises.remove(0),
                        status: PromiseStatus::Kept,
                    },
                    6 | 7 => Item::Document {
                        title: format!("Order confirmation {k}"),
                        body: serde_json::json!({"order": k, "total": "12.50", "lines": [
                            {"sku": "A-1", "qty": 1}, {"sku": "B-2", "qty": 3}]}),
                        attachment: None,
                    },
                    8 => Item::Satisfaction {
                        score: (k % 5 + 1) as u8,
                        on: day(-((per - k) as i64) / 24),
                        comment: None,
                    },
                    _ => Item::Note {
                        text: format!("Note {k} on this relationship"),
                    },
                };
                // What a business may post: promises, interactions, documents.
                let posts = matches!(
                    item,
                    Item::Promise { .. } | Item::Interaction { .. } | Item::Document { .. }
                );
                let author = if by_business && posts {
                    Author::Business {
                        grant: grant.clone(),
                        request_sha256: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                        jkt: None,
                    }
                } else {
                    Author::Owner
                };
                entries.push(ExportedEntry {
                    entry: Entry {
                        id: id(n),
                        at_ms,
                        author,
                        item,
                    },
                    attachment: None,
                });
            }
            open += promises.len();
            ExportedRecord {
                business: business(b),
                created_ms: NOW_MS - 400 * DAY_MS,
                entries,
            }
        })
        .collect();
    (
        RelationshipsExport {
            format: RELATIONSHIPS_FORMAT.to_owned(),
            records,
        },
        open,
    )
}

/// For each business: a grant given, `reads` served reads on as many days, a notification.
fn seed_log(vault: &Vault, businesses: usize, reads: usize) -> Result<()> {
    vault.log_without_fsync();
    let record = |at_ms: i64, b: usize, action: Action, actor: Actor| AccessRecord {
        at_ms,
        actor,
        action,
        request: None,
        grant: Some(GrantId::from_random([(b % 250) as u8; 16])),
        business: Some(business(b)),
        purpose: Some("orders".into()),
        fields: vec![],
        outcome: Outcome::Allowed,
        reason: None,
        contact: None,
    };
    let start = NOW_MS - (reads as i64 + 1) * DAY_MS;
    let mut batch = Vec::with_capacity(businesses);
    for b in 0..businesses {
        batch.push(record(start, b, Action::GrantCreate, Actor::OwnerCli));
    }
    vault.append_log(&batch)?;
    for r in 0..reads {
        batch.clear();
        for b in 0..businesses {
            batch.push(record(
                start + (r as i64 + 1) * DAY_MS,
                b,
                Action::Read,
                Actor::Business,
            ));
        }
        vault.append_log(&batch)?;
    }
    batch.clear();
    for b in 0..businesses {
        batch.push(record(
            NOW_MS - DAY_MS / 2,
            b,
            Action::Notified,
            Actor::Business,
        ));
    }
    vault.append_log(&batch)?;
    Ok(())
}

fn run(kluis: &Path, dir: &Path, args: &[&str]) -> Result<Duration> {
    let t = Instant::now();
    let out = Command::new(kluis)
        .args(args)
        .env("KLUIS_VAULT", dir)
        .env("KLUIS_PASSPHRASE", PASSPHRASE)
        .output()?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "kluis {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(took)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, times: &mut [Duration], target_ms: f64) {
    times.sort();
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    let verdict = if target_ms.is_finite() {
        if at(0.99) <= target_ms {
            format!("  (target ≤ {target_ms} ms: met at p99)")
        } else {
            format!("  (target ≤ {target_ms} ms: NOT met at p99)")
        }
    } else {
        String::new()
    };
    println!(
        "{what}: median {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} runs{verdict}",
        at(0.5),
        at(0.99),
        ms(times[times.len() - 1]),
        times.len()
    );
}
