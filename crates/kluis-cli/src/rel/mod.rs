//! `kluis rel`: the owner's record of each relationship (contracts, promises, interactions,
//! documents, a score, notes) and its timeline; `kluis due` in [`due`]. Text a business wrote
//! is printed escaped ([`crate::inbox::shown`]).

pub mod args;
pub mod due;
mod text;

use std::io::Write as _;

use anyhow::{Context, Result};
use kluis_core::grant::BusinessId;
use kluis_core::relationship::{
    Author, Contract, Date, Entry, EntryId, Item, Notice, PromiseStatus, Standing,
};
use kluis_store::{
    Appended, LogIndex, NewEntry, Relationships, StoreError, Vault, observed_in_log,
};
use serde_json::{Value, json};

use crate::args::Global;
use crate::document::print_json;
use crate::open;
use args::{ContractArgs, RelArgs, RelCommand, Settlement};

pub fn run(global: &Global, args: RelArgs) -> Result<()> {
    let Some(command) = args.command else {
        return list(global, args.json);
    };
    match command {
        RelCommand::List { json } => list(global, json),
        RelCommand::Show {
            business,
            limit,
            json,
        } => show(global, &business, limit, json),
        RelCommand::Contract(a) => contract(global, a),
        RelCommand::Promise {
            business,
            what,
            due,
            json,
        } => {
            let item = Item::Promise {
                what,
                due_on: date("--due", &due)?,
            };
            add(global, &business, item, json)
        }
        RelCommand::Interaction {
            business,
            on,
            channel,
            summary,
            json,
        } => {
            let item = Item::Interaction {
                on: day_or_today("--on", on.as_deref())?,
                channel,
                summary,
            };
            add(global, &business, item, json)
        }
        RelCommand::Score {
            business,
            score,
            on,
            comment,
            json,
        } => {
            let item = Item::Satisfaction {
                score,
                on: day_or_today("--on", on.as_deref())?,
                comment,
            };
            add(global, &business, item, json)
        }
        RelCommand::Note {
            business,
            text,
            json,
        } => add(global, &business, Item::Note { text }, json),
        RelCommand::Settle {
            entry,
            status,
            json,
        } => settle(global, &entry, status, json),
        RelCommand::Remove { entry, json } => remove(global, &entry, json),
        RelCommand::File { entry, out } => file(global, &entry, &out),
    }
}

/// Today in this machine's time zone (`TZ`, else `/etc/localtime`, else UTC): the day promises
/// and deadlines are counted against.
pub fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(local_zone())
        .date()
}

/// The machine's time zone, read without looking up its name (which walks the whole zoneinfo
/// tree and costs more than a `kluis due` itself).
fn local_zone() -> jiff::tz::TimeZone {
    use jiff::tz::TimeZone;
    if let Ok(name) = std::env::var("TZ")
        && let Ok(zone) = TimeZone::get(name.trim_start_matches(':'))
    {
        return zone;
    }
    std::fs::read("/etc/localtime")
        .ok()
        .and_then(|bytes| TimeZone::tzif("localtime", &bytes).ok())
        .unwrap_or(TimeZone::UTC)
}

pub(crate) fn date(flag: &str, text: &str) -> Result<Date> {
    text.trim().parse::<Date>().map_err(|_| {
        invalid(format!(
            "{flag}: {text:?} is not a date; write it as YYYY-MM-DD"
        ))
    })
}

fn day_or_today(flag: &str, text: Option<&str>) -> Result<Date> {
    text.map_or_else(|| Ok(today()), |t| date(flag, t))
}

fn invalid(message: String) -> anyhow::Error {
    StoreError::Invalid(kluis_core::Error::invalid(message)).into()
}

fn business(text: &str) -> Result<BusinessId> {
    Ok(BusinessId::parse(text.trim()).map_err(StoreError::Invalid)?)
}

fn entry_id(text: &str) -> Result<EntryId> {
    Ok(EntryId::parse(text.trim()).map_err(StoreError::Invalid)?)
}

fn opened(global: &Global) -> Result<(Vault, Relationships)> {
    let vault = open(global)?;
    let rel = vault.open_relationships()?;
    Ok((vault, rel))
}

fn new_id() -> Result<EntryId> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(EntryId::from_random(random))
}

/// Appends an owner's entry, checked first, and says what was recorded.
fn add(global: &Global, business_text: &str, item: Item, json: bool) -> Result<()> {
    let business = business(business_text)?;
    let item = item.validated().map_err(StoreError::Invalid)?;
    let (_, mut rel) = opened(global)?;
    let entry = Entry {
        id: new_id()?,
        at_ms: kluis_store::unix_now_ms(),
        author: Author::Owner,
        item,
    };
    let new = NewEntry {
        entry: entry.clone(),
        attachment: None,
        bytes: 0,
    };
    match rel.append(&business, &new)? {
        Appended::Stored => {}
        Appended::OverQuota(refusal) => return Err(StoreError::TooMany(refusal.to_string()).into()),
    }
    if json {
        print_json(&json!({"business": business, "entry": entry}));
    } else {
        println!("recorded {} {} for {business}", entry.item.kind(), entry.id);
    }
    Ok(())
}

