//! Attacks on grant tokens, judged by `verify_grant` as a business verifies one offline (issuer,
//! audience, clock with 30 s of leeway, keys from the vault's JWKS: the current key and a
//! retired one).

use ed25519_dalek::SigningKey;
use kluis_core::jose::{Jwk, Jwks, thumbprint};
use kluis_core::token::{
    AuthorizationDetail, Confirmation, Expectations, GRANT_TYP, GrantClaims, encode_grant,
    verify_grant,
};
use serde_json::{Value, json};

use super::tools::{
    Corpus, Gen, assemble, attacker_keys, b64, bit_flip, ed25519_signed, hmac_signed, malleate,
    non_canonical, parts, truncate, unb64,
};

pub const ISS: &str = "https://vault.example";
pub const AUD: &str = "webshop.example";
pub const NOW: i64 = 1_800_000_000;
pub const LEEWAY: i64 = 30;
const YEAR: i64 = 366 * 24 * 3600;

/// The categories and the fewest cases each must have.
pub const MINIMUMS: &[(&str, usize)] = &[
    ("bit_flip", 3000),
    ("truncation", 1000),
    ("alg_none", 600),
    ("hs256_public_key", 600),
    ("alg_confusion", 600),
    ("kid_swap", 600),
    ("embedded_jwk", 600),
    ("jku_x5u_x5c", 600),
    ("resigned_other_key", 1000),
    ("spliced", 600),
    ("time_shift", 1200),
    ("audience_swap", 800),
    ("issuer_swap", 300),
    ("type_confusion", 600),
    ("non_canonical_b64", 1200),
    ("signature_malleability", 200),
];

/// The vault: its current key, a retired key its JWKS still publishes, and genuine tokens.
pub struct Vault {
    pub current: SigningKey,
    pub retired: SigningKey,
    pub current_kid: String,
    pub retired_kid: String,
    pub jwks: Jwks,
}

impl Vault {
    pub fn new() -> Self {
        let current = SigningKey::from_bytes(&[1; 32]);
        let retired = SigningKey::from_bytes(&[2; 32]);
        let jwks = Jwks {
            keys: vec![
                Jwk::from_verifying_key(&current.verifying_key()),
                Jwk::from_verifying_key(&retired.verifying_key()),
            ],
        };
        Vault {
            current_kid: kid(&current),
            retired_kid: kid(&retired),
            current,
            retired,
            jwks,
        }
    }

    /// What a business does with a token it holds: `verify_grant` against the JWKS.
    pub fn accepts(&self, token: &str) -> bool {
        let expect = Expectations {
            issuer: ISS,
            audience: Some(AUD),
            now: NOW,
            leeway: LEEWAY,
        };
        verify_grant(token, |kid| self.jwks.find(kid), &expect).is_ok()
    }

    pub fn sign(&self, claims: &GrantClaims) -> String {
        encode_grant(claims, &self.current, &self.current_kid)
    }
}

pub fn kid(key: &SigningKey) -> String {
    Jwk::from_verifying_key(&key.verifying_key()).kid.unwrap()
}

/// The claims of genuine grant `i`, bound to `jkt` when given.
pub fn claims(i: usize, jkt: Option<&str>) -> GrantClaims {
    let fields: &[&str] = match i % 3 {
        0 => &["/profile/email"],
        1 => &["/profile/email", "/profile/address"],
        _ => &["/profile/phone_number"],
    };
    GrantClaims {
        iss: ISS.into(),
        sub: format!("pairwise-{i}"),
        aud: AUD.into(),
        jti: format!("g_{i:04}"),
        iat: NOW - 60,
        nbf: i.is_multiple_of(2).then_some(NOW - 60),
        exp: NOW + 3600,
        purpose: "order delivery".into(),
        purpose_category: Some("contract".into()),
        authorization_details: vec![AuthorizationDetail::read_fields(fields.iter().copied())],
        cnf: jkt.map(|jkt| Confirmation { jkt: jkt.into() }),
    }
}

/// The claims changed as an attacker would want them: longer, wider, for another business.
fn tampered(g: &mut Gen, claims: &GrantClaims) -> Vec<u8> {
    let mut c = claims.clone();
    match g.below(6) {
        0 => c.exp += g.span(1, 10 * YEAR),
        1 => c.authorization_details = vec![AuthorizationDetail::read_fields(["/profile"])],
        2 => c.aud = format!("evil-{}.example", g.word()),
        3 => c.cnf = None,
        4 => c.jti = format!("g_{}", g.word()),
        _ => c.sub = format!("pairwise-{}", g.word()),
    }
    serde_json::to_vec(&c).unwrap()
}

