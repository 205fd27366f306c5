//! Grant tokens: claims, signing, verification and the attacks they must refuse.
use super::*;
use crate::jose::{Jwk, Jwks, b64_decode, b64_encode, sign_compact};
use proptest::prelude::*;
use serde_json::json;

const ISS: &str = "https://vault.example";
const AUD: &str = "biz_42";
const NOW: i64 = 1_700_000_000;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn kid(key: &SigningKey) -> String {
    Jwk::from_verifying_key(&key.verifying_key()).kid.unwrap()
}

fn claims() -> GrantClaims {
    GrantClaims {
        iss: ISS.into(),
        sub: "pairwise-7f3a".into(),
        aud: AUD.into(),
        jti: "grant_1".into(),
        iat: NOW,
        nbf: None,
        exp: NOW + 3600,
        purpose: "Deliver your order".into(),
        purpose_category: Some("contract".into()),
        authorization_details: vec![AuthorizationDetail::read_fields([
            "/address/home",
            "/contact/email",
        ])],
        cnf: Some(Confirmation { jkt: "abc".into() }),
    }
}

fn expect(now: i64) -> Expectations<'static> {
    Expectations {
        issuer: ISS,
        audience: Some(AUD),
        now,
        leeway: 30,
    }
}

/// Verifies with key 1 as the only known key.
fn verify(token: &str, exp: &Expectations) -> Result<GrantClaims, TokenError> {
    let k = key(1);
    let known = kid(&k);
    verify_grant(token, |kid| (kid == known).then(|| k.verifying_key()), exp)
}

fn sign(c: &GrantClaims) -> String {
    encode_grant(c, &key(1), &kid(&key(1)))
}

/// Re-encodes the token's header with `edit` applied, keeping payload and signature.
fn with_header(token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut header: serde_json::Value =
        serde_json::from_slice(&b64_decode(parts[0]).unwrap()).unwrap();
    edit(&mut header);
    format!(
        "{}.{}.{}",
        b64_encode(header.to_string()),
        parts[1],
        parts[2]
    )
}

#[test]
fn round_trip_and_claim_shape() {
    let token = sign(&claims());
    assert_eq!(verify(&token, &expect(NOW)), Ok(claims()));
    let payload = b64_decode(token.split('.').nth(1).unwrap()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(json["authorization_details"][0]["type"], "kluis_fields");
    assert_eq!(json["authorization_details"][0]["actions"], json!(["read"]));
    assert_eq!(json["cnf"]["jkt"], "abc");
    assert!(json.get("nbf").is_none());
    let header = b64_decode(token.split('.').next().unwrap()).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "typ": GRANT_TYP, "kid": kid(&key(1))})
    );
}

#[test]
fn fields_are_read_fields_only_without_repeats() {
    let mut c = claims();
    c.authorization_details
        .push(AuthorizationDetail::read_fields(["/contact/email", "/x"]));
    c.authorization_details.push(AuthorizationDetail {
        kind: FIELDS_DETAIL_TYPE.into(),
        actions: vec!["write".into()],
        fields: vec!["/w".into()],
        channels: vec![],
        topics: vec![],
    });
    c.authorization_details.push(AuthorizationDetail {
        kind: "other".into(),
        actions: vec![ACTION_READ.into()],
        fields: vec!["/o".into()],
        channels: vec![],
        topics: vec![],
    });
    assert_eq!(c.fields(), ["/address/home", "/contact/email", "/x"]);
    assert_eq!(c.contact_right(), None);
}

#[test]
fn a_contact_right_travels_as_its_own_detail() {
    let mut c = claims();
    let right = ContactRight {
        channels: vec!["inbox".into()],
        topics: vec!["orders".into()],
    };
    c.authorization_details
        .push(AuthorizationDetail::contact(&right));
    // A detail of the contact type without the contact action adds nothing.
    c.authorization_details.push(AuthorizationDetail {
        actions: vec![ACTION_READ.into()],
        topics: vec!["news".into()],
        ..AuthorizationDetail::contact(&right)
    });
    let token = sign(&c);
    let back = verify(&token, &expect(NOW)).unwrap();
    assert_eq!(back.contact_right(), Some(right));
    // Contact details name no fields, and read details no channels.
    assert_eq!(back.fields(), ["/address/home", "/contact/email"]);
    let json = serde_json::to_value(&back).unwrap();
    assert_eq!(
        json["authorization_details"][1],
        json!({"type": "kluis_contact", "actions": ["contact"], "channels": ["inbox"], "topics": ["orders"]})
    );
    assert!(json["authorization_details"][0].get("channels").is_none());
}

