//! The grant API end to end: a real server on 127.0.0.1:0 over a real vault file, driven over
//! HTTP. Each refusal case is also checked in the owner's access log.

mod common;

use std::time::Duration;

use base64::Engine;
use ed25519_dalek::SigningKey;
use kluis::core::Pointer;
use kluis::core::access::Outcome;
use kluis::core::document::sample;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::jose::sign_compact;
use kluis::core::token::{GrantClaims, encode_grant};
use kluis::store::{Passphrase, Vault, unix_now};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Server {
    fn grant(&self, to: &str, fields: &[&str]) -> (kluis::core::grant::Grant, String) {
        self.grant_bound(to, fields, None)
    }

    /// A grant for an hour "for order delivery"; bound to `key` (`cnf.jkt`) when given.
    fn grant_bound(
        &self,
        to: &str,
        fields: &[&str],
        key: Option<&SigningKey>,
    ) -> (kluis::core::grant::Grant, String) {
        use kluis::core::jose::{Jwk, thumbprint};
        let key_thumbprint = key.map(|k| thumbprint(&Jwk::from_verifying_key(&k.verifying_key())));
        self.vault
            .create_grant(
                GrantRequest {
                    audience: BusinessId::parse(to).unwrap(),
                    fields: fields.iter().map(|f| Pointer::parse(f).unwrap()).collect(),
                    purpose: "order delivery".into(),
                    purpose_category: None,
                    lifetime_secs: 3600,
                    key_thumbprint,
                    append_record: false,
                    contact: None,
                },
                unix_now(),
            )
            .unwrap()
    }

    async fn data(
        &self,
        token: &str,
        query: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let response = self
            .http
            .get(format!("{}/v1/data{query}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    fn signing_key(&self) -> (String, SigningKey) {
        self.vault.signing_key().unwrap()
    }
}

fn claims_of(token: &str) -> GrantClaims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn granted_fields_are_returned_and_nothing_else() {
    let server = Server::start().await;
    let (grant, token) = server.grant("webshop.example", &["/profile/email", "/profile/address"]);
    let (status, body, headers) = server.data(&token, "").await;
    assert_eq!(status, StatusCode::OK);
    let doc = sample();
    assert_eq!(
        body,
        json!({"profile": {"email": doc["profile"]["email"], "address": doc["profile"]["address"]}})
    );
    assert_eq!(headers["cache-control"], "no-store");

    let (status, body, _) = server
        .data(&token, "?fields=/profile/address/locality")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"profile": {"address": {"locality": "Amsterdam"}}})
    );

    let (status, body, headers) = server
        .data(&token, "?fields=/profile/email,/profile/name")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["fields"], json!(["/profile/name"]));
    assert!(!body.to_string().contains("Anna"), "no data in a refusal");

    let (status, body, _) = server.data(&token, "?fields=profile").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], 400);

    // An update to the vault shows on the next read, also in answers the server built before.
    let (_, before, _) = server.data(&token, "?fields=/profile/email").await;
    assert_eq!(
        before,
        json!({"profile": {"email": doc["profile"]["email"]}})
    );
    let writer = Vault::connect(&server.path(), server.vault.unlocked()).unwrap();
    writer
        .set(
            &Pointer::parse("/profile/email").unwrap(),
            json!("new@example.nl"),
        )
        .unwrap();
    let (_, body, _) = server.data(&token, "?fields=/profile/email").await;
    assert_eq!(body, json!({"profile": {"email": "new@example.nl"}}));
    let (_, body, _) = server.data(&token, "").await;
    assert_eq!(body["profile"]["email"], "new@example.nl");
    assert_eq!(body["profile"]["address"], doc["profile"]["address"]);

    let log = server.vault.log_entries().unwrap();
    let outcomes: Vec<_> = log
        .iter()
        .map(|e| (e.record.outcome, e.record.fields.len()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Allowed, 2),
            (Outcome::Allowed, 1),
            (Outcome::Refused, 0),
            (Outcome::Refused, 0),
            (Outcome::Allowed, 1),
            (Outcome::Allowed, 1),
            (Outcome::Allowed, 2)
        ]
    );
    assert_eq!(log[0].record.grant.as_ref(), Some(&grant.id));
    assert_eq!(
        log[0].record.business.as_ref().unwrap().as_str(),
        "webshop.example"
    );
    assert_eq!(log[0].record.purpose.as_deref(), Some("order delivery"));
    assert_eq!(server.vault.verify_log().unwrap().first_broken, None);
}