fn contract(global: &Global, a: ContractArgs) -> Result<()> {
    let notice = a
        .notice
        .as_deref()
        .map(Notice::parse)
        .transpose()
        .map_err(StoreError::Invalid)?;
    let contract = Contract {
        what: a.what,
        starts_on: date("--start", &a.start)?,
        ends_on: a.end.as_deref().map(|e| date("--end", e)).transpose()?,
        renews: a.renews,
        notice,
    };
    add(global, &a.business, Item::Contract { contract }, a.json)
}

fn settle(global: &Global, entry: &str, status: Settlement, json: bool) -> Result<()> {
    let promise = entry_id(entry)?;
    let status = match status {
        Settlement::Kept => PromiseStatus::Kept,
        Settlement::Broken => PromiseStatus::Broken,
        Settlement::Withdrawn => PromiseStatus::Withdrawn,
        Settlement::Open => PromiseStatus::Open,
    };
    let (_, rel) = opened(global)?;
    let (business, found) = rel.entry(&promise)?;
    drop(rel);
    if !matches!(found.item, Item::Promise { .. }) {
        return Err(invalid(format!(
            "{promise} is a {}, not a promise",
            found.item.kind()
        )));
    }
    add(
        global,
        business.as_str(),
        Item::Settled { promise, status },
        json,
    )
}

fn remove(global: &Global, entry: &str, json: bool) -> Result<()> {
    let id = entry_id(entry)?;
    let (_, mut rel) = opened(global)?;
    rel.remove(&id)?;
    if json {
        print_json(&json!({"removed": id}));
    } else {
        println!("removed {id}");
    }
    Ok(())
}

fn file(global: &Global, entry: &str, out: &std::path::Path) -> Result<()> {
    let id = entry_id(entry)?;
    let (_, rel) = opened(global)?;
    let (_, info, bytes) = rel.attachment(&id)?;
    if out == std::path::Path::new("-") {
        std::io::stdout().lock().write_all(&bytes)?;
    } else {
        std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!(
            "saved {} ({}, {} bytes) to {}",
            crate::inbox::shown(&info.name),
            crate::inbox::shown(&info.media_type),
            info.size,
            out.display()
        );
    }
    Ok(())
}

fn list(global: &Global, json: bool) -> Result<()> {
    let (vault, rel) = opened(global)?;
    let today = today();
    // Every business the vault knows has a relationship, with or without entries.
    let mut records = rel.list()?;
    let known = kluis_store::known_businesses(
        &vault.grants()?,
        &vault.access_requests(kluis_store::unix_now())?,
    );
    for business in known {
        if !records.iter().any(|s| s.business == business) {
            records.push(Standing::new(business, 0));
        }
    }
    records.sort_by(|a, b| a.business.cmp(&b.business));
    if json {
        let out: Vec<Value> = records
            .iter()
            .map(|s| text::standing_json(s, today))
            .collect();
        print_json(&Value::Array(out));
        return Ok(());
    }
    if records.is_empty() {
        eprintln!(
            "no relationships yet: they start with a grant, a request, a message or an entry"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|s| text::standing_row(s, today))
        .collect();
    crate::grants::print_table(
        &[
            "BUSINESS",
            "ENTRIES",
            "OPEN",
            "OVERDUE",
            "NEXT NOTICE",
            "SCORE",
        ],
        &rows,
    );
    Ok(())
}

fn show(global: &Global, business_text: &str, limit: usize, json: bool) -> Result<()> {
    let business = business(business_text)?;
    let (vault, rel) = opened(global)?;
    let standing: Standing = rel
        .standing(&business)?
        .unwrap_or_else(|| Standing::new(business.clone(), 0));
    let mut index = LogIndex::new();
    index.refresh(&vault)?;
    let requests = vault.access_requests(kluis_store::unix_now())?;
    let observed = observed_in_log(&index, &vault, &requests, &business)?;
    let timeline = rel.timeline(&business, observed)?;
    if standing.entries == 0 && timeline.is_empty() {
        return Err(
            StoreError::not_found(format!("there is no relationship with {business}")).into(),
        );
    }
    let today = today();
    if json {
        let mut out = text::standing_json(&standing, today);
        out["timeline"] = timeline
            .iter()
            .take(limit)
            .map(text::timeline_json)
            .collect::<Vec<_>>()
            .into();
        print_json(&out);
        return Ok(());
    }
    text::print_record(&standing, &timeline[..timeline.len().min(limit)], today);
    Ok(())
}
