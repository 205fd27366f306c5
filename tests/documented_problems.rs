//! What docs/access-requests.md, docs/contact-api.md and docs/inbox.md promise of three answers,
//! pinned against a real server on 127.0.0.1:0: the 429 of a full request queue and its
//! `Retry-After`, a `jwk` that carries its private part `d` (refused, nothing stored), and
//! serde's messages for malformed bodies (with their line and column).

mod common;

use ed25519_dalek::SigningKey;
use kluis::core::contact::ContactRight;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::jose::Jwk;
use kluis::store::{MAX_PENDING_REQUESTS, Via, unix_now};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;

/// A problem answer: status, `Retry-After`, `Content-Type` and body.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    content_type: String,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status(),
        retry_after: header("retry-after"),
        content_type: header("content-type").unwrap_or_default(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

impl Server {
    async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.unwrap()).await
    }

    fn contact_grant(&self) -> String {
        self.vault
            .owner(Via::Cli)
            .create_grant(GrantRequest {
                audience: BusinessId::parse("shop.example").unwrap(),
                fields: Vec::new(),
                purpose: "news about your orders".into(),
                purpose_category: None,
                lifetime_secs: 86_400,
                key_thumbprint: None,
                append_record: false,
                contact: Some(ContactRight {
                    channels: vec!["inbox".into()],
                    topics: vec!["orders".into()],
                }),
            })
            .unwrap()
            .1
    }
}

fn request_body(jwk: Value, purpose: &str) -> Value {
    json!({
        "business": {
            "id": "webshop.example", "name": "De Webwinkel", "contact": "Privacy Office",
            "email": "privacy@webshop.example", "address": "Keizersgracht 1, Amsterdam",
            "phone": "+31 20 123 4567",
        },
        "jwk": jwk,
        "fields": ["/profile/email"],
        "purpose": purpose,
    })
}

fn assert_problem(got: &Answer, status: StatusCode, kind: &str, detail: &str) {
    assert_eq!(got.status, status, "{}", got.body);
    assert_eq!(got.content_type, "application/problem+json");
    assert_eq!(got.body["type"], format!("urn:kluis:problem:{kind}"));
    assert_eq!(got.body["status"], status.as_u16());
    assert_eq!(got.body["detail"], detail);
}

#[tokio::test]
async fn a_full_request_queue_answers_429_with_retry_after_3600() {
    let server = Server::start().await;
    let jwk = serde_json::to_value(Jwk::from_verifying_key(
        &SigningKey::from_bytes(&[5; 32]).verifying_key(),
    ))
    .unwrap();
    for i in 0..MAX_PENDING_REQUESTS {
        let body = request_body(jwk.clone(), &format!("order {i}")).to_string();
        let got = server.post_raw("/v1/requests", None, &body).await;
        assert_eq!(got.status, StatusCode::ACCEPTED, "{}", got.body);
        assert_eq!(got.retry_after, None);
    }
    let body = request_body(jwk, "one too many").to_string();
    let got = server.post_raw("/v1/requests", None, &body).await;
    assert_problem(
        &got,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
        "50 access requests are already waiting for the owner; try again later",
    );
    assert_eq!(got.body["title"], "Too many requests");
    assert_eq!(got.retry_after.as_deref(), Some("3600"));
    assert_eq!(
        server.vault.access_requests(unix_now()).unwrap().len(),
        MAX_PENDING_REQUESTS
    );
}

#[tokio::test]
async fn a_jwk_with_its_private_part_is_refused_and_nothing_is_kept() {
    let server = Server::start().await;
    let key = SigningKey::from_bytes(&[6; 32]);
    let d = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        key.to_bytes(),
    );
    let mut jwk = serde_json::to_value(Jwk::from_verifying_key(&key.verifying_key())).unwrap();
    jwk["d"] = json!(d);
    let detail =
        "the jwk holds a private key (`d`): send only the public key, and replace this key";
    // A request that is otherwise fine, and one that breaks other rules too: `d` is named first.
    let mut broken = request_body(jwk.clone(), "x");
    broken["fields"] = json!(["/secrets"]);
    broken.as_object_mut().unwrap().remove("purpose");
    for body in [request_body(jwk, "order delivery"), broken] {
        let got = server
            .post_raw("/v1/requests", None, &body.to_string())
            .await;
        assert_problem(&got, StatusCode::BAD_REQUEST, "bad-request", detail);
        assert!(!got.body.to_string().contains(&d), "the key is not echoed");
    }
    assert!(server.vault.access_requests(unix_now()).unwrap().is_empty());
    // A second look: no file in the server's directory holds the private key in plaintext (a
    // stray log or a raw copy of the body would).
    for entry in std::fs::read_dir(server.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&d), "{} holds the key", path.display());
        }
    }
}

