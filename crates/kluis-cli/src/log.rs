//! Commands on the access log: list it (with filters) and verify its hash chain. The log keeps
//! the owner's own actions (written by the store's owner layer) beside the businesses' calls.

use anyhow::Result;
use kluis_core::access::{AccessRecord, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{LogEntry, StoreError};
use serde_json::{Value, json};

use crate::args::{Global, LogArgs, LogCommand};
use crate::document::print_json;
use crate::grants::{fields_text, print_table, rfc3339_ms};
use crate::open;

pub fn run(global: &Global, args: LogArgs) -> Result<()> {
    match args.command {
        Some(LogCommand::Verify { json }) => verify(global, json),
        None => list(
            global,
            args.business.as_deref(),
            args.grant.as_deref(),
            args.json,
        ),
    }
}

fn list(global: &Global, business: Option<&str>, grant: Option<&str>, json: bool) -> Result<()> {
    let business = business.map(BusinessId::parse).transpose()?;
    let grant = grant.map(GrantId::parse).transpose()?;
    let entries: Vec<LogEntry> = open(global)?
        .log_entries()?
        .into_iter()
        .filter(|e| business.is_none() || e.record.business == business)
        .filter(|e| grant.is_none() || e.record.grant == grant)
        .collect();
    if json {
        print_json(&Value::Array(entries.iter().map(entry_json).collect()));
        return Ok(());
    }
    if entries.is_empty() {
        if business.is_some() || grant.is_some() {
            eprintln!("no entries in the access log match");
        } else {
            eprintln!("the access log is empty");
        }
        return Ok(());
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
                text(Some(fields_text(&r.fields)).filter(|f| !f.is_empty())),
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
    Ok(())
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
                println!("the access log is intact ({} {noun})", check.entries);
            }
            Ok(())
        }
    }
}

/// An entry as `--json` prints it: `seq`, the record's fields (every key present, `null` when
/// absent) and `time`, the same instant as `at_ms` in RFC 3339.
fn entry_json(entry: &LogEntry) -> Value {
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
    })
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allowed => "allowed",
        Outcome::Refused => "refused",
    }
}
