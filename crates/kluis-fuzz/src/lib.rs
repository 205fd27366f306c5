//! What the fuzz targets share: fixed keys (so inputs the harness signs verify and the checks
//! behind the signature are reached), the way an input is cut into parts, and compact JWS
//! signing with a header of the fuzzer's choosing.
//!
//! The input formats are plain bytes so that seed files can be written by hand: a first byte
//! that picks a mode, then parts separated by newlines (see each target's `//!` comment).

use base64_url::encode;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use kluis_core::jose::Jwk;

/// The issuer every target's tokens claim and are checked against.
pub const ISSUER: &str = "urn:kluis:vault:fuzz";

/// The audience (business) the receipts are checked for.
pub const AUDIENCE: &str = "webshop.example";

/// The clock every target runs at, Unix seconds.
pub const NOW: i64 = 1_800_000_000;

/// The vault's signing key.
pub fn vault_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// The `kid` the vault key goes by (its RFC 7638 thumbprint, as the vault publishes it).
pub fn vault_kid() -> String {
    Jwk::from_verifying_key(&vault_key().verifying_key())
        .kid
        .expect("a published JWK has a kid")
}

/// Resolves the vault's `kid` only, as `Jwks::find` does for a JWKS of one key.
pub fn resolve(kid: &str) -> Option<VerifyingKey> {
    (kid == vault_kid()).then(|| vault_key().verifying_key())
}

/// A business's DPoP key.
pub fn business_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

/// The first byte (the mode) and the rest of the input.
pub fn split_mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}

/// The rest of the input cut at its first `n - 1` newlines into `n` parts (fewer if there are
/// fewer newlines).
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == b'\n').collect()
}

/// A compact JWS over exactly these header and payload bytes, signed with `key`: unlike
/// `jose::sign_compact`, the header is not touched, so the fuzzer chooses `alg`, `typ`, `crit`
/// and everything else.
pub fn sign_raw(header: &[u8], payload: &[u8], key: &SigningKey) -> String {
    let input = format!("{}.{}", encode(header), encode(payload));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", encode(&signature.to_bytes()))
}

/// A token with one character of its signature changed (to another base64url character), so
/// that it must no longer verify.
pub fn tampered(token: &str) -> Option<String> {
    let dot = token.rfind('.')?;
    let at = dot + 1 + (token.len() - dot - 1) / 2;
    let old = *token.as_bytes().get(at)?;
    let new = if old == b'A' { 'B' } else { 'A' };
    let mut out = token.to_owned();
    out.replace_range(at..at + 1, new.encode_utf8(&mut [0; 4]));
    Some(out)
}

mod base64_url {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }
}
