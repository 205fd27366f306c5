//! `POST /v1/inbox` end to end: a real server on 127.0.0.1:0 over a real vault file. An allowed
//! message is stored before the 201, whose delivery receipt verifies against the published
//! JWKS and covers exactly the message; refusals carry the policy's reason (403, or 429 with
//! `Retry-After`); concurrent deliveries against a cap store exactly the cap; bad bodies and
//! bad replies are 400 and count nothing.

mod common;

use kluis::core::Pointer;
use kluis::core::access::{Action, Outcome};
use kluis::core::contact::ContactRight;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::inbox::{InboxPost, verify_receipt};
use kluis::core::jose::Jwks;
use kluis::store::{InboxFilter, Via, unix_now};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;

impl Server {
    fn contact_grant(&self, business: &str, topics: &[&str]) -> String {
        self.vault
            .owner(Via::Cli)
            .create_grant(GrantRequest {
                audience: BusinessId::parse(business).unwrap(),
                fields: Vec::new(),
                purpose: "news about your orders".into(),
                purpose_category: None,
                lifetime_secs: 86_400,
                key_thumbprint: None,
                append_record: false,
                contact: Some(ContactRight {
                    channels: vec!["inbox".into()],
                    topics: topics.iter().map(|t| t.to_string()).collect(),
                }),
            })
            .unwrap()
            .1
    }

    fn prefer(&self, at: &str, value: Value) {
        self.vault
            .owner(Via::Cli)
            .set(vec![(Pointer::parse(at).unwrap(), value)])
            .unwrap();
    }

    /// `POST /v1/inbox`: status, `Retry-After` and body.
    async fn post_message(&self, token: &str, body: &Value) -> (StatusCode, Option<u64>, Value) {
        post(&self.http, &self.base, token, body).await
    }

