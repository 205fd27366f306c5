//! The token attack corpus against the real server (issue 14): some 750 generated attacks on a
//! key-bound grant and its DPoP proofs, sent to `GET /v1/data` of a server on 127.0.0.1:0, none
//! answered but with 401; genuine calls between them are answered 200. It holds what the core
//! corpus (crates/kluis-core/tests/attack_corpus.rs) cannot: replayed proofs, also sent
//! several at once, which only the server's memory of used proofs refuses, and the path through
//! revocation, key lookup and the ledger's batched signature checks.

mod common;
#[path = "../crates/kluis-core/tests/attack/tools.rs"]
#[allow(dead_code)]
mod tools;

use std::collections::{BTreeMap, HashSet};

use ed25519_dalek::SigningKey;
use kluis::core::Pointer;
use kluis::core::dpop::{MAX_SKEW_SECS, make_proof, token_hash};
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::jose::{Jwk, thumbprint};
use kluis::core::token::GrantClaims;
use kluis::store::unix_now;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Server;
use tools::{
    Gen, assemble, attacker_keys, b64, bit_flip, ed25519_signed, hmac_signed, non_canonical, parts,
    truncate, unb64,
};

/// The categories and the fewest cases each must have.
const MINIMUMS: &[(&str, usize)] = &[
    ("token_bit_flip", 60),
    ("token_truncation", 30),
    ("token_alg_none", 30),
    ("token_hs256_public_key", 40),
    ("token_resigned_other_key", 30),
    ("token_embedded_jwk", 20),
    ("token_time_shift", 30),
    ("token_spliced", 20),
    ("token_non_canonical_b64", 30),
    ("bearer_downgrade", 10),
    ("proof_missing_or_doubled", 10),
    ("proof_retargeted", 60),
    ("proof_other_key", 40),
    ("proof_stale", 40),
    ("proof_bit_flip", 60),
    ("proof_forged_header", 30),
    ("proof_non_canonical_b64", 30),
    ("proof_replayed", 100),
];

/// One call: the `Authorization` header and the `DPoP` headers.
struct Call {
    category: &'static str,
    authorization: String,
    proofs: Vec<String>,
    /// For a stale proof: made when the call is sent, with `iat` this many seconds from then
    /// (made earlier, it could come within the window by the time it is sent).
    stale_by: Option<i64>,
}

struct Target<'a> {
    server: &'a Server,
    url: String,
    business: SigningKey,
    token: String,
}

impl Target<'_> {
    async fn send(&self, authorization: &str, proofs: &[String]) -> StatusCode {
        let mut request = self
            .server
            .http
            .get(&self.url)
            .header("authorization", authorization);
        for proof in proofs {
            request = request.header("dpop", proof);
        }
        request.send().await.unwrap().status()
    }

    fn proof(&self, token: &str, jti: &str) -> String {
        make_proof(
            &self.business,
            "GET",
            &self.url,
            Some(token),
            jti,
            unix_now(),
        )
    }

    /// A genuine call, with a fresh proof: must be served.
    async fn genuine(&self, jti: &str) {
        let proof = self.proof(&self.token, jti);
        let status = self.send(&format!("DPoP {}", self.token), &[proof]).await;
        assert_eq!(status, StatusCode::OK, "a genuine call is refused");
    }
}

fn bound_grant(server: &Server, key: &SigningKey, fields: &[&str]) -> String {
    let jkt = thumbprint(&Jwk::from_verifying_key(&key.verifying_key()));
    server
        .vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("webshop.example").unwrap(),
                fields: fields.iter().map(|f| Pointer::parse(f).unwrap()).collect(),
                purpose: "order delivery".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: Some(jkt),
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap()
        .1
}

