//! Grant tokens: the claims of a grant, signed as an explicitly typed EdDSA JWT (RFC 7519,
//! RFC 8725), and their verification against an issuer, an audience and the clock.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::contact::ContactRight;
use crate::jose::{self, Header};
use crate::pointer::Pointer;

/// The JWS `typ` of a grant token (RFC 8725 §3.11). `application/kluis-grant+jwt` is accepted too.
pub const GRANT_TYP: &str = "kluis-grant+jwt";

/// The `type` of an [`AuthorizationDetail`] that lets a business act on vault fields.
pub const FIELDS_DETAIL_TYPE: &str = "kluis_fields";

/// The action of reading fields.
pub const ACTION_READ: &str = "read";

/// The `type` of an [`AuthorizationDetail`] that lets a business reach the owner over some
/// channels about some topics, within the owner's contact policy.
pub const CONTACT_DETAIL_TYPE: &str = "kluis_contact";

/// The action of reaching the owner.
pub const ACTION_CONTACT: &str = "contact";

/// Why a token was refused. Messages are fixed strings: they never carry key material, token
/// contents or claim values, so they are safe to log (a client should still get one generic 401).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signing algorithm is not accepted")]
    UnsupportedAlgorithm,
    #[error("the token has critical header parameters that are not understood")]
    CriticalHeader,
    #[error("the token is not of the expected type")]
    WrongType,
    #[error("the token's key is missing or unknown")]
    UnknownKey,
    #[error("the key is not an acceptable Ed25519 public key")]
    InvalidKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for someone else")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

/// One entry of `authorization_details` (RFC 9396). A grant for fields looks like:
///
/// ```json
/// { "type": "kluis_fields", "actions": ["read"], "fields": ["/contact/email", "/name/given"] }
/// ```
///
/// `fields` are RFC 6901 JSON Pointers into the customer's vault document. The purpose is kept
/// once, at the top of the claims, rather than per detail, so it cannot disagree with itself.
///
/// A contact right is a detail of its own type, with the channels and topics it may use:
///
/// ```json
/// { "type": "kluis_contact", "actions": ["contact"], "channels": ["inbox"], "topics": ["orders"] }
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationDetail {
    #[serde(rename = "type")]
    pub kind: String,
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
}

impl AuthorizationDetail {
    /// A detail allowing the business to read `fields`.
    pub fn read_fields<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            kind: FIELDS_DETAIL_TYPE.to_owned(),
            actions: vec![ACTION_READ.to_owned()],
            fields: fields.into_iter().map(Into::into).collect(),
            channels: Vec::new(),
            topics: Vec::new(),
        }
    }

    /// A detail allowing the business to reach the owner as `right` says.
    pub fn contact(right: &ContactRight) -> Self {
        Self {
            kind: CONTACT_DETAIL_TYPE.to_owned(),
            actions: vec![ACTION_CONTACT.to_owned()],
            fields: Vec::new(),
            channels: right.channels.clone(),
            topics: right.topics.clone(),
        }
    }

    fn grants_read(&self) -> bool {
        self.kind == FIELDS_DETAIL_TYPE && self.actions.iter().any(|a| a == ACTION_READ)
    }

    fn grants_contact(&self) -> bool {
        self.kind == CONTACT_DETAIL_TYPE && self.actions.iter().any(|a| a == ACTION_CONTACT)
    }
}