fn payload_of(g: &mut Gen, token: &str) -> Vec<u8> {
    let original = unb64(parts(token)[1]);
    if g.chance(50) {
        return original;
    }
    let claims: GrantClaims = serde_json::from_slice(&original).unwrap();
    tampered(g, &claims)
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(parts(token)[0])).unwrap()
}

/// Builds the corpus and checks that not one case is accepted (and that the genuine tokens
/// are).
pub fn corpus() {
    let vault = Vault::new();
    let mut genuine: Vec<String> = (0..12)
        .map(|i| vault.sign(&claims(i, (i % 2 == 1).then_some("jkt-of-the-business"))))
        .collect();
    // Tokens signed before the last key rotation still verify under the retired key.
    genuine.extend(
        (12..16).map(|i| encode_grant(&claims(i, None), &vault.retired, &vault.retired_kid)),
    );
    for token in &genuine {
        assert!(vault.accepts(token), "a genuine token is refused: {token}");
    }
    let accepts = |t: &str| vault.accepts(t);
    let attackers = attacker_keys(16);
    let mut g = Gen::new(7);
    let mut corpus = Corpus::new(&genuine);
    let any = |g: &mut Gen| genuine[g.below(genuine.len())].clone();

    corpus.fill("bit_flip", 3000, &mut g, &accepts, |g| {
        let t = any(g);
        Some(bit_flip(g, &t))
    });
    corpus.fill("truncation", 1000, &mut g, &accepts, |g| {
        let t = any(g);
        Some(truncate(g, &t))
    });
    corpus.fill("alg_none", 600, &mut g, &accepts, |g| {
        let token = any(g);
        let mut header = header_of(&token);
        match g.below(8) {
            0 => header["alg"] = json!("none"),
            1 => header["alg"] = json!("None"),
            2 => header["alg"] = json!("NONE"),
            3 => header["alg"] = json!("nOnE"),
            4 => header["alg"] = json!(""),
            5 => header["alg"] = Value::Null,
            6 => header["alg"] = json!(["none"]),
            _ => {
                header.as_object_mut()?.remove("alg");
            }
        }
        let signature = match g.below(3) {
            0 => Vec::new(),
            1 => unb64(parts(&token)[2]),
            _ => g.bytes(64),
        };
        Some(assemble(&header, &payload_of(g, &token), &signature))
    });
    let public_secrets: Vec<Vec<u8>> = [&vault.current, &vault.retired]
        .iter()
        .flat_map(|key| {
            let vk = key.verifying_key();
            let jwk = Jwk::from_verifying_key(&vk);
            let mut spki = hex_bytes("302a300506032b6570032100");
            spki.extend_from_slice(vk.as_bytes());
            let pem = format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spki)
            );
            vec![
                vk.as_bytes().to_vec(),
                jwk.x.clone().into_bytes(),
                serde_json::to_vec(&jwk).unwrap(),
                serde_json::to_vec(&json!({"kty": "OKP", "crv": "Ed25519", "x": jwk.x})).unwrap(),
                spki,
                pem.into_bytes(),
            ]
        })
        .chain([serde_json::to_vec(&vault.jwks).unwrap()])
        .collect();
    corpus.fill("hs256_public_key", 600, &mut g, &accepts, |g| {
        let token = any(g);
        let mut header = header_of(&token);
        header["alg"] = json!(*g.pick(&["HS256", "HS384", "HS512"]));
        if g.chance(20) {
            header.as_object_mut()?.remove("kid");
        }
        let secret = g.pick(&public_secrets).clone();
        Some(hmac_signed(&header, &payload_of(g, &token), &secret))
    });
    corpus.fill("alg_confusion", 600, &mut g, &accepts, |g| {
        let token = any(g);
        let mut header = header_of(&token);
        let (alg, len) = *g.pick(&[
            ("RS256", 256),
            ("RS512", 512),
            ("PS256", 256),
            ("ES256", 64),
            ("ES384", 96),
            ("ES512", 132),
            ("ES256K", 64),
            ("Ed25519", 64),
            ("Ed448", 114),
            ("eddsa", 64),
            ("EDDSA", 64),
            ("EdDSA ", 64),
            ("EdDSA\u{0}", 64),
            ("ED25519", 64),
        ]);
        header["alg"] = json!(alg);
        let signature = if g.chance(30) {
            unb64(parts(&token)[2])
        } else {
            g.bytes(len)
        };
        Some(assemble(&header, &payload_of(g, &token), &signature))
    });
    corpus.fill("kid_swap", 600, &mut g, &accepts, |g| {
        let token = any(g);
        let mut header = header_of(&token);
        let own = header["kid"].as_str()?.to_owned();
        let other = if own == vault.current_kid {
            &vault.retired_kid
        } else {
            &vault.current_kid
        };
        let attacker = g.pick(&attackers);
        header["kid"] = match g.below(11) {
            0 | 1 => json!(other),
            2 => json!(own.to_uppercase()),
            3 => json!(format!("{own} ")),
            4 => json!(""),
            5 => json!(b64(g.bytes(32))),
            6 => json!(kid(attacker)),
            7 => json!(*g.pick(&["../../.well-known/jwks.json", "' OR '1'='1", "\u{0}", "*"])),
            8 => json!(g.below(1000)),
            9 => json!([own]),
            _ => Value::Null,
        };
        let payload = payload_of(g, &token);
        Some(if g.chance(50) {
            // The genuine signature kept under the new header.
            let mut jws = assemble(&header, &payload, &[]);
            jws.push_str(parts(&token)[2]);
            jws
        } else {
            ed25519_signed(&header, &payload, attacker)
        })
    });
    corpus.fill("embedded_jwk", 600, &mut g, &accepts, |g| {
        let token = any(g);
        let attacker = g.pick(&attackers);
        let mut header = header_of(&token);
        let mut jwk =
            serde_json::to_value(Jwk::from_verifying_key(&attacker.verifying_key())).unwrap();
        match g.below(5) {
            0 => header["kid"] = json!(kid(attacker)),
            1 => {
                header.as_object_mut()?.remove("kid");
            }
            2 => jwk["d"] = json!(b64(attacker.to_bytes())),
            // The vault's own public key in the header, the attacker's signature.
            3 => jwk = serde_json::to_value(&vault.jwks.keys[0]).unwrap(),
            _ => {}
        }
        header["jwk"] = jwk;
        Some(ed25519_signed(&header, &payload_of(g, &token), attacker))
    });
    corpus.fill("jku_x5u_x5c", 600, &mut g, &accepts, |g| {
        let token = any(g);
        let attacker = g.pick(&attackers);
        let mut header = header_of(&token);
        let url = format!(
            "{}/{}/jwks.json",
            g.pick(&[
                "https://attacker.example",
                "https://vault.example.attacker.example",
                "http://127.0.0.1:9",
                "https://vault.example@attacker.example"
            ]),
            g.word()
        );
        match g.below(3) {
            0 => header["jku"] = json!(url),
            1 => header["x5u"] = json!(url),
            _ => {
                header["x5c"] = json!([base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    g.bytes(300)
                )])
            }
        }
        if g.chance(50) {
            header["kid"] = json!(kid(attacker));
        }
        Some(ed25519_signed(&header, &payload_of(g, &token), attacker))
    });
    corpus.fill("resigned_other_key", 1000, &mut g, &accepts, |g| {
        // The genuine header (the vault's `kid`), signed by someone else.
        let token = any(g);
        let attacker = g.pick(&attackers);
        Some(ed25519_signed(
            &header_of(&token),
            &payload_of(g, &token),
            attacker,
        ))
    });
    let receipt_like = kluis_core::jose::sign_typed(
        &json!({"iss": ISS, "aud": AUD, "exp": NOW + 3600}),
        "kluis-receipt+jwt",
        &vault.current,
        &vault.current_kid,
    );
    let mut pieces = genuine.clone();
    pieces.push(receipt_like);
    corpus.fill("spliced", 600, &mut g, &accepts, |g| {
        let [a, b, c] = [0; 3].map(|_| pieces[g.below(pieces.len())].clone());
        Some(format!(
            "{}.{}.{}",
            parts(&a)[0],
            parts(&b)[1],
            parts(&c)[2]
        ))
    });
    corpus.fill("time_shift", 1200, &mut g, &accepts, |g| {
        let mut c = claims(g.below(12), None);
        c.jti = format!("g_{}", g.word());
        let beyond = |g: &mut Gen| {
            if g.chance(30) {
                g.span(0, 5)
            } else {
                g.span(0, 10 * YEAR)
            }
        };
        match g.below(4) {
            // exp at or before now - leeway.
            0 | 1 => c.exp = NOW - LEEWAY - beyond(g),
            2 => c.nbf = Some(NOW + LEEWAY + 1 + beyond(g)),
            _ => {
                c.iat = NOW + LEEWAY + 1 + beyond(g);
                c.exp = c.iat + 3600;
            }
        }
        Some(vault.sign(&c))
    });
    corpus.fill("audience_swap", 800, &mut g, &accepts, |g| {
        let mut c = claims(g.below(12), None);
        c.jti = format!("g_{}", g.word());
        c.aud = match g.below(6) {
            0 => format!("{}.example", g.word()),
            1 => AUD.to_uppercase(),
            2 => format!("{AUD}{}", g.pick(&[" ", ".", "/", "\u{0}", "x"])),
            3 => AUD[..g.below(AUD.len())].to_owned(),
            4 => format!("{}{AUD}", g.pick(&["www.", " ", "evil-"])),
            _ => {
                // Shapes a lenient verifier might read as "includes ours".
                let mut v = serde_json::to_value(&c).unwrap();
                v["aud"] = g
                    .pick(&[
                        json!([AUD]),
                        json!([AUD, "evil.example"]),
                        Value::Null,
                        json!({"aud": AUD}),
                    ])
                    .clone();
                return Some(ed25519_signed(
                    &header_of(&genuine[0]),
                    &serde_json::to_vec(&v).unwrap(),
                    &vault.current,
                ));
            }
        };
        Some(vault.sign(&c))
    });
    corpus.fill("issuer_swap", 300, &mut g, &accepts, |g| {
        let mut c = claims(g.below(12), None);
        c.jti = format!("g_{}", g.word());
        c.iss = match g.below(5) {
            0 => format!("{ISS}/"),
            1 => ISS.replace("https", "http"),
            2 => ISS.to_uppercase(),
            3 => format!("https://{}.example", g.word()),
            _ => String::new(),
        };
        Some(vault.sign(&c))
    });
    // Built right, the hand-made header below is accepted: each case is refused for what it
    // changes.
    let mut control = claims(4, None);
    control.jti = "g_control".into();
    let header = json!({"alg": "EdDSA", "kid": vault.current_kid, "typ": GRANT_TYP});
    let control = ed25519_signed(
        &header,
        &serde_json::to_vec(&control).unwrap(),
        &vault.current,
    );
    assert!(
        accepts(&control),
        "the hand-built token is refused: {control}"
    );
    corpus.fill("type_confusion", 600, &mut g, &accepts, |g| {
        // Other JWTs the vault signs, or headers a verifier must not understand.
        let mut c = claims(g.below(12), None);
        c.jti = format!("g_{}", g.word());
        let mut header = json!({"alg": "EdDSA", "kid": vault.current_kid});
        match g.below(12) {
            0 => header["typ"] = json!("JWT"),
            1 => header["typ"] = json!("dpop+jwt"),
            2 => header["typ"] = json!("kluis-receipt+jwt"),
            3 => header["typ"] = json!("kluis-delivery+jwt"),
            4 => header["typ"] = json!("kluis-entry+jwt"),
            5 => header["typ"] = json!("text/kluis-grant+jwt"),
            6 => header["typ"] = json!(format!("{GRANT_TYP} ")),
            7 => header["typ"] = json!("kluis-grant"),
            8 => header["typ"] = json!([GRANT_TYP]),
            9 => {}
            10 => {
                header["typ"] = json!(GRANT_TYP);
                header["crit"] = json!(["exp"]);
            }
            _ => {
                header["typ"] = json!(GRANT_TYP);
                header["crit"] = json!(["b64"]);
                header["b64"] = json!(false);
            }
        }
        Some(ed25519_signed(
            &header,
            &serde_json::to_vec(&c).unwrap(),
            &vault.current,
        ))
    });
    corpus.fill("non_canonical_b64", 1200, &mut g, &accepts, |g| {
        let t = any(g);
        non_canonical(g, &t)
    });
    corpus.fill("signature_malleability", 200, &mut g, &accepts, |g| {
        let mut c = claims(g.below(12), None);
        c.jti = format!("g_{}", g.word());
        let token = vault.sign(&c);
        assert!(vault.accepts(&token));
        Some(malleate(&token))
    });
    corpus.assert_all_refused("grant token attack corpus", MINIMUMS, 13_000);
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Tokens an attacker cannot make but the corpus checks are refused for the reason that
/// matters: the same claims signed by the vault are accepted (so a refusal above is the
/// attack's doing, not a broken fixture).
pub fn fixtures_are_sound() {
    let vault = Vault::new();
    let token = vault.sign(&claims(3, None));
    assert!(vault.accepts(&token));
    let other = SigningKey::from_bytes(&[9; 32]);
    let resigned = ed25519_signed(&header_of(&token), &unb64(parts(&token)[1]), &other);
    assert!(!vault.accepts(&resigned));
    // The same header and payload signed by the vault again through our hand-made signer:
    // accepted, so `ed25519_signed` makes real signatures.
    let again = ed25519_signed(&header_of(&token), &unb64(parts(&token)[1]), &vault.current);
    assert!(vault.accepts(&again));
    // The HMAC is the real one (RFC 4231, test case 2).
    assert_eq!(
        b64(super::tools::mac::<hmac::Hmac<sha2::Sha256>>(
            b"Jefe",
            "what do ya want for nothing?"
        )),
        b64(hex_bytes(
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ))
    );
    assert_eq!(thumbprint(&vault.jwks.keys[0]), vault.current_kid);
}
