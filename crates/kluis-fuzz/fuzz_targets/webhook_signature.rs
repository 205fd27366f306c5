//! The SDK's Standard Webhooks verification (`kluis_client::webhook::WebhookVerifier`): the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, the `v1` (HMAC) and
//! `v1a` (Ed25519) signatures, the replay cache and the typed event the body becomes; and the
//! keys a verifier is built from.
//!
//! Input: a mode byte, then `id\ntimestamp\nsignatures\nbody`. `mode % 4`: 0 the signatures
//! are taken as they are; 1 they are replaced by the vault's own (`kluis_core::webhook::sign`
//! with the trusted secret and key), so the body is read; 2 the fuzzer's are put before the
//! vault's; 3 the signatures line is a space-separated list of keys for `WebhookVerifier::new`.
//!
//! Checked: nothing panics; headers and parts give the same answer; a delivery the vault signed
//! with a fresh timestamp is never refused for its signature; one accepted is refused as a
//! replay the second time, and accepted again once forgotten.
#![no_main]

use ed25519_dalek::SigningKey;
use kluis_client::webhook::{Secret, VerifyError, WebhookError, WebhookVerifier};
use kluis_core::webhook::{self as core, SigningKeys, TOLERANCE_SECS};
use kluis_fuzz::{NOW, parts, split_mode};
use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderValue};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = split_mode(data) else {
        return;
    };
    let p = parts(rest, 4);
    let text = |i: usize| std::str::from_utf8(p.get(i).copied().unwrap_or_default()).ok();
    let (Some(id), Some(timestamp), Some(given)) = (text(0), text(1), text(2)) else {
        return;
    };
    let body = p.get(3).copied().unwrap_or_default();

    let secret = Secret::from_bytes(&[5; 32]);
    let key = SigningKey::from_bytes(&[6; 32]);
    let trusted = [
        secret.to_text().to_string(),
        core::public_key_text(&key.verifying_key()),
    ];
    if mode % 4 == 3 {
        let keys: Vec<&str> = given.split(' ').collect();
        if let Ok(verifier) = WebhookVerifier::new(&keys) {
            let _ = verifier.verify_parts_at(id, timestamp, "v1,AAAA", body, NOW);
        }
        return;
    }
    let verifier = WebhookVerifier::new(&trusted).expect("the vault's keys are accepted");
    let signed_at = timestamp.parse::<i64>().ok().filter(|t| t.abs() < 1 << 40);
    let ours = signed_at.map(|at| {
        let keys = SigningKeys {
            secrets: std::slice::from_ref(&secret),
            ed25519: Some(&key),
        };
        core::sign(&keys, id, at, body)
    });
    let signatures = match (mode % 4, &ours) {
        (1, Some(ours)) => ours.clone(),
        (2, Some(ours)) => format!("{given} {ours}"),
        _ => given.to_owned(),
    };

    let by_headers = headers(id, timestamp, &signatures).map(|h| verifier.verify_at(&h, body, NOW));
    let fresh = WebhookVerifier::new(&trusted).expect("the vault's keys are accepted");
    let result = fresh.verify_parts_at(id, timestamp, &signatures, body, NOW);
    if let Some(by_headers) = by_headers {
        assert_eq!(by_headers, result, "headers and parts disagree");
    } else {
        return;
    }
    let within = signed_at.is_some_and(|at| (at - NOW).abs() <= TOLERANCE_SECS);
    let good_id = !id.is_empty()
        && id.len() <= 256
        && !id.contains('.')
        && id.bytes().all(|b| b.is_ascii_graphic());
    let good_ts = !timestamp.is_empty()
        && timestamp.len() <= 12
        && timestamp.bytes().all(|b| b.is_ascii_digit());
    if ours.is_some() && mode % 4 != 0 && within && good_id && good_ts && !signatures.is_empty() {
        assert!(
            !matches!(result, Err(VerifyError::Rejected(WebhookError::NoMatch))),
            "a delivery the vault signed was refused: {result:?}"
        );
    }
    if result.is_ok() {
        let replay = fresh.verify_parts_at(id, timestamp, &signatures, body, NOW);
        assert!(
            replay.as_ref().is_err_and(VerifyError::is_replay),
            "a replay passed: {replay:?}"
        );
        fresh.forget(id);
        assert_eq!(
            fresh.verify_parts_at(id, timestamp, &signatures, body, NOW),
            result
        );
    }
});

/// The three headers, if their values are valid header values.
fn headers(id: &str, timestamp: &str, signatures: &str) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signatures),
    ] {
        let value = HeaderValue::from_str(value).ok()?;
        // `to_str` is what the SDK reads a header with; refuse what it would not see as text.
        value.to_str().ok()?;
        map.insert(name, value);
    }
    Some(map)
}