/// Proof-of-possession confirmation (RFC 7800): the token is bound to the DPoP key whose
/// RFC 7638 thumbprint is `jkt` (RFC 9449 §6).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// The claims of a grant token. On the wire:
///
/// ```json
/// {
///   "iss": "https://vault.example", "sub": "<pairwise subject>", "aud": "<business id>",
///   "jti": "<grant id>", "iat": 1700000000, "nbf": 1700000000, "exp": 1700003600,
///   "purpose": "Deliver your order", "purpose_category": "contract",
///   "authorization_details": [
///     { "type": "kluis_fields", "actions": ["read"], "fields": ["/address/home"] }
///   ],
///   "cnf": { "jkt": "<DPoP key thumbprint>" }
/// }
/// ```
///
/// `nbf`, `purpose_category` and `cnf` are left out when absent. Times are Unix seconds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    pub iss: String,
    /// The customer as this business knows them: a pairwise subject, never the vault's own id.
    pub sub: String,
    /// The business the grant was given to.
    pub aud: String,
    /// The grant's id.
    pub jti: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_category: Option<String>,
    pub authorization_details: Vec<AuthorizationDetail>,
    /// When present, the caller must also check a DPoP proof made with this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl GrantClaims {
    /// These claims with their read details replaced by one for `fields` (a grant the owner
    /// narrowed: what introspection reports), other details kept.
    pub fn with_read_fields<I, S>(&self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut claims = self.clone();
        claims.authorization_details.retain(|d| !d.grants_read());
        claims
            .authorization_details
            .insert(0, AuthorizationDetail::read_fields(fields));
        claims
    }

    /// The fields this grant lets the business read, in order and without repeats. Details of
    /// another type, or without the `read` action, add nothing.
    pub fn fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for field in self
            .authorization_details
            .iter()
            .filter(|d| d.grants_read())
            .flat_map(|d| &d.fields)
        {
            if !out.contains(field) {
                out.push(field.clone());
            }
        }
        out
    }

    /// The contact right the grant carries: the channels and topics of its contact details
    /// together; `None` when it carries none.
    pub fn contact_right(&self) -> Option<ContactRight> {
        let mut right = ContactRight::default();
        let mut any = false;
        for detail in self
            .authorization_details
            .iter()
            .filter(|d| d.grants_contact())
        {
            any = true;
            right.channels.extend(detail.channels.iter().cloned());
            right.topics.extend(detail.topics.iter().cloned());
        }
        for list in [&mut right.channels, &mut right.topics] {
            list.sort();
            list.dedup();
        }
        any.then_some(right)
    }
}

/// Signs `claims` as a grant token, with `kid` naming the issuer key in its JWKS.
pub fn encode_grant(claims: &GrantClaims, key: &SigningKey, kid: &str) -> String {
    let header = json!({ "typ": GRANT_TYP, "kid": kid });
    let payload = serde_json::to_vec(claims).expect("grant claims serialize to JSON");
    jose::sign_compact(&header, &payload, key)
}

/// What a verifier expects of a grant token.
#[derive(Clone, Copy, Debug)]
pub struct Expectations<'a> {
    /// The `iss` the token must carry.
    pub issuer: &'a str,
    /// The `aud` the token must carry; `None` when the verifier is the vault itself, which
    /// accepts grants for any business and checks the business against `aud` elsewhere.
    pub audience: Option<&'a str>,
    /// The current time, Unix seconds: passed in so this crate stays free of clocks.
    pub now: i64,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`; negative counts as zero.
    pub leeway: i64,
}

/// Verifies a grant token: the JWS (see [`jose::verify_compact`], typed [`GRANT_TYP`]), a `kid`
/// that `resolve_key` knows, `iss`, `aud` when expected, `exp > now - leeway`, and neither `nbf`
/// nor `iat` later than `now + leeway`. Every field pointer must parse as a JSON Pointer.
///
/// The caller still owns the checks that need state: revocation of `jti` and, when `cnf` is
/// present, the DPoP proof.
pub fn verify_grant(
    token: &str,
    resolve_key: impl Fn(&str) -> Option<VerifyingKey>,
    exp: &Expectations,
) -> Result<GrantClaims, TokenError> {
    let resolve = |header: &Header| header.kid.as_deref().and_then(&resolve_key);
    let (_, payload) = jose::verify_compact(token, resolve, GRANT_TYP)?;
    let claims: GrantClaims =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;

    if claims.iss != exp.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if exp.audience.is_some_and(|aud| claims.aud != aud) {
        return Err(TokenError::WrongAudience);
    }
    let leeway = exp.leeway.max(0);
    if claims.exp <= exp.now.saturating_sub(leeway) {
        return Err(TokenError::Expired);
    }
    let latest_start = exp.now.saturating_add(leeway);
    if claims.iat > latest_start || claims.nbf.is_some_and(|nbf| nbf > latest_start) {
        return Err(TokenError::NotYetValid);
    }
    let pointers_parse = claims
        .authorization_details
        .iter()
        .flat_map(|d| &d.fields)
        .all(|field| Pointer::parse(field).is_ok());
    if !pointers_parse {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{Jwk, Jwks, b64_decode, b64_encode, sign_compact};
    use proptest::prelude::*;

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
        use jsonwebtoken::{
            Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet,
        };
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
        let jwks: JwkSet =
            serde_json::from_str(&serde_json::to_string(&published).unwrap()).unwrap();

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
}
