//! How `kluis rel` prints a record, as text and as JSON.

use kluis_core::access::Action;
use kluis_core::relationship::{Author, Date, Entry, Item, PromiseStatus, Standing};
use kluis_store::{Observed, TimelineItem};
use serde_json::{Value, json};

use crate::grants::rfc3339_ms;
use crate::inbox::shown;

fn status_word(status: PromiseStatus) -> &'static str {
    match status {
        PromiseStatus::Open => "open",
        PromiseStatus::Kept => "kept",
        PromiseStatus::Broken => "broken",
        PromiseStatus::Withdrawn => "withdrawn",
    }
}

/// The soonest notice deadline from today.
fn next_notice(s: &Standing, today: Date) -> Option<Date> {
    s.next_notice(today).map(|(day, _)| day)
}

pub fn standing_row(s: &Standing, today: Date) -> Vec<String> {
    let open = s
        .promises
        .iter()
        .filter(|p| p.value.status == PromiseStatus::Open)
        .count();
    vec![
        s.business.to_string(),
        s.entries.to_string(),
        open.to_string(),
        s.overdue(today).count().to_string(),
        next_notice(s, today).map_or("-".into(), |d| d.to_string()),
        s.satisfaction
            .map_or("-".into(), |(score, on)| format!("{score}/5 ({on})")),
    ]
}

pub fn standing_json(s: &Standing, today: Date) -> Value {
    let promises: Vec<Value> = s
        .promises
        .iter()
        .map(|p| {
            json!({
                "entry": p.entry,
                "what": p.value.what,
                "due_on": p.value.due_on,
                "status": p.value.status,
                "recorded_by": p.value.recorded_by,
                "overdue": p.value.is_overdue(today),
            })
        })
        .collect();
    let contracts: Vec<Value> = s
        .contracts
        .iter()
        .map(|c| {
            let notice = c.value.next_notice(today);
            json!({
                "entry": c.entry,
                "contract": c.value,
                "next_end": c.value.next_end(today),
                "last_notice_day": notice.map(|(day, _)| day),
                "notice_for_end": notice.map(|(_, end)| end),
            })
        })
        .collect();
    json!({
        "business": s.business,
        "entries": s.entries,
        "promises": promises,
        "contracts": contracts,
        "satisfaction": s.satisfaction.map(|(score, on)| json!({"score": score, "on": on})),
        "overdue": s.overdue(today).count(),
        "next_notice_deadline": next_notice(s, today),
    })
}

pub fn timeline_json(item: &TimelineItem) -> Value {
    match item {
        TimelineItem::Entry(e) => json!({"type": "entry", "day": e.day(), "entry": e}),
        TimelineItem::Observed(o) => {
            let day = o.day();
            match o {
                Observed::Reads { count, .. } => {
                    json!({"type": "reads", "day": day, "count": count})
                }
                Observed::Logged(entry) => json!({
                    "type": "log", "day": day, "log": crate::log::entry_json(entry),
                }),
                Observed::Asked {
                    at_ms,
                    request,
                    purpose,
                } => json!({
                    "type": "request", "day": day, "at_ms": at_ms, "request": request,
                    "purpose": purpose,
                }),
            }
        }
    }
}

fn author(a: &Author) -> String {
    match a {
        Author::Owner => "you".into(),
        Author::Business {
            grant,
            request_sha256,
            jkt,
        } => match jkt {
            Some(jkt) => {
                format!("the business (grant {grant}, key {jkt}, request sha256 {request_sha256})")
            }
            None => format!("the business (grant {grant}, request sha256 {request_sha256})"),
        },
    }
}

