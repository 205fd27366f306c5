//! Access requests for the right to append to the business's relationship record: asked for
//! with or instead of fields, approved as asked or with it refused, and carried into the grant,
//! its token and the status the business polls.

mod common;

use common::vault;
use ed25519_dalek::SigningKey;
use kluis_core::contact::ContactRight;
use kluis_core::grant::NOTHING_GRANTED;
use kluis_core::jose::Jwk;
use kluis_core::token::{Expectations, GrantClaims, verify_grant};
use kluis_core::wire::{AccessRequestBody, BusinessInfo, RequestStatus};
use kluis_store::{AppendChoice, ContactChoice, Vault};

const NOW: i64 = 1_800_000_000;

fn body(fields: &[&str], contact: Option<ContactRight>, append_record: bool) -> AccessRequestBody {
    AccessRequestBody {
        business: BusinessInfo::new("shop.example", "De Winkel B.V.")
            .with_contact("Privacy Desk")
            .with_email("privacy@shop.example")
            .with_address("Winkelstraat 1, 1000 AA Amsterdam")
            .with_phone("+31 20 000 0000"),
        jwk: Jwk::from_verifying_key(&SigningKey::from_bytes(&[7; 32]).verifying_key()),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        contact,
        append_record,
        purpose: "keep your warranty papers with your purchases".into(),
        purpose_category: None,
        duration_secs: Some(86_400),
        callback_url: None,
    }
}

fn claims_of(v: &Vault, token: &str) -> GrantClaims {
    verify_grant(
        token,
        |kid| v.verifying_key(kid).unwrap(),
        &Expectations {
            issuer: &v.issuer(),
            audience: Some("shop.example"),
            now: NOW + 10,
            leeway: 0,
        },
    )
    .unwrap()
}

fn approve(
    v: &Vault,
    id: &str,
    contact: ContactChoice,
    append: AppendChoice,
) -> kluis_store::Result<(
    kluis_core::wire::AccessRequestStatus,
    kluis_core::grant::Grant,
)> {
    v.approve_request_with(id, None, contact, append, None, NOW + 1)
}

#[test]
fn an_append_only_request_approved_as_asked_gives_a_grant_that_may_append() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let created = v
        .create_access_request(&body(&[], None, true), NOW)
        .unwrap();
    assert!(created.append_record_requested);
    assert!(!created.append_record_granted);
    assert!(created.fields_requested.is_empty());
    let polled = serde_json::to_value(v.access_request(&created.id, NOW).unwrap()).unwrap();
    assert_eq!(polled["append_record_requested"], true, "{polled}");
    assert!(polled.get("append_record_granted").is_none(), "{polled}");

    let (status, grant) = approve(
        &v,
        &created.id,
        ContactChoice::AsAsked,
        AppendChoice::AsAsked,
    )
    .unwrap();
    assert_eq!(status.status, RequestStatus::Approved);
    assert!(status.append_record_requested && status.append_record_granted);
    assert!(grant.append_record);
    assert!(grant.fields.is_empty() && grant.contact.is_none());
    let claims = claims_of(&v, status.token.as_deref().unwrap());
    assert!(claims.may_append_record());
    assert!(claims.fields().is_empty());
    // The decision is kept: a later poll says the same.
    let again = v.access_request(&created.id, NOW + 2).unwrap();
    assert!(again.append_record_granted);
    assert_eq!(v.grant(&grant.id).unwrap(), grant);
}

#[test]
fn the_owner_refuses_the_append_right_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = v
        .create_access_request(&body(&["/profile/email"], None, true), NOW)
        .unwrap()
        .id;
    let (status, grant) = approve(&v, &id, ContactChoice::AsAsked, AppendChoice::Refuse).unwrap();
    assert!(!grant.append_record);
    assert_eq!(grant.fields.len(), 1);
    assert!(status.append_record_requested && !status.append_record_granted);
    let claims = claims_of(&v, status.token.as_deref().unwrap());
    assert!(!claims.may_append_record());
    assert_eq!(claims.fields(), ["/profile/email"]);

    // A contact right refused, the append right kept.
    let right = ContactRight {
        channels: vec!["inbox".into()],
        topics: vec!["orders".into()],
    };
    let id = v
        .create_access_request(&body(&[], Some(right), true), NOW)
        .unwrap()
        .id;
    let (status, grant) = approve(&v, &id, ContactChoice::Refuse, AppendChoice::AsAsked).unwrap();
    assert!(grant.append_record && grant.contact.is_none());
    assert!(status.contact_granted.is_none() && status.append_record_granted);

    // Not asked: "as asked" grants no append right.
    let id = v
        .create_access_request(&body(&["/profile/email"], None, false), NOW)
        .unwrap()
        .id;
    let (status, grant) = approve(&v, &id, ContactChoice::AsAsked, AppendChoice::AsAsked).unwrap();
    assert!(!grant.append_record && !status.append_record_requested);
    assert!(!claims_of(&v, status.token.as_deref().unwrap()).may_append_record());
}

#[test]
fn an_append_only_request_with_the_right_refused_leaves_nothing_and_stays_pending() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = v
        .create_access_request(&body(&[], None, true), NOW)
        .unwrap()
        .id;
    let err = approve(&v, &id, ContactChoice::AsAsked, AppendChoice::Refuse).unwrap_err();
    assert_eq!(err.to_string(), NOTHING_GRANTED);
    assert_eq!(
        v.access_request(&id, NOW + 2).unwrap().status,
        RequestStatus::Pending
    );
    assert!(v.grants().unwrap().is_empty());
    assert!(v.receipts().unwrap().is_empty());
    // Asking for nothing at all is refused when asked.
    let err = v
        .create_access_request(&body(&[], None, false), NOW)
        .unwrap_err();
    assert!(err.to_string().contains("fields must name 1 to"), "{err}");
    assert_eq!(v.access_requests(NOW).unwrap().len(), 1);
}
