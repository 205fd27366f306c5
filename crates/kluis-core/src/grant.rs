//! Grants: who may read which fields, why, and until when; and the rule that turns a vault
//! document into exactly the part a grant shows.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contact::ContactRight;
use crate::document;
use crate::error::{Error, Result};
use crate::pointer::Pointer;
use crate::token::{AuthorizationDetail, Confirmation, GrantClaims};

/// The longest a grant may run: one year. A customer can always revoke earlier.
pub const MAX_LIFETIME_SECS: i64 = 366 * 24 * 3600;

/// The lifetime a grant gets when none is asked for: 30 days.
pub const DEFAULT_LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// Grants may name at most this many fields.
pub const MAX_FIELDS: usize = 64;

/// A grant's identifier (also the token's `jti`): `g_` and 26 base32 characters of randomness.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantId(String);

crate::id::random_id_type!(GrantId, "g_", "a grant id");

/// A business as named in grants (the token's `aud`), e.g. `webshop.example`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessId(String);

impl BusinessId {
    pub fn parse(text: &str) -> Result<Self> {
        let ok = (1..=128).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:/@".contains(c));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(format!(
                "{text:?} is not a business id: use 1-128 characters of letters, digits and -._:/@"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BusinessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a grant stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Revoked,
    Expired,
}

/// What the owner asks for when creating a grant.
#[derive(Clone, Debug)]
pub struct GrantRequest {
    pub audience: BusinessId,
    pub fields: Vec<Pointer>,
    pub purpose: String,
    pub purpose_category: Option<String>,
    pub lifetime_secs: i64,
    /// The JWK thumbprint of the business key the grant is bound to (RFC 7800 `cnf.jkt`).
    pub key_thumbprint: Option<String>,
    /// The channels and topics the business may use to reach the owner, if any.
    pub contact: Option<ContactRight>,
    /// Whether the business may append entries (documents, promises, interactions) to its own
    /// relationship record in the owner's vault.
    pub append_record: bool,
}

/// Why a grant of nothing is refused.
pub const NOTHING_GRANTED: &str =
    "a grant needs at least one field, a contact right or the right to add to its record";

impl GrantRequest {
    /// Checks the request and normalizes its fields (sorted, no duplicates, no field inside
    /// another one).
    pub fn validated(mut self) -> Result<Self> {
        self.contact = self.contact.map(ContactRight::validated).transpose()?;
        if self.fields.is_empty() && self.contact.is_none() && !self.append_record {
            return Err(Error::invalid(NOTHING_GRANTED));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(Error::invalid(format!(
                "a grant may name at most {MAX_FIELDS} fields"
            )));
        }
        for field in &self.fields {
            if field.is_root() {
                return Err(Error::invalid(
                    "a grant cannot share the whole vault; name the fields",
                ));
            }
            document::validate_pointer(field)?;
        }
        self.fields = normalize(self.fields);
        let purpose = self.purpose.trim();
        if purpose.is_empty() || purpose.chars().count() > 200 {
            return Err(Error::invalid(
                "a grant needs a purpose of 1 to 200 characters",
            ));
        }
        self.purpose = purpose.to_owned();
        self.purpose_category = check_purpose_category(self.purpose_category)?;
        if !(60..=MAX_LIFETIME_SECS).contains(&self.lifetime_secs) {
            return Err(Error::invalid(
                "a grant must run at least a minute and at most a year",
            ));
        }
        Ok(self)
    }
}

/// The longest purpose category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 64;

/// Checks an optional purpose category (e.g. `contract`, `consent`): trimmed, and if present
/// 1 to [`MAX_CATEGORY_CHARS`] characters without control characters.
pub fn check_purpose_category(category: Option<String>) -> Result<Option<String>> {
    let Some(category) = category else {
        return Ok(None);
    };
    let category = category.trim();
    if category.is_empty()
        || category.chars().count() > MAX_CATEGORY_CHARS
        || category.chars().any(char::is_control)
    {
        return Err(Error::invalid(format!(
            "a purpose category must be 1 to {MAX_CATEGORY_CHARS} characters without control characters"
        )));
    }
    Ok(Some(category.to_owned()))
}

/// A grant as the vault keeps it (sealed at rest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub audience: BusinessId,
    /// The customer's pseudonym for this business (pairwise: differs per business).
    pub subject: String,
    pub fields: Vec<Pointer>,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_category: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_thumbprint: Option<String>,
    /// The `kid` of the vault key that signed the token.
    pub kid: String,
    /// The channels and topics the business may use to reach the owner (a contact right).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactRight>,
    /// Whether the business may append entries to its own relationship record in the vault.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_record: bool,
}

impl Grant {
    pub fn status(&self, now: i64) -> Status {
        status(self.revoked_at, self.expires_at, now)
    }

