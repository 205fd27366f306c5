//! `kluis notifications`: which businesses were told of which change, and how each delivery
//! went (from the store's owner view, [`kluis_store::NotificationsView`]); `kluis notifications
//! replay` sends the dead ones again, for `kluis serve` to deliver.

use anyhow::Result;
use kluis_core::notify::is_subscription_id;
use kluis_core::request::RequestId;
use kluis_store::{Deliveries, HaltedStream, Standing, StreamStatus, ToldEvent, Via};
use serde_json::{Value, json};

use crate::args::{Global, NotificationsArgs, NotificationsCommand};
use crate::document::print_json;
use crate::grants::{fields_text, print_table, rfc3339, rfc3339_ms};
use crate::{open, vault_dir};

pub fn run(global: &Global, args: NotificationsArgs) -> Result<()> {
    match args.command {
        Some(NotificationsCommand::Replay {
            subscription, json, ..
        }) => replay(global, subscription, json),
        None => list(global, args.limit, args.json),
    }
}

fn list(global: &Global, limit: usize, json: bool) -> Result<()> {
    if limit == 0 {
        return Err(kluis_core::Error::invalid("--limit must be at least 1").into());
    }
    let vault = open(global)?;
    let deliveries = Deliveries::open(&vault_dir(global)?)?;
    let view = vault.notifications(&deliveries, limit)?;
    if json {
        print_json(&json!({
            "changes": view.changes.iter().map(|c| json!({
                "change_id": c.change_id,
                "created_at": c.created_at,
                "time": rfc3339(c.created_at),
                "events": c.events.iter().map(event_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "more": view.more,
            "halted": view.halted.iter().map(halted_json).collect::<Vec<_>>(),
        }));
        more_hint(view.more, limit);
        return Ok(());
    }
    if view.changes.is_empty() && view.halted.is_empty() {
        eprintln!("no business has been sent a notification yet");
        return Ok(());
    }
    let mut rows = Vec::new();
    for change in &view.changes {
        for (i, e) in change.events.iter().enumerate() {
            // The change and its time head its first line only.
            let (id, time) = if i == 0 {
                (change.change_id.clone(), rfc3339(change.created_at))
            } else {
                (String::new(), String::new())
            };
            rows.push(vec![
                id,
                time,
                business_text(e.business.as_ref()),
                e.kind.as_str().to_owned(),
                fields_cell(e),
                e.stream.clone(),
                state_text(e),
            ]);
        }
    }
    if !rows.is_empty() {
        print_table(
            &[
                "CHANGE", "TIME", "BUSINESS", "EVENT", "FIELDS", "STREAM", "STATE",
            ],
            &rows,
        );
    }
    if !view.halted.is_empty() {
        if !rows.is_empty() {
            println!();
        }
        let rows: Vec<Vec<String>> = view
            .halted
            .iter()
            .map(|h| {
                vec![
                    h.stream.clone(),
                    h.status.state.as_str().to_owned(),
                    business_text(h.business.as_ref()),
                    rfc3339_ms(h.status.since_ms),
                    h.dead.to_string(),
                    h.status.reason.clone(),
                ]
            })
            .collect();
        print_table(
            &["STOPPED", "STATE", "BUSINESS", "SINCE", "DEAD", "REASON"],
            &rows,
        );
        if view
            .halted
            .iter()
            .any(|h| h.status.state == kluis_store::StreamState::Paused)
        {
            eprintln!(
                "a paused stream sends nothing until its failed notifications are sent again: \
                 kluis notifications replay --subscription ID (or --all)"
            );
        }
    }
    more_hint(view.more, limit);
    Ok(())
}

/// On stderr, so the listing on stdout stays clean for scripts.
fn more_hint(more: bool, limit: usize) {
    if more {
        eprintln!("older changes are not shown: raise --limit (now {limit})");
    }
}

fn replay(global: &Global, subscription: Option<String>, json: bool) -> Result<()> {
    // Checked before unlocking, so bad input never needs a passphrase.
    if let Some(id) = &subscription
        && !is_subscription_id(id)
        && RequestId::parse(id).is_err()
    {
        return Err(kluis_core::Error::invalid(format!(
            "--subscription {id:?} is neither a subscription id (sub_…) nor a request id (r_…)"
        ))
        .into());
    }
    let vault = open(global)?;
    let mut deliveries = Deliveries::open(&vault_dir(global)?)?;
    let replayed = vault
        .owner(Via::Cli)
        .replay_dead(&mut deliveries, subscription.as_deref())?;
    if json {
        print_json(&json!({ "replayed": replayed, "subscription": subscription }));
        return Ok(());
    }
    let of = subscription
        .as_deref()
        .map(|s| format!(" of {s}"))
        .unwrap_or_default();
    match replayed {
        0 => println!("no failed notifications{of} to send again"),
        1 => println!("1 notification{of} will be sent again by kluis serve"),
        n => println!("{n} notifications{of} will be sent again by kluis serve"),
    }
    if replayed > 0 {
        eprintln!("a running kluis serve sends them at once; otherwise they go when it starts");
    }
    Ok(())
}

fn business_text(business: Option<&kluis_core::grant::BusinessId>) -> String {
    business.map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The pointers an event names, and whether it carried their new values.
fn fields_cell(e: &ToldEvent) -> String {
    match (fields_text(&e.fields), e.full) {
        (f, _) if f.is_empty() => "-".to_owned(),
        (f, true) => format!("{f} (with values)"),
        (f, false) => f,
    }
}

/// A subscription's stream, or a request's callback.
fn stream_noun(stream: &str) -> &'static str {
    if stream.starts_with("r_") {
        "callback"
    } else {
        "subscription"
    }
}

/// How an event's delivery stands, in words, and whether its stream stopped.
fn state_text(e: &ToldEvent) -> String {
    let or_dash = |text: &Option<String>| text.clone().unwrap_or_else(|| "-".to_owned());
    let at = |ms: &Option<i64>| ms.map(rfc3339_ms).unwrap_or_else(|| "-".to_owned());
    let mut text = match &e.standing {
        Standing::NotTried { again: false } => "not tried yet".to_owned(),
        Standing::NotTried { again: true } => "to be sent again (not tried since)".to_owned(),
        Standing::Retrying {
            attempts,
            next_at_ms,
            last_result,
        } => format!(
            "retrying: {attempts} failed {}, next at {}, last: {}",
            if *attempts == 1 {
                "attempt"
            } else {
                "attempts"
            },
            at(next_at_ms),
            or_dash(last_result)
        ),
        Standing::Delivered { at_ms, .. } => format!("delivered {}", at(at_ms)),
        Standing::Dead {
            attempts,
            last_result,
            ..
        } => format!(
            "dead after {attempts} attempts, last: {}",
            or_dash(last_result)
        ),
        Standing::Cancelled { reason, .. } => match reason {
            Some(reason) => format!("cancelled: {reason}"),
            None => "cancelled".to_owned(),
        },
    };
    if let Some(halted) = &e.halted {
        text.push_str(&format!(
            "; {} {}",
            stream_noun(&e.stream),
            halted.state.as_str()
        ));
    }
    text
}

/// An event as `--json` prints it: every key present, `null` when absent; times in Unix
/// milliseconds.
fn event_json(e: &ToldEvent) -> Value {
    let mut delivery = json!({
        "state": e.standing.as_str(),
        "attempts": 0,
        "at_ms": null,
        "next_attempt_ms": null,
        "last_result": null,
        "reason": null,
        "sent_again": false,
    });
    match &e.standing {
        Standing::NotTried { again } => delivery["sent_again"] = json!(again),
        Standing::Retrying {
            attempts,
            next_at_ms,
            last_result,
        } => {
            delivery["attempts"] = json!(attempts);
            delivery["next_attempt_ms"] = json!(next_at_ms);
            delivery["last_result"] = json!(last_result);
        }
        Standing::Delivered { at_ms, attempts } => {
            delivery["attempts"] = json!(attempts);
            delivery["at_ms"] = json!(at_ms);
        }
        Standing::Dead {
            attempts,
            at_ms,
            last_result,
        } => {
            delivery["attempts"] = json!(attempts);
            delivery["at_ms"] = json!(at_ms);
            delivery["last_result"] = json!(last_result);
        }
        Standing::Cancelled { at_ms, reason } => {
            delivery["at_ms"] = json!(at_ms);
            delivery["reason"] = json!(reason);
        }
    }
    json!({
        "id": e.id,
        "seq": e.seq,
        "type": e.kind.as_str(),
        "business": e.business,
        "stream": e.stream,
        "grant_id": e.grant_id,
        "purpose": e.purpose,
        "fields": e.fields,
        "with_values": e.full,
        "callback_url": e.callback_url,
        "delivery": delivery,
        "halted": e.halted.as_ref().map(status_json),
    })
}

fn status_json(s: &StreamStatus) -> Value {
    json!({ "state": s.state.as_str(), "since_ms": s.since_ms, "reason": s.reason })
}

fn halted_json(h: &HaltedStream) -> Value {
    let mut out = status_json(&h.status);
    out["stream"] = json!(h.stream);
    out["business"] = json!(h.business);
    out["dead"] = json!(h.dead);
    out
}
