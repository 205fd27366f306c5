//! `kluis notifications` and `kluis notifications replay` through the real binary: a grant and
//! a subscription made through the store (as the server would make them), a change by `kluis
//! set`, and delivery records written into `deliveries.db` as the dispatcher writes them.

mod common;

use std::path::Path;

use kluis_core::grant::GrantId;
use kluis_core::notify::{NewSubscription, Payload};
use kluis_store::{Deliveries, Delivery, DeliveryState, StreamState, StreamStatus, unix_now};
use serde_json::{Value, json};

use common::{fresh, json_of, kluis, ok, vault};

/// A grant for shop.example to the e-mail and a `full` subscription of it; returns its id.
fn subscribed(d: &Path) -> String {
    ok(d, &["set", "/profile/email", "ann@old.example"]);
    let grant = json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "shop.example",
            "--fields",
            "/profile/email",
            "--purpose",
            "order delivery",
            "--json",
        ],
    ));
    let grant = GrantId::parse(grant["id"].as_str().unwrap()).unwrap();
    vault(d)
        .create_subscription(
            &grant,
            NewSubscription {
                url: "https://shop.example/hooks".into(),
                payload: Payload::Full,
            },
            unix_now(),
        )
        .unwrap()
        .id
}

fn listed(d: &Path) -> Value {
    json_of(&ok(d, &["notifications", "--json"]))
}

#[test]
fn a_change_is_listed_with_who_was_told_and_not_its_value() {
    let dir = fresh();
    let d = dir.path();
    assert_eq!(
        listed(d),
        json!({"changes": [], "more": false, "halted": []})
    );
    let out = kluis(d, &["notifications"]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no business has been sent"));

    let sub = subscribed(d);
    ok(d, &["set", "/profile/email", "ann@secret.example"]);
    let table = ok(d, &["notifications"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for needle in [
        "CHANGE", "TIME", "BUSINESS", "EVENT", "FIELDS", "STREAM", "STATE",
    ] {
        assert!(lines[0].contains(needle), "{needle}: {table}");
    }
    for needle in [
        "chg_",
        "shop.example",
        "field.changed",
        "/profile/email (with values)",
        sub.as_str(),
        "not tried yet",
    ] {
        assert!(lines[1].contains(needle), "{needle:?} not in {table}");
    }
    assert!(!table.contains("ann@secret.example"), "never a value");

    let view = listed(d);
    assert_eq!(view["more"], false);
    assert_eq!(view["halted"], json!([]));
    let change = &view["changes"][0];
    assert!(change["change_id"].as_str().unwrap().starts_with("chg_"));
    assert!(change["time"].as_str().unwrap().ends_with('Z'));
    let event = &change["events"][0];
    assert!(event["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(event["type"], "field.changed");
    assert_eq!(event["business"], "shop.example");
    assert_eq!(event["stream"], sub.as_str());
    assert_eq!(event["fields"], json!(["/profile/email"]));
    assert_eq!(event["with_values"], true);
    assert_eq!(event["purpose"], "order delivery");
    assert_eq!(event["halted"], Value::Null);
    assert_eq!(
        event["delivery"],
        json!({"state": "not_tried", "attempts": 0, "at_ms": null, "next_attempt_ms": null,
               "last_result": null, "reason": null, "sent_again": false})
    );
    assert!(!view.to_string().contains("ann@secret.example"));

    // --limit counts changes.
    ok(d, &["set", "/profile/email", "ann@third.example"]);
    let one = json_of(&ok(d, &["notifications", "--limit", "1", "--json"]));
    assert_eq!(one["changes"].as_array().unwrap().len(), 1);
    assert_eq!(one["more"], true);
    assert_eq!(listed(d)["changes"].as_array().unwrap().len(), 2);
    let out = kluis(d, &["notifications", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn replay_sends_a_dead_notification_again() {
    let dir = fresh();
    let d = dir.path();
    let sub = subscribed(d);
    ok(d, &["set", "/profile/email", "ann@new.example"]);
    let seq = listed(d)["changes"][0]["events"][0]["seq"]
        .as_i64()
        .unwrap();
    let mut dead = Delivery::untried(seq);
    dead.state = DeliveryState::Dead;
    dead.attempts = 10;
    dead.last_at_ms = Some(1_800_000_000_000);
    dead.done_at_ms = Some(1_800_000_000_000);
    dead.last_result = Some("answered 500 Internal Server Error".into());
    let paused = StreamStatus {
        state: StreamState::Paused,
        since_ms: 1_800_000_000_000,
        reason: "event msg_x failed every attempt".into(),
    };
    Deliveries::open(d)
        .unwrap()
        .write(&[dead], &[(sub.clone(), Some(paused))])
        .unwrap();

    let out = kluis(d, &["notifications"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains(
            "dead after 10 attempts, last: answered 500 Internal Server Error; subscription paused"
        ),
        "{table}"
    );
    let stopped = table.lines().find(|l| l.starts_with(&sub)).expect(&table);
    for needle in [
        "paused",
        "shop.example",
        "2027-01-15T08:00:00.000Z",
        "event msg_x failed every attempt",
    ] {
        assert!(stopped.contains(needle), "{needle:?} not in {stopped}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("kluis notifications replay"));
    let view = listed(d);
    assert_eq!(view["changes"][0]["events"][0]["delivery"]["state"], "dead");
    assert_eq!(view["changes"][0]["events"][0]["delivery"]["attempts"], 10);
    assert_eq!(view["changes"][0]["events"][0]["halted"]["state"], "paused");
    assert_eq!(
        view["halted"],
        json!([{"stream": sub, "state": "paused", "since_ms": 1_800_000_000_000i64,
                "reason": "event msg_x failed every attempt", "business": "shop.example",
                "dead": 1}])
    );

    // Bad input is refused before anything changes.
    let out = kluis(d, &["notifications", "replay"]);
    assert_eq!(out.status.code(), Some(2), "--subscription or --all");
    let out = kluis(d, &["notifications", "replay", "--subscription", "g_nope"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a subscription id"));
    let other = format!("sub_{}", "a".repeat(26));
    assert_eq!(
        ok(d, &["notifications", "replay", "--subscription", &other]),
        format!("no failed notifications of {other} to send again\n")
    );
    assert_eq!(
        listed(d)["changes"][0]["events"][0]["delivery"]["state"],
        "dead"
    );

    assert_eq!(
        ok(d, &["notifications", "replay", "--subscription", &sub]),
        format!("1 notification of {sub} will be sent again by kluis serve\n")
    );
    let view = listed(d);
    let event = &view["changes"][0]["events"][0];
    assert_eq!(event["delivery"]["state"], "not_tried");
    assert_eq!(event["delivery"]["sent_again"], true);
    assert_eq!(event["halted"], Value::Null);
    assert_eq!(view["halted"], json!([]));
    assert!(ok(d, &["notifications"]).contains("to be sent again"));
    assert_eq!(
        json_of(&ok(d, &["notifications", "replay", "--all", "--json"])),
        json!({"replayed": 0, "subscription": null})
    );

    let log = json_of(&ok(d, &["log", "--json"]));
    let replays: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "delivery_replay")
        .collect();
    assert_eq!(
        replays.len(),
        1,
        "only a replay that sent something is logged"
    );
    assert_eq!(replays[0]["actor"], "owner_cli");
}
