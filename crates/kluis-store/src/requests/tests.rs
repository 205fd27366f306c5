//! Requests at rest as older versions wrote them.
use super::*;
use crate::{KdfParams, Passphrase};
use ed25519_dalek::SigningKey;
use kluis_core::jose::Jwk;
use kluis_core::receipt::verify_receipt;
use kluis_core::wire::BusinessInfo;
use serde_json::json;

const NOW: i64 = 1_800_000_000;

fn body() -> AccessRequestBody {
    AccessRequestBody {
        business: BusinessInfo::new("webshop.example", "De Webwinkel")
            .with_contact("Privacy Office")
            .with_email("privacy@webshop.example")
            .with_address("Keizersgracht 1, 1015 AA Amsterdam")
            .with_phone("+31 20 123 4567"),
        jwk: Jwk::from_verifying_key(&SigningKey::from_bytes(&[42; 32]).verifying_key()),
        fields: vec!["/profile/email".into()],
        contact: None,
        append_record: false,
        purpose: "order delivery".into(),
        purpose_category: None,
        duration_secs: None,
        callback_url: None,
    }
}

/// Rewrites the sealed record of request `id` with `edit`, as an older version could have
/// written it.
fn rewrite(v: &Vault, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let place = v.place(TABLE, id.as_bytes());
    let sealed: Vec<u8> = v
        .conn
        .query_row(
            "SELECT sealed FROM access_requests WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    let plain = v.unlocked.keys.open(&place, &sealed).unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    edit(&mut record);
    let resealed = v
        .unlocked
        .keys
        .seal(&place, &serde_json::to_vec(&record).unwrap())
        .unwrap();
    v.conn
        .execute(
            "UPDATE access_requests SET sealed = ?2 WHERE id = ?1",
            (id, resealed),
        )
        .unwrap();
}

#[test]
fn a_request_stored_before_address_and_phone_opens_and_is_approved() {
    let dir = tempfile::tempdir().unwrap();
    let v = Vault::create(
        dir.path(),
        &Passphrase::new("pass phrase"),
        KdfParams::OWASP_MINIMUM,
    )
    .unwrap();
    let id = v.create_access_request(&body(), NOW).unwrap().id;
    let old_business = json!({
        "id": "webshop.example",
        "name": "De Webwinkel",
        "contact": "privacy@webshop.example",
    });
    rewrite(&v, &id, |r| r["request"]["business"] = old_business.clone());

    let stored = v.stored_request(&id, NOW + 1).unwrap();
    let business = &stored.request.business;
    assert_eq!(business.contact.as_deref(), Some("privacy@webshop.example"));
    assert_eq!(
        (&business.email, &business.address, &business.phone),
        (&None, &None, &None)
    );
    assert_eq!(v.access_requests(NOW + 1).unwrap(), [stored]);

    let (status, _) = v.approve_request(&id, None, None, NOW + 2).unwrap();
    let jwks = v.jwks(NOW + 3).unwrap();
    let receipt = verify_receipt(status.receipt.as_deref().unwrap(), |kid| jwks.find(kid)).unwrap();
    let controller = serde_json::to_value(&receipt.pii_controllers[0]).unwrap();
    assert_eq!(
        controller,
        json!({
            "piiController": "De Webwinkel",
            "onBehalf": false,
            "contact": "privacy@webshop.example",
            "email": "privacy@webshop.example",
        })
    );
    // The decision is saved, and the record still reads without the new members.
    let decided = v.stored_request(&id, NOW + 3).unwrap();
    assert_eq!(decided.status, RequestStatus::Approved);
    assert_eq!(
        decided.request.business.to_info(),
        serde_json::from_value(old_business).unwrap()
    );
}