    fn messages(&self) -> usize {
        self.vault
            .open_inbox()
            .unwrap()
            .list(InboxFilter::All, 1000)
            .unwrap()
            .len()
    }
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Option<u64>, Value) {
    let response = http
        .post(format!("{base}/v1/inbox"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

fn message(topic: &str, subject: &str) -> Value {
    json!({"topic": topic, "subject": subject, "body": "Your parcel left our warehouse.\nTrack it with code 123."})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_message_comes_with_a_receipt_that_proves_it() {
    let server = Server::start().await;
    server.prefer("/preferences/channels", json!(["inbox"]));
    server.prefer("/preferences/topics", json!(["orders"]));
    let token = server.contact_grant("shop.example", &["orders"]);
    let sent = message("orders", "Your order <b>has shipped</b>");
    let (status, _, body) = server.post_message(&token, &sent).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("m_"), "{id}");

    // The receipt verifies with the vault's published keys and covers exactly this message.
    let jwks: Jwks =
        serde_json::from_value(server.get_json("/.well-known/jwks.json").await).unwrap();
    let receipt = verify_receipt(
        body["receipt"].as_str().unwrap(),
        |kid| {
            jwks.keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .and_then(|k| k.verifying_key().ok())
        },
        &server.vault.issuer(),
        "shop.example",
    )
    .unwrap();
    assert_eq!(receipt.jti.as_str(), id);
    assert_eq!(receipt.topic, "orders");
    assert!((receipt.iat - unix_now()).abs() < 60);
    let post: InboxPost = serde_json::from_value(sent.clone()).unwrap();
    assert!(receipt.covers(&post));
    let mut altered = post.clone();
    altered.body.push('!');
    assert!(!receipt.covers(&altered));
    assert_eq!(
        receipt.sub,
        server.vault.unlocked().pairwise_subject("shop.example")
    );
    assert!(
        verify_receipt(
            body["receipt"].as_str().unwrap(),
            |_| None,
            &server.vault.issuer(),
            "other.example"
        )
        .is_err()
    );

    // Stored before the answer, markup as text, and in the owner's log as a counted contact.
    let inbox = server.vault.open_inbox().unwrap();
    let listed = inbox.list(InboxFilter::All, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].subject, "Your order <b>has shipped</b>");
    assert_eq!(listed[0].business.as_str(), "shop.example");
    let logged = server.vault.log_entries().unwrap();
    let delivered = logged
        .iter()
        .find(|e| e.record.action == Action::InboxDeliver)
        .unwrap();
    assert_eq!(delivered.record.outcome, Outcome::Allowed);
    let note = delivered.record.contact.as_ref().unwrap();
    assert_eq!(
        (note.channel.as_str(), note.message.as_deref(), note.counted),
        ("inbox", Some(id), true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_and_store_nothing() {
    let server = Server::start().await;
    server.prefer("/preferences/channels", json!(["inbox"]));
    server.prefer("/preferences/blocked_topics", json!(["surveys"]));
    let token = server.contact_grant("shop.example", &["orders", "surveys"]);

    let (status, _, body) = server
        .post_message(&token, &message("surveys", "Tell us"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["reason"], "topic_blocked");
    assert_eq!(body["type"], "urn:kluis:problem:contact-refused");
    let (status, _, body) = server.post_message(&token, &message("secrets", "Hi")).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_contact_right"))
    );

    // Quiet hours now: 429 with Retry-After up to the window's end.
    let hour = (unix_now() / 3600) % 24;
    server.prefer(
        "/preferences/quiet_hours",
        json!({"start": format!("{:02}:00", (hour + 23) % 24), "end": format!("{:02}:00", (hour + 1) % 24), "time_zone": "UTC"}),
    );
    let (status, retry, body) = server.post_message(&token, &message("orders", "Hi")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["reason"], "quiet_hours");
    let retry = retry.unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    // The header is the body's instant less the server's clock, which may have been a second
    // behind the test's.
    let drift = body["retry_after"].as_i64().unwrap() - unix_now() - retry as i64;
    assert!(
        (-1..=0).contains(&drift),
        "Retry-After {retry} s, drift {drift} s"
    );
    server
        .vault
        .owner(Via::Cli)
        .unset(&Pointer::parse("/preferences/quiet_hours").unwrap())
        .unwrap();

    // Bad bodies: 400 (or 413, or 409 for a reply to nothing), nothing stored, nothing counted.
    let long = json!({"topic": "orders", "subject": "x", "body": "y".repeat(16 * 1024 + 1)});
    let huge = json!({"topic": "orders", "subject": "x", "body": "\n".repeat(30 * 1024)});
    let reply = json!({"topic": "orders", "subject": "x", "body": "y", "in_reply_to": "m_aaaaaaaaaaaaaaaaaaaaaaaaaa"});
    for (bad, want) in [
        (
            json!({"topic": "orders", "subject": "", "body": "y"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"topic": "orders", "subject": "x", "body": "y", "cc": "z"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"topic": "orders", "subject": "x", "body": "a\u{1b}[2J"}),
            StatusCode::BAD_REQUEST,
        ),
        (long, StatusCode::BAD_REQUEST),
        (huge, StatusCode::PAYLOAD_TOO_LARGE),
        // Well formed, but the owner sent no such reply: 409 (docs/inbox.md).
        (reply, StatusCode::CONFLICT),
    ] {
        let (status, _, body) = server.post_message(&token, &bad).await;
        assert_eq!(status, want, "{body}");
    }
    assert_eq!(server.messages(), 0);
    // None of that counted: a cap of one leaves room for exactly one message now.
    server.prefer("/preferences/caps", json!([{"max": 1, "per": "day"}]));
    let (status, _, _) = server.post_message(&token, &message("orders", "One")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, retry, body) = server.post_message(&token, &message("orders", "Two")).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("cap_reached"))
    );
    assert!(retry.unwrap() <= 86_400);
    assert_eq!(server.messages(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_messages_against_a_cap_of_three_store_exactly_three() {
    let server = Server::start().await;
    server.prefer("/preferences/channels", json!(["inbox"]));
    server.prefer(
        "/preferences/caps",
        json!([{"max": 3, "per": "P1D", "channel": "inbox"}]),
    );
    let token = server.contact_grant("shop.example", &["orders"]);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (http, base, token) = (server.http.clone(), server.base.clone(), token.clone());
            tokio::spawn(async move {
                post(
                    &http,
                    &base,
                    &token,
                    &message("orders", &format!("Message {i}")),
                )
                .await
                .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        61
    );
    assert_eq!(server.messages(), 3);
}
