//! `POST /v1/relationship/entries` end to end: a real server over a real vault. A business adds
//! to its own record with a write grant (DPoP-bound through the SDK, or Bearer), gets a signed
//! receipt for exactly what it sent, and is confined: it cannot reach another record, a
//! read-only or revoked grant cannot append, what it may not add is refused, and its quotas
//! hold exactly under concurrent calls. Every attempt is in the owner's log.

mod common;

use std::time::Duration;

use base64::Engine as _;
use kluis::client::{AccessRequest, BusinessInfo, BusinessKey, Client, Decision, EntryPost};
use kluis::core::access::{Action, Outcome};
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::relationship::{Author, Date, Item, Limits};
use kluis::store::{AppendChoice, ContactChoice, LogIndex, LogQuery, Vault, Via};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;

fn shop() -> BusinessId {
    BusinessId::parse("shop.example").unwrap()
}

/// A Bearer grant for `business` with the append right (and `fields`, when given).
fn grant(vault: &Vault, business: &str, append_record: bool, fields: &[&str]) -> (String, String) {
    let (grant, token) = vault
        .owner(Via::Cli)
        .create_grant(GrantRequest {
            audience: BusinessId::parse(business).unwrap(),
            fields: fields
                .iter()
                .map(|f| kluis::core::Pointer::parse(f).unwrap())
                .collect(),
            purpose: "keep your warranty papers".into(),
            purpose_category: None,
            lifetime_secs: 86_400,
            key_thumbprint: None,
            contact: None,
            append_record,
        })
        .unwrap();
    (grant.id.to_string(), token)
}

