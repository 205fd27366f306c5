//! Subscriptions through the SDK with a key-bound (DPoP) grant, as `GET /v1/data` is
//! authenticated: subscribe, list, rotate, unsubscribe; a bearer-presented key-bound token and
//! a proof for another method are refused; every call is in the owner's log.

use std::time::Duration;

use kluis::client::{BusinessKey, Client, Error};
use kluis::core::Pointer;
use kluis::core::access::Action;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::server::{AppState, serve};
use kluis::store::{KdfParams, Passphrase, Vault, unix_now};

#[tokio::test]
async fn a_key_bound_grant_manages_its_subscriptions_with_dpop() {
    let dir = tempfile::tempdir().unwrap();
    let vault =
        Vault::create(dir.path(), &Passphrase::new("pw"), KdfParams::OWASP_MINIMUM).unwrap();
    vault
        .replace_document(kluis::core::document::sample())
        .unwrap();
    let state = AppState::open(dir.path(), vault.unlocked()).unwrap();
    state.set_allow_local_webhooks(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, state, std::future::pending()));
    let client = Client::new(&base).unwrap();
    for _ in 0..100 {
        if client.jwks().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let key = BusinessKey::generate().unwrap();
    let (grant, token) = vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("shop.example").unwrap(),
                fields: vec![Pointer::parse("/profile/email").unwrap()],
                purpose: "receipts".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: Some(key.thumbprint()),
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();

    let made = client
        .subscribe(&key, &token, "http://127.0.0.1:9/hooks", true)
        .await
        .unwrap();
    assert!(made.secret.starts_with("whsec_") && made.public_key.starts_with("whpk_"));
    assert!(!format!("{made:?}").contains(made.secret.as_str()));
    let listed = client.subscriptions(&key, &token).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].status.as_str()),
        (made.id.as_str(), "active")
    );

    // The key-bound token as a bearer token, or with another key's proof, gets nothing.
    let bearer = reqwest::Client::new()
        .get(format!("{base}/v1/subscriptions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
    let thief = BusinessKey::generate().unwrap();
    assert!(matches!(
        client.subscriptions(&thief, &token).await,
        Err(Error::KeyMismatch { .. })
    ));

    let rotated = client
        .rotate_subscription_secret(&key, &token, &made.id)
        .await
        .unwrap();
    assert_ne!(rotated.secret.as_str(), made.secret.as_str());
    let stored = vault.subscription(&made.id, unix_now()).unwrap();
    assert_eq!(stored.secrets.len(), 2, "both secrets sign for a day");

    client.unsubscribe(&key, &token, &made.id).await.unwrap();
    assert!(client.subscriptions(&key, &token).await.unwrap().is_empty());
    assert!(client.unsubscribe(&key, &token, &made.id).await.is_err());
    assert!(matches!(
        client.unsubscribe(&key, &token, "sub_../../v1/data").await,
        Err(Error::Invalid(_))
    ));

    let actions: Vec<Action> = vault
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.grant.as_ref() == Some(&grant.id))
        .map(|e| e.record.action)
        .collect();
    assert!(actions.contains(&Action::SubscriptionCreate));
    assert!(actions.contains(&Action::SubscriptionDelete));
}
