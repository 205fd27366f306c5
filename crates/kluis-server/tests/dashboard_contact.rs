//! Contact rights and the contact report in the dashboard, over HTTP against a real server: a
//! contact-only grant from the grant form (bad input refused at its field, nothing stored), a
//! request's contact right approved in part or refused, and the Contact page counting a real
//! refused `POST /v1/contact/check` and planted attempts, in words.

mod common;

use common::Dash;
use ed25519_dalek::SigningKey;
use kluis_core::access::{AccessRecord, Action, Actor, ContactNote, Outcome};
use kluis_core::contact::ContactRight;
use kluis_core::grant::BusinessId;
use kluis_core::jose::Jwk;
use kluis_store::{unix_now, unix_now_ms};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn right(channels: &[&str], topics: &[&str]) -> Option<ContactRight> {
    Some(ContactRight {
        channels: channels.iter().map(|s| s.to_string()).collect(),
        topics: topics.iter().map(|s| s.to_string()).collect(),
    })
}

#[tokio::test]
async fn a_contact_only_grant_from_the_form_and_bad_rights_refused_at_their_field() {
    let dash = Dash::signed_in().await;
    let (status, form) = dash.get("/dashboard/grants/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains(r#"name="contact_channel" value="inbox""#),
        "{form}"
    );
    assert!(form.contains(r#"<label for="contact-topics">Topics</label>"#));

    for (pairs, needle) in [
        (
            &[("contact_channel", "inbox"), ("contact_topics", " ")][..],
            "at least one topic",
        ),
        (
            &[("contact_channel", "pigeon"), ("contact_topics", "orders")][..],
            "not a contact channel",
        ),
        (&[][..], "or give it a contact right below"),
    ] {
        let mut form: Vec<(&str, &str)> =
            vec![("business", "webshop.example"), ("purpose", "updates")];
        form.extend_from_slice(pairs);
        let (status, _, page) = dash.post("/dashboard/grants/new", &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pairs:?}");
        assert!(page.contains(needle), "{pairs:?}: {page}");
    }
    assert!(dash.vault.grants().unwrap().is_empty());

    let (status, _, page) = dash
        .post(
            "/dashboard/grants/new",
            &[
                ("business", "webshop.example"),
                ("purpose", "order updates"),
                ("contact_channel", "inbox"),
                ("contact_channel", "email"),
                ("contact_topics", "orders, news"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("may contact you by e-mail and Kluis inbox about news and orders"),
        "{page}"
    );
    let grants = dash.vault.grants().unwrap();
    assert_eq!(grants.len(), 1);
    assert!(grants[0].fields.is_empty());
    assert_eq!(
        grants[0].contact,
        right(&["email", "inbox"], &["news", "orders"])
    );
}

/// A business asks through the grant API for a contact right (and e-mail when `with_email`).
async fn ask(dash: &Dash, with_email: bool) -> String {
    let jwk = Jwk::from_verifying_key(&SigningKey::from_bytes(&[5; 32]).verifying_key());
    let fields: Vec<&str> = if with_email {
        vec!["/profile/email"]
    } else {
        vec![]
    };
    let response = dash
        .http
        .post(format!("{}/v1/requests", dash.base))
        .json(&json!({
            "business": {
                "id": "webshop.example", "name": "De Webwinkel", "contact": "Privacy Office",
                "email": "privacy@webshop.example", "address": "Keizersgracht 1, 1015 AA Amsterdam",
                "phone": "+31 20 123 4567",
            },
            "jwk": jwk,
            "fields": fields,
            "contact": {"channels": ["email", "inbox"], "topics": ["news", "orders"]},
            "purpose": "order updates",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let status: Value = response.json().await.unwrap();
    status["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_owner_approves_part_of_a_requested_contact_right_or_refuses_it() {
    let dash = Dash::signed_in().await;
    let id = ask(&dash, false).await;
    let (_, page) = dash.get("/dashboard/requests").await;
    assert!(
        page.contains("may contact you by e-mail and Kluis inbox about news and orders"),
        "{page}"
    );
    assert!(page.contains(r#"name="contact" value="channel:inbox" checked"#));
    assert!(page.contains("Do not let it contact me"));

    // Only the inbox, about orders.
    let (status, _, page) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[
                ("contact", "channel:inbox"),
                ("contact", "topic:orders"),
                ("expires", "30d"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let grant = &dash.vault.grants().unwrap()[0];
    assert_eq!(grant.contact, right(&["inbox"], &["orders"]));
    assert!(grant.fields.is_empty());

    // Refused whole: the fields alone.
    let id = ask(&dash, true).await;
    let (status, _, _) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[
                ("field", "/profile/email"),
                ("contact", "channel:inbox"),
                ("no_contact", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let grants = dash.vault.grants().unwrap();
    let newest = grants.iter().find(|g| !g.fields.is_empty()).unwrap();
    assert_eq!(newest.contact, None);

    // Nothing left to grant: refused on the card, the request still waits.
    let id = ask(&dash, false).await;
    let (status, _, page) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[("no_contact", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert_eq!(dash.vault.grants().unwrap().len(), 2);
}

fn attempt(at_ms: i64, business: &str, reason: Option<&str>) -> AccessRecord {
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::InboxDeliver,
        request: None,
        grant: None,
        business: Some(BusinessId::parse(business).unwrap()),
        purpose: None,
        fields: vec![],
        outcome: if reason.is_some() {
            Outcome::Refused
        } else {
            Outcome::Allowed
        },
        reason: reason.map(str::to_owned),
        contact: Some(ContactNote {
            channel: "inbox".into(),
            topic: "news".into(),
            message: None,
            counted: reason.is_none(),
        }),
    }
}

#[tokio::test]
async fn the_contact_page_counts_attempts_against_the_owners_wishes() {
    let dash = Dash::signed_in().await;
    let (status, page) = dash.get("/dashboard/contact").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<a href="/dashboard/contact" aria-current="page">Contact</a>"#),
        "{page}"
    );
    assert!(page.contains("No business has tried to contact you."));

    // A real check outside the grant's right: refused as no_contact_right, and logged.
    let (_, token) = dash
        .vault
        .create_grant(
            kluis_core::grant::GrantRequest {
                audience: BusinessId::parse("webshop.example").unwrap(),
                fields: vec![],
                purpose: "order updates".into(),
                purpose_category: None,
                lifetime_secs: 86_400,
                key_thumbprint: None,
                append_record: false,
                contact: right(&["inbox"], &["orders"]),
            },
            unix_now(),
        )
        .unwrap();
    let response = dash
        .http
        .post(format!("{}/v1/contact/check", dash.base))
        .bearer_auth(&token)
        .json(&json!({"channel": "inbox", "topic": "casino"}))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["reason"], "no_contact_right", "{answer}");

    let now = unix_now_ms();
    dash.vault
        .append_log(&[
            attempt(now, "pushy.example", Some("cap_reached")),
            attempt(now + 1, "pushy.example", Some("cap_reached")),
            attempt(now + 2, "pushy.example", Some("quiet_hours")),
            attempt(now + 3, "pushy.example", None),
        ])
        .unwrap();
    let (status, page) = dash.get("/dashboard/contact").await;
    assert_eq!(status, StatusCode::OK);
    let pushy = page.find("pushy.example").unwrap();
    let shop = page.find("webshop.example").unwrap();
    assert!(pushy < shop, "the most refused first: {page}");
    assert!(
        page.contains("Attempts to contact you: 4, of which allowed: 1."),
        "{page}"
    );
    assert!(page.contains("Against your wishes: 3."));
    assert!(page.contains("2 × more often than you allow"));
    assert!(page.contains("1 × in your quiet hours"));
    assert!(page.contains("1 × outside the contact right you gave"));
}
