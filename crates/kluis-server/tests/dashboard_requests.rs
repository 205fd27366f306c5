//! The access requests and receipts pages over HTTP against a real server: requests arrive
//! through the grant API (`POST /v1/requests`), the owner approves some of the fields or denies
//! with a reason, the business learns it by polling or, signed, at its callback URL, and the
//! receipt an approval signs is listed, shown and downloaded as signed.

mod common;
#[path = "common/html.rs"]
mod html;
#[path = "common/receiver.rs"]
mod receiver;

use std::time::Duration;

use common::{Dash, PASS};
use ed25519_dalek::SigningKey;
use html::{attr, control, shows_as_text, tag, text_of, unescape, value_of};
use kluis_core::access::{Action, Actor};
use kluis_core::jose::{Jwk, Jwks};
use kluis_core::token::{Expectations, verify_grant};
use kluis_store::{KdfParams, Passphrase, Vault, unix_now};
use receiver::receiver;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A business asks, through the grant API, for e-mail, address and phone for 14 days; `edit`
/// changes the body first. Returns the request's id.
async fn ask(dash: &Dash, edit: impl FnOnce(&mut Value)) -> String {
    let jwk = Jwk::from_verifying_key(&SigningKey::from_bytes(&[5; 32]).verifying_key());
    let mut body = json!({
        "business": {
            "id": "webshop.example", "name": "De Webwinkel", "contact": "Privacy Office",
            "email": "privacy@webshop.example", "address": "Keizersgracht 1, 1015 AA Amsterdam",
            "phone": "+31 20 123 4567",
        },
        "jwk": jwk,
        "fields": ["/profile/email", "/profile/address", "/profile/phone_number"],
        "purpose": "order delivery",
        "purpose_category": "contract",
        "duration_secs": 14 * 86_400,
    });
    edit(&mut body);
    let response = dash
        .http
        .post(format!("{}/v1/requests", dash.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let status: Value = response.json().await.unwrap();
    status["id"].as_str().unwrap().to_owned()
}

/// What the business sees when it polls.
async fn poll(dash: &Dash, id: &str) -> Value {
    dash.http
        .get(format!("{}/v1/requests/{id}", dash.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The card of request `id` on a page.
fn card<'p>(page: &'p str, id: &str) -> &'p str {
    let start = page
        .find(&format!("<li id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no card {id}: {page}"));
    let rest = &page[start..];
    &rest[..rest.find("\n    </li>").unwrap_or(rest.len())]
}

fn owner_actions(dash: &Dash) -> Vec<Action> {
    dash.vault
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.actor == Actor::OwnerDashboard)
        .map(|e| e.record.action)
        .collect()
}

#[tokio::test]
async fn approving_a_subset_gives_a_token_for_only_that_subset() {
    let dash = Dash::signed_in().await;
    let id = ask(&dash, |_| {}).await;
    let (status, page) = dash.get("/dashboard/requests").await;
    assert_eq!(status, StatusCode::OK);
    let waiting = &page[page.find("id=\"waiting\"").unwrap()..page.find("id=\"decided\"").unwrap()];
    let mine = card(waiting, &id);
    for shown in [
        "De Webwinkel",
        "webshop.example",
        "<dt>Contact</dt><dd>Privacy Office</dd>",
        "<dt>E-mail</dt><dd>privacy@webshop.example</dd>",
        "<dt>Postal address</dt><dd>Keizersgracht 1, 1015 AA Amsterdam</dd>",
        "<dt>Phone</dt><dd>+31 20 123 4567</dd>",
        "order delivery",
        "contract",
        "14 days",
        "address, e-mail and phone number",
    ] {
        assert!(mine.contains(shown), "{shown} in {mine}");
    }
    // The key the grant will be bound to, for the owner to compare with the business's.
    let jwk = Jwk::from_verifying_key(&SigningKey::from_bytes(&[5; 32]).verifying_key());
    assert!(mine.contains(&kluis_core::jose::thumbprint(&jwk)), "{mine}");
    // A box per asked field, all ticked, each labelled; the asked duration chosen.
    for label in ["e-mail", "address", "phone number"] {
        let boxed = control(mine, label);
        assert!(
            attr(tag(mine, &boxed).unwrap(), "checked").is_some(),
            "{label}"
        );
    }
    let expires = control(mine, "Expires after");
    let select = &mine[mine.find(&format!("id=\"{expires}\"")).unwrap()..];
    assert!(
        select.contains(r#"<option value="1209600s" selected>14 days (asked)</option>"#),
        "{select}"
    );
    control(mine, "Reason (optional)");

    // Nothing ticked: refused on this card, still pending.
    let approve = format!("/dashboard/requests/{id}/approve");
    let (status, _, refused) = dash.post(&approve, &[("expires", "7d")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = text_of(&refused, &format!("{id}-fields-error")).unwrap();
    assert!(error.contains("Tick at least one field"), "{error}");
    assert_eq!(poll(&dash, &id).await["status"], "pending");

    let email = value_of(mine, "e-mail");
    let (status, location, _) = dash
        .post(&approve, &[("field", email.as_str()), ("expires", "7d")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, format!("/dashboard/requests?approved={id}#{id}"));

    // The business polls: approved, a token for the e-mail alone, for 7 days, bound to its key.
    let decided = poll(&dash, &id).await;
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["fields_granted"], json!(["/profile/email"]));
    let jwks: Jwks = dash
        .http
        .get(format!("{}/.well-known/jwks.json", dash.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = unix_now();
    let issuer = dash.vault.unlocked().issuer();
    let claims = verify_grant(
        decided["token"].as_str().unwrap(),
        |kid| jwks.find(kid),
        &Expectations {
            issuer: &issuer,
            audience: Some("webshop.example"),
            now,
            leeway: 0,
        },
    )
    .unwrap();
    assert_eq!(claims.fields(), ["/profile/email"]);
    assert!(
        (claims.exp - now - 7 * 86_400).abs() < 60,
        "{}",
        claims.exp - now
    );
    assert!(claims.cnf.is_some());
    assert_eq!(
        owner_actions(&dash),
        [Action::SignIn, Action::RequestApprove]
    );

    let (_, after) = dash.get(&location).await;
    assert!(
        after.contains("Approved: De Webwinkel (webshop.example) may read your e-mail until"),
        "{after}"
    );
    let decided_section = &after[after.find("id=\"decided\"").unwrap()..];
    let done = card(decided_section, &id);
    assert!(done.contains("Approved on"), "{done}");
    let granted = decided["grant_id"].as_str().unwrap();
    assert!(done.contains(&format!("/dashboard/grants?grant={granted}#{granted}")));
    assert!(!done.contains("<form"), "a decided request has no forms");

    // Deciding again: 409 with the store's words, nothing changes.
    let (status, _, again) = dash
        .post(&format!("/dashboard/requests/{id}/deny"), &[])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(again.contains("was already approved"), "{again}");
    assert_eq!(poll(&dash, &id).await["status"], "approved");
}

#[tokio::test]
async fn approving_every_field_asked_approves_the_request_as_asked() {
    let dash = Dash::signed_in().await;
    let id = ask(&dash, |_| {}).await;
    let fields = [
        ("field", "/profile/address"),
        ("field", "/profile/email"),
        ("field", "/profile/phone_number"),
        ("expires", "1209600s"),
    ];
    let (status, _, _) = dash
        .post(&format!("/dashboard/requests/{id}/approve"), &fields)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let decided = poll(&dash, &id).await;
    assert_eq!(decided["fields_granted"], decided["fields_requested"]);
    let lasts = decided["expires_at"].as_i64().unwrap() - unix_now();
    assert!((lasts - 14 * 86_400).abs() < 60, "{lasts}");
    // A field it did not ask for cannot be slipped in.
    let other = ask(&dash, |b| b["fields"] = json!(["/profile/email"])).await;
    let (status, _, refused) = dash
        .post(
            &format!("/dashboard/requests/{other}/approve"),
            &[("field", "/profile/birthdate")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused.contains("did not ask for /profile/birthdate"),
        "{refused}"
    );
    assert_eq!(poll(&dash, &other).await["status"], "pending");
}

#[tokio::test]
async fn denying_with_a_reason_tells_the_business_the_reason() {
    let dash = Dash::signed_in().await;
    let id = ask(&dash, |_| {}).await;
    let deny = format!("/dashboard/requests/{id}/deny");
    let long = "x".repeat(501);
    let (status, _, refused) = dash.post(&deny, &[("reason", long.as_str())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text_of(&refused, &format!("{id}-reason-error"))
            .unwrap()
            .contains("500")
    );
    assert!(refused.contains(&long), "what was typed is kept");
    assert_eq!(poll(&dash, &id).await["status"], "pending");

    let (status, location, _) = dash
        .post(&deny, &[("reason", "  I do not shop there  ")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, format!("/dashboard/requests?denied={id}#{id}"));
    let decided = poll(&dash, &id).await;
    assert_eq!(decided["status"], "denied");
    assert_eq!(decided["reason"], "I do not shop there");
    assert!(decided.get("token").is_none());
    assert_eq!(owner_actions(&dash), [Action::SignIn, Action::RequestDeny]);
    let (_, after) = dash.get(&location).await;
    assert!(after.contains("Denied: De Webwinkel (webshop.example) learns that you said no."));
    let done = card(&after, &id);
    assert!(done.contains("Your reason: I do not shop there"), "{done}");

    // Without a reason: denied all the same, and the business reads no reason.
    let quiet = ask(&dash, |_| {}).await;
    let (status, _, _) = dash
        .post(
            &format!("/dashboard/requests/{quiet}/deny"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let decided = poll(&dash, &quiet).await;
    assert_eq!(decided["status"], "denied");
    assert!(decided.get("reason").is_none());
    // Unknown requests: a 404 page.
    for path in [
        "/dashboard/requests/r_aaaaaaaaaaaaaaaaaaaaaaaaaa/deny",
        "/dashboard/requests/nonsense/approve",
    ] {
        assert_eq!(
            dash.post(path, &[]).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

/// A vault with the sample document, served with the dispatcher running (local deliveries only
/// if `allow_local`, as `kluis serve --allow-local-webhooks`), signed in.
async fn notifying(allow_local: bool) -> Dash {
    let dir = tempfile::tempdir().unwrap();
    let vault =
        Vault::create(dir.path(), &Passphrase::new(PASS), KdfParams::OWASP_MINIMUM).unwrap();
    vault
        .replace_document(kluis_core::document::sample())
        .unwrap();
    let mut dash = Dash::serve_notifying(dir, vault, allow_local).await;
    dash.sign_in(PASS).await;
    dash
}

#[tokio::test]
async fn the_decision_reaches_a_local_callback_signed_only_when_allowed() {
    // Allowed: the server's dispatcher delivers the decision to the business on 127.0.0.1.
    let dash = notifying(true).await;
    let (base, mut told) = receiver(StatusCode::OK).await;
    let url = format!("{base}/kluis/callback");
    let webhook_key = format!("{}/.well-known/webhook-key", dash.base);
    let none = dash.http.get(&webhook_key).send().await.unwrap();
    assert_eq!(
        none.status(),
        StatusCode::NOT_FOUND,
        "no key before it is needed"
    );
    assert_eq!(none.headers()["content-type"], "application/problem+json");
    let id = ask(&dash, |b| b["callback_url"] = json!(url)).await;
    // The business can learn the key that signs it before the decision comes.
    let key: Value = dash
        .http
        .get(&webhook_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let whpk = key["public_key"].as_str().unwrap();
    let (status, location, _) = dash
        .post(
            &format!("/dashboard/requests/{id}/approve"),
            &[("field", "/profile/email")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, format!("/dashboard/requests?approved={id}#{id}"));
    let got = tokio::time::timeout(Duration::from_secs(5), told.recv())
        .await
        .expect("the decision arrives")
        .unwrap();
    assert_eq!(got.path, "/kluis/callback");
    got.verify_with(whpk)
        .expect("signed with the vault's webhook key");
    let signatures = got.headers["webhook-signature"].to_str().unwrap();
    assert!(
        signatures.split(' ').all(|s| s.starts_with("v1a,")),
        "a request has no shared secret: only v1a ({signatures})"
    );
    let body = got.json();
    assert_eq!(body["type"], "request.decided");
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["status"], "approved");
    assert_eq!(body["data"]["fields_granted"], json!(["/profile/email"]));
    assert_eq!(body["data"]["token"], poll(&dash, &id).await["token"]);
    let (_, page) = dash.get(&location).await;
    assert!(
        unescape(&page).contains(&format!(
            "The decision is sent, signed, to the business's callback address {url}. <a href=\"/dashboard/notifications\">"
        )),
        "{page}"
    );

    // Not allowed (the default): not contacted, and the notifications page says why.
    let dash = notifying(false).await;
    let (base, mut told) = receiver(StatusCode::OK).await;
    let id = ask(&dash, |b| {
        b["callback_url"] = json!(format!("{base}/kluis/callback"))
    })
    .await;
    let (status, location, _) = dash
        .post(
            &format!("/dashboard/requests/{id}/deny"),
            &[("reason", "no")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.unwrap(),
        format!("/dashboard/requests?denied={id}#{id}")
    );
    let mut shown = String::new();
    for _ in 0..100 {
        shown = unescape(&dash.get("/dashboard/notifications").await.1);
        if shown.contains("Not arrived yet (1 failed so far)") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        shown.contains("Not arrived yet (1 failed so far)"),
        "{shown}"
    );
    assert!(
        shown.contains("not contacted: it leads to 127.0.0.1"),
        "{shown}"
    );
    assert!(shown.contains("--allow-local-webhooks"), "{shown}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), told.recv())
            .await
            .is_err(),
        "nothing reached the local server"
    );
    assert_eq!(
        poll(&dash, &id).await["status"],
        "denied",
        "the decision stands"
    );
}

#[tokio::test]
async fn a_businesss_texts_are_shown_as_text() {
    let dash = Dash::signed_in().await;
    let evil = "<script>alert(1)</script>";
    let id = ask(&dash, |b| {
        b["business"]["name"] = json!(evil);
        b["business"]["contact"] = json!(format!("{evil} office"));
        b["business"]["email"] = json!(format!("{evil}@x.example"));
        b["business"]["address"] = json!(format!("{evil} street 1"));
        b["purpose"] = json!(evil);
        b["purpose_category"] = json!(evil);
        // No dispatcher runs here: nothing is sent (the test needs no network).
        b["callback_url"] = json!(format!("http://127.0.0.1:9/{evil}"));
    })
    .await;
    let (_, page) = dash.get("/dashboard/requests").await;
    assert!(shows_as_text(&page, evil), "{page}");
    let (_, overview) = dash.get("/dashboard/").await;
    assert!(shows_as_text(&overview, evil));
    dash.post(
        &format!("/dashboard/requests/{id}/approve"),
        &[("field", "/profile/email")],
    )
    .await;
    for path in [
        "/dashboard/requests",
        "/dashboard/grants",
        "/dashboard/receipts",
    ] {
        let (status, page) = dash.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(shows_as_text(&page, evil), "{path}: {page}");
    }
    let receipt = &dash.vault.receipts().unwrap()[0];
    let (_, shown) = dash
        .get(&format!("/dashboard/receipts/{}", receipt.id))
        .await;
    assert!(shows_as_text(&shown, evil), "{shown}");
}

#[tokio::test]
async fn receipts_are_listed_shown_and_downloaded_as_signed() {
    let dash = Dash::signed_in().await;
    let (_, empty) = dash.get("/dashboard/receipts").await;
    assert!(empty.contains("There are no receipts yet"), "{empty}");
    let id = ask(&dash, |_| {}).await;
    dash.post(
        &format!("/dashboard/requests/{id}/approve"),
        &[("field", "/profile/email"), ("field", "/profile/address")],
    )
    .await;
    let stored = dash.vault.receipts().unwrap();
    assert_eq!(stored.len(), 1);
    let receipt = &stored[0];

    let (status, list) = dash.get("/dashboard/receipts").await;
    assert_eq!(status, StatusCode::OK);
    let view = format!("/dashboard/receipts/{}", receipt.id);
    assert!(list.contains(&format!("href=\"{view}\"")), "{list}");
    assert!(list.contains("De Webwinkel (webshop.example)"));
    assert!(list.contains("the consent holds"), "{list}");

    let (status, shown) = dash.get(&view).await;
    assert_eq!(status, StatusCode::OK);
    let (kid, _) = dash.vault.signing_key().unwrap();
    let text = unescape(&shown);
    for part in [
        "De Webwinkel (webshop.example)",
        "<dt>Contact</dt><dd>Privacy Office</dd>",
        "<dt>E-mail</dt><dd>privacy@webshop.example</dd>",
        "<dt>Postal address</dt><dd>Keizersgracht 1, 1015 AA Amsterdam</dd>",
        "<dt>Phone</dt><dd>+31 20 123 4567</dd>",
        "order delivery",
        "contract",
        "EXPLICIT",
        "e-mail",
        "/profile/email",
        "address",
        "/profile/address",
        &format!("Signed by the vault's key {kid}"),
        receipt.grant_id.as_str(),
    ] {
        assert!(text.contains(part), "{part} in {shown}");
    }
    assert!(shown.contains(&format!("href=\"{view}/download\"")));

    let response = dash.get_response(&format!("{view}/download")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/jose");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{}.jws\"", receipt.id).as_str()
    );
    assert_eq!(response.bytes().await.unwrap(), receipt.jws.as_bytes());

    // Revoking the grant shows against the consent it ends.
    dash.post(
        &format!("/dashboard/grants/{}/revoke", receipt.grant_id),
        &[],
    )
    .await;
    let (_, list) = dash.get("/dashboard/receipts").await;
    assert!(list.contains("the consent ended: revoked on"), "{list}");

    for path in [
        "/dashboard/receipts/00000000-0000-4000-8000-000000000000",
        "/dashboard/receipts/nonsense",
        "/dashboard/receipts/00000000-0000-4000-8000-000000000000/download",
    ] {
        let (status, page) = dash.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("There is no receipt"), "{page}");
    }
}
