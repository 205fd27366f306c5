//! The notifications page over HTTP against a real server: after a change, which business was
//! told of what and how its delivery stands (never a value); a paused subscription's "Send
//! again" (CSRF-guarded, logged) and "Send all" buttons; a delivery by the running dispatcher
//! shows when it arrived; the Dutch page; stored text shown as text.

mod common;
#[path = "common/html.rs"]
mod html;
#[path = "common/receiver.rs"]
mod receiver;

use std::time::Duration;

use common::{Dash, PASS};
use html::{attr, shows_as_text, tag, unescape};
use kluis_core::access::{Action, Actor};
use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_core::notify::{NewSubscription, Payload};
use kluis_store::{
    Deliveries, Delivery, DeliveryState, KdfParams, Passphrase, StreamState, StreamStatus, Vault,
    Via, unix_now,
};
use reqwest::StatusCode;
use serde_json::json;

/// A grant for `business` to the e-mail, and a `full` subscription of it to `url`.
fn subscribed(vault: &Vault, business: &str, url: &str) -> String {
    let (grant, _) = vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse(business).unwrap(),
                fields: vec![kluis_core::Pointer::parse("/profile/email").unwrap()],
                purpose: "order delivery".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();
    vault
        .create_subscription(
            &grant.id,
            NewSubscription {
                url: url.into(),
                payload: Payload::Full,
            },
            unix_now(),
        )
        .unwrap()
        .id
}

fn change_email(vault: &Vault, to: &str) {
    vault
        .owner(Via::Cli)
        .set(vec![(
            kluis_core::Pointer::parse("/profile/email").unwrap(),
            json!(to),
        )])
        .unwrap();
}

/// The only event's delivery went dead and paused its subscription, as the dispatcher records it.
fn went_dead(dash: &Dash, sub: &str) -> i64 {
    let seq = dash.vault.outbox_seqs_of(sub).unwrap()[0];
    let mut dead = Delivery::untried(seq);
    dead.state = DeliveryState::Dead;
    dead.attempts = 10;
    dead.last_at_ms = Some(unix_now() * 1000);
    dead.last_result = Some("answered 500 Internal Server Error".into());
    let paused = StreamStatus {
        state: StreamState::Paused,
        since_ms: unix_now() * 1000,
        reason: "event msg_x failed every attempt".into(),
    };
    Deliveries::open(dash.dir())
        .unwrap()
        .write(&[dead], &[(sub.to_owned(), Some(paused))])
        .unwrap();
    seq
}

fn state_of(dash: &Dash, seq: i64) -> Option<DeliveryState> {
    Deliveries::open(dash.dir())
        .unwrap()
        .all()
        .unwrap()
        .get(&seq)
        .map(|d| d.state)
}

#[tokio::test]
async fn the_page_lists_who_was_told_of_a_change_without_its_value() {
    let dash = Dash::signed_in().await;
    let (status, page) = dash.get("/dashboard/notifications").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No business has been sent a notification yet."));
    let sub = subscribed(&dash.vault, "shop.example", "https://shop.example/hooks");
    change_email(&dash.vault, "ann@secret.example");

    let (_, page) = dash.get("/dashboard/notifications").await;
    assert!(
        page.contains(
            r#"<a href="/dashboard/notifications" aria-current="page">Notifications</a>"#
        ),
        "{page}"
    );
    let text = unescape(&page);
    assert!(
        text.contains("<strong>shop.example</strong>: told that your "),
        "{text}"
    );
    assert!(text.contains("(with the new values)"));
    assert!(text.contains("(/profile/email)"));
    assert!(text.contains("Not sent yet."));
    assert!(text.contains(&sub));
    assert!(
        !page.contains("ann@secret.example"),
        "the page never shows a value"
    );
    assert!(
        !text.contains("Send again"),
        "nothing is paused, so nothing to send again"
    );
}

