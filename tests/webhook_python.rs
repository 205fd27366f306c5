//! Kluis's webhook signatures verify with the Standard Webhooks reference library for Python, and
//! with the SDK's verifier, on the same bytes. The delivery is made here with the core's `sign`
//! for now; a delivery captured from the running vault can go through the same helpers.

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