    /// The claims of this grant's token.
    pub fn claims(&self, issuer: &str) -> GrantClaims {
        GrantClaims {
            iss: issuer.to_owned(),
            sub: self.subject.clone(),
            aud: self.audience.to_string(),
            jti: self.id.to_string(),
            iat: self.issued_at,
            nbf: None,
            exp: self.expires_at,
            purpose: self.purpose.clone(),
            purpose_category: self.purpose_category.clone(),
            authorization_details: self.authorization_details(),
            cnf: self.key_thumbprint.clone().map(|jkt| Confirmation { jkt }),
        }
    }
}

impl Grant {
    /// A read detail for the fields (when there are any), a contact detail for the contact
    /// right (when there is one) and an append detail for the right to add to the business's
    /// relationship record (when given).
    fn authorization_details(&self) -> Vec<AuthorizationDetail> {
        let mut details = Vec::with_capacity(3);
        if !self.fields.is_empty() {
            details.push(AuthorizationDetail::read_fields(
                self.fields.iter().map(ToString::to_string),
            ));
        }
        details.extend(self.contact.as_ref().map(AuthorizationDetail::contact));
        if self.append_record {
            details.push(AuthorizationDetail::append_record());
        }
        details
    }
}

/// Status from the two facts the vault keeps in the clear.
pub fn status(revoked_at: Option<i64>, expires_at: i64, now: i64) -> Status {
    match revoked_at {
        Some(_) => Status::Revoked,
        None if expires_at <= now => Status::Expired,
        None => Status::Active,
    }
}

/// What of `asked` lies within `granted`: each asked pointer inside a granted one, and each
/// granted pointer inside an asked one (asking for `/profile` of a grant narrowed to
/// `/profile/email` yields `/profile/email`).
pub fn within(asked: &[Pointer], granted: &[Pointer]) -> Vec<Pointer> {
    let inside = asked
        .iter()
        .filter(|a| granted.iter().any(|g| a.starts_with(g)));
    let below = granted
        .iter()
        .filter(|g| asked.iter().any(|a| g.starts_with(a)));
    normalize(inside.chain(below).cloned().collect())
}

/// Sorts, removes duplicates and drops pointers already covered by a shorter one.
pub fn normalize(mut fields: Vec<Pointer>) -> Vec<Pointer> {
    fields.sort();
    fields.dedup();
    let mut out: Vec<Pointer> = Vec::with_capacity(fields.len());
    for field in fields {
        if !out.iter().any(|kept| field.starts_with(kept)) {
            out.push(field);
        }
    }
    out
}

/// The fields a request may see: all granted ones, or those asked for in `narrow`, each of
/// which must lie inside the grant. Returns the pointers outside the grant as the error.
pub fn narrow(
    granted: &[Pointer],
    narrow: Option<&[Pointer]>,
) -> Result<Vec<Pointer>, Vec<Pointer>> {
    let Some(asked) = narrow else {
        return Ok(granted.to_vec());
    };
    let outside: Vec<Pointer> = asked
        .iter()
        .filter(|a| !granted.iter().any(|g| a.starts_with(g)))
        .cloned()
        .collect();
    if outside.is_empty() {
        Ok(normalize(asked.to_vec()))
    } else {
        Err(outside)
    }
}

/// The part of `doc` that `fields` show, in the document's own shape, and the pointers that
/// were actually present. Nothing outside `fields` can appear in the result. The root pointer
/// shows nothing: no grant may share the whole vault ([`GrantRequest::validated`] refuses it),
/// so one that names it anyway is not taken to mean everything.
pub fn subset(doc: &Value, fields: &[Pointer]) -> (Value, Vec<Pointer>) {
    let mut out = Value::Object(Map::new());
    let mut present = Vec::new();
    for field in fields {
        if let Some(value) = field.get(doc) {
            // Parents along the way are objects in `out`; array indices become object keys, so
            // a grant of `/preferences/channels/0` shows `{"preferences":{"channels":{"0":…}}}`.
            if place(&mut out, field, value.clone()) {
                present.push(field.clone());
            }
        }
    }
    (out, present)
}

fn place(out: &mut Value, at: &Pointer, value: Value) -> bool {
    let Some((last, head)) = at.tokens().split_last() else {
        return false;
    };
    let mut node = out;
    for token in head {
        let Value::Object(map) = node else {
            return false;
        };
        node = map
            .entry(token.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match node {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            true
        }
        _ => false,
    }
}

/// Parses a lifetime like `30d`, `12h`, `90m`, `2w` or `3600s`.
pub fn parse_lifetime(text: &str) -> Result<i64> {
    let bad = || {
        Error::invalid(format!(
            "{text:?} is not a duration; use a number with s, m, h, d or w (e.g. 30d)"
        ))
    };
    let text = text.trim();
    // The unit is the last character, which need not be one byte long.
    let split = text.char_indices().last().ok_or_else(bad)?.0;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).filter(|s| *s > 0).ok_or_else(bad)
}

#[cfg(test)]
mod tests;