/// One line for an entry.
pub fn entry_line(e: &Entry) -> String {
    let what = match &e.item {
        Item::Contract { contract } => format!("contract: {}", shown(&contract.what)),
        Item::Promise { what, due_on } => format!("promise: {} (by {due_on})", shown(what)),
        Item::Interaction {
            channel, summary, ..
        } => format!("{}: {}", shown(channel), shown(summary)),
        Item::Document {
            title, attachment, ..
        } => match attachment {
            Some(a) => format!(
                "document: {} with {} ({} bytes)",
                shown(title),
                shown(&a.name),
                a.size
            ),
            None => format!("document: {}", shown(title)),
        },
        Item::Satisfaction { score, comment, .. } => match comment {
            Some(c) => format!("score {score}/5: {}", shown(c)),
            None => format!("score {score}/5"),
        },
        Item::Note { text } => format!("note: {}", shown(text)),
        Item::Settled { promise, status } => {
            format!("promise {promise} marked {}", status_word(*status))
        }
    };
    format!("{what}  [{} · by {}]", e.id, author(&e.author))
}

/// One line for what the vault saw.
fn observed_line(o: &Observed) -> String {
    match o {
        Observed::Reads { count, .. } => {
            format!(
                "read your data {count} time{}",
                if *count == 1 { "" } else { "s" }
            )
        }
        Observed::Asked {
            purpose, request, ..
        } => {
            format!("asked for access: {} [{request}]", shown(purpose))
        }
        Observed::Logged(entry) => {
            let r = &entry.record;
            let what = match r.action {
                Action::GrantCreate => "you gave it a grant",
                Action::GrantRevoke => "you revoked a grant",
                Action::GrantNarrow => "you narrowed a grant",
                Action::GrantBudget => "you set a grant's read budget",
                Action::RequestApprove => "you approved its request",
                Action::RequestDeny => "you denied its request",
                Action::Notified => "it was told of a change",
                Action::SubscriptionCreate => "it subscribed to changes",
                Action::SubscriptionDelete => "it ended a subscription",
                Action::InboxDeliver => "it left a message in your inbox",
                Action::InboxReply => "you answered its message",
                Action::TopicBlock => "you blocked a topic",
                Action::TopicUnblock => "you allowed a topic again",
                Action::RelationshipAppend => "it added to its record",
                other => other.as_str(),
            };
            let time = rfc3339_ms(r.at_ms);
            match (&r.purpose, &r.contact) {
                (_, Some(c)) => format!("{what} about {:?} ({time})", shown(&c.topic)),
                (Some(p), None) => format!("{what}, for {:?} ({time})", shown(p)),
                (None, None) => format!("{what} ({time})"),
            }
        }
    }
}

pub fn print_record(s: &Standing, timeline: &[TimelineItem], today: Date) {
    println!("{}", s.business);
    if !s.contracts.is_empty() {
        println!("\ncontracts:");
        for c in &s.contracts {
            let mut line = format!("  {} from {}", shown(&c.value.what), c.value.starts_on);
            if let Some(end) = c.value.next_end(today) {
                let verb = if c.value.renews { "renews" } else { "ends" };
                line.push_str(&format!(", {verb} {end}"));
            }
            if let (Some(n), Some((day, end))) = (c.value.notice, c.value.next_notice(today)) {
                line.push_str(&format!(", {n} notice: give notice by {day} (for {end})"));
            }
            println!("{line}  [{}]", c.entry);
        }
    }
    if !s.promises.is_empty() {
        println!("\npromises:");
        for p in &s.promises {
            let overdue = if p.value.is_overdue(today) {
                "  OVERDUE"
            } else {
                ""
            };
            println!(
                "  {} by {}: {}{overdue}  [{}]",
                shown(&p.value.what),
                p.value.due_on,
                status_word(p.value.status),
                p.entry
            );
        }
    }
    if let Some((score, on)) = s.satisfaction {
        println!("\nyour score: {score}/5 on {on}");
    }
    println!("\ntimeline (newest first):");
    if timeline.is_empty() {
        println!("  nothing yet");
    }
    for item in timeline {
        let line = match item {
            TimelineItem::Entry(e) => entry_line(e),
            TimelineItem::Observed(o) => observed_line(o),
        };
        println!("  {}  {line}", item.day());
    }
}
