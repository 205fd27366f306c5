//! `kluis requests`, `kluis receipts` and the consent events in `kluis log`, driven through the
//! real binary. Requests are made through the store (as the server would make them); a tiny
//! HTTP listener stands in for a business's callback URL, where `kluis serve` delivers the
//! decision, signed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use kluis_core::jose::{self, Jwk};
use kluis_core::receipt::verify_receipt;
use kluis_core::token::{Expectations, verify_grant};
use kluis_core::webhook::{TrustedKey, parse_public_key, verify};
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
        business: BusinessInfo::new(BUSINESS, NAME)
            .with_contact("Privacy Office")
            .with_email("privacy@webshop.example")
            .with_address("Keizersgracht 1, 1015 AA Amsterdam")
            .with_phone("+31 20 123 4567"),
        jwk: business_jwk(),
        fields: vec!["/profile/email".into(), "/profile/address".into()],
        append_record: false,
        contact: None,
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

/// One POST as the business's server got it.
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A business's HTTP server on 127.0.0.1: answers every request with 204 and hands over each
/// request line, its headers and its exact body.
fn callback_receiver() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/kluis/decision", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .unwrap();
            let _ = tx.send(Received {
                request_line: request_line.trim_end().to_owned(),
                headers,
                body,
            });
        }
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
        "Privacy Office; privacy@webshop.example; +31 20 123 4567; Keizersgracht 1, 1015 AA Amsterdam",
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
        json!({
            "id": BUSINESS, "name": NAME, "contact": "Privacy Office",
            "email": "privacy@webshop.example", "address": "Keizersgracht 1, 1015 AA Amsterdam",
            "phone": "+31 20 123 4567",
        })
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
    let controller = &receipt.pii_controllers[0];
    assert_eq!(
        (
            controller.pii_controller.as_str(),
            controller.contact.as_str(),
            controller.email.as_deref(),
            controller.address.as_deref(),
            controller.phone.as_deref(),
        ),
        (
            NAME,
            "Privacy Office",
            Some("privacy@webshop.example"),
            Some("Keizersgracht 1, 1015 AA Amsterdam"),
            Some("+31 20 123 4567"),
        )
    );

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

/// The vault's `whpk_` key, as a business fetches it from the server.
fn webhook_key(server: &str) -> String {
    let key: Value = reqwest::blocking::get(format!("{server}/.well-known/webhook-key"))
        .unwrap()
        .json()
        .unwrap();
    key["public_key"].as_str().unwrap().to_owned()
}

/// A delivery is a Standard Webhook signed `v1a` only (a request has no shared secret), with
/// the vault's key; returns its body.
fn signed_decision(got: &Received, whpk: &str) -> Value {
    assert_eq!(got.request_line, "POST /kluis/decision HTTP/1.1");
    let key = parse_public_key(whpk).unwrap();
    verify(
        &[TrustedKey::Public(&key)],
        got.header("webhook-id"),
        got.header("webhook-timestamp"),
        got.header("webhook-signature"),
        &got.body,
        unix_now(),
    )
    .expect("signed with the vault's webhook key");
    let signatures = got.header("webhook-signature");
    assert!(
        signatures.split(' ').all(|s| s.starts_with("v1a,")),
        "{signatures}"
    );
    serde_json::from_slice(&got.body).unwrap()
}

#[test]
fn the_business_hears_the_decision_signed_from_kluis_serve() {
    let dir = fresh();
    let d = dir.path();
    let (url, received) = callback_receiver();

    // The decision is queued, not sent by the command itself.
    let denied = request(d, Some(&url));
    let out = kluis(
        d,
        &["requests", "deny", &denied, "--reason", "no", "--json"],
    );
    assert!(out.status.success());
    let printed = json_of(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(printed["callback"], json!({"url": url, "queued": true}));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the decision will be sent to {url} by kluis serve (signed; see kluis notifications)"
        )),
        "{stderr}"
    );
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err());
    let listed = json_of(&ok(d, &["notifications", "--json"]));
    let event = &listed["changes"][0]["events"][0];
    assert_eq!(event["type"], "request.decided");
    assert_eq!(event["stream"], denied.as_str());
    assert_eq!(event["callback_url"], url.as_str());
    assert_eq!(event["delivery"]["state"], "not_tried");

    // `kluis serve` (local addresses allowed) delivers it, and a decision taken while it runs.
    let mut serve = common::kluis_cmd(d);
    serve.args(["serve", "--listen", "127.0.0.1:0", "--allow-local-webhooks"]);
    let (_server, server, _) = common::start(serve);
    let whpk = webhook_key(&server);
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let body = signed_decision(&got, &whpk);
    assert_eq!(body["type"], "request.decided");
    assert_eq!(body["data"]["id"], denied.as_str());
    assert_eq!(body["data"]["status"], "denied");
    assert_eq!(body["data"]["reason"], "no");

    let approved = request(d, Some(&url));
    let out = json_of(&ok(d, &["requests", "approve", &approved, "--json"]));
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let body = signed_decision(&got, &whpk);
    assert_eq!(body["data"]["id"], approved.as_str());
    assert_eq!(body["data"]["status"], "approved");
    assert_eq!(body["data"]["token"], out["token"]);
    assert_eq!(body["data"]["receipt"], out["receipt"]);

    // The owner sees both arrive.
    let mut states = Vec::new();
    for _ in 0..100 {
        let listed = json_of(&ok(d, &["notifications", "--json"]));
        states = listed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["events"][0]["delivery"]["state"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        if states.iter().all(|s| s == "delivered") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(states, ["delivered", "delivered"]);

    // The flag that let the command POST itself is gone.
    let out = kluis(
        d,
        &["requests", "deny", &approved, "--allow-local-callback"],
    );
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown flag");
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
