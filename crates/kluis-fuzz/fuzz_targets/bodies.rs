//! The JSON bodies businesses POST, read as the server's handlers read them: an access request
//! (`POST /v1/requests`: the private-key check, `AccessRequestBody`, `CheckedRequest::check`),
//! a subscription (`NewSubscription::validated`), a contact check (`ContactCheck::validated`),
//! an inbox message (`InboxPost::check`, its hash and receipt) and a relationship entry
//! (`EntryPost::check`, `Item::check_business_dates`).
//!
//! Input: a mode byte (`mode % 5` picks the body, in the order above), then the body.
//!
//! Checked: nothing panics; what passes its checks passes them again after the trip through
//! JSON that storing it takes, and checking is idempotent (a checked contact right, topic or
//! set of fields is already in normal form); a delivery receipt made for a message covers it.
#![no_main]

use kluis_core::contact::{ContactCheck, ContactRight};
use kluis_core::grant::{self, BusinessId};
use kluis_core::inbox::{self, DeliveryReceipt, InboxPost, MessageId};
use kluis_core::notify::NewSubscription;
use kluis_core::relationship::{Date, EntryPost, Item};
use kluis_core::request::CheckedRequest;
use kluis_core::wire::AccessRequestBody;
use kluis_fuzz::{ISSUER, split_mode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = split_mode(data) else {
        return;
    };
    match mode % 5 {
        0 => access_request(body),
        1 => subscription(body),
        2 => contact_check(body),
        3 => inbox_post(body),
        _ => entry_post(body),
    }
});

/// As `api::requests::create_request` and `Vault::create_access_request` read it.
fn access_request(body: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if raw.pointer("/jwk/d").is_some() {
        return;
    }
    let Ok(request) = serde_json::from_value::<AccessRequestBody>(raw) else {
        return;
    };
    let Ok(checked) = CheckedRequest::check(&request) else {
        return;
    };
    // The store seals the checked request as JSON and reads it back.
    let text = serde_json::to_vec(&checked).expect("a checked request serializes");
    let back: CheckedRequest = serde_json::from_slice(&text).expect("and reads back");
    assert_eq!(back, checked);
    assert_eq!(grant::normalize(checked.fields.clone()), checked.fields);
    if let Some(contact) = &checked.contact {
        assert_eq!(
            ContactRight::validated(contact.clone()).ok().as_ref(),
            Some(contact)
        );
    }
    let again = CheckedRequest::check(&AccessRequestBody {
        business: checked.business.to_info(),
        jwk: checked.jwk.clone(),
        fields: checked.fields_text(),
        contact: checked.contact.clone(),
        purpose: checked.purpose.clone(),
        purpose_category: checked.purpose_category.clone(),
        duration_secs: Some(checked.duration_secs),
        callback_url: checked.callback_url.clone(),
        ..request
    });
    assert_eq!(
        again.ok().as_ref(),
        Some(&checked),
        "a checked request does not check the same"
    );
}

fn subscription(body: &[u8]) {
    let Ok(new) = serde_json::from_slice::<NewSubscription>(body) else {
        return;
    };
    let strict = new.clone().validated(false);
    let local = new.validated(true);
    if strict.is_ok() {
        assert!(local.is_ok(), "allowing http refused an https subscription");
    }
}

fn contact_check(body: &[u8]) {
    let Ok(check) = serde_json::from_slice::<ContactCheck>(body) else {
        return;
    };
    if let Ok(valid) = check.validated() {
        assert_eq!(valid.clone().validated().ok().as_ref(), Some(&valid));
    }
}

fn inbox_post(body: &[u8]) {
    let Ok(post) = serde_json::from_slice::<InboxPost>(body) else {
        return;
    };
    if post.check().is_err() {
        return;
    }
    let text = serde_json::to_vec(&post).expect("a message serializes");
    let back: InboxPost = serde_json::from_slice(&text).expect("and reads back");
    assert_eq!(back, post);
    assert!(back.check().is_ok());
    let canonical: Value =
        serde_json::from_slice(&inbox::canonical_form(&post)).expect("the canonical form is JSON");
    assert_eq!(canonical["body"].as_str(), Some(post.body.as_str()));
    assert_eq!(canonical["subject"].as_str(), Some(post.subject.as_str()));
    let business = BusinessId::parse("webshop.example").expect("a valid business id");
    let id = MessageId::from_random([1; 16]);
    let receipt = DeliveryReceipt::new(ISSUER, "subject", &business, &id, 1, &post);
    assert!(
        receipt.covers(&post),
        "a receipt does not cover its own message"
    );
}

/// As `api::relationship::append` reads it.
fn entry_post(body: &[u8]) {
    let Ok(post) = serde_json::from_slice::<EntryPost>(body) else {
        return;
    };
    let Ok(checked) = post.check() else {
        return;
    };
    let today = Date::constant(2027, 1, 15);
    let _ = checked.item.check_business_dates(today);
    // The store keeps the item as JSON; a checked item is already normal.
    let text = serde_json::to_vec(&checked.item).expect("an item serializes");
    let back: Item = serde_json::from_slice(&text).expect("and reads back");
    assert_eq!(checked.item, back);
    assert_eq!(
        back.validated().ok().as_ref(),
        Some(&checked.item),
        "a checked item changes"
    );
}
