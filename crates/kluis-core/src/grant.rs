//! Grants: who may read which fields, why, and until when; and the rule that turns a vault
//! document into exactly the part a grant shows.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contact::ContactRight;
use crate::document;
use crate::error::{Error, Result};
use crate::id;
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

impl GrantId {
    /// Builds an id from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(id::random_id("g_", bytes))
    }

    /// Accepts text that has the shape of a grant id.
    pub fn parse(text: &str) -> Result<Self> {
        if id::is_random_id(text, "g_") {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(format!("{text:?} is not a grant id")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
}

impl GrantRequest {
    /// Checks the request and normalizes its fields (sorted, no duplicates, no field inside
    /// another one).
    pub fn validated(mut self) -> Result<Self> {
        self.contact = self.contact.map(ContactRight::validated).transpose()?;
        if self.fields.is_empty() && self.contact.is_none() {
            return Err(Error::invalid(
                "a grant needs at least one field or a contact right",
            ));
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
    /// A read detail for the fields (when there are any) and a contact detail for the contact
    /// right (when there is one).
    fn authorization_details(&self) -> Vec<AuthorizationDetail> {
        let mut details = Vec::with_capacity(2);
        if !self.fields.is_empty() {
            details.push(AuthorizationDetail::read_fields(
                self.fields.iter().map(ToString::to_string),
            ));
        }
        details.extend(self.contact.as_ref().map(AuthorizationDetail::contact));
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
/// were actually present. Nothing outside `fields` can appear in the result.
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
    let mut node = out;
    for token in &at.tokens()[..at.depth() - 1] {
        let Value::Object(map) = node else {
            return false;
        };
        node = map
            .entry(token.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match node {
        Value::Object(map) => {
            map.insert(at.tokens()[at.depth() - 1].clone(), value);
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
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn p(text: &str) -> Pointer {
        Pointer::parse(text).unwrap()
    }

    #[test]
    fn grant_ids_round_trip_and_reject_junk() {
        let id = GrantId::from_random([0xAB; 16]);
        assert_eq!(GrantId::parse(id.as_str()).unwrap(), id);
        for junk in [
            "",
            "g_",
            "g_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "x_abcdefghijklmnopqrstuvwxyz",
            "../../etc",
        ] {
            assert!(GrantId::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn requests_are_checked_and_normalized() {
        let request = GrantRequest {
            audience: BusinessId::parse("webshop.example").unwrap(),
            fields: vec![
                p("/profile/address/locality"),
                p("/profile/email"),
                p("/profile/address"),
                p("/profile/email"),
            ],
            purpose: "  order delivery ".into(),
            purpose_category: None,
            lifetime_secs: DEFAULT_LIFETIME_SECS,
            key_thumbprint: None,
            contact: None,
        };
        let ok = request.clone().validated().unwrap();
        assert_eq!(ok.fields, [p("/profile/address"), p("/profile/email")]);
        assert_eq!(ok.purpose, "order delivery");
        let mut bad = request.clone();
        bad.fields = vec![Pointer::root()];
        assert!(bad.validated().is_err());
        let mut bad = request.clone();
        bad.fields = vec![p("/profile/nonsense")];
        assert!(bad.validated().is_err());
        let mut bad = request.clone();
        bad.purpose = " ".into();
        assert!(bad.validated().is_err());
        for category in [" ", "a\nb", &"c".repeat(MAX_CATEGORY_CHARS + 1)] {
            let mut bad = request.clone();
            bad.purpose_category = Some(category.to_owned());
            let err = bad.validated().unwrap_err();
            assert!(err.to_string().contains("purpose category"), "{err}");
        }
        let mut fine = request.clone();
        fine.purpose_category = Some(" contract ".into());
        assert_eq!(
            fine.validated().unwrap().purpose_category.as_deref(),
            Some("contract")
        );
        let mut bad = request;
        bad.lifetime_secs = MAX_LIFETIME_SECS + 1;
        assert!(bad.validated().is_err());
        assert!(BusinessId::parse("a b").is_err());
    }

    #[test]
    fn subset_shows_only_granted_fields() {
        let doc = document::sample();
        let (shown, present) = subset(
            &doc,
            &[
                p("/profile/email"),
                p("/profile/address"),
                p("/profile/website"),
            ],
        );
        assert_eq!(
            shown,
            json!({"profile": {"email": "anna@example.nl", "address": doc["profile"]["address"].clone()}})
        );
        assert_eq!(present, [p("/profile/email"), p("/profile/address")]);
    }

    #[test]
    fn narrowing_stays_inside_the_grant() {
        let granted = [p("/profile/address"), p("/profile/email")];
        assert_eq!(narrow(&granted, None).unwrap(), granted);
        assert_eq!(
            narrow(&granted, Some(&[p("/profile/address/locality")])).unwrap(),
            [p("/profile/address/locality")]
        );
        assert_eq!(
            narrow(&granted, Some(&[p("/profile/email"), p("/profile/name")])).unwrap_err(),
            [p("/profile/name")]
        );
        assert!(
            narrow(&granted, Some(&[p("/profile")])).is_err(),
            "a parent is wider than the grant"
        );
    }

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_lifetime("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_lifetime("90m").unwrap(), 5400);
        for bad in ["", "d", "30", "-1d", "1y", "99999999999999999w"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn within_keeps_what_lies_inside_the_kept_fields() {
        let p = |t: &str| Pointer::parse(t).unwrap();
        let kept = [p("/profile/email"), p("/preferences")];
        assert_eq!(within(&[p("/profile")], &kept), [p("/profile/email")]);
        assert_eq!(within(&[p("/profile/name")], &kept), Vec::<Pointer>::new());
        assert_eq!(
            within(&[p("/preferences/channels"), p("/profile/email")], &kept),
            [p("/preferences/channels"), p("/profile/email")]
        );
    }

    #[test]
    fn status_follows_revocation_then_expiry() {
        assert_eq!(status(None, 100, 99), Status::Active);
        assert_eq!(status(None, 100, 100), Status::Expired);
        assert_eq!(status(Some(50), 100, 99), Status::Revoked);
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c]{1,2}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn all_paths(base: &Pointer, value: &Value, out: &mut Vec<Pointer>) {
        out.push(base.clone());
        match value {
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| all_paths(&base.child(k.clone()), v, out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| all_paths(&base.child(i.to_string()), v, out)),
            _ => {}
        }
    }

    proptest! {
        /// The core promise: whatever the document and the grant, every leaf of the response
        /// lies inside a granted field and equals the document's value there.
        #[test]
        fn a_response_never_holds_a_field_outside_the_grant(
            doc in arb_value(),
            fields in proptest::collection::vec(proptest::collection::vec("[a-c0-2]{1,2}", 1..4), 1..5),
        ) {
            let fields: Vec<Pointer> = normalize(fields.into_iter().map(Pointer::from_tokens).collect());
            let (shown, present) = subset(&doc, &fields);
            let mut paths = Vec::new();
            all_paths(&Pointer::root(), &shown, &mut paths);
            for path in paths {
                let inside = fields.iter().any(|f| path.starts_with(f));
                let above = fields.iter().any(|f| f.starts_with(&path));
                prop_assert!(inside || above, "{} is outside the grant", path);
                if inside && !above {
                    continue;
                }
                if let Some(f) = fields.iter().find(|f| **f == path) {
                    prop_assert_eq!(path.get(&shown), f.get(&doc));
                }
            }
            for f in &present {
                prop_assert!(fields.contains(f));
            }
        }
    }
}
