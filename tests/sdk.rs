//! The business SDK end to end: a real server on 127.0.0.1:0 over a real vault file, driven by
//! `kluis-client` as a business would, with the owner's decisions made through the store.

mod common;

use std::time::Duration;

use kluis::client::{
    AccessRequest, BusinessInfo, BusinessKey, Client, Decision, Error, Grant, RequestStatus,
    TokenError,
};
use kluis::core::Pointer;
use kluis::core::document::sample;
use kluis::core::dpop::make_proof;
use kluis::core::grant::GrantId;
use kluis::core::jose::verify_compact;
use kluis::store::{Passphrase, Vault, unix_now};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;

const POLL: Duration = Duration::from_millis(50);
const WAIT: Duration = Duration::from_secs(10);

impl Server {
    fn client(&self) -> Client {
        Client::new(&self.base).unwrap()
    }

    /// Asks as `business` for `fields` and has the owner approve `approve` of them (all when
    /// `None`) while the SDK is already waiting.
    async fn granted(
        &self,
        key: &BusinessKey,
        business: &str,
        fields: &[&str],
        approve: Option<&[&str]>,
    ) -> Grant {
        let client = self.client();
        let pending = client
            .request_access(key, &request(business, fields))
            .await
            .unwrap();
        let owner = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let subset = approve.map(|f| f.iter().map(|p| Pointer::parse(p).unwrap()).collect());
            self.vault
                .approve_request(&pending.id, subset, None, unix_now())
                .unwrap();
        };
        let (decision, ()) = tokio::join!(client.wait_for_decision(&pending.id, POLL, WAIT), owner);
        match decision.unwrap() {
            Decision::Approved(grant) => grant,
            other => panic!("expected approval, got {other:?}"),
        }
    }
}

fn business(id: &str) -> BusinessInfo {
    BusinessInfo::new(id, format!("{id} B.V."))
        .with_contact("Privacy Office")
        .with_email(format!("privacy@{id}"))
        .with_address("Keizersgracht 1, 1015 AA Amsterdam")
        .with_phone("+31 20 123 4567")
}

fn request(id: &str, fields: &[&str]) -> AccessRequest {
    AccessRequest::new(business(id), fields.iter().copied(), "order delivery")
        .category("contract")
        .duration(Duration::from_secs(3600))
}

