//! Attacks on DPoP proofs, judged by `check_proof` as the server checks the proof of a
//! `GET /v1/data` with a grant bound to the business's key. Replays need the server's memory
//! of used proofs: they are in the server's corpus (`tests/attack_server.rs`).

use ed25519_dalek::SigningKey;
use kluis_core::dpop::{DPOP_TYP, MAX_SKEW_SECS, check_proof, make_proof, token_hash};
use kluis_core::jose::{Jwk, thumbprint};
use serde_json::{Value, json};

use super::token::{NOW, Vault, claims};
use super::tools::{
    Corpus, Gen, assemble, attacker_keys, b64, bit_flip, ed25519_signed, hmac_signed, malleate,
    non_canonical, truncate, unb64,
};

const URL: &str = "https://vault.example/v1/data";

pub const MINIMUMS: &[(&str, usize)] = &[
    ("dpop_bit_flip", 1000),
    ("dpop_truncation", 300),
    ("dpop_wrong_method", 300),
    ("dpop_retargeted_url", 400),
    ("dpop_wrong_ath", 400),
    ("dpop_other_key", 400),
    ("dpop_stale", 400),
    ("dpop_forged_header", 400),
    ("dpop_bad_claims", 200),
    ("dpop_non_canonical_b64", 300),
    ("dpop_signature_malleability", 200),
];

