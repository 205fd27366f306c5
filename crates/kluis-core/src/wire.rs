//! Wire types of the grant API that are not tokens: problem details (RFC 9457), introspection
//! answers (RFC 7662) and health. The server writes them and the SDK reads them.
//! [`patterns`] holds the rules of the bodies as JSON Schema patterns.

use serde::{Deserialize, Serialize};

use crate::token::{AuthorizationDetail, Confirmation, GrantClaims};

pub mod patterns;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem. `type` is a URN naming the problem (listed in docs/errors.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// JSON Pointers outside the grant, when a request asked for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Why a contact attempt was refused (`POST /v1/inbox`): a contact check's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::contact::Reason>,
    /// When a refused contact attempt can succeed, Unix seconds (also in `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

/// The form body of `POST /v1/introspect` (RFC 7662 §2.1), sent as
/// `application/x-www-form-urlencoded`. The server reads `token` and ignores the hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectionForm {
    /// The grant token to look at.
    pub token: String,
    /// A hint about the token's type; any value is taken and ignored (RFC 7662 §2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub token_type_hint: Option<String>,
}

/// An RFC 7662 introspection answer. Inactive tokens get `{"active": false}` and nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_category: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details: Vec<AuthorizationDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self::default()
    }

    pub fn active(claims: &GrantClaims) -> Self {
        Self {
            active: true,
            token_type: Some(
                if claims.cnf.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                }
                .to_owned(),
            ),
            iss: Some(claims.iss.clone()),
            sub: Some(claims.sub.clone()),
            aud: Some(claims.aud.clone()),
            jti: Some(claims.jti.clone()),
            iat: Some(claims.iat),
            exp: Some(claims.exp),
            purpose: Some(claims.purpose.clone()),
            purpose_category: claims.purpose_category.clone(),
            authorization_details: claims.authorization_details.clone(),
            cnf: claims.cnf.clone(),
        }
    }
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
}

/// Who is asking, as shown to the owner: the PII controller of the consent receipt (Kantara
/// CR 1.1 `piiControllers[]`, which requires a name, contact, address, e-mail and phone). A
/// request without one of them is refused with a 400 naming it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// `contact`, `email`, `address` and `phone` are `Option` in Rust, though the API requires them,
// because the owner's views read this type back from requests stored by older versions.
pub struct BusinessInfo {
    /// The business's id: becomes the grant's audience (`aud`), e.g. `webshop.example`.
    pub id: String,
    /// Display name, e.g. "De Webwinkel B.V." (the receipt's `piiController`).
    pub name: String,
    /// The contact person or department at the business, e.g. "Privacy Office" (the
    /// receipt's `contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, example = "Privacy Office")
    )]
    pub contact: Option<String>,
    /// The business's e-mail address for privacy matters (the receipt's `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, example = "privacy@webshop.example")
    )]
    pub email: Option<String>,
    /// The business's postal address, on one line (the receipt's `address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            example = "Keizersgracht 1, 1015 AA Amsterdam, Netherlands"
        )
    )]
    pub address: Option<String>,
    /// The business's phone number, e.g. `+31 20 123 4567` (the receipt's `phone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, example = "+31 20 123 4567")
    )]
    pub phone: Option<String>,
}

impl BusinessInfo {
    /// A business with its id and name; give the rest with [`Self::with_contact`],
    /// [`Self::with_email`], [`Self::with_address`] and [`Self::with_phone`] (all required by
    /// the vault).
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            ..Self::default()
        }
    }

    /// The contact person or department, e.g. "Privacy Office".
    pub fn with_contact(mut self, contact: impl Into<String>) -> Self {
        self.contact = Some(contact.into());
        self
    }

    /// The e-mail address for privacy matters.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// The postal address, on one line.
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The phone number, e.g. `+31 20 123 4567`.
    pub fn with_phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }
}

/// `POST /v1/requests`: a business asks the owner for access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRequestBody {
    pub business: BusinessInfo,
    /// The business's public key; the grant will be bound to it (DPoP, RFC 9449).
    pub jwk: crate::jose::Jwk,
    /// JSON Pointers of the fields wanted (none, when the request asks only for a contact right
    /// or the right to add to its record).
    #[serde(default)]
    pub fields: Vec<String>,
    /// The channels and topics the business asks to reach the owner with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<crate::contact::ContactRight>,
    /// Whether the business asks to append entries (documents, promises, interactions) to its
    /// own relationship record in the owner's vault.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_record: bool,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_category: Option<String>,
    /// How long the business wants access, in seconds (the owner may shorten it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral"
    )]
    pub duration_secs: Option<i64>,
    /// Where the vault POSTs the decision (an [`AccessRequestStatus`]), besides polling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

/// `GET /v1/requests/{id}` (and the `202` of `POST /v1/requests`, and the callback body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRequestStatus {
    /// `r_` and 26 base32 characters.
    pub id: String,
    pub status: RequestStatus,
    /// Where to poll: `/v1/requests/{id}`.
    pub poll_url: String,
    /// Fields asked for.
    pub fields_requested: Vec<String>,
    /// A pending request lapses at this time (Unix seconds).
    pub request_expires_at: i64,
    /// The contact right asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_requested: Option<crate::contact::ContactRight>,
    /// Whether the right to append entries to the business's relationship record was asked
    /// for (left out when not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_record_requested: bool,
    /// Fields granted (all or a subset of those asked), once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields_granted: Option<Vec<String>>,
    /// The contact right granted (all or part of the one asked), once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_granted: Option<crate::contact::ContactRight>,
    /// Whether the right to append entries to the business's relationship record was granted
    /// (left out when not: not asked, refused, or not decided yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_record_granted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The DPoP-bound grant token, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the grant ends (Unix seconds), once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The consent receipt (a compact JWS signed by the vault), once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// Why the owner said no, if they said why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AccessRequestStatus {
    /// A status with no decision yet attached; `poll_url` follows from the id.
    pub fn undecided(
        id: &str,
        status: RequestStatus,
        fields_requested: Vec<String>,
        request_expires_at: i64,
    ) -> Self {
        Self {
            id: id.to_owned(),
            status,
            poll_url: format!("/v1/requests/{id}"),
            fields_requested,
            contact_requested: None,
            append_record_requested: false,
            request_expires_at,
            fields_granted: None,
            contact_granted: None,
            append_record_granted: false,
            grant_id: None,
            token: None,
            expires_at: None,
            receipt: None,
            reason: None,
        }
    }
}

/// An optional integer as JSON Schema counts integers: `60` and `60.0` alike (a number whose
/// fraction is zero), so that what a schema-generated client sends is read. Other numbers are
/// refused.
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(D::Error::custom(format!(
                "{n} is not a whole number of seconds"
            ))),
        },
    }
}

#[cfg(test)]
mod integral_tests {
    use super::AccessRequestBody;

    fn duration(value: &str) -> Result<Option<i64>, String> {
        let body = format!(
            r#"{{"business":{{"id":"a","name":"A"}},"jwk":{{"kty":"OKP","crv":"Ed25519","x":"x"}},
                "purpose":"p","duration_secs":{value}}}"#
        );
        serde_json::from_str::<AccessRequestBody>(&body)
            .map(|b| b.duration_secs)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn durations_are_whole_numbers_written_either_way() {
        assert_eq!(duration("3600"), Ok(Some(3600)));
        assert_eq!(duration("3600.0"), Ok(Some(3600)));
        assert_eq!(duration("null"), Ok(None));
        for bad in ["3600.5", "1e300", "\"60\""] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
