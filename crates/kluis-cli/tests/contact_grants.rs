//! Contact rights through the real `kluis` binary: `grant create --contact-channel/--contact-topic`
//! (with or without fields), `grant list/show`, and `requests` listing and approving a requested
//! contact right whole, in part or not at all. Requests are made through the store, as
//! `POST /v1/requests` would make them.

mod common;

use std::path::Path;

use kluis_core::contact::ContactRight;
use kluis_core::jose::Jwk;
use kluis_core::token::{Expectations, GrantClaims, verify_grant};
use kluis_core::wire::{AccessRequestBody, BusinessInfo};
use kluis_store::unix_now;
use serde_json::{Value, json};

use common::{fresh, json_of, kluis, ok, vault};

const BUSINESS: &str = "webshop.example";

fn right(channels: &[&str], topics: &[&str]) -> ContactRight {
    ContactRight {
        channels: channels.iter().map(|s| s.to_string()).collect(),
        topics: topics.iter().map(|s| s.to_string()).collect(),
    }
}

fn claims_of(dir: &Path, token: &str) -> GrantClaims {
    let vault = vault(dir);
    let jwks = vault.jwks(unix_now()).unwrap();
    verify_grant(
        token,
        |kid| jwks.find(kid),
        &Expectations {
            issuer: &vault.issuer(),
            audience: Some(BUSINESS),
            now: unix_now(),
            leeway: 0,
        },
    )
    .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_contact_only_grant_carries_the_kluis_contact_detail() {
    let dir = fresh();
    let d = dir.path();
    let out = ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            BUSINESS,
            "--contact-channel",
            "inbox,email",
            "--contact-topic",
            "orders",
            "--contact-topic",
            "news",
            "--purpose",
            "order updates",
        ],
    );
    let claims = claims_of(d, out.trim_end());
    assert_eq!(
        claims.contact_right(),
        Some(right(&["email", "inbox"], &["news", "orders"]))
    );
    let details = serde_json::to_value(&claims.authorization_details).unwrap();
    let types: Vec<&str> = details
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    // No read detail: the business may reach the owner but never learns an address.
    assert_eq!(types, ["kluis_contact"]);

    let listed = json_of(&ok(d, &["grant", "list", "--json"]));
    let grant = &listed[0];
    assert_eq!(grant["fields"], json!([]));
    assert_eq!(
        grant["contact"],
        json!({"channels": ["email", "inbox"], "topics": ["news", "orders"]})
    );
    let id = grant["id"].as_str().unwrap();
    let shown = json_of(&ok(d, &["grant", "show", id, "--json"]));
    assert_eq!(shown["contact"], grant["contact"]);

    let table = ok(d, &["grant", "list"]);
    assert!(table.contains("CONTACT"), "{table}");
    assert!(table.contains("email,inbox about news,orders"), "{table}");
    let text = ok(d, &["grant", "show", id]);
    let line = text.lines().find(|l| l.starts_with("contact:")).unwrap();
    assert!(line.ends_with("email,inbox about news,orders"), "{text}");
    let line = text.lines().find(|l| l.starts_with("fields:")).unwrap();
    assert!(line.ends_with('-'), "{text}");
}

#[test]
fn fields_and_a_contact_right_in_one_grant() {
    let dir = fresh();
    let d = dir.path();
    let out = ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            BUSINESS,
            "--fields",
            "/profile/email",
            "--contact-channel",
            "sms",
            "--contact-topic",
            "orders",
            "--purpose",
            "order delivery",
        ],
    );
    let claims = claims_of(d, out.trim_end());
    assert_eq!(claims.contact_right(), Some(right(&["sms"], &["orders"])));
    assert_eq!(claims.authorization_details.len(), 2);
    // A grant without a contact right shows `null` for it.
    ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            BUSINESS,
            "--fields",
            "/profile/name",
            "--purpose",
            "greeting",
        ],
    );
    let listed = json_of(&ok(d, &["grant", "list", "--json"]));
    let contacts: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["contact"])
        .collect();
    assert!(contacts.contains(&&Value::Null), "{listed}");
    assert!(contacts.contains(&&json!({"channels": ["sms"], "topics": ["orders"]})));
}

