//! DPoP proofs (RFC 9449): a business proves, on every call, that it holds the private key a
//! grant is bound to. Building proofs (for the SDK) and checking them (for the server) live
//! here; remembering which proofs were already used is the caller's job (it needs a clock and
//! memory).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::jose::{self, Jwk, UncheckedSignature};

/// The JWS `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

/// How far a proof's `iat` may lie from the server's clock, in seconds. Proofs are made per
/// request, so this only absorbs clock skew and transit time.
pub const MAX_SKEW_SECS: i64 = 60;

/// The claims of a DPoP proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofClaims {
    /// A unique id for this proof; a second use is a replay.
    pub jti: String,
    /// The HTTP method of the request, e.g. `GET`.
    pub htm: String,
    /// The request URL without query and fragment.
    pub htu: String,
    pub iat: i64,
    /// base64url(SHA-256(access token)), binding the proof to the token it accompanies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
}

/// Why a proof was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    Missing,
    Invalid,
    WrongKey,
    WrongTarget,
    WrongToken,
    Stale,
    Replayed,
}

impl ProofError {
    /// The refusal in words (also the error's `Display`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "the DPoP proof is missing",
            Self::Invalid => "the DPoP proof is malformed or its signature is invalid",
            Self::WrongKey => "the DPoP proof is signed by another key than the grant is bound to",
            Self::WrongTarget => "the DPoP proof is for another method or URL",
            Self::WrongToken => "the DPoP proof is for another access token",
            Self::Stale => "the DPoP proof is too old or from the future",
            Self::Replayed => "the DPoP proof was already used",
        }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ProofError {}

/// What a checked proof tells the caller: its key's thumbprint and the `jti` to remember.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedProof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

/// The `ath` value for an access token.
pub fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Makes a proof for one request. `jti` must be unique (e.g. 16 random bytes, base64url).
pub fn make_proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    jti: &str,
    now: i64,
) -> String {
    let jwk = Jwk::from_verifying_key(&key.verifying_key());
    let header = json!({
        "typ": DPOP_TYP,
        "jwk": {"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x},
    });
    let claims = ProofClaims {
        jti: jti.to_owned(),
        htm: method.to_owned(),
        htu: url.to_owned(),
        iat: now,
        ath: access_token.map(token_hash),
    };
    let payload = serde_json::to_vec(&claims).expect("proof claims serialize");
    jose::sign_compact(&header, &payload, key)
}

/// Checks a proof against the request it came with. `htu` is the URL the server was asked for
/// (scheme, host and path; no query). `expected_jkt` is the grant's `cnf.jkt`, when known.
pub fn check_proof(
    proof: &str,
    htm: &str,
    htu: &str,
    access_token: Option<&str>,
    expected_jkt: Option<&str>,
    now: i64,
) -> Result<CheckedProof, ProofError> {
    let key = |jwk: &Jwk| jwk.verifying_key().ok();
    let (checked, signature) =
        check_proof_but_signature(proof, htm, htu, access_token, expected_jkt, now, key)?;
    if !signature.check() {
        return Err(ProofError::Invalid);
    }
    Ok(checked)
}

/// [`check_proof`] but for the signature, which the caller must check before it trusts anything
/// in the proof: alone, or with others in one batch ([`jose::check_all`]). It takes the key out
/// of the proof's `jwk` with `key` (which must refuse what [`Jwk::verifying_key`] refuses), so
/// that a server seeing the same business keys again and again can keep them decoded.
pub fn check_proof_but_signature(
    proof: &str,
    htm: &str,
    htu: &str,
    access_token: Option<&str>,
    expected_jkt: Option<&str>,
    now: i64,
    key: impl Fn(&Jwk) -> Option<VerifyingKey>,
) -> Result<(CheckedProof, UncheckedSignature), ProofError> {
    let (header, payload, signature) =
        jose::decode_compact(proof, |header| key(header.jwk.as_ref()?), DPOP_TYP)
            .map_err(|_| ProofError::Invalid)?;
    let jwk = header.jwk.ok_or(ProofError::Invalid)?;
    let jkt = jose::thumbprint(&jwk);
    if expected_jkt.is_some_and(|expected| expected != jkt) {
        return Err(ProofError::WrongKey);
    }
    let claims: ProofClaims = serde_json::from_slice(&payload).map_err(|_| ProofError::Invalid)?;
    if claims.jti.is_empty() || claims.jti.len() > 128 {
        return Err(ProofError::Invalid);
    }
    if claims.htm != htm || !same_url(&claims.htu, htu) {
        return Err(ProofError::WrongTarget);
    }
    match (access_token, &claims.ath) {
        (Some(token), Some(ath)) if *ath == token_hash(token) => {}
        (None, None) => {}
        _ => return Err(ProofError::WrongToken),
    }
    if claims.iat.abs_diff(now) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(ProofError::Stale);
    }
    let checked = CheckedProof {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
    };
    Ok((checked, signature))
}