/// Whether `value` reaches the server as it is in a header: visible ASCII (or tabs) with no
/// whitespace at its ends, which HTTP strips (RFC 9110 §5.5) before any verifier sees it.
fn sendable(value: &str) -> bool {
    value.trim() == value
        && value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

fn claims_of(token: &str) -> GrantClaims {
    serde_json::from_slice(&unb64(parts(token)[1])).unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(parts(token)[0])).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attack_on_a_key_bound_grant_gets_through_the_server() {
    let server = Server::start().await;
    let business = SigningKey::from_bytes(&[42; 32]);
    let token = bound_grant(&server, &business, &["/profile/email"]);
    let other_token = bound_grant(&server, &business, &["/profile/name"]);
    let target = Target {
        url: format!("{}/v1/data", server.base),
        server: &server,
        business,
        token: token.clone(),
    };
    target.genuine("genuine-0").await;
    let (vault_kid, vault_key) = server.vault.signing_key().unwrap();
    let vault_public = vault_key.verifying_key();
    let attackers = attacker_keys(8);
    let mut g = Gen::new(23);
    let mut seen: HashSet<String> = HashSet::new();
    let mut calls: Vec<Call> = Vec::new();
    // A forged token, presented as its bound business would: DPoP, with a fresh proof for it.
    let mut push_token =
        |category: &'static str, forged: String, calls: &mut Vec<Call>, g: &mut Gen| {
            if forged != token && sendable(&forged) && seen.insert(forged.clone()) {
                let proof = target.proof(&forged, &format!("t-{}", g.word()));
                calls.push(Call {
                    category,
                    authorization: format!("DPoP {forged}"),
                    proofs: vec![proof],
                    stale_by: None,
                });
            }
        };
    let claims = claims_of(&token);
    let widened = || {
        let mut c = claims.clone();
        c.authorization_details[0].fields = vec!["/profile".into()];
        serde_json::to_vec(&c).unwrap()
    };
    for _ in 0..70 {
        push_token(
            "token_bit_flip",
            bit_flip(&mut g, &token),
            &mut calls,
            &mut g,
        );
    }
    for _ in 0..40 {
        push_token(
            "token_truncation",
            truncate(&mut g, &token),
            &mut calls,
            &mut g,
        );
    }
    for alg in ["none", "None", "NONE", "nOnE", "", "none "] {
        for (signature, payload) in [
            (Vec::new(), widened()),
            (Vec::new(), unb64(parts(&token)[1])),
            (unb64(parts(&token)[2]), widened()),
            (unb64(parts(&token)[2]), unb64(parts(&token)[1])),
            (g.bytes(64), widened()),
        ] {
            let mut header = header_of(&token);
            header["alg"] = json!(alg);
            push_token(
                "token_alg_none",
                assemble(&header, &payload, &signature),
                &mut calls,
                &mut g,
            );
        }
    }
    let public_jwk = Jwk::from_verifying_key(&vault_public);
    let secrets = [
        vault_public.to_bytes().to_vec(),
        public_jwk.x.clone().into_bytes(),
        serde_json::to_vec(&public_jwk).unwrap(),
        server
            .get_json("/.well-known/jwks.json")
            .await
            .to_string()
            .into_bytes(),
    ];
    for secret in &secrets {
        for alg in ["HS256", "HS384", "HS512"] {
            for payload in [widened(), unb64(parts(&token)[1])] {
                let mut header = header_of(&token);
                header["alg"] = json!(alg);
                let forged = hmac_signed(&header, &payload, secret);
                push_token("token_hs256_public_key", forged, &mut calls, &mut g);
                header.as_object_mut().unwrap().remove("kid");
                let forged = hmac_signed(&header, &payload, secret);
                push_token("token_hs256_public_key", forged, &mut calls, &mut g);
            }
        }
    }
    for attacker in &attackers {
        for payload in [widened(), unb64(parts(&token)[1])] {
            for kid in [
                vault_kid.clone(),
                thumbprint(&Jwk::from_verifying_key(&attacker.verifying_key())),
            ] {
                let mut header = header_of(&token);
                header["kid"] = json!(kid);
                let forged = ed25519_signed(&header, &payload, attacker);
                push_token(
                    "token_resigned_other_key",
                    forged.clone(),
                    &mut calls,
                    &mut g,
                );
                let mut with_jwk = header.clone();
                with_jwk["jwk"] =
                    serde_json::to_value(Jwk::from_verifying_key(&attacker.verifying_key()))
                        .unwrap();
                let forged = ed25519_signed(&with_jwk, &payload, attacker);
                push_token("token_embedded_jwk", forged, &mut calls, &mut g);
            }
        }
    }
    // Genuinely signed by the vault's key, but out of their time: expired, or not valid yet.
    let now = unix_now();
    for i in 0..32 {
        let mut c = claims.clone();
        let beyond = 30 + 5 + g.span(0, if i % 2 == 0 { 20 } else { 86_400 * 365 });
        match i % 3 {
            0 => c.exp = now - beyond,
            1 => c.nbf = Some(now + beyond),
            _ => {
                c.iat = now + beyond;
                c.exp = c.iat + 3600;
            }
        }
        let forged = kluis::core::token::encode_grant(&c, &vault_key, &vault_kid);
        push_token("token_time_shift", forged, &mut calls, &mut g);
    }
    let pieces = [token.clone(), other_token.clone()];
    for a in &pieces {
        for b in &pieces {
            for c in &pieces {
                let spliced = format!("{}.{}.{}", parts(a)[0], parts(b)[1], parts(c)[2]);
                if spliced != other_token {
                    push_token("token_spliced", spliced, &mut calls, &mut g);
                }
            }
        }
    }
    // The other token's signature on this token's payload under re-spelled headers, too.
    for _ in 0..20 {
        let mut header = header_of(&token);
        header["x"] = json!(g.word());
        let spliced = format!(
            "{}.{}.{}",
            b64(header.to_string()),
            parts(&token)[1],
            parts(&other_token)[2]
        );
        push_token("token_spliced", spliced, &mut calls, &mut g);
    }
    for _ in 0..120 {
        if let Some(respelled) = non_canonical(&mut g, &token) {
            push_token("token_non_canonical_b64", respelled, &mut calls, &mut g);
        }
    }

    // The genuine token, with a bad proof or none.
    let dpop = format!("DPoP {token}");
    let push_proof = |category: &'static str,
                      authorization: &str,
                      proofs: Vec<String>,
                      calls: &mut Vec<Call>| {
        if !proofs.iter().all(|p| sendable(p)) {
            return;
        }
        calls.push(Call {
            category,
            authorization: authorization.to_owned(),
            proofs,
            stale_by: None,
        });
    };
    for i in 0..10 {
        let proofs = if i % 2 == 0 {
            vec![target.proof(&token, &format!("b-{i}"))]
        } else {
            Vec::new()
        };
        let scheme = ["Bearer", "bearer", "BEARER"][i % 3];
        push_proof(
            "bearer_downgrade",
            &format!("{scheme} {token}"),
            proofs,
            &mut calls,
        );
    }
    for i in 0..10 {
        let proofs = match i % 3 {
            0 => Vec::new(),
            1 => vec![
                target.proof(&token, &format!("d-{i}")),
                target.proof(&token, &format!("e-{i}")),
            ],
            _ => vec![String::new()],
        };
        push_proof("proof_missing_or_doubled", &dpop, proofs, &mut calls);
    }
    let base = server.base.clone();
    let localhost = base.replace("127.0.0.1", "localhost");
    let retargets = [
        ("POST", format!("{base}/v1/introspect")),
        ("POST", format!("{base}/v1/contact/check")),
        ("POST", format!("{base}/v1/inbox")),
        ("GET", format!("{base}/v1/data/")),
        ("GET", format!("{base}/v1/requests")),
        ("POST", format!("{base}/v1/data")),
        ("PUT", format!("{base}/v1/data")),
        ("GET", format!("{localhost}/v1/data")),
        ("GET", base.replace("http://", "https://") + "/v1/data"),
        ("GET", "https://vault.example/v1/data".to_owned()),
    ];
    for i in 0..60 {
        let (htm, htu) = &retargets[i % retargets.len()];
        let ath = if i % 4 == 3 { &other_token } else { &token };
        let proof = make_proof(
            &target.business,
            htm,
            htu,
            Some(ath),
            &format!("r-{i}"),
            unix_now(),
        );
        push_proof("proof_retargeted", &dpop, vec![proof], &mut calls);
    }
    for i in 0..40 {
        let thief = &attackers[i % attackers.len()];
        let proof = make_proof(
            thief,
            "GET",
            &target.url,
            Some(&token),
            &format!("o-{i}"),
            unix_now(),
        );
        push_proof("proof_other_key", &dpop, vec![proof], &mut calls);
    }
    for i in 0..40 {
        let off = MAX_SKEW_SECS + 5 + g.span(0, if i % 2 == 0 { 30 } else { 86_400 });
        calls.push(Call {
            category: "proof_stale",
            authorization: dpop.clone(),
            proofs: Vec::new(),
            stale_by: Some(if i % 4 < 2 { -off } else { off }),
        });
    }
    for i in 0..80 {
        let proof = bit_flip(&mut g, &target.proof(&token, &format!("f-{i}")));
        push_proof("proof_bit_flip", &dpop, vec![proof], &mut calls);
    }
    let business_jwk = Jwk::from_verifying_key(&target.business.verifying_key());
    for i in 0..32 {
        let claims = json!({"jti": format!("h-{i}"), "htm": "GET", "htu": target.url, "iat": unix_now(), "ath": token_hash(&token)});
        let payload = serde_json::to_vec(&claims).unwrap();
        let mut header = json!({"alg": "EdDSA", "typ": "dpop+jwt", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": business_jwk.x}});
        let proof = match i % 4 {
            0 => ed25519_signed(&header, &payload, &attackers[i % attackers.len()]),
            1 => {
                header["alg"] = json!("none");
                assemble(&header, &payload, &[])
            }
            2 => {
                header["alg"] = json!("HS256");
                hmac_signed(&header, &payload, business_jwk.x.as_bytes())
            }
            _ => {
                header["jwk"]["d"] = json!(b64(target.business.to_bytes()));
                ed25519_signed(&header, &payload, &target.business)
            }
        };
        push_proof("proof_forged_header", &dpop, vec![proof], &mut calls);
    }
    for i in 0..60 {
        if let Some(proof) = non_canonical(&mut g, &target.proof(&token, &format!("n-{i}"))) {
            push_proof("proof_non_canonical_b64", &dpop, vec![proof], &mut calls);
        }
    }

    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut accepted: Vec<String> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let stale;
        let proofs = match call.stale_by {
            Some(off) => {
                let iat = unix_now() + off;
                let jti = format!("s-{i}");
                stale = [make_proof(
                    &target.business,
                    "GET",
                    &target.url,
                    Some(&token),
                    &jti,
                    iat,
                )];
                &stale[..]
            }
            None => &call.proofs[..],
        };
        let status = target.send(&call.authorization, proofs).await;
        *counts.entry(call.category).or_default() += 1;
        if status != StatusCode::UNAUTHORIZED {
            accepted.push(format!(
                "{}: {status} {}",
                call.category, call.authorization
            ));
        }
        if i % 50 == 49 {
            target.genuine(&format!("genuine-{i}")).await;
        }
    }

    // Replays: each fresh proof sent four times at once is served once; sent again later, never.
    let mut replayed = 0;
    let mut sent = Vec::new();
    for i in 0..25 {
        let proof = target.proof(&token, &format!("replay-{i}"));
        let together = futures_all((0..4).map(|_| {
            let http = server.http.clone();
            let (url, dpop, proof) = (target.url.clone(), dpop.clone(), proof.clone());
            async move {
                http.get(url)
                    .header("authorization", dpop)
                    .header("dpop", proof)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        }))
        .await;
        let served = together.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(
            served, 1,
            "one of four identical proofs is served: {together:?}"
        );
        replayed += 3;
        accepted.extend(
            together
                .iter()
                .filter(|s| **s != StatusCode::OK && **s != StatusCode::UNAUTHORIZED)
                .map(|s| format!("proof_replayed: {s}")),
        );
        sent.push(proof);
    }
    for proof in &sent {
        let status = target.send(&dpop, std::slice::from_ref(proof)).await;
        replayed += 1;
        if status != StatusCode::UNAUTHORIZED {
            accepted.push(format!("proof_replayed: {status} later"));
        }
    }
    counts.insert("proof_replayed", replayed);
    target.genuine("genuine-last").await;

    let total: usize = counts.values().sum();
    eprintln!(
        "server attack corpus: {total} calls, {} accepted",
        accepted.len()
    );
    for (category, count) in &counts {
        eprintln!("  {category:<28} {count:>6}");
    }
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
    for (category, min) in MINIMUMS {
        let count = counts.get(category).copied().unwrap_or(0);
        assert!(count >= *min, "{category}: {count} cases, fewer than {min}");
    }
    assert_eq!(counts.len(), MINIMUMS.len());
    assert!(total >= 600, "{total} calls");
}

/// Runs the futures at once and returns their outputs in order.
async fn futures_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}