/// `GET /v1/data` by hand, with whatever credentials a test wants to try.
async fn raw_data(base: &str, authorization: &str, proof: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .get(format!("{base}/v1/data"))
        .header("authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_approved_subset_is_all_the_business_can_read() {
    let server = Server::start().await;
    let client = server.client();
    let key = BusinessKey::generate().unwrap();

    let pending = client
        .request_access(
            &key,
            &request("webshop.example", &["/profile/email", "/profile/address"]),
        )
        .await
        .unwrap();
    assert_eq!(pending.status, RequestStatus::Pending);
    let mut asked = pending.fields_requested.clone();
    asked.sort();
    assert_eq!(asked, ["/profile/address", "/profile/email"]);
    assert!(pending.token.is_none());
    let polled = client.request_status(&pending.id).await.unwrap();
    assert_eq!(polled.status, RequestStatus::Pending);

    let owner = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        server
            .vault
            .approve_request(
                &pending.id,
                Some(vec![Pointer::parse("/profile/email").unwrap()]),
                None,
                unix_now(),
            )
            .unwrap()
    };
    let (decision, (_, stored_grant)) =
        tokio::join!(client.wait_for_decision(&pending.id, POLL, WAIT), owner);
    let Decision::Approved(grant) = decision.unwrap() else {
        panic!("approved")
    };
    assert_eq!(grant.fields, ["/profile/email"]);
    assert_eq!(grant.grant_id, stored_grant.id.as_str());
    assert_eq!(grant.expires_at, stored_grant.expires_at);
    assert!(
        !format!("{grant:?}").contains(&grant.token),
        "Debug hides the token"
    );

    // Only the approved field comes back, with or without narrowing.
    let email = sample()["profile"]["email"].clone();
    let data = client.fetch_data(&key, &grant.token, None).await.unwrap();
    assert_eq!(data, json!({"profile": {"email": email}}));
    let data = client
        .fetch_data(&key, &grant.token, Some(&["/profile/email"]))
        .await
        .unwrap();
    assert_eq!(data, json!({"profile": {"email": email}}));
    match client
        .fetch_data(&key, &grant.token, Some(&["/profile/address"]))
        .await
    {
        Err(Error::Forbidden { fields, problem }) => {
            assert_eq!(fields, ["/profile/address"]);
            assert_eq!(problem.status, 403);
            assert!(!problem.detail.unwrap_or_default().contains("Amsterdam"));
        }
        other => panic!("expected 403, got {other:?}"),
    }

    // The token verifies offline against the vault's keys, for this business only.
    let claims = client
        .verify_token_offline(&grant.token, "webshop.example")
        .await
        .unwrap();
    assert_eq!(claims.fields(), ["/profile/email"]);
    assert_eq!(claims.cnf.as_ref().unwrap().jkt, key.thumbprint());
    assert_eq!(claims.jti, grant.grant_id);
    assert!(claims.iss.starts_with("urn:kluis:vault:"), "{}", claims.iss);
    assert!(matches!(
        client
            .verify_token_offline(&grant.token, "other.example")
            .await,
        Err(Error::Token(TokenError::WrongAudience))
    ));
    let pinned = Client::builder(&server.base)
        .issuer(claims.iss.clone())
        .build()
        .unwrap();
    assert_eq!(
        pinned
            .verify_token_offline(&grant.token, "webshop.example")
            .await
            .unwrap(),
        claims
    );
    let wrong_issuer = Client::builder(&server.base)
        .issuer("urn:kluis:vault:someone-else")
        .build()
        .unwrap();
    assert!(matches!(
        wrong_issuer
            .verify_token_offline(&grant.token, "webshop.example")
            .await,
        Err(Error::Token(TokenError::WrongIssuer))
    ));

    let introspection = client.introspect(&key, &grant.token).await.unwrap();
    assert!(introspection.active);
    // Without the bound key, the vault says nothing about the token.
    let stranger = BusinessKey::generate().unwrap();
    assert!(
        !client
            .introspect(&stranger, &grant.token)
            .await
            .unwrap()
            .active
    );
    assert_eq!(introspection.token_type.as_deref(), Some("DPoP"));
    assert_eq!(introspection.sub.as_deref(), Some(claims.sub.as_str()));

    // The receipt is signed by a key in the vault's JWKS and records this very grant.
    let jwks = client.jwks().await.unwrap();
    let (header, _) = verify_compact(
        &grant.receipt,
        |h| h.kid.as_deref().and_then(|kid| jwks.find(kid)),
        "kluis-receipt+jwt",
    )
    .unwrap();
    assert!(header.kid.is_some());
    let receipt = client.verify_receipt(&grant.receipt).await.unwrap();
    assert_eq!(receipt.pii_principal_id, claims.sub);
    assert_eq!(receipt.aud, "webshop.example");
    assert_eq!(receipt.grant_id, grant.grant_id);
    assert_eq!(receipt.iss, claims.iss);
    let asked = business("webshop.example");
    let controller = &receipt.pii_controllers[0];
    assert_eq!(controller.pii_controller, asked.name);
    assert_eq!(Some(&controller.contact), asked.contact.as_ref());
    assert_eq!(
        (&controller.email, &controller.address, &controller.phone),
        (&asked.email, &asked.address, &asked.phone)
    );
    let purposes: Vec<_> = receipt.services.iter().flat_map(|s| &s.purposes).collect();
    assert!(!purposes.is_empty());
    for purpose in purposes {
        assert_eq!(purpose.pii_category, grant.fields);
        assert_eq!(purpose.purpose, "order delivery");
    }
    let mut tampered = grant.receipt.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert!(matches!(
        client.verify_receipt(&tampered).await,
        Err(Error::Token(_))
    ));

    let after = client.request_status(&pending.id).await.unwrap();
    assert_eq!(after.status, RequestStatus::Approved);
    assert_eq!(after.token.as_deref(), Some(grant.token.as_str()));
}