#[tokio::test]
async fn bad_tokens_are_all_refused_with_the_same_401() {
    let server = Server::start().await;
    let (_, token) = server.grant("webshop.example", &["/profile/email"]);
    let (kid, key) = server.signing_key();
    let good = claims_of(&token);
    let now = unix_now();

    let forged = encode_grant(&good, &SigningKey::from_bytes(&[7; 32]), &kid);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut altered_claims = good.clone();
    altered_claims.authorization_details[0].fields = vec!["/profile".into()];
    parts[1] = B64.encode(serde_json::to_vec(&altered_claims).unwrap());
    let altered = parts.join(".");
    let expired = encode_grant(
        &GrantClaims {
            iat: now - 7200,
            exp: now - 3600,
            ..good.clone()
        },
        &key,
        &kid,
    );
    let wrong_audience = encode_grant(
        &GrantClaims {
            aud: "other.example".into(),
            ..good.clone()
        },
        &key,
        &kid,
    );
    let wrong_issuer = encode_grant(
        &GrantClaims {
            iss: "urn:kluis:vault:someone-else".into(),
            ..good.clone()
        },
        &key,
        &kid,
    );
    let payload = serde_json::to_vec(&good).unwrap();
    let alg_none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"kluis-grant+jwt"}"#),
        B64.encode(&payload)
    );
    let alg_hs256 = {
        let signed = sign_compact(
            &json!({"typ": "kluis-grant+jwt", "kid": kid}),
            &payload,
            &key,
        );
        let mut p: Vec<String> = signed.split('.').map(str::to_owned).collect();
        p[0] = B64.encode(format!(
            r#"{{"alg":"HS256","typ":"kluis-grant+jwt","kid":"{kid}"}}"#
        ));
        p.join(".")
    };
    let unknown_grant = encode_grant(
        &GrantClaims {
            jti: "g_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            ..good.clone()
        },
        &key,
        &kid,
    );

    let cases = [
        ("forged", forged),
        ("altered", altered),
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("alg none", alg_none),
        ("alg HS256", alg_hs256),
        ("unknown grant", unknown_grant),
        ("garbage", "not.a.token".into()),
    ];
    for (name, bad) in &cases {
        let (status, body, headers) = server.data(bad, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(body["type"], "urn:kluis:problem:invalid-token", "{name}");
        assert_eq!(
            headers["www-authenticate"], r#"Bearer error="invalid_token""#,
            "{name}"
        );
    }
    let missing = server
        .http
        .get(format!("{}/v1/data", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);

    // The good token still works, and every refusal is in the log, with nothing served.
    assert_eq!(server.data(&token, "").await.0, StatusCode::OK);
    let log = server.vault.log_entries().unwrap();
    assert_eq!(log.len(), cases.len() + 2);
    for entry in &log[..cases.len() + 1] {
        assert_eq!(entry.record.outcome, Outcome::Refused, "{entry:?}");
        assert!(entry.record.fields.is_empty());
        assert!(entry.record.reason.is_some());
    }
    assert_eq!(log.last().unwrap().record.outcome, Outcome::Allowed);
    // Each case was refused for its own reason (the reasons reach the owner, not the client).
    let reasons: Vec<&str> = log[..cases.len() + 1]
        .iter()
        .map(|e| e.record.reason.as_deref().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "the token's signature is invalid",
            "the token's signature is invalid",
            "the token has expired",
            "the token is not the one issued for this grant",
            "the token was issued by someone else",
            "the token's signing algorithm is not accepted",
            "the token's signing algorithm is not accepted",
            "the grant does not exist",
            "the token is malformed",
            "no Authorization header",
        ]
    );
    assert_eq!(server.vault.verify_log().unwrap().first_broken, None);
}

