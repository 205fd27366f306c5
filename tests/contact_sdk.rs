//! Contact without disclosure, end to end with the SDK: a business asks only for the right to
//! reach the customer, the owner approves part of it, and the business's DPoP-bound grant then
//! checks (and reserves) contacts within the owner's policy, while it can read nothing and
//! learns no address or number.

mod common;

use std::time::Duration;

use kluis::client::{
    AccessRequest, BusinessInfo, BusinessKey, Client, ContactReason, ContactRight, Decision, Error,
    InboxPost,
};
use kluis::core::Pointer;
use kluis::store::{AppendChoice, ContactChoice, Via, unix_now};
use serde_json::json;

use common::Server;

const POLL: Duration = Duration::from_millis(50);
const WAIT: Duration = Duration::from_secs(10);

fn business(id: &str) -> BusinessInfo {
    BusinessInfo::new(id, format!("{id} B.V."))
        .with_contact("Privacy Office")
        .with_email(format!("privacy@{id}"))
        .with_address("Keizersgracht 1, 1015 AA Amsterdam")
        .with_phone("+31 20 123 4567")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_reaches_the_customer_without_learning_how() {
    let server = Server::start().await;
    let owner = server.vault.owner(Via::Cli);
    owner
        .set(vec![
            (
                Pointer::parse("/preferences/channels").unwrap(),
                json!(["inbox", "email"]),
            ),
            (
                Pointer::parse("/preferences/caps").unwrap(),
                json!([{"max": 1, "per": "day", "channel": "email"}]),
            ),
        ])
        .unwrap();
    let client = Client::new(&server.base).unwrap();
    let key = BusinessKey::generate().unwrap();
    let asked = AccessRequest::new(business("shop.example"), Vec::<String>::new(), "order news")
        .contact(["inbox", "email", "sms"], ["orders", "offers"]);
    let pending = client.request_access(&key, &asked).await.unwrap();
    assert!(pending.fields_requested.is_empty());
    let decide = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let keep = ContactRight {
            channels: vec!["inbox".into(), "email".into()],
            topics: vec!["orders".into()],
        };
        owner
            .approve_request_with(
                &kluis::core::request::RequestId::parse(&pending.id).unwrap(),
                None,
                ContactChoice::Keep(keep),
                AppendChoice::AsAsked,
                None,
            )
            .unwrap();
    };
    let (decision, ()) = tokio::join!(client.wait_for_decision(&pending.id, POLL, WAIT), decide);
    let Decision::Approved(grant) = decision.unwrap() else {
        panic!("expected an approval");
    };
    assert!(grant.fields.is_empty());
    assert_eq!(
        grant.contact,
        Some(ContactRight {
            channels: vec!["email".into(), "inbox".into()],
            topics: vec!["orders".into()],
        })
    );

    // Within the approved part of the right, and the owner's policy.
    let answer = client
        .contact_check(&key, &grant.token, "email", "orders", true)
        .await
        .unwrap();
    assert!(answer.allowed, "{answer:?}");
    let answer = client
        .contact_check(&key, &grant.token, "email", "orders", true)
        .await
        .unwrap();
    assert_eq!(answer.reason, Some(ContactReason::CapReached));
    assert!(answer.retry_after.unwrap() > unix_now());
    // Not approved: the offers topic, and sms.
    for (channel, topic) in [("email", "offers"), ("sms", "orders")] {
        let answer = client
            .contact_check(&key, &grant.token, channel, topic, false)
            .await
            .unwrap();
        assert_eq!(
            answer.reason,
            Some(ContactReason::NoContactRight),
            "{channel} {topic}"
        );
    }
    // A message to the inbox, with a receipt the SDK has checked.
    let post = InboxPost {
        topic: "orders".into(),
        subject: "Your order has shipped".into(),
        body: "It arrives tomorrow.".into(),
        in_reply_to: None,
    };
    let delivered = client
        .send_message(&key, &grant.token, &post)
        .await
        .unwrap();
    assert_eq!(delivered.claims.jti.as_str(), delivered.id);
    assert_eq!(delivered.claims.aud, "shop.example");
    let again = client
        .verify_delivery_receipt(&delivered.receipt, &server.vault.issuer(), "shop.example")
        .await
        .unwrap();
    assert_eq!(again.sha256, delivered.claims.sha256);
    let inbox = server.vault.open_inbox().unwrap();
    let stored = inbox.message(&delivered.claims.jti).unwrap();
    assert_eq!(stored.body, "It arrives tomorrow.");
    // Outside the approved right: refused, with the reason.
    let offer = InboxPost {
        topic: "offers".into(),
        ..post.clone()
    };
    match client.send_message(&key, &grant.token, &offer).await {
        Err(Error::Forbidden { problem, .. }) => {
            assert_eq!(problem.reason, Some(ContactReason::NoContactRight))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // The grant reads nothing: no address, no number.
    let read = client.fetch_data(&key, &grant.token, None).await;
    assert!(matches!(read, Err(Error::Forbidden { .. })), "{read:?}");

    // The token alone, without the business's key, is refused.
    let thief = BusinessKey::generate().unwrap();
    let stolen = client
        .contact_check(&thief, &grant.token, "inbox", "orders", false)
        .await;
    assert!(stolen.is_err(), "{stolen:?}");
    let raw = reqwest::Client::new()
        .post(format!("{}/v1/contact/check", server.base))
        .bearer_auth(&grant.token)
        .json(&json!({"channel": "inbox", "topic": "orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
}
