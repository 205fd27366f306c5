//! JOSE building blocks: Ed25519 JWKs and JWK Sets (RFC 7517, RFC 8037), JWK thumbprints
//! (RFC 7638), and compact JWS signing and verification pinned to EdDSA (RFC 7515, RFC 8725).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::token::TokenError;

/// The only JWS algorithm Kluis signs with or accepts.
pub const ALG_EDDSA: &str = "EdDSA";

/// Tokens longer than this are refused before any parsing: grants and DPoP proofs are a few
/// hundred bytes, and a bound keeps a hostile request from costing us a large decode.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

const KTY_OKP: &str = "OKP";
const CRV_ED25519: &str = "Ed25519";
const USE_SIG: &str = "sig";

/// A public Ed25519 key as a JWK (RFC 8037 §2).
///
/// Keys Kluis publishes always carry `kid`, `alg` and `use`; they are optional here so that a
/// bare key (as a client puts in a DPoP proof's `jwk` header) parses too.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK of a verifying key, with `kid` set to its RFC 7638 thumbprint.
    pub fn from_verifying_key(key: &VerifyingKey) -> Jwk {
        let mut jwk = Jwk {
            kty: KTY_OKP.to_owned(),
            crv: CRV_ED25519.to_owned(),
            x: b64_encode(key.as_bytes()),
            kid: None,
            alg: Some(ALG_EDDSA.to_owned()),
            use_: Some(USE_SIG.to_owned()),
        };
        jwk.kid = Some(thumbprint(&jwk));
        jwk
    }

    /// The Ed25519 key this JWK holds. Refuses other key types and curves, an `alg` other than
    /// EdDSA, a `use` other than `sig`, a malformed `x` and small-order (weak) points.
    pub fn verifying_key(&self) -> Result<VerifyingKey, TokenError> {
        let bytes = self.ed25519_bytes()?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| TokenError::InvalidKey)?;
        if key.is_weak() {
            return Err(TokenError::InvalidKey);
        }
        Ok(key)
    }

    /// The 32 bytes of `x` of an Ed25519 signing key, with every parameter checked as by
    /// [`Jwk::verifying_key`] except the point itself: cheap, for looking up a key already
    /// known to be valid.
    pub fn ed25519_bytes(&self) -> Result<[u8; 32], TokenError> {
        if self.kty != KTY_OKP || self.crv != CRV_ED25519 {
            return Err(TokenError::InvalidKey);
        }
        if self.alg.as_deref().is_some_and(|alg| alg != ALG_EDDSA)
            || self.use_.as_deref().is_some_and(|u| u != USE_SIG)
        {
            return Err(TokenError::InvalidKey);
        }
        b64_decode(&self.x)
            .ok()
            .and_then(|raw| raw.try_into().ok())
            .ok_or(TokenError::InvalidKey)
    }
}

/// A JWK Set (RFC 7517 §5), as served at the issuer's `jwks_uri`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The key whose `kid` is `kid`, if the set has one that is a valid Ed25519 key.
    pub fn find(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|jwk| jwk.kid.as_deref() == Some(kid))
            .and_then(|jwk| jwk.verifying_key().ok())
    }
}

/// The RFC 7638 thumbprint of an OKP key: SHA-256 over `{"crv":…,"kty":…,"x":…}` (members in
/// lexicographic order, no whitespace), base64url. Used as `kid` and as DPoP's `jkt`.
pub fn thumbprint(jwk: &Jwk) -> String {
    // Written out by hand so the member order cannot depend on serde_json's map features.
    let canonical = format!(
        r#"{{"crv":{},"kty":{},"x":{}}}"#,
        Value::from(jwk.crv.as_str()),
        Value::from(jwk.kty.as_str()),
        Value::from(jwk.x.as_str()),
    );
    b64_encode(Sha256::digest(canonical.as_bytes()))
}

/// The protected header of a compact JWS, after verification has accepted it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    pub typ: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The signer's public key, carried inline by DPoP proofs (RFC 9449 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
}

/// Signs `payload` as a compact JWS. `header` must be a JSON object; its `alg` is set to EdDSA
/// whatever it held.
///
/// # Panics
/// If `header` is not a JSON object: that is a bug in the caller, not a runtime condition.
pub fn sign_compact(header: &Value, payload: &[u8], key: &SigningKey) -> String {
    let mut header: Map<String, Value> = match header {
        Value::Object(map) => map.clone(),
        _ => panic!("a JWS header must be a JSON object"),
    };
    header.insert("alg".to_owned(), Value::from(ALG_EDDSA));
    let header_json = Value::Object(header).to_string();
    let signing_input = format!(
        "{}.{}",
        b64_encode(header_json.as_bytes()),
        b64_encode(payload)
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64_encode(signature.to_bytes()))
}