#[test]
fn an_append_right_travels_as_its_own_detail() {
    let mut c = claims();
    assert!(!c.may_append_record());
    c.authorization_details
        .push(AuthorizationDetail::append_record());
    let token = sign(&c);
    let back = verify(&token, &expect(NOW)).unwrap();
    assert!(back.may_append_record());
    // The append detail names no fields and no contact right.
    assert_eq!(back.fields(), ["/address/home", "/contact/email"]);
    assert_eq!(back.contact_right(), None);
    let json = serde_json::to_value(&back).unwrap();
    assert_eq!(
        json["authorization_details"][1],
        json!({"type": "kluis_relationship", "actions": ["append"]})
    );
    // Kept when introspection narrows the read fields.
    assert!(back.with_read_fields(["/address/home"]).may_append_record());
}

#[test]
fn only_the_append_action_of_the_relationship_type_grants_appending() {
    let mut c = claims();
    let other_action = AuthorizationDetail {
        actions: vec![ACTION_READ.into(), "write".into()],
        ..AuthorizationDetail::append_record()
    };
    let other_type = AuthorizationDetail {
        kind: FIELDS_DETAIL_TYPE.into(),
        ..AuthorizationDetail::append_record()
    };
    let contact_type = AuthorizationDetail {
        kind: CONTACT_DETAIL_TYPE.into(),
        ..AuthorizationDetail::append_record()
    };
    c.authorization_details
        .extend([other_action, other_type, contact_type]);
    c.authorization_details
        .push(AuthorizationDetail::contact(&ContactRight {
            channels: vec!["inbox".into()],
            topics: vec!["orders".into()],
        }));
    assert!(!c.may_append_record());
    let back = verify(&sign(&c), &expect(NOW)).unwrap();
    assert!(!back.may_append_record());
    // The same action among others on the right type does grant it.
    c.authorization_details.push(AuthorizationDetail {
        actions: vec!["read".into(), ACTION_APPEND.into()],
        ..AuthorizationDetail::append_record()
    });
    assert!(c.may_append_record());
}

