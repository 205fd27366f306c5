//! DPoP proofs (RFC 9449) as the server checks them: `dpop::check_proof`, and the split
//! `check_proof_but_signature` + `jose::check_all` the server's batch path uses.
//!
//! Input: a mode byte, then `htm\nhtu\naccess token\nrest` (an empty access token line means
//! none). `mode % 3`: 0 the rest is the proof itself; 1 the rest is the proof's claims, signed by
//! the business key under a header with its `jwk`; 2 the rest is `header\npayload`, signed as
//! they are. `mode / 3 % 2 == 1` also makes a proof with `dpop::make_proof` for the same
//! request, with the rest as its `jti`.
//!
//! Checked: nothing panics; both paths give the same answer; a proof accepted once is accepted
//! again with its `jkt` expected and refused as `WrongKey` with another; a proof `make_proof`
//! made for a request with a URL is accepted for that request.
#![no_main]

use kluis_core::dpop::{self, CheckedProof, ProofError};
use kluis_core::jose::{self, Jwk, MAX_TOKEN_LEN};
use kluis_fuzz::{NOW, business_key, parts, sign_raw, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = split_mode(data) else {
        return;
    };
    let p = parts(rest, 4);
    let text = |i: usize| std::str::from_utf8(p.get(i).copied().unwrap_or_default()).ok();
    let (Some(htm), Some(htu), Some(token)) = (text(0), text(1), text(2)) else {
        return;
    };
    let token = (!token.is_empty()).then_some(token);
    let last = p.get(3).copied().unwrap_or_default();
    let key = business_key();
    let jwk = Jwk::from_verifying_key(&key.verifying_key());
    let proof = match mode % 3 {
        0 => match std::str::from_utf8(last) {
            Ok(proof) => proof.to_owned(),
            Err(_) => return,
        },
        1 => {
            let header = serde_json::json!({
                "alg": "EdDSA", "typ": dpop::DPOP_TYP,
                "jwk": {"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x},
            });
            sign_raw(header.to_string().as_bytes(), last, &key)
        }
        _ => {
            let hp = parts(last, 2);
            sign_raw(hp[0], hp.get(1).copied().unwrap_or_default(), &key)
        }
    };
    let result = check(&proof, htm, htu, token, None);
    if let Ok(checked) = &result {
        let again = check(&proof, htm, htu, token, Some(&checked.jkt));
        assert_eq!(again.as_ref(), Ok(checked));
        let other = check(&proof, htm, htu, token, Some("another-thumbprint"));
        assert_eq!(other, Err(ProofError::WrongKey));
        if mode % 3 == 1 {
            assert_eq!(checked.jkt, jose::thumbprint(&jwk));
        }
    }

    if mode / 3 % 2 == 1
        && let Ok(jti) = std::str::from_utf8(last)
    {
        let made = dpop::make_proof(&key, htm, htu, token, jti, NOW);
        let checked = check(&made, htm, htu, token, Some(&jose::thumbprint(&jwk)));
        let fits = made.len() <= MAX_TOKEN_LEN && !jti.is_empty() && jti.len() <= 128;
        // What the server compares: the URL without query or fragment, which needs a scheme.
        let url = htu.split(['?', '#']).next().unwrap_or_default();
        if fits && url.contains("://") {
            assert!(
                checked.is_ok(),
                "a proof made for {htm} {htu} was refused: {checked:?}"
            );
        }
    }
});

/// `check_proof`, checked against the split path the server takes for a batch.
fn check(
    proof: &str,
    htm: &str,
    htu: &str,
    token: Option<&str>,
    jkt: Option<&str>,
) -> Result<CheckedProof, ProofError> {
    let whole = dpop::check_proof(proof, htm, htu, token, jkt, NOW);
    let key = |jwk: &Jwk| jwk.verifying_key().ok();
    let split = dpop::check_proof_but_signature(proof, htm, htu, token, jkt, NOW, key).and_then(
        |(checked, signature)| {
            if jose::check_all(&[&signature, &signature]) == [true, true] {
                Ok(checked)
            } else {
                Err(ProofError::Invalid)
            }
        },
    );
    assert_eq!(whole, split, "check_proof and the batch path disagree");
    whole
}
