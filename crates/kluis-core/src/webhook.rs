//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>), shared by the vault that
//! signs its change notifications and the SDK that verifies them: `v1` (HMAC-SHA256 with a
//! `whsec_` secret) and `v1a` (Ed25519, public key `whpk_`), both over
//! `{webhook-id}.{webhook-timestamp}.{body}`, byte for byte the body sent.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How far a delivery's `webhook-timestamp` may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;
/// Random bytes in a new `whsec_` secret (the scheme asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

const SECRET_PREFIX: &str = "whsec_";
const PUBLIC_PREFIX: &str = "whpk_";

/// Why a delivery was not accepted. The words name the rule, never a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the {0} header is missing or not text")]
    MissingHeader(&'static str),
    #[error("webhook-id must be 1 to 256 visible characters without '.'")]
    BadId,
    #[error("webhook-timestamp must be whole Unix seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than five minutes before the receiver's clock")]
    TooOld,
    #[error("webhook-timestamp is more than five minutes after the receiver's clock")]
    TooNew,
    #[error("no signature in webhook-signature matches a trusted key")]
    NoMatch,
    #[error("this webhook-id was already accepted (a replay)")]
    Replayed,
    #[error("{0}")]
    BadKey(&'static str),
}

/// A `whsec_` signing secret: random bytes shared by the vault and one subscription.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// A new random secret.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// Reads `whsec_<base64>` (the prefix may be left off, as the scheme's libraries allow).
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| WebhookError::BadKey("a whsec_ secret must be base64"))?,
        );
        if !(24..=64).contains(&bytes.len()) {
            return Err(WebhookError::BadKey(
                "a whsec_ secret must hold 24 to 64 bytes",
            ));
        }
        Ok(Self(bytes))
    }

    /// `whsec_` and the secret in base64: what a subscriber is shown once.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// `whpk_` and the Ed25519 public key's 32 bytes in base64.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}", STANDARD.encode(key.as_bytes()))
}

/// Reads a `whpk_` public key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, WebhookError> {
    const BAD: WebhookError = WebhookError::BadKey("a whpk_ key must be 32 bytes of base64");
    let encoded = text.strip_prefix(PUBLIC_PREFIX).ok_or(BAD)?;
    let bytes: [u8; 32] = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(BAD)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| BAD)
}

/// What is signed: `{id}.{timestamp}.{body}`.
fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + 22 + body.len());
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.to_string().as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

fn hmac(secret: &[u8], content: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(content);
    mac.finalize().into_bytes().into()
}

/// The keys a delivery is signed with: every live `whsec_` secret of the subscription (two
/// while a rotation's old secret still signs) and the vault's Ed25519 key.
pub struct SigningKeys<'a> {
    pub secrets: &'a [Secret],
    pub ed25519: Option<&'a SigningKey>,
}

/// The `webhook-signature` header value: a `v1,` signature per secret and a `v1a,` one,
/// space-separated.
pub fn sign(keys: &SigningKeys<'_>, id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = signed_content(id, timestamp, body);
    let mut out = Vec::with_capacity(keys.secrets.len() + 1);
    for secret in keys.secrets {
        out.push(format!(
            "v1,{}",
            STANDARD.encode(hmac(secret.bytes(), &content))
        ));
    }
    if let Some(key) = keys.ed25519 {
        let signature = key.sign(&content);
        out.push(format!("v1a,{}", STANDARD.encode(signature.to_bytes())));
    }
    out.join(" ")
}

