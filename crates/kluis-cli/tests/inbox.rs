//! `kluis inbox` through the real binary: messages put in with the store's `deliver` (as the
//! grant API would), then listed, read, archived, answered and blocked with the command.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::inbox::{InboxPost, MessageId, message_sha256};
use kluis_core::notify::{EventType, NewSubscription, Payload};
use kluis_store::{NewMessage, unix_now};
use serde_json::{Value, json};

use common::{fresh, json_of, kluis, kluis_cmd, ok, vault};

/// A grant for `business` (to the e-mail) made with the command; returns its id.
fn grant(d: &Path, business: &str) -> GrantId {
    ok(d, &["set", "/profile/email", "ann@example.com"]);
    let out = json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            business,
            "--fields",
            "/profile/email",
            "--purpose",
            "order updates",
            "--json",
        ],
    ));
    GrantId::parse(out["id"].as_str().unwrap()).unwrap()
}

fn subscribe(d: &Path, grant: &GrantId) -> String {
    vault(d)
        .create_subscription(
            grant,
            NewSubscription {
                url: "https://shop.example/hooks".into(),
                payload: Payload::Thin,
            },
            unix_now(),
        )
        .unwrap()
        .id
}

/// Delivers one message from `business` with `grant`, `n` making its id; returns the id.
fn deliver(d: &Path, grant: &GrantId, business: &str, n: u8, subject: &str, body: &str) -> String {
    let post = InboxPost {
        topic: if n.is_multiple_of(2) {
            "orders"
        } else {
            "offers"
        }
        .into(),
        subject: subject.into(),
        body: body.into(),
        in_reply_to: None,
    };
    let id = MessageId::from_random([n; 16]);
    let v = vault(d);
    v.open_inbox()
        .unwrap()
        .deliver(&[NewMessage {
            id: id.clone(),
            at_ms: unix_now() * 1000 + i64::from(n),
            grant: grant.clone(),
            business: BusinessId::parse(business).unwrap(),
            sha256: message_sha256(&post),
            post,
        }])
        .unwrap();
    id.to_string()
}

fn listed(d: &Path, args: &[&str]) -> Value {
    let mut all = vec!["inbox", "list", "--json"];
    all.extend_from_slice(args);
    json_of(&ok(d, &all))
}