#[test]
fn forged_and_altered_tokens_are_refused() {
    let forged = encode_grant(&claims(), &key(2), &kid(&key(1)));
    assert_eq!(verify(&forged, &expect(NOW)), Err(TokenError::BadSignature));

    let token = sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut altered = claims();
    altered.authorization_details[0]
        .fields
        .push("/passport".into());
    let payload = b64_encode(serde_json::to_vec(&altered).unwrap());
    let altered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        verify(&altered, &expect(NOW)),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn other_algorithms_are_refused() {
    let token = sign(&claims());
    for alg in ["none", "HS256", "Ed25519", "eddsa", "RS256", ""] {
        let swapped = with_header(&token, |h| h["alg"] = json!(alg));
        assert_eq!(
            verify(&swapped, &expect(NOW)),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }
    // alg=none with the signature dropped, as an attacker would send it.
    let none = with_header(&token, |h| h["alg"] = json!("none"));
    let unsigned = format!("{}.", none.rsplit_once('.').unwrap().0);
    assert_eq!(
        verify(&unsigned, &expect(NOW)),
        Err(TokenError::UnsupportedAlgorithm)
    );
    let missing = with_header(&token, |h| {
        h.as_object_mut().unwrap().remove("alg");
    });
    assert_eq!(
        verify(&missing, &expect(NOW)),
        Err(TokenError::UnsupportedAlgorithm)
    );
}

#[test]
fn wrong_type_is_refused_and_media_type_form_accepted() {
    let c = serde_json::to_vec(&claims()).unwrap();
    let typed = |typ: serde_json::Value| {
        sign_compact(&json!({"typ": typ, "kid": kid(&key(1))}), &c, &key(1))
    };
    for typ in [
        json!("JWT"),
        json!("dpop+jwt"),
        json!("at+jwt"),
        json!(null),
        json!(1),
    ] {
        assert_eq!(
            verify(&typed(typ), &expect(NOW)),
            Err(TokenError::WrongType)
        );
    }
    let untyped = sign_compact(&json!({"kid": kid(&key(1))}), &c, &key(1));
    assert_eq!(verify(&untyped, &expect(NOW)), Err(TokenError::WrongType));
    let long = typed(json!("application/Kluis-Grant+JWT"));
    assert_eq!(verify(&long, &expect(NOW)), Ok(claims()));
}

#[test]
fn wrong_issuer_and_audience_are_refused() {
    let token = sign(&claims());
    let other_iss = Expectations {
        issuer: "https://evil.example",
        ..expect(NOW)
    };
    assert_eq!(verify(&token, &other_iss), Err(TokenError::WrongIssuer));
    let other_aud = Expectations {
        audience: Some("biz_43"),
        ..expect(NOW)
    };
    assert_eq!(verify(&token, &other_aud), Err(TokenError::WrongAudience));
    let any_aud = Expectations {
        audience: None,
        ..expect(NOW)
    };
    assert_eq!(verify(&token, &any_aud), Ok(claims()));
}

#[test]
fn expiry_respects_leeway() {
    let token = sign(&claims());
    let exp = NOW + 3600;
    assert!(verify(&token, &expect(exp + 29)).is_ok());
    assert_eq!(verify(&token, &expect(exp + 30)), Err(TokenError::Expired));
    let strict = Expectations {
        leeway: 0,
        ..expect(exp)
    };
    assert_eq!(verify(&token, &strict), Err(TokenError::Expired));
    let negative = Expectations {
        leeway: -100,
        ..expect(exp - 1)
    };
    assert!(verify(&token, &negative).is_ok());
}

#[test]
fn not_before_and_issued_in_future_respect_leeway() {
    let mut c = claims();
    c.nbf = Some(NOW + 100);
    let token = sign(&c);
    assert_eq!(
        verify(&token, &expect(NOW + 69)),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(verify(&token, &expect(NOW + 70)), Ok(c));

    let mut c = claims();
    c.iat = NOW + 100;
    let token = sign(&c);
    assert_eq!(verify(&token, &expect(NOW)), Err(TokenError::NotYetValid));
    assert!(verify(&token, &expect(NOW + 70)).is_ok());
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let c = claims();
    assert_eq!(
        verify(&encode_grant(&c, &key(1), "rotated-away"), &expect(NOW)),
        Err(TokenError::UnknownKey)
    );
    let payload = serde_json::to_vec(&c).unwrap();
    let no_kid = sign_compact(&json!({"typ": GRANT_TYP}), &payload, &key(1));
    assert_eq!(verify(&no_kid, &expect(NOW)), Err(TokenError::UnknownKey));
}

#[test]
fn bad_claims_are_malformed() {
    let mut c = claims();
    c.authorization_details[0].fields = vec!["contact/email".into()];
    assert_eq!(verify(&sign(&c), &expect(NOW)), Err(TokenError::Malformed));
    let bare = sign_compact(
        &json!({"typ": GRANT_TYP, "kid": kid(&key(1))}),
        b"[]",
        &key(1),
    );
    assert_eq!(verify(&bare, &expect(NOW)), Err(TokenError::Malformed));
}

#[test]
fn verifies_with_jsonwebtoken_from_the_published_jwks_only() {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let c = GrantClaims {
        iat: now,
        exp: now + 300,
        ..claims()
    };
    let k = key(1);
    let token = encode_grant(&c, &k, &kid(&k));
    let published = Jwks {
        keys: vec![Jwk::from_verifying_key(&k.verifying_key())],
    };
    let jwks: JwkSet = serde_json::from_str(&serde_json::to_string(&published).unwrap()).unwrap();

    let header_kid = decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks.find(&header_kid).expect("kid found in JWKS");
    let decoding = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[ISS]);
    let data = decode::<GrantClaims>(&token, &decoding, &validation).unwrap();
    assert_eq!(data.claims, c);
    assert_eq!(data.header.typ.as_deref(), Some(GRANT_TYP));

    validation.set_audience(&["biz_43"]);
    assert!(decode::<GrantClaims>(&token, &decoding, &validation).is_err());
    let forged = encode_grant(&c, &key(2), &kid(&k));
    validation.set_audience(&[AUD]);
    assert!(decode::<GrantClaims>(&forged, &decoding, &validation).is_err());
}

proptest! {
    #[test]
    fn a_tampered_token_never_verifies(index in any::<prop::sample::Index>(), flip in 1u8..) {
        let token = sign(&claims());
        let mut bytes = token.into_bytes();
        let at = index.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(tampered) = String::from_utf8(bytes) {
            prop_assert!(verify(&tampered, &expect(NOW)).is_err());
        }
    }
}