/// A key a receiver trusts.
pub enum TrustedKey<'a> {
    Secret(&'a Secret),
    Public(&'a VerifyingKey),
}

/// Checks one delivery's headers and body against the trusted keys at `now`: the id's shape,
/// the timestamp within [`TOLERANCE_SECS`], and at least one signature made by a trusted key
/// (HMACs compared in constant time). Replays are the caller's to refuse (the id is the key).
pub fn verify(
    trusted: &[TrustedKey<'_>],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    if id.is_empty()
        || id.len() > 256
        || id.contains('.')
        || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(WebhookError::BadId);
    }
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(WebhookError::BadTimestamp);
    }
    let ts: i64 = timestamp.parse().map_err(|_| WebhookError::BadTimestamp)?;
    if ts < now - TOLERANCE_SECS {
        return Err(WebhookError::TooOld);
    }
    if ts > now + TOLERANCE_SECS {
        return Err(WebhookError::TooNew);
    }
    let content = signed_content(id, ts, body);
    for entry in signatures.split(' ').filter(|s| !s.is_empty()) {
        let Some((version, encoded)) = entry.split_once(',') else {
            continue;
        };
        let Ok(signature) = STANDARD.decode(encoded) else {
            continue;
        };
        let matched = match version {
            "v1" => trusted.iter().any(|key| match key {
                TrustedKey::Secret(secret) => {
                    bool::from(hmac(secret.bytes(), &content)[..].ct_eq(&signature))
                }
                TrustedKey::Public(_) => false,
            }),
            "v1a" => Signature::from_slice(&signature).is_ok_and(|signature| {
                trusted.iter().any(|key| match key {
                    TrustedKey::Public(public) => public.verify(&content, &signature).is_ok(),
                    TrustedKey::Secret(_) => false,
                })
            }),
            _ => false,
        };
        if matched {
            return Ok(());
        }
    }
    Err(WebhookError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_674_087_231;

    /// The example of the Standard Webhooks reference libraries: a fixed secret, id, timestamp
    /// and body give this exact `v1` signature.
    #[test]
    fn v1_matches_the_reference_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let header = sign(
            &SigningKeys {
                secrets: std::slice::from_ref(&secret),
                ed25519: None,
            },
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    fn keys() -> (Secret, SigningKey) {
        (
            Secret::from_bytes(&[7u8; 32]),
            SigningKey::from_bytes(&[9u8; 32]),
        )
    }

    #[test]
    fn both_signatures_verify_and_any_change_fails() {
        let (secret, ed) = keys();
        let public = ed.verifying_key();
        let header = sign(
            &SigningKeys {
                secrets: std::slice::from_ref(&secret),
                ed25519: Some(&ed),
            },
            "msg_1",
            NOW,
            b"{}",
        );
        assert!(header.starts_with("v1,") && header.contains(" v1a,"));
        let by_secret = [TrustedKey::Secret(&secret)];
        let by_public = [TrustedKey::Public(&public)];
        for trusted in [&by_secret[..], &by_public[..]] {
            assert_eq!(
                verify(trusted, "msg_1", "1674087231", &header, b"{}", NOW),
                Ok(())
            );
            assert_eq!(
                verify(trusted, "msg_1", "1674087231", &header, b"{ }", NOW),
                Err(WebhookError::NoMatch)
            );
            assert_eq!(
                verify(trusted, "msg_2", "1674087231", &header, b"{}", NOW),
                Err(WebhookError::NoMatch)
            );
            assert_eq!(
                verify(trusted, "msg_1", "1674087232", &header, b"{}", NOW),
                Err(WebhookError::NoMatch)
            );
        }
        let other = Secret::from_bytes(&[8u8; 32]);
        assert_eq!(
            verify(
                &[TrustedKey::Secret(&other)],
                "msg_1",
                "1674087231",
                &header,
                b"{}",
                NOW
            ),
            Err(WebhookError::NoMatch)
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused() {
        let (secret, _) = keys();
        let trusted = [TrustedKey::Secret(&secret)];
        let signed = |ts: i64| {
            sign(
                &SigningKeys {
                    secrets: std::slice::from_ref(&secret),
                    ed25519: None,
                },
                "msg_1",
                ts,
                b"x",
            )
        };
        let old = NOW - TOLERANCE_SECS - 1;
        let new = NOW + TOLERANCE_SECS + 1;
        assert_eq!(
            verify(&trusted, "msg_1", &old.to_string(), &signed(old), b"x", NOW),
            Err(WebhookError::TooOld)
        );
        assert_eq!(
            verify(&trusted, "msg_1", &new.to_string(), &signed(new), b"x", NOW),
            Err(WebhookError::TooNew)
        );
        let edge = NOW - TOLERANCE_SECS;
        assert_eq!(
            verify(
                &trusted,
                "msg_1",
                &edge.to_string(),
                &signed(edge),
                b"x",
                NOW
            ),
            Ok(())
        );
        for bad in ["", "-5", "1e9", "12a", "9999999999999"] {
            assert_eq!(
                verify(&trusted, "msg_1", bad, &signed(NOW), b"x", NOW),
                Err(WebhookError::BadTimestamp),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify(&trusted, "msg.1", "1674087231", &signed(NOW), b"x", NOW),
            Err(WebhookError::BadId)
        );
    }

    #[test]
    fn keys_read_back_and_bad_ones_are_refused() {
        let secret = Secret::random().unwrap();
        assert_eq!(
            Secret::parse(&secret.to_text()).unwrap().bytes(),
            secret.bytes()
        );
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err(), "too short");
        assert!(Secret::parse("whsec_!!!").is_err());
        let (_, ed) = keys();
        let text = public_key_text(&ed.verifying_key());
        assert_eq!(parse_public_key(&text).unwrap(), ed.verifying_key());
        assert!(parse_public_key("whpk_AAAA").is_err());
        assert!(
            parse_public_key(&text[5..]).is_err(),
            "the prefix is required"
        );
        assert!(!format!("{secret:?}").contains(&secret.to_text()[6..]));
    }
}
