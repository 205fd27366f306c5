//! Commands on the access log: list it (a page, with filters) and verify its hash chain. The
//! log keeps the owner's own actions (written by the store's owner layer) beside the businesses'
//! calls.

use std::io::Write;

use anyhow::Result;
use kluis_core::access::{AccessRecord, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{LogEntry, LogIndex, LogQuery, StoreError, Via};
use serde_json::{Value, json};

use crate::args::{Global, LogArgs, LogCommand, OutcomeArg};
use crate::document::print_json;
use crate::grants::{fields_text, print_table, rfc3339_ms};
use crate::open;
use crate::when::parse_time;

pub fn run(global: &Global, args: LogArgs) -> Result<()> {
    match args.command {
        Some(LogCommand::Verify { json }) => verify(global, json),
        Some(LogCommand::Prune { before, json }) => prune(global, &before, json),
        None => list(global, &args),
    }
}

/// The page `kluis log` asks for: `--limit` entries, the most recent matching ones.
fn log_query(args: &LogArgs, now_ms: i64) -> Result<LogQuery> {
    if args.limit == 0 {
        return Err(kluis_core::Error::invalid("--limit must be at least 1").into());
    }
    let time = |flag, text: &Option<String>| {
        text.as_deref()
            .map(|text| parse_time(flag, text, now_ms))
            .transpose()
    };
    Ok(LogQuery {
        business: args
            .business
            .as_deref()
            .map(BusinessId::parse)
            .transpose()?,
        grant: args.grant.as_deref().map(GrantId::parse).transpose()?,
        outcome: args.outcome.map(|o| match o {
            OutcomeArg::Allowed => Outcome::Allowed,
            OutcomeArg::Refused => Outcome::Refused,
        }),
        since_ms: time("--since", &args.since)?,
        until_ms: time("--until", &args.until)?,
        before: args.before,
        limit: args.limit,
    })
}

/// Entries read from the log per batch while printing: what is held in memory at once.
const PRINT_BATCH: usize = 256;

/// Lists a page through the log index (the cursor the dashboard uses too), oldest first like a
/// log's tail; `--json` is written entry by entry.
fn list(global: &Global, args: &LogArgs) -> Result<()> {
    let query = log_query(args, kluis_store::unix_now_ms())?;
    let filtered = query.business.is_some()
        || query.grant.is_some()
        || query.outcome.is_some()
        || query.since_ms.is_some()
        || query.until_ms.is_some()
        || query.before.is_some();
    let vault = open(global)?;
    let mut index = LogIndex::new();
    index.refresh(&vault)?;
    if let Some((seq, why)) = &index.check().first_broken {
        return Err(StoreError::Tampered(format!(
            "the access log is broken at entry {seq}: {why}"
        ))
        .into());
    }
    let selection = index.select(&query);
    let seqs: Vec<i64> = selection.seqs.iter().rev().copied().collect();
    let batches = seqs
        .chunks(PRINT_BATCH)
        .map(|seqs| index.read(&vault, seqs));
    if args.json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write!(out, "[")?;
        let mut first = true;
        for batch in batches {
            for entry in batch? {
                let sep = if first { "\n" } else { ",\n" };
                first = false;
                write!(out, "{sep}{}", entry_json(&entry))?;
            }
        }
        writeln!(out, "{}]", if first { "" } else { "\n" })?;
        out.flush()?;
        next_page_hint(selection.next);
        return Ok(());
    }
    if seqs.is_empty() {
        if filtered {
            eprintln!("no entries in the access log match");
        } else {
            eprintln!("the access log is empty");
        }
        return Ok(());
    }
    // The table's columns are aligned over the page, so its rows are kept until it is printed.
    let mut entries: Vec<LogEntry> = Vec::with_capacity(seqs.len());
    for batch in batches {
        entries.extend(batch?);
    }
    let text = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|LogEntry { seq, record: r }| {
            vec![
                seq.to_string(),
                rfc3339_ms(r.at_ms),
                format!("{} {}", r.actor.as_str(), r.action.as_str()),
                text(r.business.as_ref().map(ToString::to_string)),
                text(r.grant.as_ref().map(ToString::to_string)),
                outcome_text(r.outcome).to_owned(),
                text(r.reason.clone()),
                // A contact attempt names its channel and topic where a read names fields.
                text(match &r.contact {
                    Some(c) => Some(format!("{} about {:?}", c.channel, c.topic)),
                    None => Some(fields_text(&r.fields)).filter(|f| !f.is_empty()),
                }),
                text(r.purpose.clone()),
            ]
        })
        .collect();
    print_table(
        &[
            "SEQ", "TIME", "ACTION", "BUSINESS", "GRANT", "OUTCOME", "REASON", "FIELDS", "PURPOSE",
        ],
        &rows,
    );
    next_page_hint(selection.next);
    Ok(())
}

