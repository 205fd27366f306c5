//! Grant tokens: the claims of a grant, signed as an explicitly typed EdDSA JWT (RFC 7519,
//! RFC 8725), and their verification against an issuer, an audience and the clock.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

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

/// The `type` of an [`AuthorizationDetail`] that lets a business add to its own relationship
/// record in the owner's vault (documents, promises, interactions).
pub const RELATIONSHIP_DETAIL_TYPE: &str = "kluis_relationship";

/// The action of appending entries to the business's relationship record.
pub const ACTION_APPEND: &str = "append";

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
///
/// The right to append entries to the business's own relationship record names nothing more:
///
/// ```json
/// { "type": "kluis_relationship", "actions": ["append"] }
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

    /// A detail allowing the business to append entries (documents, promises, interactions)
    /// to its own relationship record in the owner's vault.
    pub fn append_record() -> Self {
        Self {
            kind: RELATIONSHIP_DETAIL_TYPE.to_owned(),
            actions: vec![ACTION_APPEND.to_owned()],
            fields: Vec::new(),
            channels: Vec::new(),
            topics: Vec::new(),
        }
    }

    fn grants_read(&self) -> bool {
        self.kind == FIELDS_DETAIL_TYPE && self.actions.iter().any(|a| a == ACTION_READ)
    }

    fn grants_contact(&self) -> bool {
        self.kind == CONTACT_DETAIL_TYPE && self.actions.iter().any(|a| a == ACTION_CONTACT)
    }

    fn grants_append(&self) -> bool {
        self.kind == RELATIONSHIP_DETAIL_TYPE && self.actions.iter().any(|a| a == ACTION_APPEND)
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

    /// Whether the grant lets the business append entries to its own relationship record: a
    /// detail of type [`RELATIONSHIP_DETAIL_TYPE`] with the [`ACTION_APPEND`] action.
    pub fn may_append_record(&self) -> bool {
        self.authorization_details.iter().any(|d| d.grants_append())
    }
}

/// Signs `claims` as a grant token, with `kid` naming the issuer key in its JWKS.
pub fn encode_grant(claims: &GrantClaims, key: &SigningKey, kid: &str) -> String {
    jose::sign_typed(claims, GRANT_TYP, key, kid)
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
mod tests;