#[tokio::test]
async fn a_denied_request_says_so_with_the_owners_reason() {
    let server = Server::start().await;
    let client = server.client();
    let key = BusinessKey::generate().unwrap();
    let pending = client
        .request_access(&key, &request("webshop.example", &["/profile/email"]))
        .await
        .unwrap();
    let owner = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        server
            .vault
            .deny_request(&pending.id, Some("not for marketing".into()), unix_now())
            .unwrap()
    };
    let (decision, _) = tokio::join!(client.wait_for_decision(&pending.id, POLL, WAIT), owner);
    assert_eq!(
        decision.unwrap(),
        Decision::Denied {
            reason: Some("not for marketing".into())
        }
    );
    let status = client.request_status(&pending.id).await.unwrap();
    assert_eq!(status.status, RequestStatus::Denied);
    assert!(status.token.is_none() && status.receipt.is_none());
}

#[tokio::test]
async fn a_bound_token_is_useless_without_its_key_and_proofs_are_single_use() {
    let server = Server::start().await;
    let client = server.client();
    let key = BusinessKey::generate().unwrap();
    let grant = server
        .granted(&key, "webshop.example", &["/profile/email"], None)
        .await;
    let url = format!("{}/v1/data", server.base);

    // The token alone, as a bearer token: refused.
    let (status, body) = raw_data(&server.base, &format!("Bearer {}", grant.token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:kluis:problem:invalid-token");
    assert!(!body.to_string().contains("anna@"));

    // The DPoP scheme without a proof: refused.
    let dpop = format!("DPoP {}", grant.token);
    assert_eq!(
        raw_data(&server.base, &dpop, None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A proof made with another key: the SDK will not send it, and the vault refuses it.
    let thief = BusinessKey::generate().unwrap();
    assert!(matches!(
        client.fetch_data(&thief, &grant.token, None).await,
        Err(Error::KeyMismatch { .. })
    ));
    let stolen_seed = [42u8; 32];
    let thief_signing = ed25519_dalek::SigningKey::from_bytes(&stolen_seed);
    let proof = make_proof(
        &thief_signing,
        "GET",
        &url,
        Some(&grant.token),
        "thief-1",
        unix_now(),
    );
    assert_eq!(
        raw_data(&server.base, &dpop, Some(&proof)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The right key, but a proof for another method, or for no token: refused.
    let owner_key = signing_key_of(&key);
    for proof in [
        make_proof(
            &owner_key,
            "POST",
            &url,
            Some(&grant.token),
            "m-1",
            unix_now(),
        ),
        make_proof(&owner_key, "GET", &url, None, "t-1", unix_now()),
        make_proof(
            &owner_key,
            "GET",
            &url,
            Some(&grant.token),
            "old-1",
            unix_now() - 3600,
        ),
    ] {
        assert_eq!(
            raw_data(&server.base, &dpop, Some(&proof)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    // A good proof works once; sent again it is a replay.
    let proof = make_proof(
        &owner_key,
        "GET",
        &url,
        Some(&grant.token),
        "once-1",
        unix_now(),
    );
    let (status, body) = raw_data(&server.base, &dpop, Some(&proof)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["profile"]["email"], sample()["profile"]["email"]);
    let (status, body) = raw_data(&server.base, &dpop, Some(&proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.get("profile").is_none());

    // The SDK makes a fresh proof per call, so it can read again and again.
    for _ in 0..3 {
        client.fetch_data(&key, &grant.token, None).await.unwrap();
    }
}

#[tokio::test]
async fn two_businesses_see_the_owner_under_different_subjects() {
    let server = Server::start().await;
    let client = server.client();
    let (shop_key, bank_key) = (
        BusinessKey::generate().unwrap(),
        BusinessKey::generate().unwrap(),
    );
    let shop = server
        .granted(&shop_key, "webshop.example", &["/profile/email"], None)
        .await;
    let bank = server
        .granted(&bank_key, "bank.example", &["/profile/email"], None)
        .await;
    let shop_claims = client
        .verify_token_offline(&shop.token, "webshop.example")
        .await
        .unwrap();
    let bank_claims = client
        .verify_token_offline(&bank.token, "bank.example")
        .await
        .unwrap();
    assert_ne!(shop_claims.sub, bank_claims.sub);
    assert_eq!(shop_claims.iss, bank_claims.iss);
    assert_ne!(shop_claims.cnf, bank_claims.cnf);
    // Each reads with its own key only.
    client
        .fetch_data(&bank_key, &bank.token, None)
        .await
        .unwrap();
    assert!(matches!(
        client.fetch_data(&bank_key, &shop.token, None).await,
        Err(Error::KeyMismatch { .. })
    ));
    let receipt = client.verify_receipt(&bank.receipt).await.unwrap();
    assert_eq!(receipt.pii_principal_id, bank_claims.sub);
}

#[tokio::test]
async fn refusals_and_failures_are_typed() {
    let server = Server::start().await;
    let client = server.client();
    let key = BusinessKey::generate().unwrap();

    // Unknown request.
    assert!(matches!(
        client
            .request_status(&format!("r_{}", "a".repeat(26)))
            .await,
        Err(Error::NotFound { .. })
    ));
    // A request the vault finds invalid: its problem comes through.
    match client
        .request_access(
            &key,
            &AccessRequest::new(business("webshop.example"), ["/profile/email"], " "),
        )
        .await
    {
        Err(Error::Http {
            status: 400,
            problem,
        }) => {
            assert_eq!(problem.kind, "urn:kluis:problem:bad-request");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    // Invalid input is refused before anything is sent.
    assert!(matches!(
        client.request_status("../../etc/passwd").await,
        Err(Error::Invalid(_))
    ));

    // No decision in time.
    let pending = client
        .request_access(&key, &request("webshop.example", &["/profile/email"]))
        .await
        .unwrap();
    assert!(matches!(
        client
            .wait_for_decision(&pending.id, POLL, Duration::from_millis(300))
            .await,
        Err(Error::Timeout(_))
    ));

    // Revocation: reads fail with 401 and introspection says inactive, while offline
    // verification (which cannot know) still accepts the token.
    let grant = server
        .granted(&key, "webshop.example", &["/profile/email"], None)
        .await;
    client.fetch_data(&key, &grant.token, None).await.unwrap();
    let owner = Vault::open(&server.path(), &Passphrase::new("pw")).unwrap();
    owner
        .revoke_grant(&GrantId::parse(&grant.grant_id).unwrap(), unix_now())
        .unwrap();
    match client.fetch_data(&key, &grant.token, None).await {
        Err(Error::Unauthorized { problem }) => assert_eq!(problem.status, 401),
        other => panic!("expected 401, got {other:?}"),
    }
    assert!(!client.introspect(&key, &grant.token).await.unwrap().active);
    client
        .verify_token_offline(&grant.token, "webshop.example")
        .await
        .unwrap();

    // Nobody listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let gone = Client::new(&format!("http://{closed}")).unwrap();
    let err = gone.jwks().await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    assert!(err.is_transient());
}

/// The business key's signing half, for building proofs by hand: round-trips through the key
/// file, as a business's other tooling would read it.
fn signing_key_of(key: &BusinessKey) -> ed25519_dalek::SigningKey {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.jwk");
    key.save(&path).unwrap();
    let jwk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let seed: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["d"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    ed25519_dalek::SigningKey::from_bytes(&seed)
}