#[tokio::test]
async fn sending_again_needs_the_csrf_token_and_resumes_the_subscription() {
    let dash = Dash::signed_in().await;
    let sub = subscribed(&dash.vault, "bank.example", "https://bank.example/hooks");
    change_email(&dash.vault, "ann@new.example");
    let seq = went_dead(&dash, &sub);

    let (_, page) = dash.get("/dashboard/notifications").await;
    let text = unescape(&page);
    assert!(text.contains("Failed: all 10 attempts failed. Last answer: answered 500"));
    assert!(text.contains("Its subscription is paused."));
    assert!(text.contains("Failed notifications waiting: 1."));
    let heading = tag(&page, &format!("{sub}-who")).expect("the stopped card's heading");
    assert!(heading.starts_with("<h3"), "{heading}");
    let card = tag(&page, &sub).expect("the stopped card");
    assert_eq!(attr(card, "id").as_deref(), Some(sub.as_str()));
    assert!(page.contains(&format!(
        r#"<button type="submit" aria-describedby="{sub}-who">Send again</button>"#
    )));
    assert!(page.contains("Send all failed notifications again"));

    // Without the session's token, or from elsewhere: refused, nothing sent again.
    let path = "/dashboard/notifications/replay";
    let (status, _, _) = dash
        .post_raw(path, &[("stream", &sub)], Some(&dash.base))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = dash.csrf.clone().unwrap();
    let form = [("stream", sub.as_str()), ("csrf", csrf.as_str())];
    let (status, _, _) = dash
        .post_raw(path, &form, Some("https://evil.example"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = dash
        .post_raw("/dashboard/notifications/replay-all", &[], Some(&dash.base))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(state_of(&dash, seq), Some(DeliveryState::Dead));
    // Not a subscription: nothing to find.
    let (status, _, _) = dash.post(path, &[("stream", "sub_<script>")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, location, _) = dash.post(path, &[("stream", &sub)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, "/dashboard/notifications?replayed=1");
    assert_eq!(state_of(&dash, seq), Some(DeliveryState::Pending));
    let (_, page) = dash.get(&location).await;
    assert!(
        page.contains(r#"<p class="notice" role="status">1 notification will be sent again.</p>"#)
    );
    let text = unescape(&page);
    assert!(text.contains("To be sent again."), "{text}");
    assert!(!text.contains("Its subscription is paused."));
    assert!(!text.contains("Send all failed notifications again"));
    let replays: Vec<_> = dash
        .vault
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == Action::DeliveryReplay)
        .collect();
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0].record.actor, Actor::OwnerDashboard);

    // "Send all" with nothing dead left: said so, nothing logged.
    let (status, location, _) = dash.post("/dashboard/notifications/replay-all", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(page.contains("There were no failed notifications to send again."));
}

#[tokio::test]
async fn send_all_sends_every_paused_subscription_again() {
    let dash = Dash::signed_in().await;
    let shop = subscribed(&dash.vault, "shop.example", "https://shop.example/hooks");
    let bank = subscribed(&dash.vault, "bank.example", "https://bank.example/hooks");
    change_email(&dash.vault, "ann@new.example");
    let seqs = [went_dead(&dash, &shop), went_dead(&dash, &bank)];
    let (status, location, _) = dash.post("/dashboard/notifications/replay-all", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.unwrap(), "/dashboard/notifications?replayed=2");
    for seq in seqs {
        assert_eq!(state_of(&dash, seq), Some(DeliveryState::Pending));
    }
}

#[tokio::test]
async fn a_delivery_by_the_running_server_shows_when_it_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let vault =
        Vault::create(dir.path(), &Passphrase::new(PASS), KdfParams::OWASP_MINIMUM).unwrap();
    vault
        .replace_document(kluis_core::document::sample())
        .unwrap();
    let mut dash = Dash::serve_notifying(dir, vault, true).await;
    dash.sign_in(PASS).await;
    let (url, mut received) = receiver::receiver(axum::http::StatusCode::NO_CONTENT).await;
    subscribed(&dash.vault, "shop.example", &format!("{url}/hooks"));
    change_email(&dash.vault, "ann@arrived.example");
    let got = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the dispatcher delivers")
        .unwrap();
    assert_eq!(got.path, "/hooks");
    assert_eq!(got.json()["type"], "field.changed");
    for _ in 0..100 {
        let (_, page) = dash.get("/dashboard/notifications").await;
        if unescape(&page).contains(r#"<span class="ok">Arrived "#) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page never showed the delivery as arrived");
}

#[tokio::test]
async fn the_dutch_page_renders() {
    let dash = Dash::signed_in().await;
    let sub = subscribed(&dash.vault, "shop.example", "https://shop.example/hooks");
    change_email(&dash.vault, "ann@new.example");
    went_dead(&dash, &sub);
    let (status, _) = dash
        .get("/dashboard/lang/nl?back=/dashboard/notifications")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = dash.get("/dashboard/notifications").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<html lang="nl">"#));
    assert!(page.contains("<h1>Meldingen</h1>"));
    let text = unescape(&page);
    assert!(text.contains("gemeld dat uw "), "{text}");
    assert!(text.contains("Mislukt: alle 10 pogingen mislukten."));
    assert!(text.contains("Het abonnement is gepauzeerd."));
    assert!(text.contains(">Opnieuw verzenden</button>"));
    assert!(text.contains("Alle mislukte meldingen opnieuw verzenden"));
    let (_, location, _) = dash
        .post("/dashboard/notifications/replay", &[("stream", &sub)])
        .await;
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(page.contains("1 melding wordt opnieuw verzonden."));
}

#[tokio::test]
async fn a_businesss_callback_address_is_shown_as_text() {
    let dash = Dash::signed_in().await;
    let evil = "<script>alert(1)</script>";
    let jwk = kluis_core::jose::Jwk::from_verifying_key(
        &ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key(),
    );
    let response = dash
        .http
        .post(format!("{}/v1/requests", dash.base))
        .json(&json!({
            "business": {
                "id": "webshop.example", "name": "De Webwinkel", "contact": "Privacy Office",
                "email": "privacy@webshop.example", "address": "Keizersgracht 1, Amsterdam",
                "phone": "+31 20 123 4567",
            },
            "jwk": jwk,
            "fields": ["/profile/email"],
            "purpose": "order delivery",
            "callback_url": format!("https://webshop.example/{evil}"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = dash
        .post(&format!("/dashboard/requests/{id}/deny"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = dash.get("/dashboard/notifications").await;
    assert!(shows_as_text(&page, evil), "{page}");
    let text = unescape(&page);
    assert!(
        text.contains("webshop.example</strong>: sent your decision on its access request, to https://webshop.example/"),
        "{text}"
    );
    assert!(text.contains(&id), "the stream is the request");
}