/// RFC 9449 §4.3: compare without query and fragment; scheme and host case-insensitively.
fn same_url(claimed: &str, actual: &str) -> bool {
    let strip = |u: &str| u.split(['?', '#']).next().unwrap_or("").to_owned();
    let (claimed, actual) = (strip(claimed), strip(actual));
    let split = |u: &str| -> Option<(String, String)> {
        let (scheme, rest) = u.split_once("://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Some((
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            ),
            path.to_owned(),
        ))
    };
    matches!((split(&claimed), split(&actual)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;
    const URL: &str = "http://127.0.0.1:8080/v1/data";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn jkt(seed: u8) -> String {
        jose::thumbprint(&Jwk::from_verifying_key(&key(seed).verifying_key()))
    }

    #[test]
    fn a_fresh_proof_checks_out() {
        let proof = make_proof(&key(1), "GET", URL, Some("tok"), "j1", NOW);
        let checked = check_proof(&proof, "GET", URL, Some("tok"), Some(&jkt(1)), NOW + 5).unwrap();
        assert_eq!(checked.jkt, jkt(1));
        assert_eq!(checked.jti, "j1");
        // Query strings and host case do not matter (RFC 9449 §4.3).
        let upper = "HTTP://127.0.0.1:8080/v1/data?fields=/profile/email";
        check_proof(&proof, "GET", upper, Some("tok"), Some(&jkt(1)), NOW).unwrap();
    }

    #[test]
    fn every_mismatch_is_refused_for_its_own_reason() {
        let proof = make_proof(&key(1), "GET", URL, Some("tok"), "j1", NOW);
        let check =
            |htm, htu, tok, jkt: &str, now| check_proof(&proof, htm, htu, tok, Some(jkt), now);
        assert_eq!(
            check("GET", URL, Some("tok"), &jkt(2), NOW),
            Err(ProofError::WrongKey)
        );
        assert_eq!(
            check("POST", URL, Some("tok"), &jkt(1), NOW),
            Err(ProofError::WrongTarget)
        );
        assert_eq!(
            check(
                "GET",
                "http://127.0.0.1:8080/v1/other",
                Some("tok"),
                &jkt(1),
                NOW
            ),
            Err(ProofError::WrongTarget)
        );
        assert_eq!(
            check(
                "GET",
                "http://evil.example/v1/data",
                Some("tok"),
                &jkt(1),
                NOW
            ),
            Err(ProofError::WrongTarget)
        );
        assert_eq!(
            check("GET", URL, Some("other"), &jkt(1), NOW),
            Err(ProofError::WrongToken)
        );
        assert_eq!(
            check("GET", URL, None, &jkt(1), NOW),
            Err(ProofError::WrongToken)
        );
        assert_eq!(
            check("GET", URL, Some("tok"), &jkt(1), NOW + 61),
            Err(ProofError::Stale)
        );
        assert_eq!(
            check("GET", URL, Some("tok"), &jkt(1), NOW - 61),
            Err(ProofError::Stale)
        );
    }

    #[test]
    fn proofs_of_the_wrong_type_or_algorithm_are_invalid() {
        let jwk = Jwk::from_verifying_key(&key(1).verifying_key());
        let payload = serde_json::to_vec(&ProofClaims {
            jti: "j".into(),
            htm: "GET".into(),
            htu: URL.into(),
            iat: NOW,
            ath: None,
        })
        .unwrap();
        let wrong_typ = jose::sign_compact(&json!({"typ": "JWT", "jwk": jwk}), &payload, &key(1));
        assert_eq!(
            check_proof(&wrong_typ, "GET", URL, None, None, NOW),
            Err(ProofError::Invalid)
        );
        let no_jwk = jose::sign_compact(&json!({"typ": DPOP_TYP}), &payload, &key(1));
        assert_eq!(
            check_proof(&no_jwk, "GET", URL, None, None, NOW),
            Err(ProofError::Invalid)
        );
        // A proof whose header names one key but is signed by another.
        let swapped = jose::sign_compact(&json!({"typ": DPOP_TYP, "jwk": jwk}), &payload, &key(2));
        assert_eq!(
            check_proof(&swapped, "GET", URL, None, None, NOW),
            Err(ProofError::Invalid)
        );
    }

    proptest! {
        #[test]
        fn a_changed_byte_never_passes(at in any::<usize>(), byte in any::<u8>()) {
            let proof = make_proof(&key(1), "GET", URL, Some("tok"), "j1", NOW);
            let mut bytes = proof.clone().into_bytes();
            let i = at % bytes.len();
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let altered = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(check_proof(&altered, "GET", URL, Some("tok"), Some(&jkt(1)), NOW).is_err());
        }
    }
}