/// Signs `claims` as a compact JWS with the header `{"typ": typ, "kid": kid}`: how the vault's
/// grant tokens, consent receipts, delivery receipts and entry receipts are made.
pub fn sign_typed<T: Serialize>(claims: &T, typ: &str, key: &SigningKey, kid: &str) -> String {
    let header = serde_json::json!({ "typ": typ, "kid": kid });
    let payload = serde_json::to_vec(claims).expect("claims of our own types serialize to JSON");
    sign_compact(&header, &payload, key)
}

/// Verifies a compact JWS typed `typ` ([`verify_compact`]) under the key `resolve_key` finds
/// for its `kid`, and reads its claims (`Malformed` if they are not a `T`).
pub fn verify_typed<T: serde::de::DeserializeOwned>(
    token: &str,
    resolve_key: impl Fn(&str) -> Option<VerifyingKey>,
    typ: &str,
) -> Result<T, TokenError> {
    let resolve = |header: &Header| header.kid.as_deref().and_then(&resolve_key);
    let (_, payload) = verify_compact(token, resolve, typ)?;
    serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
}

/// Verifies a compact JWS and returns its header and payload.
///
/// Refuses, in this order: tokens over [`MAX_TOKEN_LEN`] or not made of exactly three canonical
/// base64url parts (no padding) (`Malformed`); an `alg` other than exactly `EdDSA`
/// (`UnsupportedAlgorithm`, so `none`, `HS256` and `Ed25519` are all refused); any `crit` header
/// (`CriticalHeader`); a `typ` other than `expected_typ`, compared case-insensitively with an
/// optional `application/` prefix (`WrongType`, RFC 8725 §3.11); a header for which `resolve_key`
/// finds no key (`UnknownKey`); and a signature that fails `verify_strict` (`BadSignature`).
pub fn verify_compact(
    token: &str,
    resolve_key: impl Fn(&Header) -> Option<VerifyingKey>,
    expected_typ: &str,
) -> Result<(Header, Vec<u8>), TokenError> {
    let (header, payload, signature) = decode_compact(token, resolve_key, expected_typ)?;
    if !signature.check() {
        return Err(TokenError::BadSignature);
    }
    Ok((header, payload))
}

/// [`verify_compact`] up to, not including, checking the signature, which is returned.
pub fn decode_compact(
    token: &str,
    resolve_key: impl Fn(&Header) -> Option<VerifyingKey>,
    expected_typ: &str,
) -> Result<(Header, Vec<u8>, UncheckedSignature), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header_bytes = b64_decode(header_b64)?;
    let payload = b64_decode(payload_b64)?;
    let signature = b64_decode(signature_b64)?;

    let header = parse_header(&header_bytes, expected_typ)?;
    let key = resolve_key(&header).ok_or(TokenError::UnknownKey)?;
    let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    let unchecked = UncheckedSignature {
        key,
        signature,
        message: signing_input.as_bytes().to_vec(),
    };
    Ok((header, payload, unchecked))
}

/// A signature taken apart but not yet checked: [`decode_compact`]'s caller checks it alone
/// ([`UncheckedSignature::check`]) or together with others ([`check_all`]).
#[derive(Clone, Debug)]
pub struct UncheckedSignature {
    key: VerifyingKey,
    signature: Signature,
    /// The JWS signing input.
    message: Vec<u8>,
}

impl UncheckedSignature {
    /// RFC 8032 verification, strict (non-canonical and small-order values refused).
    pub fn check(&self) -> bool {
        self.key
            .verify_strict(&self.message, &self.signature)
            .is_ok()
    }
}

/// Checks many signatures at once: one Ed25519 batch verification (about half the cost per
/// signature of checking them one by one). Only if the batch fails is each checked on its own
/// ([`UncheckedSignature::check`]), to tell which; so the answer for each is that of the strict
/// single check whenever any signature is bad, and a batch of good ones is accepted by both.
/// (A batch can accept some malformed signatures a strict check refuses, made with
/// small-order points; the keys here are checked not to be weak, and a business can only
/// fool itself with its own key.)
pub fn check_all(signatures: &[&UncheckedSignature]) -> Vec<bool> {
    if signatures.len() > 1 {
        let messages: Vec<&[u8]> = signatures.iter().map(|s| &s.message[..]).collect();
        let sigs: Vec<Signature> = signatures.iter().map(|s| s.signature).collect();
        let keys: Vec<VerifyingKey> = signatures.iter().map(|s| s.key).collect();
        if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
            return vec![true; signatures.len()];
        }
    }
    signatures.iter().map(|s| s.check()).collect()
}

