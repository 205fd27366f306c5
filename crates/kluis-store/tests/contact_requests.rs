//! Access requests for a contact right: asked for with or instead of fields, approved whole,
//! in part or not at all, and carried into the grant and its token.

mod common;

use common::vault;
use ed25519_dalek::SigningKey;
use kluis_core::contact::ContactRight;
use kluis_core::jose::Jwk;
use kluis_core::token::{Expectations, verify_grant};
use kluis_core::wire::{AccessRequestBody, BusinessInfo, RequestStatus};
use kluis_store::{AppendChoice, ContactChoice, Vault};

const NOW: i64 = 1_800_000_000;

fn right(channels: &[&str], topics: &[&str]) -> ContactRight {
    ContactRight {
        channels: channels.iter().map(|s| s.to_string()).collect(),
        topics: topics.iter().map(|s| s.to_string()).collect(),
    }
}

fn body(fields: &[&str], contact: Option<ContactRight>) -> AccessRequestBody {
    AccessRequestBody {
        business: BusinessInfo::new("shop.example", "De Winkel B.V.")
            .with_contact("Privacy Desk")
            .with_email("privacy@shop.example")
            .with_address("Winkelstraat 1, 1000 AA Amsterdam")
            .with_phone("+31 20 000 0000"),
        jwk: Jwk::from_verifying_key(&SigningKey::from_bytes(&[7; 32]).verifying_key()),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        append_record: false,
        contact,
        purpose: "tell you about your orders".into(),
        purpose_category: None,
        duration_secs: Some(86_400),
        callback_url: None,
    }
}

fn token_right(v: &Vault, token: &str) -> Option<ContactRight> {
    let claims = verify_grant(
        token,
        |kid| v.verifying_key(kid).unwrap(),
        &Expectations {
            issuer: &v.issuer(),
            audience: Some("shop.example"),
            now: NOW + 10,
            leeway: 0,
        },
    )
    .unwrap();
    claims.contact_right()
}

#[test]
fn a_contact_only_request_approved_as_asked_gives_a_grant_without_fields() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let asked = right(&["inbox", "email"], &["orders", "news"]);
    let created = v
        .create_access_request(&body(&[], Some(asked.clone())), NOW)
        .unwrap();
    assert_eq!(created.fields_requested, Vec::<String>::new());
    assert_eq!(
        created.contact_requested,
        Some(right(&["email", "inbox"], &["news", "orders"]))
    );
    let (status, grant) = v
        .approve_request_with(
            &created.id,
            None,
            ContactChoice::AsAsked,
            AppendChoice::AsAsked,
            None,
            NOW + 1,
        )
        .unwrap();
    assert_eq!(status.status, RequestStatus::Approved);
    assert!(grant.fields.is_empty());
    assert_eq!(status.contact_granted, grant.contact);
    assert_eq!(
        grant.contact,
        Some(right(&["email", "inbox"], &["news", "orders"]))
    );
    assert_eq!(
        token_right(&v, status.token.as_deref().unwrap()),
        grant.contact
    );
}

#[test]
fn the_owner_approves_part_of_a_contact_right_or_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let asked = right(&["inbox", "email"], &["orders", "news"]);
    let id = v
        .create_access_request(&body(&["/profile/email"], Some(asked.clone())), NOW)
        .unwrap()
        .id;
    let keep = right(&["inbox", "sms"], &["orders"]);
    let (status, grant) = v
        .approve_request_with(
            &id,
            None,
            ContactChoice::Keep(keep),
            AppendChoice::AsAsked,
            None,
            NOW + 1,
        )
        .unwrap();
    // Only what was asked and kept; "sms" was never asked for.
    assert_eq!(grant.contact, Some(right(&["inbox"], &["orders"])));
    assert_eq!(
        token_right(&v, status.token.as_deref().unwrap()),
        grant.contact
    );

    // Fields and no contact right.
    let id = v
        .create_access_request(&body(&["/profile/email"], Some(asked.clone())), NOW)
        .unwrap()
        .id;
    let (status, grant) = v
        .approve_request_with(
            &id,
            None,
            ContactChoice::Refuse,
            AppendChoice::AsAsked,
            None,
            NOW + 1,
        )
        .unwrap();
    assert_eq!(grant.contact, None);
    assert_eq!(token_right(&v, status.token.as_deref().unwrap()), None);

    // A contact-only request with its right refused leaves nothing to grant: refused, and the
    // request stays pending.
    let id = v
        .create_access_request(&body(&[], Some(asked)), NOW)
        .unwrap()
        .id;
    let err = v
        .approve_request_with(
            &id,
            None,
            ContactChoice::Refuse,
            AppendChoice::AsAsked,
            None,
            NOW + 1,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), kluis_core::grant::NOTHING_GRANTED);
    assert_eq!(
        v.access_request(&id, NOW + 2).unwrap().status,
        RequestStatus::Pending
    );
}

#[test]
fn bad_contact_rights_in_requests_are_refused_by_member() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    for (contact, needle) in [
        (
            Some(right(&["fax"], &["orders"])),
            "contact: \"fax\" is not a contact channel",
        ),
        (
            Some(right(&["inbox"], &[])),
            "contact: a contact right needs",
        ),
        (None, "fields must name 1 to"),
    ] {
        let err = v
            .create_access_request(&body(&[], contact), NOW)
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(v.access_requests(NOW).unwrap().is_empty());
}