/// The public JWK a proof carries.
fn proof_jwk(key: &SigningKey) -> Value {
    let jwk = Jwk::from_verifying_key(&key.verifying_key());
    json!({"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x})
}

fn proof_claims(jti: &str, htm: &str, htu: &str, ath: Option<&str>, iat: i64) -> Value {
    let mut claims = json!({"jti": jti, "htm": htm, "htu": htu, "iat": iat});
    if let Some(ath) = ath {
        claims["ath"] = json!(ath);
    }
    claims
}

pub fn corpus() {
    let vault = Vault::new();
    let business = SigningKey::from_bytes(&[42; 32]);
    let jkt = thumbprint(&Jwk::from_verifying_key(&business.verifying_key()));
    let token = vault.sign(&claims(1, Some(&jkt)));
    let other_token = vault.sign(&claims(3, Some(&jkt)));
    let ath = token_hash(&token);
    let accepts =
        |proof: &str| check_proof(proof, "GET", URL, Some(&token), Some(&jkt), NOW).is_ok();

    let mut g = Gen::new(11);
    let genuine: Vec<String> = (0..16)
        .map(|i| make_proof(&business, "GET", URL, Some(&token), &format!("p-{i}"), NOW))
        .collect();
    for proof in &genuine {
        assert!(accepts(proof), "a genuine proof is refused: {proof}");
    }
    // The query and the host's case do not matter (RFC 9449 §4.3): not attacks.
    assert!(accepts(&make_proof(
        &business,
        "GET",
        "HTTPS://VAULT.example/v1/data?fields=/profile/email",
        Some(&token),
        "p-q",
        NOW
    )));
    // The hand-built proofs below start from this header and these claims: built right, they
    // are accepted, so each of those cases is refused for what it changed.
    let template = |jti: &str| {
        let header = json!({"alg": "EdDSA", "typ": DPOP_TYP, "jwk": proof_jwk(&business)});
        let claims = proof_claims(jti, "GET", URL, Some(&ath), NOW);
        ed25519_signed(&header, &serde_json::to_vec(&claims).unwrap(), &business)
    };
    for i in 0..4 {
        let proof = template(&format!("t-{i}"));
        assert!(accepts(&proof), "the hand-built proof is refused: {proof}");
    }
    let attackers = attacker_keys(16);
    let mut corpus = Corpus::new(&genuine);
    let any = |g: &mut Gen| genuine[g.below(genuine.len())].clone();
    let jti = |g: &mut Gen| format!("p-{}", g.word());
    let real = |htm: &str, htu: &str, ath_of: Option<&str>, jti: &str, iat: i64| {
        make_proof(&business, htm, htu, ath_of, jti, iat)
    };

    corpus.fill("dpop_bit_flip", 1000, &mut g, &accepts, |g| {
        let t = any(g);
        Some(bit_flip(g, &t))
    });
    corpus.fill("dpop_truncation", 300, &mut g, &accepts, |g| {
        let t = any(g);
        Some(truncate(g, &t))
    });
    corpus.fill("dpop_wrong_method", 300, &mut g, &accepts, |g| {
        let htm = *g.pick(&[
            "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "Get", "GET ", " GET", "",
        ]);
        Some(real(htm, URL, Some(&token), &jti(g), NOW))
    });
    corpus.fill("dpop_retargeted_url", 400, &mut g, &accepts, |g| {
        let htu = match g.below(4) {
            // A proof made for another endpoint of the same vault.
            0 => format!(
                "https://vault.example{}",
                g.pick(&[
                    "/v1/introspect",
                    "/v1/contact/check",
                    "/v1/inbox",
                    "/v1/relationship/entries",
                    "/v1/data/",
                    "/v1/dat",
                    "/V1/data",
                    "/v1/data/../data",
                    "/v1//data",
                    "/",
                ])
            ),
            // ... or for another server altogether.
            1 => format!(
                "{}/v1/data",
                g.pick(&[
                    "http://vault.example",
                    "https://vault.example:8443",
                    "https://vault.example.attacker.example",
                    "https://attacker.example",
                    "https://127.0.0.1",
                    "https://user@vault.example",
                    "wss://vault.example",
                ])
            ),
            2 => format!("https://{}.example/v1/data", g.word()),
            _ => (*g.pick(&[
                "",
                "/v1/data",
                "vault.example/v1/data",
                "https:/vault.example/v1/data",
            ]))
            .to_owned(),
        };
        Some(real("GET", &htu, Some(&token), &jti(g), NOW))
    });
    corpus.fill("dpop_wrong_ath", 400, &mut g, &accepts, |g| {
        let claims = match g.below(5) {
            // A proof for another of the business's tokens, or for none.
            0 => return Some(real("GET", URL, Some(&other_token), &jti(g), NOW)),
            1 => return Some(real("GET", URL, None, &jti(g), NOW)),
            2 => {
                let spelled = match g.below(3) {
                    0 => format!("{ath}="),
                    1 => ath.replace('-', "+").replace('_', "/"),
                    _ => ath.to_uppercase(),
                };
                proof_claims(&jti(g), "GET", URL, Some(&spelled), NOW)
            }
            3 => {
                let hex: String = unb64(&ath).iter().map(|b| format!("{b:02x}")).collect();
                let plain = g.pick(&[token.clone(), hex, String::new()]).clone();
                proof_claims(&jti(g), "GET", URL, Some(&plain), NOW)
            }
            _ => proof_claims(&jti(g), "GET", URL, Some(&b64(g.bytes(32))), NOW),
        };
        let header = json!({"alg": "EdDSA", "typ": DPOP_TYP, "jwk": proof_jwk(&business)});
        Some(ed25519_signed(
            &header,
            &serde_json::to_vec(&claims).unwrap(),
            &business,
        ))
    });
    corpus.fill("dpop_other_key", 400, &mut g, &accepts, |g| {
        // A thief with the token and a key of their own.
        let thief = g.pick(&attackers);
        Some(make_proof(thief, "GET", URL, Some(&token), &jti(g), NOW))
    });
    corpus.fill("dpop_stale", 400, &mut g, &accepts, |g| {
        let far = if g.chance(30) { 5 } else { 400_000_000 };
        let off = MAX_SKEW_SECS + 1 + g.span(0, far);
        let iat = if g.chance(50) { NOW - off } else { NOW + off };
        Some(real("GET", URL, Some(&token), &jti(g), iat))
    });
    corpus.fill("dpop_forged_header", 400, &mut g, &accepts, |g| {
        let thief = g.pick(&attackers);
        let claims =
            serde_json::to_vec(&proof_claims(&jti(g), "GET", URL, Some(&ath), NOW)).unwrap();
        let mut header = json!({"alg": "EdDSA", "typ": DPOP_TYP, "jwk": proof_jwk(&business)});
        Some(match g.below(8) {
            // The business's public key in the header, the thief's signature.
            0 => ed25519_signed(&header, &claims, thief),
            1 => {
                header["alg"] = json!(*g.pick(&["none", "None", "NONE"]));
                assemble(&header, &claims, &[])
            }
            2 => {
                header["alg"] = json!("HS256");
                let x = Jwk::from_verifying_key(&business.verifying_key()).x;
                let secret = g
                    .pick(&[business.verifying_key().to_bytes().to_vec(), x.into_bytes()])
                    .clone();
                hmac_signed(&header, &claims, &secret)
            }
            // A proof that carries its private key: the key is leaked, the proof worthless.
            3 => {
                header["jwk"]["d"] = json!(b64(business.to_bytes()));
                ed25519_signed(&header, &claims, &business)
            }
            4 => {
                header["typ"] = json!(*g.pick(&["JWT", "kluis-grant+jwt", "dpop", "at+jwt"]));
                ed25519_signed(&header, &claims, &business)
            }
            5 => {
                header.as_object_mut()?.remove("jwk");
                header["kid"] = json!(thumbprint(&Jwk::from_verifying_key(
                    &business.verifying_key()
                )));
                ed25519_signed(&header, &claims, &business)
            }
            6 => {
                header["crit"] = json!(["htm"]);
                ed25519_signed(&header, &claims, &business)
            }
            _ => {
                header["jwk"]["kty"] = json!(*g.pick(&["EC", "RSA", "oct"]));
                ed25519_signed(&header, &claims, &business)
            }
        })
    });
    corpus.fill("dpop_bad_claims", 200, &mut g, &accepts, |g| {
        let mut claims = proof_claims(&jti(g), "GET", URL, Some(&ath), NOW);
        match g.below(5) {
            0 => claims["jti"] = json!(""),
            1 => claims["jti"] = json!("j".repeat(129 + g.below(300))),
            2 => {
                let member = *g.pick(&["jti", "htm", "htu", "iat"]);
                claims.as_object_mut()?.remove(member);
            }
            3 => claims["iat"] = json!(NOW.to_string()),
            _ => claims["htm"] = json!(["GET"]),
        }
        let header = json!({"alg": "EdDSA", "typ": DPOP_TYP, "jwk": proof_jwk(&business)});
        Some(ed25519_signed(
            &header,
            &serde_json::to_vec(&claims).unwrap(),
            &business,
        ))
    });
    corpus.fill("dpop_non_canonical_b64", 300, &mut g, &accepts, |g| {
        let t = any(g);
        non_canonical(g, &t)
    });
    corpus.fill("dpop_signature_malleability", 200, &mut g, &accepts, |g| {
        let proof = real("GET", URL, Some(&token), &jti(g), NOW);
        assert!(accepts(&proof));
        Some(malleate(&proof))
    });
    corpus.assert_all_refused("DPoP proof attack corpus", MINIMUMS, 4_000);
}
