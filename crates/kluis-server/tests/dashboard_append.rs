//! The right to add to a business's record of the owner in the dashboard, over HTTP against a
//! real server: a checkbox on the grant form that makes a grant whose token carries the
//! `kluis_relationship` detail (and the pages that say so), and a request's append right
//! approved (the box ticked by default) or refused.

mod common;
#[path = "common/html.rs"]
mod html;

use common::Dash;
use ed25519_dalek::SigningKey;
use html::{attr, control, tag, text_of};
use kluis_core::jose::Jwk;
use kluis_core::token::{Expectations, GrantClaims, verify_grant};
use kluis_core::wire::RequestStatus;
use kluis_store::unix_now;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ASK: &str = "Let it add documents, promises and interactions to its record of you";

fn claims_of(dash: &Dash, token: &str) -> GrantClaims {
    let jwks = dash.vault.jwks(unix_now()).unwrap();
    verify_grant(
        token,
        |kid| jwks.find(kid),
        &Expectations {
            issuer: &dash.vault.issuer(),
            audience: Some("webshop.example"),
            now: unix_now(),
            leeway: 5,
        },
    )
    .unwrap()
}

#[tokio::test]
async fn the_grant_form_gives_the_append_right_alone_and_the_pages_say_so() {
    let dash = Dash::signed_in().await;
    let (status, form) = dash.get("/dashboard/grants/new").await;
    assert_eq!(status, StatusCode::OK);
    let id = control(&form, ASK);
    let checkbox = tag(&form, &id).unwrap();
    assert_eq!(attr(checkbox, "name").as_deref(), Some("append_record"));
    assert_eq!(attr(checkbox, "checked"), None, "not given unless ticked");

    // Nothing ticked at all: refused, nothing stored.
    let (status, _, page) = dash
        .post(
            "/dashboard/grants/new",
            &[("business", "webshop.example"), ("purpose", "warranty")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("or let it add to its record of you"),
        "{page}"
    );
    assert!(dash.vault.grants().unwrap().is_empty());

    let (status, _, created) = dash
        .post(
            "/dashboard/grants/new",
            &[
                ("business", "webshop.example"),
                ("purpose", "warranty papers"),
                ("append_record", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(
        created.contains(
            "webshop.example may add documents, promises and interactions to its record of you."
        ),
        "{created}"
    );
    let token = text_of(&created, &control(&created, "Grant token")).unwrap();
    let claims = claims_of(&dash, &token);
    assert!(claims.may_append_record());
    assert!(claims.fields().is_empty() && claims.contact_right().is_none());
    assert_eq!(
        serde_json::to_value(&claims.authorization_details).unwrap(),
        json!([{"type": "kluis_relationship", "actions": ["append"]}])
    );
    let grants = dash.vault.grants().unwrap();
    assert_eq!(grants.len(), 1);
    assert!(grants[0].append_record && grants[0].fields.is_empty());

    let (_, overview) = dash.get("/dashboard/").await;
    assert!(
        overview.contains(
            "webshop.example can add documents, promises and interactions to its record of you"
        ),
        "{overview}"
    );
    let (_, page) = dash.get("/dashboard/grants").await;
    assert!(
        page.contains("<dt>Its record of you</dt><dd>May add documents, promises and interactions"),
        "{page}"
    );

    // Ticked beside a field: both, and a grant without the box has no such right.
    let (status, _, _) = dash
        .post(
            "/dashboard/grants/new",
            &[
                ("business", "webshop.example"),
                ("field", "/profile/email"),
                ("purpose", "order delivery"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let grants = dash.vault.grants().unwrap();
    let reader = grants.iter().find(|g| !g.fields.is_empty()).unwrap();
    assert!(!reader.append_record);
}

/// A business asks through the grant API for the append right (and e-mail when `with_email`).
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
            "append_record": true,
            "purpose": "warranty papers",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let status: Value = response.json().await.unwrap();
    status["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_owner_approves_a_requested_append_right_or_refuses_it() {
    let dash = Dash::signed_in().await;
    let id = ask(&dash, true).await;
    let (_, page) = dash.get("/dashboard/requests").await;
    let check = format!("{id}-append-record");
    let checkbox = tag(&page, &check).unwrap_or_else(|| panic!("no checkbox: {page}"));
    assert_eq!(attr(checkbox, "name").as_deref(), Some("append_record"));
    assert!(attr(checkbox, "checked").is_some(), "ticked when asked");
    assert_eq!(control(&page, ASK), check);
    assert!(
        page.contains(
            "<dt>Its record of you</dt><dd>to add documents, promises and interactions to its record of you</dd>"
        ),
        "{page}"
    );

    // Approved as ticked: the grant may append.
    let (status, _, page) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[
                ("field", "/profile/email"),
                ("append_record", "1"),
                ("expires", "30d"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let status = dash.vault.access_request(&id, unix_now()).unwrap();
    assert!(status.append_record_granted);
    assert!(claims_of(&dash, status.token.as_deref().unwrap()).may_append_record());

    // Unticked: the fields alone.
    let id = ask(&dash, true).await;
    let (status, _, _) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[("field", "/profile/email")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let status = dash.vault.access_request(&id, unix_now()).unwrap();
    assert!(status.append_record_requested && !status.append_record_granted);
    assert!(!claims_of(&dash, status.token.as_deref().unwrap()).may_append_record());

    // Only the append right asked, and unticked: nothing left, refused on the card, and the
    // box shows as the owner left it.
    let id = ask(&dash, false).await;
    let (status, _, page) = dash
        .post(&format!("/dashboard/requests/{id}/approve"), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    let checkbox = tag(&page, &format!("{id}-append-record")).unwrap();
    assert_eq!(attr(checkbox, "checked"), None);
    assert_eq!(
        dash.vault.access_request(&id, unix_now()).unwrap().status,
        RequestStatus::Pending
    );
    assert_eq!(dash.vault.grants().unwrap().len(), 2);

    // Ticked, it alone is granted.
    let (status, _, page) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[("append_record", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let grants = dash.vault.grants().unwrap();
    let newest = grants.iter().find(|g| g.fields.is_empty()).unwrap();
    assert!(newest.append_record);
}