#[tokio::test]
async fn malformed_bodies_get_serdes_message_with_line_and_column() {
    let server = Server::start().await;
    let token = server.contact_grant();
    let cases: [(&str, Option<&str>, &str, &str); 6] = [
        (
            "/v1/requests",
            None,
            "{",
            "the request body is not JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            "/v1/requests",
            None,
            r#"{"business": {}}"#,
            "the request body is not a valid access request: missing field `id` at line 1 column 15",
        ),
        (
            "/v1/requests",
            None,
            "{\n  \"append_record\": \"yes\"\n}",
            "the request body is not a valid access request: invalid type: string \"yes\", expected a boolean at line 2 column 24",
        ),
        (
            "/v1/contact/check",
            Some(&token),
            r#"{"channel": "inbox", "topic": "orders", "extra": 1}"#,
            "the body is not a contact check: unknown field `extra`, expected one of `channel`, `topic`, `reserve` at line 1 column 47",
        ),
        (
            "/v1/contact/check",
            Some(&token),
            r#"{"channel": "inbox"}"#,
            "the body is not a contact check: missing field `topic` at line 1 column 20",
        ),
        (
            "/v1/inbox",
            Some(&token),
            r#"{"topic": 5}"#,
            "the body is not an inbox message: invalid type: integer `5`, expected a string at line 1 column 11",
        ),
    ];
    for (path, token, body, detail) in cases {
        let got = server.post_raw(path, token, body).await;
        assert_problem(&got, StatusCode::BAD_REQUEST, "bad-request", detail);
    }
    assert!(server.vault.access_requests(unix_now()).unwrap().is_empty());
}

#[tokio::test]
async fn quiet_hours_are_a_200_for_a_contact_check_and_a_429_with_retry_after_for_a_message() {
    use kluis::core::Pointer;
    let server = Server::start().await;
    let token = server.contact_grant();
    let owner = server.vault.owner(Via::Cli);
    let hour = (unix_now() / 3600) % 24;
    let quiet = json!({"start": format!("{:02}:00", (hour + 23) % 24), "end": format!("{:02}:00", (hour + 1) % 24), "time_zone": "UTC"});
    let prefs = [
        ("/preferences/channels", json!(["inbox"])),
        ("/preferences/topics", json!(["orders"])),
        ("/preferences/quiet_hours", quiet),
    ];
    owner
        .set(
            prefs
                .into_iter()
                .map(|(at, v)| (Pointer::parse(at).unwrap(), v))
                .collect(),
        )
        .unwrap();

    let body = r#"{"channel": "inbox", "topic": "orders"}"#;
    let got = server
        .post_raw("/v1/contact/check", Some(&token), body)
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(got.retry_after, None);
    assert_eq!(got.body["reason"], "quiet_hours");
    let until = got.body["retry_after"].as_i64().unwrap();

    let message =
        r#"{"topic": "orders", "subject": "Shipped", "body": "Your parcel is on its way."}"#;
    let got = server.post_raw("/v1/inbox", Some(&token), message).await;
    assert_problem(
        &got,
        StatusCode::TOO_MANY_REQUESTS,
        "contact-refused",
        "the customer's contact policy refuses this contact: quiet_hours",
    );
    assert_eq!(got.body["retry_after"], until);
    let seconds: i64 = got.retry_after.unwrap().parse().unwrap();
    // The seconds from the server's clock to `retry_after`: the test's clock may be a second on.
    let drift = until - unix_now() - seconds;
    assert!(
        (-1..=0).contains(&drift),
        "Retry-After {seconds}, drift {drift}"
    );
}