#[test]
fn bad_contact_rights_are_refused_and_nothing_is_stored() {
    let dir = fresh();
    let d = dir.path();
    let base = ["grant", "create", "--to", BUSINESS, "--purpose", "updates"];
    for (extra, needle) in [
        (
            &["--contact-channel", "pigeon", "--contact-topic", "orders"][..],
            "\"pigeon\" is not a contact channel",
        ),
        (
            &["--contact-channel", "none", "--contact-topic", "orders"][..],
            "is not a contact channel",
        ),
        (&["--contact-channel", "inbox"][..], "at least one topic"),
        (&["--contact-topic", "orders"][..], "at least one channel"),
        (
            &["--contact-channel", "inbox", "--contact-topic", " "][..],
            "is not a topic",
        ),
        (&[][..], "--fields"),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = kluis(d, &args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        json_of(&ok(d, &["grant", "list", "--all", "--json"])),
        json!([])
    );
}

/// Asks for a contact right (and the e-mail address when `with_email`) through the store.
fn request(dir: &Path, with_email: bool) -> String {
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    }))
    .unwrap();
    let body = AccessRequestBody {
        business: BusinessInfo::new(BUSINESS, "De Webwinkel")
            .with_contact("Privacy Office")
            .with_email("privacy@webshop.example")
            .with_address("Keizersgracht 1, 1015 AA Amsterdam")
            .with_phone("+31 20 123 4567"),
        jwk,
        fields: if with_email {
            vec!["/profile/email".into()]
        } else {
            vec![]
        },
        append_record: false,
        contact: Some(right(&["email", "inbox"], &["news", "orders"])),
        purpose: "order updates".into(),
        purpose_category: None,
        duration_secs: None,
        callback_url: None,
    };
    vault(dir)
        .create_access_request(&body, unix_now())
        .unwrap()
        .id
}

fn granted_right(d: &Path, json_out: &str) -> Value {
    let out = json_of(json_out);
    let token = out["token"].as_str().unwrap();
    let from_token = claims_of(d, token).contact_right();
    assert_eq!(
        serde_json::to_value(&from_token).unwrap(),
        out["grant"]["contact"]
    );
    out["grant"]["contact"].clone()
}

#[test]
fn requests_show_the_contact_right_asked_and_granted() {
    let dir = fresh();
    let d = dir.path();
    let id = request(d, false);
    let listed = json_of(&ok(d, &["requests", "--json"]));
    assert_eq!(
        listed[0]["contact"],
        json!({"channels": ["email", "inbox"], "topics": ["news", "orders"]})
    );
    assert_eq!(listed[0]["contact_granted"], Value::Null);
    let table = ok(d, &["requests"]);
    assert!(table.contains("CONTACT RIGHT"), "{table}");
    assert!(table.contains("email,inbox about news,orders"), "{table}");

    let out = ok(d, &["requests", "approve", &id, "--json"]);
    assert_eq!(
        granted_right(d, &out),
        json!({"channels": ["email", "inbox"], "topics": ["news", "orders"]})
    );
    let listed = json_of(&ok(d, &["requests", "--all", "--json"]));
    assert_eq!(listed[0]["contact_granted"], listed[0]["contact"]);
}

#[test]
fn approve_keeps_part_of_the_contact_right_or_none() {
    let dir = fresh();
    let d = dir.path();
    let id = request(d, false);
    let out = ok(
        d,
        &[
            "requests",
            "approve",
            &id,
            "--contact-channel",
            "inbox",
            "--contact-topic",
            "orders",
            "--json",
        ],
    );
    assert_eq!(
        granted_right(d, &out),
        json!({"channels": ["inbox"], "topics": ["orders"]})
    );

    let id = request(d, true);
    let out = ok(d, &["requests", "approve", &id, "--no-contact", "--json"]);
    assert_eq!(granted_right(d, &out), Value::Null);
    assert_eq!(json_of(&out)["grant"]["fields"], json!(["/profile/email"]));
}

#[test]
fn approve_refuses_unclear_contact_choices_and_leaves_the_request_pending() {
    let dir = fresh();
    let d = dir.path();
    let id = request(d, false);
    for (extra, needle) in [
        (&["--contact-channel", "inbox"][..], "--contact-topic"),
        (
            &["--contact-channel", "fax", "--contact-topic", "orders"][..],
            "\"fax\" is not a contact channel",
        ),
        // Nothing would be left of a contact-only request.
        (&["--no-contact"][..], "at least one field, a contact right"),
        (
            &["--contact-channel", "sms", "--contact-topic", "orders"][..],
            "at least one field, a contact right",
        ),
    ] {
        let args: Vec<&str> = ["requests", "approve", id.as_str()]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let out = kluis(d, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    let out = kluis(
        d,
        &[
            "requests",
            "approve",
            &id,
            "--no-contact",
            "--contact-topic",
            "orders",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let listed = json_of(&ok(d, &["requests", "--json"]));
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(
        json_of(&ok(d, &["grant", "list", "--all", "--json"])),
        json!([])
    );
}
