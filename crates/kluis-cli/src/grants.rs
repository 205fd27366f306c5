//! Commands on grants and the key that signs them: grant create/list/show/revoke/narrow/budget,
//! key rotate. The actions themselves are the store's owner layer (`Vault::owner`).

use anyhow::Result;
use kluis_core::Pointer;
use kluis_core::budget;
use kluis_core::contact::ContactRight;
use kluis_core::grant::{
    BusinessId, DEFAULT_LIFETIME_SECS, Grant, GrantId, GrantRequest, Status, parse_lifetime,
};
use kluis_store::{StoreError, Vault, Via, unix_now};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::args::{
    ContactArgs, Global, GrantBudgetArgs, GrantCommand, GrantCreateArgs, KeyCommand,
};
use crate::document::print_json;
use crate::open;

pub fn run(global: &Global, command: GrantCommand) -> Result<()> {
    match command {
        GrantCommand::Create(args) => create(global, args),
        GrantCommand::List { all, json } => list(global, all, json),
        GrantCommand::Show { id, json } => show(global, &id, json),
        GrantCommand::Revoke { id, json } => revoke(global, &id, json),
        GrantCommand::Narrow { id, keep, json } => narrow(global, &id, &keep, json),
        GrantCommand::Budget(args) => set_budget(global, args),
    }
}

pub fn key(global: &Global, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Rotate { json } => {
            let kid = open(global)?.owner(Via::Cli).rotate_key()?;
            if json {
                print_json(&json!({ "kid": kid }));
            } else {
                println!("{kid}");
                eprintln!(
                    "new grants are signed with key {kid}; tokens signed by the old key keep working until they end"
                );
            }
            Ok(())
        }
    }
}

fn create(global: &Global, args: GrantCreateArgs) -> Result<()> {
    // Everything is checked before the vault is unlocked, so bad input never needs a passphrase.
    let request = GrantRequest {
        audience: BusinessId::parse(&args.to)?,
        fields: args
            .fields
            .iter()
            .map(|text| parse_field(text))
            .collect::<Result<_>>()?,
        purpose: args.purpose,
        purpose_category: match args.category.as_deref().map(str::trim) {
            Some("") => {
                return Err(kluis_core::Error::invalid("--category must not be empty").into());
            }
            category => category.map(str::to_owned),
        },
        lifetime_secs: match &args.expires {
            Some(text) => parse_lifetime(text)?,
            None => DEFAULT_LIFETIME_SECS,
        },
        key_thumbprint: None,
        contact: contact_right(&args.contact)?,
        append_record: args.append_record,
    };
    if request.fields.is_empty() && request.contact.is_none() && !request.append_record {
        return Err(kluis_core::Error::invalid(
            "name the fields the business may read (--fields), a contact right \
             (--contact-channel and --contact-topic), the right to add to its record of you \
             (--append-record), or several of these",
        )
        .into());
    }
    // Checked here too, so a bad channel or topic is refused before the passphrase is asked.
    let request = request.validated()?;
    let (grant, token) = open(global)?.owner(Via::Cli).create_grant(request)?;
    let now = unix_now();
    if args.json {
        let mut out = grant_json(&grant, now, None);
        out["token"] = Value::String(token);
        print_json(&out);
    } else {
        // The token alone on stdout, so `TOKEN=$(kluis grant create …)` works.
        println!("{token}");
        eprintln!(
            "granted {} {} until {} (grant {}; `kluis grant revoke {}` ends it)",
            grant.audience,
            granted_text(&grant),
            rfc3339(grant.expires_at),
            grant.id,
            grant.id
        );
    }
    Ok(())
}