/// On stderr, so the page on stdout stays clean for scripts.
fn next_page_hint(next: Option<i64>) {
    if let Some(next) = next {
        eprintln!("more entries: add --before {next} (with the same filters) for the older ones");
    }
}

fn verify(global: &Global, json: bool) -> Result<()> {
    let check = open(global)?.verify_log()?;
    if json {
        print_json(&json!({
            "intact": check.first_broken.is_none(),
            "entries": check.entries,
            "first_broken": check.first_broken.as_ref().map(|(seq, reason)| {
                json!({ "seq": seq, "reason": reason })
            }),
            "pruned": check.pruned.map(|c| json!({
                "through_seq": c.seq,
                "before": rfc3339_ms(c.before_ms),
            })),
        }));
    }
    match check.first_broken {
        // Tampered maps to exit code 6, the one scripts watch for.
        Some((seq, reason)) => Err(StoreError::Tampered(format!(
            "the access log breaks at entry {seq}: {reason}"
        ))
        .into()),
        None => {
            if !json {
                let noun = if check.entries == 1 {
                    "entry"
                } else {
                    "entries"
                };
                match check.pruned {
                    None => println!("the access log is intact ({} {noun})", check.entries),
                    Some(c) => println!(
                        "the access log is intact ({} {noun}; entries 1 to {} were pruned, those before {}, and the rest is proven from the checkpoint after entry {})",
                        check.entries,
                        c.seq,
                        rfc3339_ms(c.before_ms),
                        c.seq
                    ),
                }
            }
            Ok(())
        }
    }
}

/// Removes the entries before `--before` through the owner layer (which records it), at whole
/// frames; the server may be running (its writer follows the new file).
fn prune(global: &Global, before: &str, json: bool) -> Result<()> {
    let now_ms = kluis_store::unix_now_ms();
    let before_ms = parse_time("--before", before, now_ms)?;
    if before_ms > now_ms {
        return Err(kluis_core::Error::invalid(format!(
            "--before {before:?} is in the future: only entries already written can be pruned"
        ))
        .into());
    }
    let vault = open(global)?;
    let pruned = vault.owner(Via::Cli).prune_log(before_ms)?;
    if json {
        print_json(&json!({
            "removed_entries": pruned.map_or(0, |p| p.entries),
            "removed_bytes": pruned.map_or(0, |p| p.bytes),
            "through_seq": pruned.map(|p| p.checkpoint.seq),
            "before": rfc3339_ms(before_ms),
        }));
        return Ok(());
    }
    match pruned {
        None => println!(
            "no append is older than {}: nothing was removed",
            rfc3339_ms(before_ms)
        ),
        Some(p) => println!(
            "removed {} entries ({} bytes) up to entry {}; `kluis log verify` proves the rest from the checkpoint",
            p.entries, p.bytes, p.checkpoint.seq
        ),
    }
    Ok(())
}

/// An entry as `--json` prints it: `seq`, the record's fields (every key present, `null` when
/// absent) and `time`, the same instant as `at_ms` in RFC 3339.
pub(crate) fn entry_json(entry: &LogEntry) -> Value {
    let AccessRecord {
        at_ms,
        actor,
        action,
        request,
        grant,
        business,
        purpose,
        fields,
        outcome,
        reason,
        contact,
    } = &entry.record;
    json!({
        "seq": entry.seq,
        "at_ms": at_ms,
        "time": rfc3339_ms(*at_ms),
        "actor": actor,
        "action": action,
        "request": request,
        "grant": grant,
        "business": business,
        "purpose": purpose,
        "fields": fields,
        "outcome": outcome,
        "reason": reason,
        "contact": contact,
    })
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allowed => "allowed",
        Outcome::Refused => "refused",
    }
}
