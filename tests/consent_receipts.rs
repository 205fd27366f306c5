//! Consent receipts complete (Kantara CR 1.1): an access request must name the business's
//! contact, e-mail, postal address and phone, and the receipt its approval yields holds them
//! all in `piiControllers[0]`. Driven over HTTP against a real server.

mod common;

use ed25519_dalek::SigningKey;
use kluis::core::jose::{Jwk, Jwks};
use kluis::core::receipt::verify_receipt;
use kluis::store::unix_now;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;

const ADDRESS: &str = "Keizersgracht 1, 1015 AA Amsterdam, Netherlands";

fn body() -> Value {
    let jwk = Jwk::from_verifying_key(&SigningKey::from_bytes(&[5; 32]).verifying_key());
    json!({
        "business": {
            "id": "webshop.example",
            "name": "De Webwinkel B.V.",
            "contact": "Privacy Office",
            "email": "privacy@webshop.example",
            "address": ADDRESS,
            "phone": "+31 20 123 4567",
        },
        "jwk": jwk,
        "fields": ["/profile/email"],
        "purpose": "order delivery",
    })
}

async fn post(server: &Server, body: &Value) -> reqwest::Response {
    server
        .http
        .post(format!("{}/v1/requests", server.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_without_a_controller_member_is_refused_naming_it_and_nothing_is_stored() {
    let server = Server::start().await;
    for member in ["name", "contact", "email", "address", "phone"] {
        for absent in [None, Some(json!("   "))] {
            let mut bad = body();
            let business = bad["business"].as_object_mut().unwrap();
            match &absent {
                None => business.remove(member),
                Some(blank) => business.insert(member.into(), blank.clone()),
            };
            let refused = post(&server, &bad).await;
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{member}");
            assert_eq!(
                refused.headers()["content-type"],
                "application/problem+json"
            );
            let problem: Value = refused.json().await.unwrap();
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains(&format!("business.{member}"))
                    || detail.contains(&format!("`{member}`")),
                "{member} ({absent:?}) not named in {detail:?}"
            );
        }
    }
    for (member, value) in [
        ("email", "privacy at webshop.example"),
        ("phone", "call us"),
        ("address", "Keizersgracht 1\n1015 AA Amsterdam"),
    ] {
        let mut bad = body();
        bad["business"][member] = json!(value);
        let refused = post(&server, &bad).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{member}");
        let problem: Value = refused.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("business.{member}")), "{detail}");
    }
    assert_eq!(server.vault.access_requests(unix_now()).unwrap(), []);
}

#[tokio::test]
async fn an_approved_requests_receipt_names_every_controller_member_and_verifies() {
    let server = Server::start().await;
    let created = post(&server, &body()).await;
    assert_eq!(created.status(), StatusCode::ACCEPTED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .vault
        .approve_request(&id, None, None, unix_now())
        .unwrap();
    let status = server.get_json(&format!("/v1/requests/{id}")).await;
    let jws = status["receipt"].as_str().unwrap();

    let jwks: Jwks =
        serde_json::from_value(server.get_json("/.well-known/jwks.json").await).unwrap();
    let receipt = verify_receipt(jws, |kid| jwks.find(kid)).unwrap();
    assert_eq!(receipt.pii_controllers.len(), 1);
    assert_eq!(
        serde_json::to_value(&receipt.pii_controllers[0]).unwrap(),
        json!({
            "piiController": "De Webwinkel B.V.",
            "onBehalf": false,
            "contact": "Privacy Office",
            "address": ADDRESS,
            "email": "privacy@webshop.example",
            "phone": "+31 20 123 4567",
        })
    );
}