fn list(global: &Global, all: bool, json: bool) -> Result<()> {
    let now = unix_now();
    let vault = open(global)?;
    let grants: Vec<Grant> = vault
        .grants()?
        .into_iter()
        .filter(|g| all || g.status(now) == Status::Active)
        .collect();
    let budgets = vault.read_budgets()?;
    let today = ReadsToday::read(&vault, now)?;
    if json {
        print_json(&Value::Array(
            grants
                .iter()
                .map(|g| {
                    let mut out = grant_json(g, now, budgets.get(&g.id).copied());
                    out["reads_today"] = json!(today.get(&g.id));
                    out
                })
                .collect(),
        ));
        return Ok(());
    }
    if grants.is_empty() {
        if all {
            eprintln!("there are no grants");
        } else {
            eprintln!("there are no active grants (--all shows revoked and expired ones)");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            vec![
                g.id.to_string(),
                g.audience.to_string(),
                status_text(g.status(now)).to_owned(),
                rfc3339(g.expires_at),
                format!(
                    "{}/{}",
                    today.text(&g.id),
                    budget::effective(budgets.get(&g.id).copied())
                ),
                fields_cell(&g.fields),
                right_text(g.contact.as_ref()),
                record_text(g.append_record).to_owned(),
                g.purpose.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "BUSINESS",
            "STATUS",
            "EXPIRES",
            "READS TODAY",
            "FIELDS",
            "CONTACT",
            "RECORD",
            "PURPOSE",
        ],
        &rows,
    );
    Ok(())
}

/// Today's served reads per grant as the server counted them ([`Vault::day_reads`]: its saved
/// counts and the log written since); unknown if it never saved any.
struct ReadsToday(Option<kluis_store::DayReads>);

impl ReadsToday {
    fn read(vault: &Vault, now: i64) -> Result<Self> {
        match vault.day_reads(budget::day_of(now)) {
            Ok(reads) => Ok(Self(reads)),
            // Only the counts are unreadable; the grants are still worth listing.
            Err(StoreError::Tampered(why)) => {
                eprintln!("kluis: {why}; today's reads are unknown");
                Ok(Self(None))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn get(&self, id: &GrantId) -> Option<u64> {
        let reads = self.0.as_ref()?;
        Some(reads.grants.get(id).map_or(0, |d| d.reads))
    }

    fn text(&self, id: &GrantId) -> String {
        self.get(id)
            .map_or_else(|| "?".to_owned(), |n| n.to_string())
    }
}

fn show(global: &Global, id: &str, json: bool) -> Result<()> {
    let id = GrantId::parse(id)?;
    let now = unix_now();
    let vault = open(global)?;
    let grant = vault.grant(&id)?;
    let read_budget = set_budget_of(&vault, &id)?;
    let today = ReadsToday::read(&vault, now)?;
    if json {
        let mut out = grant_json(&grant, now, read_budget);
        out["reads_today"] = json!(today.get(&id));
        print_json(&out);
        return Ok(());
    }
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let rows = [
        ("id", grant.id.to_string()),
        ("business", grant.audience.to_string()),
        ("status", status_text(grant.status(now)).to_owned()),
        ("fields", fields_cell(&grant.fields)),
        ("contact", right_text(grant.contact.as_ref())),
        ("record", record_text(grant.append_record).to_owned()),
        ("purpose", grant.purpose.clone()),
        ("category", optional(grant.purpose_category.clone())),
        ("subject", grant.subject.clone()),
        ("issued", rfc3339(grant.issued_at)),
        ("expires", rfc3339(grant.expires_at)),
        ("revoked", optional(grant.revoked_at.map(rfc3339))),
        ("signed by", grant.kid.clone()),
        ("bound to key", optional(grant.key_thumbprint.clone())),
        ("read budget", budget::describe(read_budget)),
        (
            "reads today",
            today.get(&id).map_or_else(
                || "unknown (the server has not counted any yet)".to_owned(),
                |n| n.to_string(),
            ),
        ),
    ];
    for (name, value) in rows {
        println!("{:<14}{}", format!("{name}:"), one_line(&value));
    }
    Ok(())
}

fn revoke(global: &Global, id: &str, json: bool) -> Result<()> {
    let id = GrantId::parse(id)?;
    let vault = open(global)?;
    let (grant, revoked_now) = vault.owner(Via::Cli).revoke_grant(&id)?;
    let now = unix_now();
    if json {
        let mut out = grant_json(&grant, now, set_budget_of(&vault, &id)?);
        out["already_revoked"] = Value::Bool(!revoked_now);
        print_json(&out);
    } else if revoked_now {
        println!("revoked grant {id} ({})", grant.audience);
    } else {
        let at = grant.revoked_at.map(rfc3339).unwrap_or_default();
        println!(
            "grant {id} ({}) was already revoked at {at}",
            grant.audience
        );
    }
    Ok(())
}

fn narrow(global: &Global, id: &str, keep: &[String], json: bool) -> Result<()> {
    let id = GrantId::parse(id)?;
    let keep = keep
        .iter()
        .map(|text| parse_field(text))
        .collect::<Result<Vec<_>>>()?;
    let vault = open(global)?;
    let grant = vault.owner(Via::Cli).narrow_grant(&id, keep)?;
    if json {
        print_json(&grant_json(&grant, unix_now(), set_budget_of(&vault, &id)?));
    } else {
        println!(
            "grant {id} ({}) now covers {} only; its token stays the same",
            grant.audience,
            fields_text(&grant.fields)
        );
    }
    Ok(())
}

fn set_budget(global: &Global, args: GrantBudgetArgs) -> Result<()> {
    // Checked before the vault is unlocked, so bad input never needs a passphrase.
    let id = GrantId::parse(&args.id)?;
    let read_budget = match &args.reads_per_day {
        Some(text) => budget::parse(text)?,
        None => None,
    };
    let vault = open(global)?;
    let (grant, changed) = vault.owner(Via::Cli).set_read_budget(&id, read_budget)?;
    if args.json {
        let mut out = grant_json(&grant, unix_now(), read_budget);
        out["changed"] = Value::Bool(changed);
        print_json(&out);
    } else if changed {
        println!(
            "grant {id} ({}) may now read {}; it applies to the next read",
            grant.audience,
            budget::describe(read_budget)
        );
    } else {
        println!(
            "grant {id} ({}) already has a read budget of {}; nothing changed",
            grant.audience,
            budget::describe(read_budget)
        );
    }
    Ok(())
}

/// The read budget the owner set on a grant (`None`: the default).
fn set_budget_of(vault: &Vault, id: &GrantId) -> Result<Option<u32>> {
    Ok(vault
        .grant_state(id.as_str())?
        .and_then(|state| state.read_budget))
}

/// One `--fields` entry. A space after a comma belongs to the separator: a pointer starts with '/'.
pub(crate) fn parse_field(text: &str) -> Result<Pointer> {
    let text = text.trim_start();
    if text.is_empty() {
        return Err(kluis_core::Error::invalid("--fields has an empty entry").into());
    }
    Ok(Pointer::parse(text)?)
}

/// A grant as `--json` prints it: every key present, `null` when absent; times in Unix seconds.
/// `read_budget` is the owner's (`None`: the default).
pub(crate) fn grant_json(grant: &Grant, now: i64, read_budget: Option<u32>) -> Value {
    json!({
        "id": grant.id,
        "audience": grant.audience,
        "subject": grant.subject,
        "fields": grant.fields,
        "contact": grant.contact,
        "append_record": grant.append_record,
        "purpose": grant.purpose,
        "purpose_category": grant.purpose_category,
        "issued_at": grant.issued_at,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
        "status": grant.status(now),
        "kid": grant.kid,
        "key_thumbprint": grant.key_thumbprint,
        "read_budget": budget::effective(read_budget),
        "read_budget_is_default": read_budget.is_none(),
    })
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Revoked => "revoked",
        Status::Expired => "expired",
    }
}

pub(crate) fn fields_text(fields: &[Pointer]) -> String {
    kluis_core::pointer::join(fields, ",")
}

/// [`fields_text`] for a table cell: `-` for none (a contact-only grant or request).
pub(crate) fn fields_cell(fields: &[Pointer]) -> String {
    if fields.is_empty() {
        "-".to_owned()
    } else {
        fields_text(fields)
    }
}

/// The contact right given by `--contact-channel` and `--contact-topic`, checked; `None` when
/// neither flag is given.
pub(crate) fn contact_right(args: &ContactArgs) -> Result<Option<ContactRight>> {
    if args.contact_channels.is_empty() && args.contact_topics.is_empty() {
        return Ok(None);
    }
    let right = ContactRight {
        channels: args.contact_channels.clone(),
        topics: args.contact_topics.clone(),
    }
    .validated()?;
    Ok(Some(right))
}

/// A contact right in one cell: `email,inbox about news,orders`, or `-` for none.
pub(crate) fn right_text(right: Option<&ContactRight>) -> String {
    right.map_or_else(
        || "-".to_owned(),
        |r| format!("{} about {}", r.channels.join(","), r.topics.join(",")),
    )
}

/// Whether a grant or request has the right to add to the business's record of the owner, for a
/// RECORD cell: `may add` or `-`.
pub(crate) fn record_text(append_record: bool) -> &'static str {
    if append_record { "may add" } else { "-" }
}

/// What a grant gives, in words: read access to its fields, a contact right, the right to add
/// to its record, or several of these.
pub(crate) fn granted_text(grant: &Grant) -> String {
    let read = (!grant.fields.is_empty())
        .then(|| format!("read access to {}", fields_text(&grant.fields)));
    let contact = grant
        .contact
        .as_ref()
        .map(|r| format!("the right to contact you by {}", right_text(Some(r))));
    let record = grant.append_record.then(|| {
        "the right to add documents, promises and interactions to its record of you".to_owned()
    });
    [read, contact, record]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Unix seconds as RFC 3339 in UTC, e.g. `2025-06-01T12:00:00Z`.
pub(crate) fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Unix milliseconds as RFC 3339 in UTC with exactly three decimals, e.g.
/// `2025-06-01T12:00:00.250Z` (the well-known format drops trailing zeros, so columns would wobble).
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms.rem_euclid(1000)
    )
}

/// Control characters (a newline in a purpose, an escape sequence) would break the layout or
/// drive the terminal; they print as spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Prints `rows` under `header`, each column as wide as its widest cell; the last is not padded.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = std::iter::once(&header)
        .chain(rows)
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        println!("{}", line.trim_end());
    }
}
