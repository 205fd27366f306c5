//! The right to append to the business's relationship record, end to end: a real server on
//! 127.0.0.1:0 over a real vault file. A grant with only that right reads nothing (403, in the
//! owner's log), introspection shows its `kluis_relationship` detail, and a business asks for
//! it through `POST /v1/requests` and polls whether it was granted.

mod common;

use std::path::Path;

use ed25519_dalek::SigningKey;
use kluis::core::access::{Action, Outcome};
use kluis::core::contact::ContactRight;
use kluis::core::document::sample;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::jose::Jwk;
use kluis::core::request::RequestId;
use kluis::core::token::{Expectations, verify_grant};
use kluis::store::{AppendChoice, ContactChoice, KdfParams, Passphrase, Vault, Via, unix_now};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Running, start};

fn vault(dir: &Path) -> Vault {
    let vault = Vault::create(dir, &Passphrase::new("pw"), KdfParams::OWASP_MINIMUM).unwrap();
    vault.replace_document(sample()).unwrap();
    vault
}

/// A grant for shop.example with `contact` and, when `append_record`, the append right; no
/// fields. Returns its id and token.
fn grant(vault: &Vault, contact: Option<ContactRight>, append_record: bool) -> (String, String) {
    let (grant, token) = vault
        .owner(Via::Cli)
        .create_grant(GrantRequest {
            audience: BusinessId::parse("shop.example").unwrap(),
            fields: vec![],
            purpose: "keep your warranty papers".into(),
            purpose_category: None,
            lifetime_secs: 86_400,
            key_thumbprint: None,
            contact,
            append_record,
        })
        .unwrap();
    (grant.id.to_string(), token)
}

impl Running {
    /// `GET /v1/data` with `token`: status and problem body.
    async fn read(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/v1/data", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(format!("{}/v1/introspect", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_only_grant_reads_nothing_and_the_refusal_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (append_id, append_only) = grant(&v, None, true);
    let right = ContactRight {
        channels: vec!["inbox".into()],
        topics: vec!["orders".into()],
    };
    let (_, both) = grant(&v, Some(right.clone()), true);
    let (_, contact_only) = grant(&v, Some(right), false);
    let server = start(dir.path(), &v).await;

    let (status, body) = server.read(&append_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["detail"],
        "this grant shares no fields; it carries the right to add to its relationship record only"
    );
    assert!(body.get("profile").is_none(), "{body}");
    let (status, body) = server.read(&both).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("a contact right and the right to add to its relationship record"),
        "{body}"
    );
    // The contact-only grant is refused as before.
    let (status, body) = server.read(&contact_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["detail"],
        "this grant shares no fields; it carries a contact right only"
    );

    // The token is live and carries the right as its own detail.
    let introspected = server.introspect(&append_only).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(
        introspected["authorization_details"],
        json!([{"type": "kluis_relationship", "actions": ["append"]}])
    );
    server.stop().await;

    let refused = v
        .log_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.record)
        .filter(|r| r.action == Action::Read && r.outcome == Outcome::Refused)
        .find(|r| r.grant.as_ref().is_some_and(|g| g.as_str() == append_id))
        .expect("the refused read is in the log");
    assert!(refused.fields.is_empty());
    assert!(
        refused
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("relationship record")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_asks_for_the_append_right_and_learns_it_was_granted() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let server = start(dir.path(), &v).await;
    let key = SigningKey::from_bytes(&[9; 32]);
    let ask = |append: Value| {
        json!({
            "business": {
                "id": "shop.example", "name": "De Winkel", "contact": "Privacy Desk",
                "email": "privacy@shop.example", "address": "Winkelstraat 1, Amsterdam",
                "phone": "+31 20 000 0000",
            },
            "jwk": Jwk::from_verifying_key(&key.verifying_key()),
            "append_record": append,
            "purpose": "keep your warranty papers",
        })
    };
    // Not a bool: refused, nothing stored.
    let response = server
        .http
        .post(format!("{}/v1/requests", server.base))
        .json(&ask(json!("yes")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = server
        .http
        .post(format!("{}/v1/requests", server.base))
        .json(&ask(json!(true)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["append_record_requested"], true, "{created}");
    assert_eq!(created["fields_requested"], json!([]));
    assert!(created.get("append_record_granted").is_none(), "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(v.access_requests(unix_now()).unwrap().len(), 1);

    v.owner(Via::Cli)
        .approve_request_with(
            &RequestId::parse(&id).unwrap(),
            None,
            ContactChoice::AsAsked,
            AppendChoice::AsAsked,
            None,
        )
        .unwrap();
    let polled: Value = server
        .http
        .get(format!("{}/v1/requests/{id}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(polled["status"], "approved", "{polled}");
    assert_eq!(polled["append_record_requested"], true);
    assert_eq!(polled["append_record_granted"], true);
    let claims = verify_grant(
        polled["token"].as_str().unwrap(),
        |kid| v.verifying_key(kid).unwrap(),
        &Expectations {
            issuer: &v.issuer(),
            audience: Some("shop.example"),
            now: unix_now(),
            leeway: 5,
        },
    )
    .unwrap();
    assert!(claims.may_append_record());
    assert!(claims.fields().is_empty());
    server.stop().await;
}
