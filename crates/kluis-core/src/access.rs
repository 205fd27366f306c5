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

/// A borrowed [`AccessRecord`] that serializes to the same JSON: the server's ledger writes one
/// per call without copying the grant's strings.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AccessRecordRef<'a> {
    pub at_ms: i64,
    pub endpoint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<&'a GrantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business: Option<&'a BusinessId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<&'a str>,
    pub fields: FieldList<'a>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

/// The `fields` of an [`AccessRecordRef`]: pointers, or the same list already written as JSON
/// (the server keeps it so with a cached answer, rather than writing it again per call).
#[derive(Clone, Copy, Debug)]
pub enum FieldList<'a> {
    Pointers(&'a [Pointer]),
    /// A JSON array of pointer strings, as `Pointers` serializes.
    Json(&'a serde_json::value::RawValue),
}

impl FieldList<'_> {
    pub const NONE: FieldList<'static> = FieldList::Pointers(&[]);

    fn to_pointers(self) -> Vec<Pointer> {
        match self {
            FieldList::Pointers(pointers) => pointers.to_vec(),
            // Written from pointers by the server itself; nothing else is put here.
            FieldList::Json(json) => serde_json::from_str(json.get()).unwrap_or_default(),
        }
    }
}

impl AccessRecordRef<'_> {
    /// The owned record this view shows.
    pub fn to_record(&self) -> AccessRecord {
        AccessRecord {
            at_ms: self.at_ms,
            endpoint: self.endpoint.to_owned(),
            grant: self.grant.cloned(),
            business: self.business.cloned(),
            purpose: self.purpose.map(str::to_owned),
            fields: self.fields.to_pointers(),
            outcome: self.outcome,
            reason: self.reason.map(str::to_owned),
        }
    }
}

impl Serialize for FieldList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldList::Pointers(pointers) => pointers.serialize(serializer),
            FieldList::Json(json) => json.serialize(serializer),
        }
    }
}

impl AccessRecord {
    /// The borrowed view of this record.
    pub fn view(&self) -> AccessRecordRef<'_> {
        AccessRecordRef {
            at_ms: self.at_ms,
            endpoint: &self.endpoint,
            grant: self.grant.as_ref(),
            business: self.business.as_ref(),
            purpose: self.purpose.as_deref(),
            fields: FieldList::Pointers(&self.fields),
            outcome: self.outcome,
            reason: self.reason.as_deref(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_view_serializes_like_the_record() {
        let allowed = AccessRecord {
            at_ms: 1_700_000_000_123,
            endpoint: "GET /v1/data".into(),
            grant: Some(GrantId::from_random([7; 16])),
            business: Some(BusinessId::parse("shop.example").unwrap()),
            purpose: Some("order \"delivery\"".into()),
            fields: vec![
                Pointer::parse("/profile/email").unwrap(),
                Pointer::parse("/custom/a~1b").unwrap(),
            ],
            outcome: Outcome::Allowed,
            reason: None,
        };
        let refused =
            AccessRecord::refused_anonymously(5, "POST /v1/introspect", "no token".into());
        for record in [allowed, refused] {
            let owned = serde_json::to_string(&record).unwrap();
            let borrowed = serde_json::to_string(&record.view()).unwrap();
            assert_eq!(owned, borrowed);
            let written = serde_json::value::to_raw_value(&record.fields).unwrap();
            let with_json = AccessRecordRef {
                fields: FieldList::Json(&written),
                ..record.view()
            };
            assert_eq!(serde_json::to_string(&with_json).unwrap(), owned);
            let back: AccessRecord = serde_json::from_str(&borrowed).unwrap();
            assert_eq!(back, record);
            assert_eq!(record.view().to_record(), record);
            assert_eq!(with_json.to_record(), record);
        }
    }
}