#[tokio::test]
async fn revocation_takes_effect_on_the_next_request() {
    let server = Server::start().await;
    let (grant, token) = server.grant("webshop.example", &["/profile/email"]);
    assert_eq!(server.data(&token, "").await.0, StatusCode::OK);
    // Revoke through a separate connection, as `kluis grant revoke` in another process does.
    let other = Vault::open(&server.path(), &Passphrase::new("pw")).unwrap();
    other.revoke_grant(&grant.id, unix_now()).unwrap();
    let (status, body, _) = server.data(&token, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.to_string().contains("anna@"));
    let last = server.vault.log_entries().unwrap().pop().unwrap();
    assert_eq!(last.record.outcome, Outcome::Refused);
    assert_eq!(last.record.reason.as_deref(), Some("the grant was revoked"));
}

#[tokio::test]
async fn a_narrowed_grant_returns_only_what_it_kept_with_the_same_token() {
    let server = Server::start().await;
    let (grant, token) = server.grant("webshop.example", &["/profile/email", "/profile/address"]);
    let (_, full, _) = server.data(&token, "").await;
    assert!(full["profile"]["address"].is_object() && full["profile"]["email"].is_string());
    // Narrowed by the owner through another connection, as `kluis grant narrow` does.
    let other = Vault::open(&server.path(), &Passphrase::new("pw")).unwrap();
    let owner = other.owner(kluis::store::Via::Cli);
    let narrowed = owner
        .narrow_grant(&grant.id, vec![Pointer::parse("/profile/address").unwrap()])
        .unwrap();
    assert_eq!(
        narrowed.fields,
        [Pointer::parse("/profile/address").unwrap()]
    );
    let (status, body, _) = server.data(&token, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"profile": {"address": full["profile"]["address"]}})
    );
    // Asking for the dropped field by name yields nothing of it.
    let (_, asked, _) = server.data(&token, "?fields=/profile/email").await;
    assert_eq!(asked, json!({}));
    // Introspection reports what the grant covers now.
    let introspected: Value = server
        .http
        .post(format!("{}/v1/introspect", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(
        introspected["authorization_details"][0]["fields"],
        json!(["/profile/address"])
    );
    // The log records the narrowing with what was kept, and the reads with what they returned.
    let entries = server.vault.log_entries().unwrap();
    let narrow = entries
        .iter()
        .find(|e| e.record.action == kluis::core::access::Action::GrantNarrow)
        .unwrap();
    assert_eq!(narrow.record.fields, narrowed.fields);
    assert!(
        narrow
            .record
            .reason
            .as_deref()
            .unwrap()
            .contains("/profile/email")
    );
    let after: Vec<&Vec<Pointer>> = entries
        .iter()
        .skip_while(|e| e.seq <= narrow.seq)
        .map(|e| &e.record.fields)
        .collect();
    // The read, the read of a dropped field, the introspection.
    assert_eq!(after, [&narrowed.fields, &vec![], &vec![]]);
    // Widening is not narrowing; nothing changes on a refusal.
    let err = owner
        .narrow_grant(&grant.id, vec![Pointer::parse("/profile/email").unwrap()])
        .unwrap_err();
    assert!(
        err.to_string().contains("does not cover /profile/email"),
        "{err}"
    );
    assert!(owner.narrow_grant(&grant.id, vec![]).is_err());
    assert_eq!(server.data(&token, "").await.1, body);
    // A narrowing removed behind the vault's back is caught, not undone.
    let raw = rusqlite_free_edit(&server.path(), grant.id.as_str());
    assert!(raw, "the narrowing column was found and cleared");
    assert_eq!(server.data(&token, "").await.0, StatusCode::UNAUTHORIZED);
}

/// Clears a grant's narrowing in the database file, as someone with the file but not the key
/// could; returns whether a row changed.
fn rusqlite_free_edit(dir: &std::path::Path, id: &str) -> bool {
    let conn = rusqlite::Connection::open(dir.join(kluis::store::DB_FILE)).unwrap();
    conn.execute("UPDATE grants SET narrowed = NULL WHERE id = ?1", [id])
        .unwrap()
        == 1
}

#[tokio::test]
async fn introspection_follows_rfc_7662() {
    let server = Server::start().await;
    let (grant, token) = server.grant("webshop.example", &["/profile/email"]);
    let ask = |t: String| {
        server
            .http
            .post(format!("{}/v1/introspect", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
            .send()
    };
    let active: Value = ask(token.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["jti"], grant.id.as_str());
    assert_eq!(active["aud"], "webshop.example");
    assert_eq!(active["sub"], grant.subject);
    assert_eq!(active["token_type"], "Bearer");
    let junk: Value = ask("junk".into()).await.unwrap().json().await.unwrap();
    assert_eq!(junk, json!({"active": false}));
    server.vault.revoke_grant(&grant.id, unix_now()).unwrap();
    let revoked: Value = ask(token).await.unwrap().json().await.unwrap();
    assert_eq!(revoked, json!({"active": false}));

    let wrong_type = server
        .http
        .post(format!("{}/v1/introspect", server.base))
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = server
        .http
        .post(format!("{}/v1/introspect", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "a".repeat(64 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn jwks_health_spec_and_unknown_routes() {
    let server = Server::start().await;
    let jwks: Value = server.get_json("/.well-known/jwks.json").await;
    let (kid, key) = server.signing_key();
    let published = &jwks["keys"][0];
    assert_eq!(published["kty"], "OKP");
    assert_eq!(published["crv"], "Ed25519");
    assert_eq!(published["alg"], "EdDSA");
    assert_eq!(published["kid"], kid);
    assert_eq!(published["x"], B64.encode(key.verifying_key().as_bytes()));
    assert!(published.get("d").is_none(), "never the private part");

    let spec: Value = server.get_json("/openapi.json").await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));

    for (method, path, status) in [
        ("GET", "/nope", StatusCode::NOT_FOUND),
        ("DELETE", "/v1/data", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let response = server
            .http
            .request(method.parse().unwrap(), format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = serde_json::to_string_pretty(&kluis::server::openapi::spec()).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    if std::env::var_os("KLUIS_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date; regenerate it with KLUIS_BLESS=1 cargo test --test grant_api"
    );
}

#[tokio::test]
async fn key_bound_grants_need_a_fresh_proof_from_their_key() {
    use kluis::core::dpop::make_proof;

    let server = Server::start().await;
    let business = SigningKey::from_bytes(&[42; 32]);
    let (_, token) = server.grant_bound("webshop.example", &["/profile/email"], Some(&business));
    assert_eq!(claims_of(&token).cnf.unwrap().jkt.len(), 43);
    let url = format!("{}/v1/data", server.base);
    let send = |scheme: &'static str, proof: Option<String>| {
        let mut request = server
            .http
            .get(format!("{url}?fields=/profile/email"))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let now = unix_now();
    let good = make_proof(&business, "GET", &url, Some(&token), "jti-1", now);
    let ok = send("DPoP", Some(good.clone())).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"profile": {"email": "anna@example.nl"}})
    );

    let thief = SigningKey::from_bytes(&[13; 32]);
    let cases = [
        ("replayed proof", "DPoP", Some(good)),
        ("as a bearer token", "Bearer", None),
        ("no proof", "DPoP", None),
        (
            "another key",
            "DPoP",
            Some(make_proof(&thief, "GET", &url, Some(&token), "jti-2", now)),
        ),
        (
            "another URL",
            "DPoP",
            Some(make_proof(
                &business,
                "GET",
                &format!("{}/v1/introspect", server.base),
                Some(&token),
                "jti-3",
                now,
            )),
        ),
        (
            "another method",
            "DPoP",
            Some(make_proof(
                &business,
                "POST",
                &url,
                Some(&token),
                "jti-4",
                now,
            )),
        ),
        (
            "another token",
            "DPoP",
            Some(make_proof(
                &business,
                "GET",
                &url,
                Some("x.y.z"),
                "jti-5",
                now,
            )),
        ),
        (
            "stale",
            "DPoP",
            Some(make_proof(
                &business,
                "GET",
                &url,
                Some(&token),
                "jti-6",
                now - 300,
            )),
        ),
    ];
    for (name, scheme, proof) in cases {
        let response = send(scheme, proof).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    let fresh = make_proof(&business, "GET", &url, Some(&token), "jti-7", now);
    assert_eq!(
        send("DPoP", Some(fresh)).await.unwrap().status(),
        StatusCode::OK
    );

    // Calls that arrive together have their signatures checked in one batch; a bad signature
    // among good ones is refused alone, and a refused proof does not use up its `jti`.
    let forged =
        |jti: &str| flip_signature(&make_proof(&business, "GET", &url, Some(&token), jti, now));
    let together: Vec<(bool, String)> = (0..12)
        .map(|i| {
            let jti = format!("together-{i}");
            if i % 3 == 1 {
                (false, forged(&jti))
            } else {
                (
                    true,
                    make_proof(&business, "GET", &url, Some(&token), &jti, now),
                )
            }
        })
        .collect();
    let statuses = futures_join(
        together
            .iter()
            .map(|(_, proof)| send("DPoP", Some(proof.clone()))),
    )
    .await;
    for ((good, _), status) in together.iter().zip(statuses) {
        let want = if *good {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, want);
    }
    let retried = make_proof(&business, "GET", &url, Some(&token), "together-1", now);
    assert_eq!(
        send("DPoP", Some(retried)).await.unwrap().status(),
        StatusCode::OK
    );

    let reasons: Vec<String> = server
        .vault
        .log_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.record.reason.unwrap_or_default())
        .collect();
    assert_eq!(reasons.len(), 10 + 12 + 1);
    assert!(reasons[1].contains("already used"), "{reasons:?}");
    assert!(reasons[2].contains("bearer"), "{reasons:?}");
    assert!(reasons[3].contains("missing"), "{reasons:?}");
    assert!(reasons[4].contains("another key"), "{reasons:?}");
    assert!(reasons[8].contains("too old"), "{reasons:?}");
    let bad_signatures = reasons[10..]
        .iter()
        .filter(|r| r.contains("signature is invalid"));
    assert_eq!(bad_signatures.count(), 4, "{reasons:?}");

    // Introspection checks the proof the same way: good, then replayed, then forged.
    let introspect_url = format!("{}/v1/introspect", server.base);
    let introspect = |proof: String| {
        server
            .http
            .post(&introspect_url)
            .header("dpop", proof)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let good = make_proof(&business, "POST", &introspect_url, Some(&token), "i-1", now);
    let active = |v: Value| v["active"].as_bool().unwrap();
    let answer = introspect(good.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(active(answer));
    let answer = introspect(good).await.unwrap().json().await.unwrap();
    assert!(!active(answer), "a replayed proof");
    let proof = make_proof(&business, "POST", &introspect_url, Some(&token), "i-2", now);
    let answer = introspect(flip_signature(&proof))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!active(answer), "a forged signature");
    let reasons: Vec<String> = server
        .vault
        .log_entries()
        .unwrap()
        .into_iter()
        .rev()
        .take(2)
        .map(|e| e.record.reason.unwrap_or_default())
        .collect();
    assert!(reasons[0].contains("signature is invalid"), "{reasons:?}");
    assert!(reasons[1].contains("already used"), "{reasons:?}");
}

/// The JWS with one bit of its signature flipped (still well-formed, no longer valid).
fn flip_signature(jws: &str) -> String {
    let (signing_input, signature) = jws.rsplit_once('.').unwrap();
    let mut bytes = B64.decode(signature).unwrap();
    bytes[7] ^= 0x20;
    format!("{signing_input}.{}", B64.encode(bytes))
}

/// Sends all requests at once and returns their statuses in order.
async fn futures_join<F>(requests: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let tasks: Vec<_> = requests.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap().status());
    }
    statuses
}

#[tokio::test]
async fn access_requests_are_accepted_polled_and_bounded() {
    use kluis::core::jose::Jwk;

    let server = Server::start().await;
    let jwk = Jwk::from_verifying_key(&SigningKey::from_bytes(&[5; 32]).verifying_key());
    let body = |purpose: &str| {
        json!({
            "business": {
                "id": "webshop.example", "name": "De Webwinkel", "contact": "Privacy Office",
                "email": "privacy@webshop.example", "address": "Keizersgracht 1, Amsterdam",
                "phone": "+31 20 123 4567",
            },
            "jwk": jwk,
            "fields": ["/profile/email", "/profile/address"],
            "purpose": purpose,
            "duration_secs": 86400,
        })
    };
    let post = |value: Value| {
        server
            .http
            .post(format!("{}/v1/requests", server.base))
            .json(&value)
            .send()
    };
    let created = post(body("order delivery")).await.unwrap();
    assert_eq!(created.status(), StatusCode::ACCEPTED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let status: Value = created.json().await.unwrap();
    assert_eq!(status["status"], "pending");
    assert_eq!(location, status["poll_url"].as_str().unwrap());
    let polled = server.get_json(&location).await;
    assert_eq!(polled["id"], status["id"]);
    assert!(polled.get("token").is_none());

    // Bad input: a clear 400 that changes nothing.
    let mut bad = body("x");
    bad["fields"] = json!(["/profile/secret_sauce"]);
    let refused = post(bad).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/profile/secret_sauce")
    );
    let not_json = server
        .http
        .post(format!("{}/v1/requests", server.base))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let unknown = server
        .http
        .get(format!(
            "{}/v1/requests/r_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // Nobody can bury the owner in requests.
    let mut last = StatusCode::ACCEPTED;
    for i in 0..60 {
        last = post(body(&format!("flood {i}"))).await.unwrap().status();
        if last != StatusCode::ACCEPTED {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let again = post(body("one more")).await.unwrap();
    assert_eq!(again.headers()["retry-after"], "3600");
    assert_eq!(
        server.vault.access_requests(unix_now()).unwrap().len(),
        kluis::store::MAX_PENDING_REQUESTS
    );
}

#[tokio::test]
async fn behind_a_proxy_proofs_name_the_public_url() {
    use kluis::core::dpop::make_proof;

    let server = Server::start_with(Some("https://vault.example/")).await;
    let business = SigningKey::from_bytes(&[43; 32]);
    let (_, token) = server.grant_bound("webshop.example", &["/profile/email"], Some(&business));
    let now = unix_now();
    for (htu, jti, expected) in [
        (
            format!("{}/v1/data", server.base),
            "a",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "https://vault.example/v1/data".to_owned(),
            "b",
            StatusCode::OK,
        ),
    ] {
        let proof = make_proof(&business, "GET", &htu, Some(&token), jti, now);
        let response = server
            .http
            .get(format!("{}/v1/data", server.base))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{htu}");
    }
}

#[tokio::test]
async fn a_flood_of_junk_is_counted_without_filling_the_log() {
    let server = Server::start().await;
    let junk = |n: usize| {
        server
            .http
            .get(format!("{}/v1/data", server.base))
            .bearer_auth(format!("junk-{n}"))
            .send()
    };
    for n in 0..200 {
        assert_eq!(junk(n).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    junk(200).await.unwrap();
    let log = server.vault.log_entries().unwrap();
    let listed = log
        .iter()
        .filter(|e| {
            !e.record
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("more calls")
        })
        .count();
    let counted: usize = log
        .iter()
        .filter_map(|e| e.record.reason.as_deref()?.strip_suffix(" more calls without a valid token were refused (over 50/s, counted, not listed one by one)"))
        .map(|n| n.parse::<usize>().unwrap())
        .sum();
    assert_eq!(listed + counted, 201, "every call is accounted for");
    assert!(
        log.len() < 201,
        "but not every junk call has its own entry: {}",
        log.len()
    );
}

#[tokio::test]
async fn a_quiet_server_brings_the_log_head_up_to_its_last_reads() {
    use std::os::unix::fs::FileExt;

    let server = Server::start().await;
    let (_, token) = server.grant("webshop.example", &["/profile/email"]);
    // Three batches within 100 ms: the head is rewritten after the first only...
    for _ in 0..3 {
        assert_eq!(server.data(&token, "").await.0, StatusCode::OK);
    }
    // ...and again once the ledger has had no call for 100 ms.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let path = server.path().join(kluis::store::LOG_FILE);
    let last = kluis::store::frame_ranges(&path).unwrap().pop().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&vec![0; (last.end - last.start) as usize], last.start)
        .unwrap();
    let check = server.vault.verify_log().unwrap();
    assert_eq!(
        check.first_broken.map(|(seq, _)| seq),
        Some(3),
        "the last read was cut"
    );
}
