//! `kluis requests`, `kluis receipts` and the consent events in `kluis log`, driven through the
//! real binary. Requests are made through the store (as the server would make them); a tiny
//! HTTP listener stands in for a business's callback URL.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use kluis_core::jose::{self, Jwk};
use kluis_core::receipt::verify_receipt;
use kluis_core::token::{Expectations, verify_grant};
use kluis_core::wire::{AccessRequestBody, BusinessInfo};
use kluis_store::unix_now;
use serde_json::{Value, json};

use common::{fresh, json_of, kluis, ok, vault};

const NAME: &str = "De Webwinkel B.V.";
const BUSINESS: &str = "webshop.example";

/// The RFC 8037 example public key, as the business's DPoP key.
fn business_jwk() -> Jwk {
    serde_json::from_value(json!({
        "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    }))
    .unwrap()
}

/// Asks for e-mail and address through the store, as `POST /v1/requests` would.
fn request(dir: &Path, callback_url: Option<&str>) -> String {
    let body = AccessRequestBody {
        business: BusinessInfo {
            id: BUSINESS.into(),
            name: NAME.into(),
            contact: Some("privacy@webshop.example".into()),
        },
        jwk: business_jwk(),
        fields: vec!["/profile/email".into(), "/profile/address".into()],
        purpose: "order delivery".into(),
        purpose_category: Some("contract".into()),
        duration_secs: Some(14 * 86_400),
        callback_url: callback_url.map(str::to_owned),
    };
    vault(dir)
        .create_access_request(&body, unix_now())
        .unwrap()
        .id
}

/// A one-shot HTTP server: answers the first request with 204 and hands over its request line
/// and JSON body.
fn callback_receiver() -> (String, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/kluis/decision", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
        let body = serde_json::from_slice(&body).unwrap();
        tx.send((request_line.trim_end().to_owned(), body)).unwrap();
    });
    (url, rx)
}

fn verify_token(dir: &Path, token: &str) -> kluis_core::token::GrantClaims {
    let v = vault(dir);
    let jwks = v.jwks(unix_now()).unwrap();
    verify_grant(
        token,
        |kid| jwks.find(kid),
        &Expectations {
            issuer: &v.issuer(),
            audience: Some(BUSINESS),
            now: unix_now(),
            leeway: 5,
        },
    )
    .unwrap()
}

#[test]
fn waiting_requests_are_listed() {
    let dir = fresh();
    let d = dir.path();
    assert_eq!(json_of(&ok(d, &["requests", "--json"])), json!([]));
    let id = request(d, None);
    let thumbprint = jose::thumbprint(&business_jwk());

    let table = ok(d, &["requests"]);
    assert_eq!(table.lines().count(), 2, "{table}");
    let row = table.lines().nth(1).unwrap();
    for needle in [
        id.as_str(),
        "pending",
        "De Webwinkel B.V. (webshop.example)",
        "privacy@webshop.example",
        thumbprint.as_str(),
        "2w",
        "/profile/address,/profile/email",
        "order delivery",
        "contract",
    ] {
        assert!(row.contains(needle), "{needle:?} not in {row}");
    }

    let listed = json_of(&ok(d, &["requests", "--json"]));
    let r = &listed[0];
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["status"], "pending");
    assert_eq!(
        r["business"],
        json!({"id": BUSINESS, "name": NAME, "contact": "privacy@webshop.example"})
    );
    assert_eq!(r["key_thumbprint"], thumbprint.as_str());
    assert_eq!(r["fields"], json!(["/profile/address", "/profile/email"]));
    assert_eq!(r["duration_secs"], 14 * 86_400);
    assert_eq!(r["decided_at"], Value::Null);

    ok(d, &["requests", "deny", &id]);
    assert_eq!(json_of(&ok(d, &["requests", "--json"])), json!([]));
    let all = json_of(&ok(d, &["requests", "--all", "--json"]));
    assert_eq!(all[0]["status"], "denied");
    assert!(all[0]["decided_at"].is_i64());
    assert!(ok(d, &["requests", "--all"]).contains("denied"));
}

#[test]
fn approving_part_of_a_request_hands_out_a_bound_token_and_a_receipt() {
    let dir = fresh();
    let d = dir.path();
    let id = request(d, None);
    let out = json_of(&ok(
        d,
        &[
            "requests",
            "approve",
            &id,
            "--fields",
            "/profile/email",
            "--expires",
            "2h",
            "--json",
        ],
    ));
    assert_eq!(out["status"], "approved");
    assert_eq!(
        out["fields_requested"],
        json!(["/profile/address", "/profile/email"])
    );
    assert_eq!(out["fields_granted"], json!(["/profile/email"]));
    assert_eq!(out["callback"], Value::Null);
    assert_eq!(out["grant"]["id"], out["grant_id"]);
    assert_eq!(
        out["expires_at"].as_i64().unwrap() - out["grant"]["issued_at"].as_i64().unwrap(),
        7200
    );
    let claims = verify_token(d, out["token"].as_str().unwrap());
    assert_eq!(claims.fields(), ["/profile/email"]);
    assert_eq!(claims.cnf.unwrap().jkt, jose::thumbprint(&business_jwk()));
    let jwks = vault(d).jwks(unix_now()).unwrap();
    let receipt = verify_receipt(out["receipt"].as_str().unwrap(), |kid| jwks.find(kid)).unwrap();
    assert_eq!(
        receipt.services[0].purposes[0].pii_category,
        ["/profile/email"]
    );
    assert_eq!(receipt.pii_principal_id, claims.sub);

    // Without --json: the token alone on stdout.
    let second = request(d, None);
    let token = ok(d, &["requests", "approve", &second]);
    assert_eq!(token.lines().count(), 1);
    assert_eq!(
        verify_token(d, token.trim_end()).fields(),
        ["/profile/address", "/profile/email"]
    );
}

