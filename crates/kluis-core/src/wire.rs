//! Wire types of the grant API that are not tokens: problem details (RFC 9457), introspection
//! answers (RFC 7662) and health. The server writes them and the SDK reads them.

use serde::{Deserialize, Serialize};

use crate::token::{AuthorizationDetail, Confirmation, GrantClaims};

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