fn ids(list: &Value) -> Vec<String> {
    list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn fails(d: &Path, args: &[&str]) -> (i32, String) {
    let out = kluis(d, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_inbox_lists_newest_first_and_reads_archives_and_filters() {
    let dir = fresh();
    let d = dir.path();
    let out = kluis(d, &["inbox"]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no messages in your inbox"));

    let shop = grant(d, "shop.example");
    let a = deliver(d, &shop, "shop.example", 2, "Shipped", "Your parcel left.");
    let b = deliver(d, &shop, "shop.example", 3, "Sale <b>now</b>", "50% off");
    assert_eq!(ids(&listed(d, &[])), [b.clone(), a.clone()]);
    assert_eq!(listed(d, &[])["unread"], 2);

    let table = ok(d, &["inbox"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for needle in ["ID", "RECEIVED", "FROM", "TOPIC", "SUBJECT", "STATE"] {
        assert!(lines[0].contains(needle), "{needle}: {table}");
    }
    assert!(
        lines[1].contains(&b) && lines[1].contains("Sale <b>now</b>"),
        "{table}"
    );
    assert!(
        lines[2].contains("shop.example") && lines[2].contains("unread"),
        "{table}"
    );

    let text = ok(d, &["inbox", "read", &a]);
    for needle in [
        "From:     shop.example",
        "Subject:  Shipped",
        "Topic:    orders",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(text.contains("\nYour parcel left.\n"), "{text}");
    let listing = listed(d, &["--unread"]);
    assert_eq!(ids(&listing), vec![b.clone()], "reading marked it read");
    assert_eq!(listing["unread"], 1);

    assert_eq!(
        ok(d, &["inbox", "archive", &b]).trim(),
        format!("archived {b}")
    );
    assert_eq!(
        ok(d, &["inbox", "archive", &b]).trim(),
        format!("{b} was archived already")
    );
    assert_eq!(ids(&listed(d, &[])), vec![a.clone()]);
    assert_eq!(ids(&listed(d, &["--archived"])), vec![b.clone()]);
    assert_eq!(ids(&listed(d, &["--all"])), [b.clone(), a.clone()]);
    let first = listed(d, &["--all", "--limit", "1"]);
    assert_eq!(
        (ids(&first), &first["more"]),
        (vec![b.clone()], &json!(true))
    );
    let unarchived = json_of(&ok(d, &["inbox", "unarchive", &b, "--json"]));
    assert_eq!(
        unarchived,
        json!({"id": b, "archived": false, "changed": true})
    );
    let message = json_of(&ok(d, &["inbox", "read", &b, "--json"]));
    assert_eq!(message["body"], "50% off");
    assert_eq!(message["read"], true);
    assert_eq!(message["replies"], json!([]));
    assert_eq!(message["sha256"].as_str().unwrap().len(), 43);
    let (code, _) = fails(d, &["inbox", "list", "--all", "--archived"]);
    assert_eq!(code, 2, "one filter at a time");
}

#[test]
fn what_a_business_wrote_cannot_drive_the_terminal() {
    let dir = fresh();
    let d = dir.path();
    let shop = grant(d, "shop.example");
    // Control characters never get in (the store refuses them); characters that reorder the
    // text do, and are shown escaped as text and kept as they are in JSON.
    let id = deliver(
        d,
        &shop,
        "shop.example",
        4,
        "Invoice\u{202e}fdp.exe",
        "a\u{2066}b\tc",
    );
    let text = ok(d, &["inbox", "read", &id]);
    assert!(text.contains("Invoice\\u{202e}fdp.exe"), "{text}");
    assert!(text.contains("a\\u{2066}b\tc"), "{text}");
    assert!(
        !text.contains('\u{202e}') && !text.contains('\u{2066}'),
        "{text}"
    );
    let table = ok(d, &["inbox"]);
    assert!(table.contains("Invoice\\u{202e}fdp.exe"), "{table}");
    let message = json_of(&ok(d, &["inbox", "read", &id, "--json"]));
    assert_eq!(message["subject"], "Invoice\u{202e}fdp.exe");
}

#[test]
fn a_reply_is_sent_from_text_a_file_or_stdin_to_that_grants_subscription() {
    let dir = fresh();
    let d = dir.path();
    let shop = grant(d, "shop.example");
    let sub = subscribe(d, &shop);
    let id = deliver(d, &shop, "shop.example", 2, "Shipped", "Your parcel left.");

    let sent = json_of(&ok(
        d,
        &["inbox", "reply", &id, "--text", "Thank you!", "--json"],
    ));
    assert_eq!(sent["in_reply_to"], json!(id));
    assert_eq!(sent["business"], "shop.example");
    assert_eq!(sent["subject"], "Re: Shipped");
    let file = d.join("reply.txt");
    std::fs::write(&file, "From a file\nsecond line\n").unwrap();
    let out = ok(
        d,
        &["inbox", "reply", &id, "--file", file.to_str().unwrap()],
    );
    assert!(
        out.starts_with("sent your reply m_") && out.contains("shop.example"),
        "{out}"
    );
    let mut child = kluis_cmd(d)
        .args(["inbox", "reply", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"From stdin\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());

    let events = vault(d).outbox_after(0, 100).unwrap();
    let replies: Vec<Value> = events
        .iter()
        .filter(|e| e.kind == EventType::InboxReply)
        .inspect(|e| assert_eq!(e.stream, sub))
        .map(|e| {
            serde_json::from_slice::<Value>(&e.body).unwrap()["data"]["message"]["body"].clone()
        })
        .collect();
    assert_eq!(
        replies,
        [
            json!("Thank you!"),
            json!("From a file\nsecond line"),
            json!("From stdin")
        ]
    );
    let message = json_of(&ok(d, &["inbox", "read", &id, "--json"]));
    assert_eq!(message["replies"].as_array().unwrap().len(), 3);
    assert_eq!(message["replied"], true);
    let text = ok(d, &["inbox", "read", &id]);
    assert!(
        text.contains("--- your reply m_") && text.contains("\nFrom stdin\n"),
        "{text}"
    );
    let notified = json_of(&ok(d, &["notifications", "--json"]));
    assert_eq!(notified["changes"][0]["events"][0]["type"], "inbox.reply");
    let log = ok(d, &["log", "--json"]);
    assert!(
        log.contains("inbox_reply") && !log.contains("From stdin"),
        "{log}"
    );
}

#[test]
fn refusals_are_clear_and_change_nothing() {
    let dir = fresh();
    let d = dir.path();
    let shop = grant(d, "shop.example");
    subscribe(d, &shop);
    let id = deliver(d, &shop, "shop.example", 2, "Shipped", "Your parcel left.");

    let (code, err) = fails(d, &["inbox", "read", "not-an-id"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("is not a message id"), "{err}");
    let unknown = MessageId::from_random([9; 16]).to_string();
    for args in [
        vec!["inbox", "read", unknown.as_str()],
        vec!["inbox", "archive", unknown.as_str()],
        vec!["inbox", "block", unknown.as_str()],
        vec!["inbox", "reply", unknown.as_str(), "--text", "hi"],
    ] {
        let (code, err) = fails(d, &args);
        assert_eq!(code, 4, "{args:?}: {err}");
        assert!(
            err.contains(&format!("there is no message {unknown}")),
            "{err}"
        );
    }
    let (code, err) = fails(d, &["inbox", "reply", &id, "--text", "  "]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("body: must not be empty"), "{err}");

    ok(d, &["grant", "revoke", shop.as_str()]);
    let before = vault(d).outbox_last_seq().unwrap();
    let (code, err) = fails(d, &["inbox", "reply", &id, "--text", "too late"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("was revoked"), "{err}");
    assert_eq!(vault(d).outbox_last_seq().unwrap(), before);
    let message = json_of(&ok(d, &["inbox", "read", &id, "--json"]));
    assert_eq!(message["replies"], json!([]));
}

#[test]
fn block_stops_a_topic_from_one_business_once() {
    let dir = fresh();
    let d = dir.path();
    let shop = grant(d, "shop.example");
    let offers = deliver(d, &shop, "shop.example", 3, "Sale", "50% off");
    let more = deliver(d, &shop, "shop.example", 5, "Sale again", "60% off");

    let out = ok(d, &["inbox", "block", &offers]);
    assert_eq!(
        out.trim(),
        "no more \"offers\" from shop.example: added to /preferences/businesses/shop.example/blocked_topics"
    );
    let stored = ok(
        d,
        &["get", "/preferences/businesses/shop.example/blocked_topics"],
    );
    assert_eq!(json_of(&stored), json!(["offers"]));
    let again = json_of(&ok(d, &["inbox", "block", &more, "--json"]));
    assert_eq!(
        again,
        json!({"business": "shop.example", "topic": "offers", "blocked": true,
               "pointer": "/preferences/businesses/shop.example/blocked_topics", "changed": false})
    );
    let log = json_of(&ok(d, &["log", "--json"]));
    let blocks = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("topic_block"))
        .count();
    assert_eq!(blocks, 1, "{log}");

    // And allowed again, once.
    let out = ok(d, &["inbox", "unblock", &more]);
    assert_eq!(
        out.trim(),
        "\"offers\" from shop.example is allowed again: taken out of /preferences/businesses/shop.example/blocked_topics"
    );
    let stored = ok(
        d,
        &["get", "/preferences/businesses/shop.example/blocked_topics"],
    );
    assert_eq!(json_of(&stored), json!([]));
    let again = json_of(&ok(d, &["inbox", "unblock", &offers, "--json"]));
    assert_eq!(
        (again["blocked"].clone(), again["changed"].clone()),
        (json!(false), json!(false))
    );
    let log = json_of(&ok(d, &["log", "--json"]));
    let unblocks = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "topic_unblock")
        .count();
    assert_eq!(unblocks, 1, "{log}");
}
