//! Kluis's webhook signatures verify with the Standard Webhooks reference library for Python, and
//! with the SDK's verifier, on the same bytes: one made with the core's `sign` mid-rotation, and
//! one real delivery captured from the vault's dispatcher.

mod common;

use ed25519_dalek::SigningKey;
use kluis::client::webhook::{Event, WebhookVerifier};
use kluis::core::Pointer;
use kluis::core::grant::GrantId;
use kluis::core::notify::{Event as Payload, EventType, FieldChanged};
use kluis::core::webhook::{Secret, SigningKeys, sign};
use kluis::store::unix_now;

use common::python::{Capture, python_standardwebhooks_refuses, python_standardwebhooks_verifies};

#[test]
fn a_signed_delivery_verifies_with_the_python_library_and_the_sdk() {
    // Mid-rotation, as the hardest case: two secrets and the Ed25519 key all sign.
    let old = Secret::random().unwrap();
    let new = Secret::random().unwrap();
    let key = SigningKey::from_bytes(&[4; 32]);
    let data = FieldChanged {
        grant_id: GrantId::from_random([7; 16]),
        subject: "pairwise-subject".into(),
        change_id: "c_1".into(),
        changed: vec![Pointer::parse("/profile/email").unwrap()],
        values: None,
    };
    let now = unix_now();
    let body = Payload::new(EventType::FieldChanged, now, &data).to_body();
    let id = "msg_2xRkXoWWaBmLpaz9S4FZcnLVtzv";
    let secrets = [old.clone(), new.clone()];
    let signature = sign(
        &SigningKeys {
            secrets: &secrets,
            ed25519: Some(&key),
        },
        id,
        now,
        &body,
    );
    assert_eq!(signature.split(' ').count(), 3, "{signature}");

    let dir = tempfile::tempdir().unwrap();
    for (name, secret) in [("old", &old), ("new", &new)] {
        let path = dir.path().join(format!("{name}.json"));
        Capture {
            secret: &secret.to_text(),
            id,
            timestamp: now,
            signature: &signature,
            body: &body,
        }
        .write(&path);
        python_standardwebhooks_verifies(&path);
    }
    // The check can fail: a secret the vault did not sign with is refused.
    let stranger = dir.path().join("stranger.json");
    Capture {
        secret: &Secret::random().unwrap().to_text(),
        id,
        timestamp: now,
        signature: &signature,
        body: &body,
    }
    .write(&stranger);
    python_standardwebhooks_refuses(&stranger);

    let verifier = WebhookVerifier::new([new.to_text().as_str()]).unwrap();
    let notification = verifier
        .verify_parts(id, &now.to_string(), &signature, &body)
        .unwrap();
    assert_eq!(notification.event, Event::FieldChanged(data));
}

/// A real delivery: the server's dispatcher sends a change to a receiver here, and the Python
/// library verifies exactly what arrived (it proves the format, not our own verifier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_delivery_from_the_vault_verifies_with_the_python_library() {
    use std::sync::{Arc, Mutex};

    use kluis::core::grant::{BusinessId, GrantRequest};
    use kluis::server::notify::{Dispatcher, Options};
    use kluis::store::Via;
    use serde_json::{Value, json};

    let server = common::Server::start().await;
    let (grant, _token) = server
        .vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("shop.example").unwrap(),
                fields: vec![Pointer::parse("/profile/email").unwrap()],
                purpose: "receipts".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();
    type Got = (String, String, String, Vec<u8>);
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let h = |n: &str| headers[n].to_str().unwrap().to_owned();
                keep.lock().unwrap().push((
                    h("webhook-id"),
                    h("webhook-timestamp"),
                    h("webhook-signature"),
                    body.to_vec(),
                ));
                axum::http::StatusCode::NO_CONTENT
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    // The dispatcher `kluis serve` runs, here next to the test's server; local receivers allowed.
    let dispatcher = Dispatcher::start(
        &server.path(),
        server.vault.unlocked(),
        Options {
            allow_local: true,
            ..Options::default()
        },
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    // The server refuses http:// subscriptions unless local webhooks are allowed: subscribe
    // through the store, as the API would.
    let sub = server
        .vault
        .create_subscription(
            &grant.id,
            kluis::core::notify::NewSubscription {
                url: hook,
                payload: kluis::core::notify::Payload::Full,
            },
            unix_now(),
        )
        .unwrap();
    server
        .vault
        .owner(Via::Cli)
        .set(vec![(
            Pointer::parse("/profile/email").unwrap(),
            json!("anna@new.example"),
        )])
        .unwrap();
    dispatcher.waker().wake();
    let mut waited = 0;
    while got.lock().unwrap().is_empty() {
        assert!(waited < 250, "no delivery within 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    let (id, timestamp, signature, body) = got.lock().unwrap()[0].clone();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        event["data"]["values"]["/profile/email"],
        "anna@new.example"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.json");
    Capture {
        secret: &sub.secrets[0].to_text(),
        id: &id,
        timestamp: timestamp.parse().unwrap(),
        signature: &signature,
        body: &body,
    }
    .write(&path);
    python_standardwebhooks_verifies(&path);
    let public =
        kluis::core::webhook::public_key_text(&server.vault.webhook_key().unwrap().verifying_key());
    let verifier = WebhookVerifier::new([public.as_str()]).unwrap();
    assert!(
        verifier
            .verify_parts(&id, &timestamp, &signature, &body)
            .is_ok()
    );
    tokio::task::spawn_blocking(move || dispatcher.stop())
        .await
        .unwrap();
}