fn parse_header(bytes: &[u8], expected_typ: &str) -> Result<Header, TokenError> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(TokenError::Malformed);
    };
    if fields.get("alg").and_then(Value::as_str) != Some(ALG_EDDSA) {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    // RFC 7515 §4.1.11: we understand no extension, so any `crit` (b64=false included) is refused.
    if fields.contains_key("crit") {
        return Err(TokenError::CriticalHeader);
    }
    let typ = fields.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|typ| same_media_type(typ, expected_typ)) {
        return Err(TokenError::WrongType);
    }
    // A JWK header with a private part is a leaked key, never a proof of anything.
    if fields.get("jwk").is_some_and(|jwk| jwk.get("d").is_some()) {
        return Err(TokenError::InvalidKey);
    }
    serde_json::from_value(Value::Object(fields)).map_err(|_| TokenError::Malformed)
}

/// RFC 7515 §4.1.9: media types compare case-insensitively and `application/` may be left out.
fn same_media_type(a: &str, b: &str) -> bool {
    fn short(t: &str) -> &str {
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
            _ => t,
        }
    }
    short(a).eq_ignore_ascii_case(short(b))
}

pub(crate) fn b64_encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url: no padding, no stray trailing bits, so every byte string has exactly one
/// accepted encoding and no two tokens differ only in their spelling.
pub(crate) fn b64_decode(text: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 8037 Appendix A.1.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn rfc8037_key() -> SigningKey {
        let d: [u8; 32] = b64_decode(RFC8037_D).unwrap().try_into().unwrap();
        SigningKey::from_bytes(&d)
    }

    #[test]
    fn a_batch_check_names_exactly_the_bad_signatures() {
        let signed: Vec<UncheckedSignature> = (1..=6u8)
            .map(|i| {
                let key = SigningKey::from_bytes(&[i; 32]);
                let token = sign_compact(&json!({"typ": "x"}), format!("m{i}").as_bytes(), &key);
                let resolve = |_: &Header| Some(key.verifying_key());
                decode_compact(&token, resolve, "x").unwrap().2
            })
            .collect();
        let all: Vec<&UncheckedSignature> = signed.iter().collect();
        assert_eq!(check_all(&all), vec![true; 6]);
        assert!(check_all(&[]).is_empty());

        // One message altered, one signed by another key than the one it is checked with.
        let mut altered = signed[2].clone();
        altered.message.push(b'!');
        let mut other_key = signed[4].clone();
        other_key.key = signed[0].key;
        let mixed = [
            &signed[0], &signed[1], &altered, &signed[3], &other_key, &signed[5],
        ];
        assert_eq!(check_all(&mixed), [true, true, false, true, false, true]);
        assert_eq!(check_all(&[&altered]), [false]);
        assert!(!altered.check() && signed[2].check());
    }

    #[test]
    fn rfc8037_a2_public_key_from_private() {
        let jwk = Jwk::from_verifying_key(&rfc8037_key().verifying_key());
        assert_eq!(jwk.x, RFC8037_X);
    }

    #[test]
    fn rfc8037_a3_thumbprint() {
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: RFC8037_X.into(),
            kid: None,
            alg: None,
            use_: None,
        };
        let expected = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        assert_eq!(thumbprint(&jwk), expected);
        let published = Jwk::from_verifying_key(&jwk.verifying_key().unwrap());
        assert_eq!(published.kid.as_deref(), Some(expected));
    }

    #[test]
    fn rfc8037_a4_signature() {
        let expected = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
             hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        let key = rfc8037_key();
        let token = sign_compact(&json!({}), b"Example of Ed25519 signing", &key);
        assert_eq!(token, expected);
        // The RFC's JWS has no `typ`, so our explicitly typed verifier refuses it.
        let vk = key.verifying_key();
        assert_eq!(
            verify_compact(&token, |_| Some(vk), "kluis-grant+jwt"),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn jwk_serializes_with_use_and_round_trips() {
        let jwks = Jwks {
            keys: vec![Jwk::from_verifying_key(&rfc8037_key().verifying_key())],
        };
        let text = serde_json::to_value(&jwks).unwrap();
        assert_eq!(text["keys"][0]["use"], "sig");
        assert_eq!(text["keys"][0]["alg"], "EdDSA");
        let back: Jwks = serde_json::from_value(text).unwrap();
        assert_eq!(back, jwks);
        let kid = jwks.keys[0].kid.clone().unwrap();
        assert_eq!(back.find(&kid), Some(rfc8037_key().verifying_key()));
        assert_eq!(back.find("other"), None);
    }

    #[test]
    fn jwk_refuses_other_key_types() {
        let good = Jwk::from_verifying_key(&rfc8037_key().verifying_key());
        let bad = [
            Jwk {
                kty: "EC".into(),
                ..good.clone()
            },
            Jwk {
                crv: "X25519".into(),
                ..good.clone()
            },
            Jwk {
                alg: Some("ES256".into()),
                ..good.clone()
            },
            Jwk {
                use_: Some("enc".into()),
                ..good.clone()
            },
            Jwk {
                x: "AAAA".into(),
                ..good.clone()
            },
            // The identity point: small order, refused as weak.
            Jwk {
                x: b64_encode(
                    [1u8]
                        .iter()
                        .chain([0u8; 31].iter())
                        .copied()
                        .collect::<Vec<_>>(),
                ),
                ..good.clone()
            },
        ];
        for jwk in bad {
            assert_eq!(jwk.verifying_key(), Err(TokenError::InvalidKey), "{jwk:?}");
        }
        assert!(good.verifying_key().is_ok());
    }

    #[test]
    fn typ_compares_like_a_media_type() {
        assert!(same_media_type("kluis-grant+jwt", "kluis-grant+jwt"));
        assert!(same_media_type(
            "application/kluis-grant+JWT",
            "kluis-grant+jwt"
        ));
        assert!(same_media_type("DPoP+jwt", "dpop+jwt"));
        assert!(!same_media_type("jwt", "kluis-grant+jwt"));
        assert!(!same_media_type("text/kluis-grant+jwt", "kluis-grant+jwt"));
        assert!(!same_media_type("", "kluis-grant+jwt"));
    }

    #[test]
    fn crit_and_private_jwk_headers_are_refused() {
        let key = rfc8037_key();
        let vk = key.verifying_key();
        let crit = sign_compact(
            &json!({"typ": "dpop+jwt", "crit": ["b64"], "b64": false}),
            b"{}",
            &key,
        );
        assert_eq!(
            verify_compact(&crit, |_| Some(vk), "dpop+jwt"),
            Err(TokenError::CriticalHeader)
        );
        let mut jwk = serde_json::to_value(Jwk::from_verifying_key(&vk)).unwrap();
        jwk["d"] = json!(RFC8037_D);
        let leaked = sign_compact(&json!({"typ": "dpop+jwt", "jwk": jwk}), b"{}", &key);
        assert_eq!(
            verify_compact(&leaked, |_| Some(vk), "dpop+jwt"),
            Err(TokenError::InvalidKey)
        );
    }

    #[test]
    fn embedded_jwk_is_returned_for_key_resolution() {
        let key = rfc8037_key();
        let jwk = Jwk::from_verifying_key(&key.verifying_key());
        let token = sign_compact(&json!({"typ": "dpop+jwt", "jwk": jwk}), b"hi", &key);
        let (header, payload) = verify_compact(
            &token,
            |h| h.jwk.as_ref().and_then(|j| j.verifying_key().ok()),
            "dpop+jwt",
        )
        .unwrap();
        assert_eq!(header.jwk, Some(jwk));
        assert_eq!(payload, b"hi");
    }

    #[test]
    fn structure_is_checked_before_anything_else() {
        let key = rfc8037_key();
        let vk = key.verifying_key();
        let token = sign_compact(&json!({"typ": "dpop+jwt"}), b"{}", &key);
        let verify = |t: &str| verify_compact(t, |_| Some(vk), "dpop+jwt");
        assert!(verify(&token).is_ok());
        for bad in [
            String::new(),
            format!("{token}."),
            token.replacen('.', "", 1),
            format!("{token}="),
            format!("{token}{}", "A".repeat(MAX_TOKEN_LEN)),
        ] {
            assert_eq!(verify(&bad), Err(TokenError::Malformed), "{bad}");
        }
    }
}