#[test]
fn bad_decisions_are_refused_with_clear_exit_codes() {
    let dir = fresh();
    let d = dir.path();
    let id = request(d, None);
    let out = kluis(
        d,
        &["requests", "approve", &id, "--fields", "/profile/name"],
    );
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/profile/name"));
    let unknown = format!("r_{}", "a".repeat(26));
    assert_eq!(
        kluis(d, &["requests", "deny", &unknown]).status.code(),
        Some(4)
    );
    let out = kluis(d, &["requests", "approve", "g_nope"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a request id"));

    let denied = json_of(&ok(
        d,
        &["requests", "deny", &id, "--reason", "not now", "--json"],
    ));
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["reason"], "not now");
    assert_eq!(denied.get("token"), None);
    for again in [["requests", "approve", &id], ["requests", "deny", &id]] {
        let out = kluis(d, &again);
        assert_eq!(out.status.code(), Some(5), "{again:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("already denied"));
    }
    assert_eq!(
        json_of(&ok(d, &["grant", "list", "--all", "--json"])),
        json!([])
    );
}

#[test]
fn the_business_hears_the_decision_at_its_callback() {
    let dir = fresh();
    let d = dir.path();
    let (url, received) = callback_receiver();

    // A callback on this machine is not contacted unless the owner allows it.
    let id = request(d, Some(&url));
    let out = kluis(d, &["requests", "deny", &id, "--json"]);
    assert!(out.status.success());
    let printed = json_of(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(printed["callback"]["delivered"], false);
    assert!(
        printed["callback"]["detail"]
            .as_str()
            .unwrap()
            .contains("not contacted"),
        "{printed}"
    );
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err());

    let id = request(d, Some(&url));
    let approve = [
        "requests",
        "approve",
        &id,
        "--json",
        "--allow-local-callback",
    ];
    let out = kluis(d, &approve);
    assert!(out.status.success());
    let printed = json_of(&String::from_utf8(out.stdout).unwrap());
    let (line, body) = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(line, "POST /kluis/decision HTTP/1.1");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["status"], "approved");
    assert_eq!(body["token"], printed["token"]);
    assert_eq!(body["receipt"], printed["receipt"]);
    assert_eq!(printed["callback"]["delivered"], true);
    assert!(String::from_utf8_lossy(&out.stderr).contains("told the business"));

    // A callback nobody answers does not fail the decision.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/gone", closed.local_addr().unwrap());
    drop(closed);
    let id = request(d, Some(&dead));
    let deny = [
        "requests",
        "deny",
        &id,
        "--reason",
        "no",
        "--allow-local-callback",
    ];
    let out = kluis(d, &deny);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not tell the business"));
    let all = json_of(&ok(d, &["requests", "--all", "--json"]));
    let statuses: Vec<&str> = (0..3).map(|i| all[i]["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "denied").count(),
        2,
        "{all}"
    );
}

#[test]
fn receipts_show_revocation_and_the_log_shows_consent_events() {
    let dir = fresh();
    let d = dir.path();
    let approved = request(d, None);
    let out = json_of(&ok(d, &["requests", "approve", &approved, "--json"]));
    let grant = out["grant_id"].as_str().unwrap().to_owned();
    let denied = request(d, None);
    ok(d, &["requests", "deny", &denied, "--reason", "too much"]);

    let receipts = json_of(&ok(d, &["receipts", "--json"]));
    assert_eq!(receipts.as_array().unwrap().len(), 1);
    let receipt_id = receipts[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(receipts[0]["grant_id"], grant.as_str());
    assert_eq!(
        receipts[0]["business"],
        json!({"id": BUSINESS, "name": NAME})
    );
    assert_eq!(receipts[0]["status"], "active");
    assert_eq!(receipts[0]["revoked_at"], Value::Null);
    assert_eq!(
        receipts[0]["receipt"]["consentReceiptID"],
        receipt_id.as_str()
    );
    assert_eq!(receipts[0]["jws"], out["receipt"]);
    assert!(ok(d, &["receipts"]).contains("active until"));

    ok(d, &["grant", "revoke", &grant]);
    let receipts = json_of(&ok(d, &["receipts", "--json"]));
    assert_eq!(receipts[0]["status"], "revoked");
    assert!(receipts[0]["revoked_at"].is_i64());
    let table = ok(d, &["receipts"]);
    assert!(
        table.contains(&receipt_id) && table.contains("revoked 2"),
        "{table}"
    );
    // Revoking again changes nothing and logs nothing.
    ok(d, &["grant", "revoke", &grant]);

    let log = json_of(&ok(d, &["log", "--json"]));
    let events: Vec<(&str, &str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["request"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("owner_cli", "request_approve", approved.as_str()),
            ("owner_cli", "request_deny", denied.as_str()),
            ("owner_cli", "grant_revoke", "-"),
        ]
    );
    assert_eq!(log[0]["grant"], grant.as_str());
    assert_eq!(log[0]["business"], BUSINESS);
    assert_eq!(
        log[0]["fields"],
        json!(["/profile/address", "/profile/email"])
    );
    assert_eq!(log[0]["outcome"], "allowed");
    assert!(log[0]["reason"].as_str().unwrap().contains(&receipt_id));
    assert_eq!(log[1]["reason"], "denied: too much");
    assert_eq!(log[2]["grant"], grant.as_str());
    assert_eq!(log[2]["purpose"], "order delivery");
    assert!(log[2]["reason"].as_str().unwrap().contains(&receipt_id));
    assert_eq!(
        ok(d, &["log", "verify"]),
        "the access log is intact (3 entries)\n"
    );
}
