//! `kluis contact report`: per business, how often it tried to reach the owner and how often
//! that was refused against the owner's wishes, by reason (from the access log).

use anyhow::Result;
use kluis_store::{BusinessContacts, REASONS, unix_now_ms};
use serde_json::{Map, Value, json};

use crate::args::{ContactCommand, Global};
use crate::document::print_json;
use crate::grants::{print_table, rfc3339_ms};
use crate::open;
use crate::when::parse_time;

pub fn run(global: &Global, command: ContactCommand) -> Result<()> {
    match command {
        ContactCommand::Report { since, json } => report(global, since.as_deref(), json),
    }
}

fn report(global: &Global, since: Option<&str>, json: bool) -> Result<()> {
    // Checked before unlocking, so bad input never needs a passphrase.
    let since_ms = since
        .map(|text| parse_time("--since", text, unix_now_ms()))
        .transpose()?;
    let report = open(global)?.contact_report(since_ms)?;
    if json {
        print_json(&Value::Array(
            report.businesses.iter().map(business_json).collect(),
        ));
        return Ok(());
    }
    if report.businesses.is_empty() {
        match since {
            Some(since) => eprintln!("no business tried to contact you since {since}"),
            None => eprintln!("no business has tried to contact you"),
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = report
        .businesses
        .iter()
        .map(|b| {
            vec![
                b.business.to_string(),
                b.attempts().to_string(),
                b.allowed.to_string(),
                b.against_wishes().to_string(),
                reasons_text(b),
                b.refused_other.to_string(),
                rfc3339_ms(b.last_attempt_ms),
            ]
        })
        .collect();
    print_table(
        &[
            "BUSINESS",
            "ATTEMPTS",
            "ALLOWED",
            "AGAINST YOUR WISHES",
            "REASONS",
            "OTHER REFUSED",
            "LAST ATTEMPT",
        ],
        &rows,
    );
    Ok(())
}

/// The reasons in words, e.g. `2 × cap reached, 1 × outside its right`; `-` for none.
fn reasons_text(b: &BusinessContacts) -> String {
    let parts: Vec<String> = b
        .refused_by_reason()
        .map(|(reason, n)| format!("{n} × {}", reason_words(reason)))
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(", ")
    }
}

fn reason_words(reason: kluis_core::contact::Reason) -> &'static str {
    use kluis_core::contact::Reason;
    match reason {
        Reason::NoContactRight => "outside its right",
        Reason::DoNotContact => "do not contact",
        Reason::ChannelOff => "channel off",
        Reason::TopicBlocked => "topic blocked",
        Reason::TopicNotChosen => "topic not chosen",
        Reason::CapReached => "cap reached",
        Reason::QuietHours => "quiet hours",
    }
}

/// One business as `--json` prints it: every reason present, 0 when it never happened.
fn business_json(b: &BusinessContacts) -> Value {
    let refused: Map<String, Value> = REASONS
        .iter()
        .zip(b.refused)
        .map(|(r, n)| (r.as_str().to_owned(), json!(n)))
        .collect();
    json!({
        "business": b.business,
        "attempts": b.attempts(),
        "allowed": b.allowed,
        "against_wishes": b.against_wishes(),
        "refused": refused,
        "refused_other": b.refused_other,
        "last_attempt_ms": b.last_attempt_ms,
    })
}
