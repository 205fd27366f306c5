//! Contact checks end to end: a real server on 127.0.0.1:0 over a real vault file. Each refusal
//! reason comes from the owner's policy as written in the document; reserved checks count
//! against caps exactly under concurrency, across businesses (`scope: "all"`) and across a
//! restart; a grant with a contact right only reaches the owner but reads nothing; every
//! refused attempt is in the owner's log with its reason.

mod common;

use std::path::Path;

use kluis::core::Pointer;
use kluis::core::access::{Action, Outcome};
use kluis::core::contact::ContactRight;
use kluis::core::document::sample;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::store::{KdfParams, Passphrase, Vault, Via, unix_now};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Running, start};

impl Running {
    /// `POST /v1/contact/check`: status and body.
    async fn check(
        &self,
        token: &str,
        channel: &str,
        topic: &str,
        reserve: bool,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/v1/contact/check", self.base))
            .bearer_auth(token)
            .json(&json!({"channel": channel, "topic": topic, "reserve": reserve}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The reason of a refused check, or `"allowed"`.
    async fn verdict(&self, token: &str, channel: &str, topic: &str, reserve: bool) -> String {
        let (status, body) = self.check(token, channel, topic, reserve).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["allowed"] == true {
            assert_eq!(body, json!({"allowed": true}));
            "allowed".into()
        } else {
            body["reason"].as_str().unwrap().to_owned()
        }
    }
}

fn vault(dir: &Path) -> Vault {
    let vault = Vault::create(dir, &Passphrase::new("pw"), KdfParams::OWASP_MINIMUM).unwrap();
    vault.replace_document(sample()).unwrap();
    vault
}

fn right(channels: &[&str], topics: &[&str]) -> ContactRight {
    ContactRight {
        channels: channels.iter().map(|s| s.to_string()).collect(),
        topics: topics.iter().map(|s| s.to_string()).collect(),
    }
}

/// A grant for `business` with a contact right and, if `fields` is not empty, fields to read.
fn grant(vault: &Vault, business: &str, fields: &[&str], contact: Option<ContactRight>) -> String {
    vault
        .owner(Via::Cli)
        .create_grant(GrantRequest {
            audience: BusinessId::parse(business).unwrap(),
            fields: fields.iter().map(|f| Pointer::parse(f).unwrap()).collect(),
            purpose: "keep you posted on orders".into(),
            purpose_category: None,
            lifetime_secs: 86_400,
            key_thumbprint: None,
            append_record: false,
            contact,
        })
        .unwrap()
        .1
}

fn set(vault: &Vault, at: &str, value: Value) {
    vault
        .owner(Via::Cli)
        .set(vec![(Pointer::parse(at).unwrap(), value)])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_refusal_reason_comes_from_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    // The sample: channels email and post, topics "orders" and "new products".
    set(&v, "/preferences/channels", json!(["email", "inbox"]));
    set(&v, "/preferences/blocked_topics", json!(["surveys"]));
    let token = grant(
        &v,
        "shop.example",
        &[],
        Some(right(
            &["email", "inbox", "sms"],
            &["orders", "news", "surveys"],
        )),
    );
    let server = start(dir.path(), &v).await;

    assert_eq!(
        server.verdict(&token, "email", "orders", false).await,
        "allowed"
    );
    assert_eq!(
        server.verdict(&token, "inbox", "orders", true).await,
        "allowed"
    );
    // Outside the grant's right, whatever the policy says: nothing of the policy shows.
    assert_eq!(
        server.verdict(&token, "post", "orders", false).await,
        "no_contact_right"
    );
    assert_eq!(
        server.verdict(&token, "email", "secrets", false).await,
        "no_contact_right"
    );
    assert_eq!(
        server.verdict(&token, "sms", "orders", false).await,
        "channel_off"
    );
    assert_eq!(
        server.verdict(&token, "email", "surveys", false).await,
        "topic_blocked"
    );
    assert_eq!(
        server.verdict(&token, "email", "news", false).await,
        "topic_not_chosen"
    );

    // Quiet hours from an hour ago to two hours from now (UTC), across midnight or not.
    let hour = (unix_now() / 3600) % 24;
    let (start_h, end_h) = ((hour + 23) % 24, (hour + 2) % 24);
    set(
        &v,
        "/preferences/quiet_hours",
        json!({"start": format!("{start_h:02}:00"), "end": format!("{end_h:02}:00"), "time_zone": "UTC"}),
    );
    let (_, body) = server.check(&token, "email", "orders", false).await;
    assert_eq!(body["reason"], "quiet_hours", "{body}");
    let retry = body["retry_after"].as_i64().unwrap();
    let wait = retry - unix_now();
    assert!(wait > 3600 && wait <= 2 * 3600, "{wait}");
    assert_eq!(retry % 3600, 0, "the window ends on the hour");
    v.owner(Via::Cli)
        .unset(&Pointer::parse("/preferences/quiet_hours").unwrap())
        .unwrap();

    // A cap of 2 a day: checks without `reserve` do not count; the third reservation is refused.
    set(
        &v,
        "/preferences/caps",
        json!([{"max": 2, "per": "day", "channel": "email"}]),
    );
    for _ in 0..3 {
        assert_eq!(
            server.verdict(&token, "email", "orders", false).await,
            "allowed"
        );
    }
    assert_eq!(
        server.verdict(&token, "email", "orders", true).await,
        "allowed"
    );
    assert_eq!(
        server.verdict(&token, "email", "orders", true).await,
        "allowed"
    );
    let (_, body) = server.check(&token, "email", "orders", true).await;
    assert_eq!(body["reason"], "cap_reached", "{body}");
    let wait = body["retry_after"].as_i64().unwrap() - unix_now();
    assert!(wait > 0 && wait <= 86_400, "{wait}");
    // The inbox is not capped by an e-mail cap.
    assert_eq!(
        server.verdict(&token, "inbox", "orders", true).await,
        "allowed"
    );

    // No contact at all from this business.
    set(
        &v,
        "/preferences/businesses/shop.example",
        json!({"do_not_contact": true}),
    );
    assert_eq!(
        server.verdict(&token, "inbox", "orders", false).await,
        "do_not_contact"
    );

    // A contact right only: the grant reads nothing.
    let read = server
        .http
        .get(format!("{}/v1/data", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::FORBIDDEN);
    // A grant without a contact right cannot contact.
    let reader = grant(&v, "shop.example", &["/profile/email"], None);
    assert_eq!(
        server.verdict(&reader, "email", "orders", false).await,
        "no_contact_right"
    );

    // Bad bodies are 400 and change nothing; a bad token is 401.
    for bad in [
        json!({"channel": "fax", "topic": "orders"}),
        json!({"channel": "email"}),
        json!({"channel": "email", "topic": "orders", "x": 1}),
    ] {
        let response = server
            .http
            .post(format!("{}/v1/contact/check", server.base))
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = server.check("not-a-token", "email", "orders", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;

    // Every refusal is in the owner's log with its reason and what was asked.
    let entries = v.log_entries().unwrap();
    let refused: Vec<(String, String)> = entries
        .iter()
        .map(|e| &e.record)
        .filter(|r| {
            r.action == Action::ContactCheck && r.outcome == Outcome::Refused && r.contact.is_some()
        })
        .map(|r| {
            (
                r.reason.clone().unwrap(),
                r.contact.as_ref().unwrap().topic.clone(),
            )
        })
        .collect();
    for (reason, topic) in [
        ("no_contact_right", "secrets"),
        ("channel_off", "orders"),
        ("topic_blocked", "surveys"),
        ("topic_not_chosen", "news"),
        ("quiet_hours", "orders"),
        ("cap_reached", "orders"),
        ("do_not_contact", "orders"),
    ] {
        assert!(
            refused.iter().any(|(r, t)| r == reason && t == topic),
            "{reason} {topic} not logged: {refused:?}"
        );
    }
    let counted = entries
        .iter()
        .filter(|e| e.record.contact.as_ref().is_some_and(|c| c.counted))
        .count();
    assert_eq!(counted, 4, "two inbox and two e-mail reservations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_reservations_against_a_cap_of_three_get_exactly_three() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    set(&v, "/preferences/caps", json!([{"max": 3, "per": "P7D"}]));
    let token = grant(
        &v,
        "shop.example",
        &[],
        Some(right(&["email"], &["orders"])),
    );
    let server = std::sync::Arc::new(start(dir.path(), &v).await);
    let attempts = (0..64).map(|_| {
        let (server, token) = (server.clone(), token.clone());
        tokio::spawn(async move { server.verdict(&token, "email", "orders", true).await })
    });
    let mut verdicts = Vec::new();
    for attempt in attempts {
        verdicts.push(attempt.await.unwrap());
    }
    assert_eq!(
        verdicts.iter().filter(|v| *v == "allowed").count(),
        3,
        "{verdicts:?}"
    );
    assert_eq!(verdicts.iter().filter(|v| *v == "cap_reached").count(), 61);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caps_count_across_businesses_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    set(&v, "/preferences/channels", json!(["email", "inbox"]));
    set(
        &v,
        "/preferences/caps",
        json!([{"max": 3, "per": "week", "scope": "all"}, {"max": 2, "per": "month"}]),
    );
    let shop = grant(
        &v,
        "shop.example",
        &[],
        Some(right(&["email"], &["orders"])),
    );
    let bank = grant(
        &v,
        "bank.example",
        &["/profile/email"],
        Some(right(&["email", "inbox"], &["orders"])),
    );
    let server = start(dir.path(), &v).await;
    assert_eq!(
        server.verdict(&shop, "email", "orders", true).await,
        "allowed"
    );
    assert_eq!(
        server.verdict(&shop, "email", "orders", true).await,
        "allowed"
    );
    // The shop's own cap of 2 a month is reached; the bank still has its own.
    assert_eq!(
        server.verdict(&shop, "email", "orders", true).await,
        "cap_reached"
    );
    server.stop().await;

    let server = start(dir.path(), &v).await;
    // After the restart the shop is still at its cap, and all businesses together are at 2 of 3.
    assert_eq!(
        server.verdict(&shop, "email", "orders", true).await,
        "cap_reached"
    );
    assert_eq!(
        server.verdict(&bank, "inbox", "orders", true).await,
        "allowed"
    );
    assert_eq!(
        server.verdict(&bank, "email", "orders", true).await,
        "cap_reached"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caps_hold_when_the_saved_contacts_are_damaged_or_gone() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    set(&v, "/preferences/caps", json!([{"max": 2, "per": "month"}]));
    let token = grant(
        &v,
        "shop.example",
        &[],
        Some(right(&["email"], &["orders"])),
    );
    let server = start(dir.path(), &v).await;
    for _ in 0..2 {
        assert_eq!(
            server.verdict(&token, "email", "orders", true).await,
            "allowed"
        );
    }
    assert_eq!(
        server.verdict(&token, "email", "orders", true).await,
        "cap_reached"
    );
    server.stop().await;

    // A damaged saved batch: the log still holds every counted contact, and the history is
    // rebuilt from it (and saved again in place of the damaged batches).
    let db = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    let damaged = db
        .execute("UPDATE contact_batches SET sealed = X'00'", [])
        .unwrap();
    assert!(damaged > 0);
    let server = start(dir.path(), &v).await;
    assert_eq!(
        server.verdict(&token, "email", "orders", true).await,
        "cap_reached"
    );
    server.stop().await;
    assert!(
        v.saved_contacts().is_ok(),
        "the damaged batches were replaced"
    );

    // Nothing saved at all (the row of the log point gone): rebuilt from the log too.
    db.execute("DELETE FROM meta WHERE name = 'contacts'", [])
        .unwrap();
    db.execute("DELETE FROM contact_batches", []).unwrap();
    let server = start(dir.path(), &v).await;
    assert_eq!(
        server.verdict(&token, "email", "orders", true).await,
        "cap_reached"
    );
    server.stop().await;
}