impl Server {
    async fn post_entry(&self, token: &str, body: &Value) -> (StatusCode, Value, Option<String>) {
        let response = self
            .http
            .post(format!("{}/v1/relationship/entries", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.json().await.unwrap_or(Value::Null), retry)
    }

    fn entries(&self, business: &str) -> Vec<kluis::core::relationship::Entry> {
        self.vault
            .open_relationships()
            .unwrap()
            .entries(&BusinessId::parse(business).unwrap())
            .unwrap()
    }

    /// The log's relationship-append records: (outcome, reason), oldest first.
    fn appends_logged(&self) -> Vec<(Outcome, String)> {
        let mut index = LogIndex::new();
        index.refresh(&self.vault).unwrap();
        let page = index
            .query(
                &self.vault,
                &LogQuery {
                    limit: 1000,
                    ..LogQuery::default()
                },
            )
            .unwrap();
        let mut out: Vec<(Outcome, String)> = page
            .entries
            .into_iter()
            .filter(|e| e.record.action == Action::RelationshipAppend)
            .map(|e| (e.record.outcome, e.record.reason.unwrap_or_default()))
            .collect();
        out.reverse();
        out
    }
}

fn promise() -> Value {
    json!({"kind": "promise", "what": "We call you back about the repair", "due_on": "2026-12-08"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_bound_business_adds_to_its_record_and_its_receipt_proves_it() {
    let server = Server::start().await;
    let client = Client::new(&server.base).unwrap();
    let key = BusinessKey::generate().unwrap();
    let asked = AccessRequest::new(
        BusinessInfo::new("shop.example", "Shop B.V.")
            .with_contact("Privacy Office")
            .with_email("privacy@shop.example")
            .with_address("Keizersgracht 1, 1015 AA Amsterdam")
            .with_phone("+31 20 123 4567"),
        Vec::<String>::new(),
        "keep your receipts",
    )
    .append_record(true);
    let pending = client.request_access(&key, &asked).await.unwrap();
    let owner = server.vault.owner(Via::Cli);
    let approve = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        owner
            .approve_request_with(
                &kluis::core::request::RequestId::parse(&pending.id).unwrap(),
                None,
                ContactChoice::AsAsked,
                AppendChoice::AsAsked,
                None,
            )
            .unwrap();
    };
    let (decision, ()) = tokio::join!(
        client.wait_for_decision(
            &pending.id,
            Duration::from_millis(50),
            Duration::from_secs(10)
        ),
        approve
    );
    let Decision::Approved(granted) = decision.unwrap() else {
        panic!("not approved")
    };
    let token = granted.token;

    let post: EntryPost = serde_json::from_value(promise()).unwrap();
    let recorded = client.add_entry(&key, &token, &post).await.unwrap();
    assert_eq!(recorded.claims.kind, "promise");
    assert_eq!(
        recorded.claims.jkt.as_deref(),
        Some(key.thumbprint().as_str())
    );

    let file = b"%PDF-1.7 the warranty".to_vec();
    let doc: EntryPost = serde_json::from_value(json!({
        "kind": "document", "title": "Warranty", "body": {"years": 2},
        "attachment": {"name": "warranty.pdf", "media_type": "application/pdf",
                       "data": base64::engine::general_purpose::STANDARD.encode(&file)}
    }))
    .unwrap();
    let stored_doc = client.add_entry(&key, &token, &doc).await.unwrap();

    let entries = server.entries("shop.example");
    assert_eq!(entries.len(), 2);
    let promised = entries
        .iter()
        .find(|e| e.id.as_str() == recorded.id)
        .unwrap();
    let Author::Business {
        jkt,
        request_sha256,
        ..
    } = &promised.author
    else {
        panic!("{promised:?}")
    };
    assert_eq!(jkt.as_deref(), Some(key.thumbprint().as_str()));
    assert_eq!(request_sha256, &recorded.claims.sha256);
    assert_eq!(
        promised.item,
        Item::Promise {
            what: "We call you back about the repair".into(),
            due_on: Date::new(2026, 12, 8).unwrap()
        }
    );
    let rel = server.vault.open_relationships().unwrap();
    let (_, info, bytes) = rel
        .attachment(&kluis::core::relationship::EntryId::parse(&stored_doc.id).unwrap())
        .unwrap();
    assert_eq!((bytes, info.name.as_str()), (file, "warranty.pdf"));
    // It is on the owner's due list and in the log.
    assert_eq!(
        rel.due(Date::new(2026, 12, 1).unwrap(), 30).unwrap().len(),
        1
    );
    let logged = server.appends_logged();
    assert_eq!(logged.len(), 2);
    assert_eq!(
        logged[0],
        (Outcome::Allowed, format!("promise {}", recorded.id))
    );

    // A DPoP-bound grant used as a Bearer token is refused; nothing is added.
    let (status, _, _) = server.post_entry(&token, &promise()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.entries("shop.example").len(), 2);
    // A receipt for another body does not verify as this one's.
    assert!(!recorded.claims.covers(br#"{"kind":"promise"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_is_confined_to_appending_to_its_own_record() {
    let server = Server::start().await;
    let (_, shop_token) = grant(&server.vault, "shop.example", true, &[]);
    let (_, reader) = grant(&server.vault, "shop.example", false, &["/profile/email"]);
    let (other_id, other_token) = grant(&server.vault, "other.example", true, &[]);
    let (status, body, _) = server.post_entry(&shop_token, &promise()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["receipt"].as_str().unwrap().split('.').count() == 3);

    // A read-only grant cannot append.
    let (status, body, _) = server.post_entry(&reader, &promise()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("right to add"),
        "{body}"
    );
    // Naming another record, or anything else not in an entry, is refused.
    let mut elsewhere = promise();
    elsewhere["business"] = json!("other.example");
    let (status, body, _) = server.post_entry(&shop_token, &elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Kinds only the owner records, and malformed entries.
    for bad in [
        json!({"kind": "note", "text": "hi"}),
        json!({"kind": "settled", "promise": "e_aaaaaaaaaaaaaaaaaaaaaaaaaa", "status": "kept"}),
        json!({"kind": "satisfaction", "score": 5, "on": "2026-12-01"}),
        json!({"kind": "promise", "what": "x", "due_on": "2026-13-01"}),
        json!({"kind": "document", "title": "x", "body": "not an object"}),
        json!({"kind": "interaction", "on": "9999-12-31", "channel": "phone", "summary": "pinned"}),
    ] {
        let (status, body, _) = server.post_entry(&shop_token, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // The other business's entry lands in its own record only.
    let (status, _, _) = server.post_entry(&other_token, &promise()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(server.entries("shop.example").len(), 1);
    assert_eq!(server.entries("other.example").len(), 1);
    // Revoked: no more.
    server
        .vault
        .owner(Via::Cli)
        .revoke_grant(&kluis::core::grant::GrantId::parse(&other_id).unwrap())
        .unwrap();
    let (status, _, _) = server.post_entry(&other_token, &promise()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.entries("other.example").len(), 1);
    // Every attempt is in the log, the refused ones as refused.
    let logged = server.appends_logged();
    let refused = logged
        .iter()
        .filter(|(o, _)| *o == Outcome::Refused)
        .count();
    let allowed = logged
        .iter()
        .filter(|(o, _)| *o == Outcome::Allowed)
        .count();
    assert_eq!((allowed, refused), (2, 9), "{logged:?}");
    assert!(
        logged.iter().any(|(_, r)| r == "the grant was revoked"),
        "{logged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_exactly_and_answer_clearly() {
    let limits = Limits {
        entries_per_day: 5,
        bytes_in_all: 4_000,
    };
    let server = Server::start_limited(None, limits).await;
    let (_, token) = grant(&server.vault, "shop.example", true, &[]);
    // Too big in itself: 413 and nothing stored, whatever the quota.
    let big = json!({"kind": "document", "title": "x", "body": {"a": "x".repeat(70 * 1024)}});
    let (status, body, _) = server.post_entry(&token, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("64 KiB"),
        "{body}"
    );
    let huge = json!({"kind": "document", "title": "x", "body": {},
        "attachment": {"name": "a.bin", "media_type": "application/octet-stream",
        "data": base64::engine::general_purpose::STANDARD.encode(vec![0u8; 1024 * 1024 + 1])}});
    let (status, _, _) = server.post_entry(&token, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // 20 at once against a day's quota of 5: exactly 5 stored.
    let answers = at_once(&server, &token, &promise(), 20).await;
    let created = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .count();
    let limited: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!((created, limited.len()), (5, 15));
    let retry: u64 = limited[0].2.as_deref().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_eq!(limited[0].1["type"], "urn:kluis:problem:record-quota");
    assert_eq!(server.entries("shop.example").len(), 5);
    assert_eq!(
        server
            .vault
            .open_relationships()
            .unwrap()
            .standing(&shop())
            .unwrap()
            .unwrap()
            .usage
            .day_count,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bytes_a_business_may_use_in_all_answer_413() {
    let limits = Limits {
        entries_per_day: 100,
        bytes_in_all: 600,
    };
    let server = Server::start_limited(None, limits).await;
    let (_, token) = grant(&server.vault, "shop.example", true, &[]);
    let doc = json!({"kind": "document", "title": "Receipt", "body": {"note": "y".repeat(300)}});
    let (status, _, _) = server.post_entry(&token, &doc).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body, _) = server.post_entry(&token, &doc).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["type"], "urn:kluis:problem:record-quota");
    assert!(
        body["detail"].as_str().unwrap().contains("600 bytes"),
        "{body}"
    );
    // A small one still fits.
    let (status, _, _) = server.post_entry(&token, &promise()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(server.entries("shop.example").len(), 2);
}

/// `POST /v1/relationship/entries` with `body`, `n` times at once; the answers.
async fn at_once(
    server: &Server,
    token: &str,
    body: &Value,
    n: usize,
) -> Vec<(StatusCode, Value, Option<String>)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (http, body) = (server.http.clone(), body.clone());
            let url = format!("{}/v1/relationship/entries", server.base);
            let token = token.to_owned();
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (status, r.json().await.unwrap_or(Value::Null), retry)
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}
