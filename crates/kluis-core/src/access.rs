//! Access records: one per grant-API call, allowed or refused, as the owner sees them in the log.

use serde::{Deserialize, Serialize};

use crate::grant::{BusinessId, GrantId};
use crate::pointer::Pointer;

/// Whether a call was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Refused,
}

/// One grant-API call. `grant` and `business` are absent when the token could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Milliseconds since 1970-01-01 UTC.
    pub at_ms: i64,
    /// What was called, e.g. `GET /v1/data` or `POST /v1/introspect`.
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<BusinessId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The fields whose values were returned (empty when refused).
    #[serde(default)]
    pub fields: Vec<Pointer>,
    pub outcome: Outcome,
    /// Why a call was refused, in words for the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AccessRecord {
    /// A call refused before any grant was identified (no token, a forged one…).
    pub fn refused_anonymously(at_ms: i64, endpoint: impl Into<String>, reason: String) -> Self {
        Self {
            at_ms,
            endpoint: endpoint.into(),
            grant: None,
            business: None,
            purpose: None,
            fields: Vec::new(),
            outcome: Outcome::Refused,
            reason: Some(reason),
        }
    }
}
