//! The right to add to a business's record of the owner through the real `kluis` binary:
//! `grant create --append-record` (alone or with fields), `grant list/show`, and `requests`
//! listing and approving a requested append right, or refusing it with `--no-append-record`.
//! Requests are made through the store, as `POST /v1/requests` would make them.

mod common;

use std::path::Path;

use kluis_core::grant::NOTHING_GRANTED;
use kluis_core::jose::Jwk;
use kluis_core::token::{Expectations, GrantClaims, verify_grant};
use kluis_core::wire::{AccessRequestBody, BusinessInfo};
use kluis_store::unix_now;
use serde_json::{Value, json};

use common::{fresh, json_of, kluis, ok, vault};

const BUSINESS: &str = "webshop.example";

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
fn grant_create_append_record_yields_a_token_with_the_relationship_detail() {
    let dir = fresh();
    let d = dir.path();
    let out = kluis(
        d,
        &[
            "grant",
            "create",
            "--to",
            BUSINESS,
            "--append-record",
            "--purpose",
            "warranty papers",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("the right to add documents, promises and interactions to its record of you"),
        "{}",
        stderr(&out)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = claims_of(d, token.trim_end());
    assert!(claims.may_append_record());
    assert!(claims.fields().is_empty());
    assert_eq!(
        serde_json::to_value(&claims.authorization_details).unwrap(),
        json!([{"type": "kluis_relationship", "actions": ["append"]}])
    );

    let listed = json_of(&ok(d, &["grant", "list", "--json"]));
    assert_eq!(listed[0]["append_record"], true);
    assert_eq!(listed[0]["fields"], json!([]));
    let id = listed[0]["id"].as_str().unwrap();
    let shown = json_of(&ok(d, &["grant", "show", id, "--json"]));
    assert_eq!(shown["append_record"], true);
    let table = ok(d, &["grant", "list"]);
    let header = table.lines().next().unwrap();
    assert!(header.contains("RECORD"), "{table}");
    assert!(table.lines().nth(1).unwrap().contains("may add"), "{table}");
    let text = ok(d, &["grant", "show", id]);
    let line = text.lines().find(|l| l.starts_with("record:")).unwrap();
    assert!(line.ends_with("may add"), "{text}");

    // With a field too; without the flag, no such right.
    let out = ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            BUSINESS,
            "--fields",
            "/profile/email",
            "--append-record",
            "--purpose",
            "order delivery",
        ],
    );
    let claims = claims_of(d, out.trim_end());
    assert!(claims.may_append_record());
    assert_eq!(claims.fields(), ["/profile/email"]);
    let out = ok(
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
    assert!(!claims_of(d, out.trim_end()).may_append_record());
    let listed = json_of(&ok(d, &["grant", "list", "--json"]));
    let rights: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["append_record"])
        .collect();
    assert_eq!(rights.iter().filter(|r| ***r == json!(true)).count(), 2);
    assert!(rights.contains(&&json!(false)), "{listed}");
}

#[test]
fn a_grant_of_nothing_names_the_append_flag_and_stores_nothing() {
    let dir = fresh();
    let d = dir.path();
    let out = kluis(
        d,
        &["grant", "create", "--to", BUSINESS, "--purpose", "updates"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--append-record"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        json_of(&ok(d, &["grant", "list", "--all", "--json"])),
        json!([])
    );
}

/// Asks for the append right (and the e-mail address when `with_email`) through the store.
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
        contact: None,
        append_record: true,
        purpose: "warranty papers".into(),
        purpose_category: None,
        duration_secs: None,
        callback_url: None,
    };
    vault(dir)
        .create_access_request(&body, unix_now())
        .unwrap()
        .id
}

/// What `requests approve --json` says was granted, checked against the token.
fn granted(d: &Path, json_out: &str) -> bool {
    let out = json_of(json_out);
    let from_token = claims_of(d, out["token"].as_str().unwrap()).may_append_record();
    assert_eq!(out["grant"]["append_record"], json!(from_token), "{out}");
    assert_eq!(
        out["append_record_granted"].as_bool().unwrap_or(false),
        from_token
    );
    from_token
}

#[test]
fn requests_show_the_append_right_and_approve_keeps_or_refuses_it() {
    let dir = fresh();
    let d = dir.path();
    let id = request(d, false);
    let listed = json_of(&ok(d, &["requests", "--json"]));
    assert_eq!(listed[0]["append_record"], true);
    assert_eq!(listed[0]["append_record_granted"], Value::Null);
    let table = ok(d, &["requests"]);
    assert!(table.lines().next().unwrap().contains("RECORD"), "{table}");
    assert!(table.contains("may add"), "{table}");

    // Refusing the only thing asked leaves nothing: refused, still pending.
    let out = kluis(d, &["requests", "approve", &id, "--no-append-record"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(NOTHING_GRANTED), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let listed = json_of(&ok(d, &["requests", "--json"]));
    assert_eq!(listed[0]["status"], "pending");

    let out = ok(d, &["requests", "approve", &id, "--json"]);
    assert!(granted(d, &out));
    let listed = json_of(&ok(d, &["requests", "--all", "--json"]));
    assert_eq!(listed[0]["append_record_granted"], true);

    let id = request(d, true);
    let out = ok(
        d,
        &["requests", "approve", &id, "--no-append-record", "--json"],
    );
    assert!(!granted(d, &out));
    assert_eq!(json_of(&out)["grant"]["fields"], json!(["/profile/email"]));
    assert_eq!(json_of(&out)["append_record_requested"], true);
}
