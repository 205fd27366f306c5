//! Grant tokens and the three receipts the vault signs (consent, delivery, entry): the compact
//! JWS checks and the claims behind them, through the functions the server and the SDK call.
//!
//! Input: a mode byte, then bytes. `mode % 4` picks what is verified (grant token, consent
//! receipt, delivery receipt, entry receipt); `mode / 4 % 3` how the rest becomes a token:
//! 0 the rest is the token itself; 1 the rest is the claims, signed by the vault key under the
//! header the vault writes; 2 the rest is `header\npayload`, signed as they are.
//!
//! Checked: nothing panics; a token the harness signed under the vault's own header is never
//! refused for its key or signature; whatever verifies still verifies after its claims are
//! signed again (they survive serialization), and stops verifying when its signature changes.
#![no_main]

use kluis_core::inbox::{self, DELIVERY_TYP};
use kluis_core::jose::{self, MAX_TOKEN_LEN};
use kluis_core::receipt::{self, RECEIPT_TYP};
use kluis_core::relationship::post::{ENTRY_TYP, sign_entry_receipt, verify_entry_receipt};
use kluis_core::token::{self, Expectations, GRANT_TYP, TokenError};
use kluis_fuzz::{
    AUDIENCE, ISSUER, NOW, parts, resolve, sign_raw, split_mode, tampered, vault_key, vault_kid,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [&str; 4] = [GRANT_TYP, RECEIPT_TYP, DELIVERY_TYP, ENTRY_TYP];

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = split_mode(data) else {
        return;
    };
    let typ = KINDS[usize::from(mode % 4)];
    let key = vault_key();
    let kid = vault_kid();
    let (token, ours) = match mode / 4 % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => return,
        },
        1 => {
            let header = serde_json::json!({"alg": "EdDSA", "typ": typ, "kid": kid});
            (sign_raw(header.to_string().as_bytes(), rest, &key), true)
        }
        _ => {
            let p = parts(rest, 2);
            let (header, payload) = (p[0], p.get(1).copied().unwrap_or_default());
            (sign_raw(header, payload, &key), false)
        }
    };
    let result = verify(typ, &token);
    if ours && token.len() <= MAX_TOKEN_LEN {
        assert!(
            !matches!(
                result,
                Err(TokenError::BadSignature | TokenError::UnknownKey | TokenError::WrongType)
            ),
            "a token the vault key signed under the vault's header was refused: {result:?}"
        );
    }
    // The JWS layer alone agrees with the typed verifiers on the signature.
    let bare = jose::verify_compact(&token, |h| h.kid.as_deref().and_then(resolve), typ);
    if result.is_ok() {
        assert!(bare.is_ok(), "the claims verified but the JWS did not");
    }
    let Ok(resigned) = result else {
        return;
    };
    let again = verify(typ, &resigned);
    assert!(
        again.is_ok(),
        "re-signed claims of a verified {typ} were refused: {again:?}"
    );
    assert_eq!(verify(typ, &again.unwrap()).map(drop), Ok(()));
    if let Some(bad) = tampered(&token) {
        assert!(
            verify(typ, &bad).is_err(),
            "a {typ} with another signature verified"
        );
    }
});

/// Verifies `token` as a `typ`, the way the server or SDK does, and on success returns its
/// claims signed again by the vault key (which must verify the same).
fn verify(typ: &str, token: &str) -> Result<String, TokenError> {
    let key = vault_key();
    let kid = vault_kid();
    match typ {
        GRANT_TYP => {
            // As the vault verifies (any audience) and as a business does (its own).
            let vault = Expectations {
                issuer: ISSUER,
                audience: None,
                now: NOW,
                leeway: 60,
            };
            let claims = token::verify_grant(token, resolve, &vault)?;
            let business = Expectations {
                audience: Some(&claims.aud),
                ..vault
            };
            assert_eq!(
                token::verify_grant(token, resolve, &business).as_ref(),
                Ok(&claims)
            );
            // What the server derives from the claims must not panic either.
            let _ = (
                claims.fields(),
                claims.contact_right(),
                claims.may_append_record(),
            );
            let again = token::encode_grant(&claims, &key, &kid);
            assert_eq!(
                token::verify_grant(&again, resolve, &vault).as_ref(),
                Ok(&claims)
            );
            Ok(again)
        }
        RECEIPT_TYP => {
            let claims = receipt::verify_receipt(token, resolve)?;
            let again = receipt::sign_receipt(&claims, &key, &kid);
            assert_eq!(
                receipt::verify_receipt(&again, resolve).as_ref(),
                Ok(&claims)
            );
            Ok(again)
        }
        DELIVERY_TYP => {
            let claims = inbox::verify_receipt(token, resolve, ISSUER, AUDIENCE)?;
            let again = inbox::sign_receipt(&claims, &key, &kid);
            let back = inbox::verify_receipt(&again, resolve, ISSUER, AUDIENCE);
            assert_eq!(back.as_ref(), Ok(&claims));
            Ok(again)
        }
        _ => {
            let claims = verify_entry_receipt(token, resolve, ISSUER, AUDIENCE)?;
            let again = sign_entry_receipt(&claims, &key, &kid);
            let back = verify_entry_receipt(&again, resolve, ISSUER, AUDIENCE);
            assert_eq!(back.as_ref(), Ok(&claims));
            Ok(again)
        }
    }
}
