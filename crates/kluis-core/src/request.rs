//! Access requests: a business asks the owner, through the vault, for some fields (the UMA/GNAP
//! pattern). Here live request ids and the checks that turn a request body into a
//! [`CheckedRequest`]; storing and deciding requests is the store's job.

use serde::{Deserialize, Serialize};

use crate::contact::ContactRight;
use crate::document;
use crate::error::{Error, Result};
use crate::grant::{self, BusinessId, DEFAULT_LIFETIME_SECS, MAX_FIELDS, MAX_LIFETIME_SECS};
use crate::jose::{self, Jwk};
use crate::pointer::Pointer;
use crate::wire::{AccessRequestBody, BusinessInfo};

/// The longest business display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The longest business contact (a person or department), in characters.
pub const MAX_CONTACT_CHARS: usize = 200;

/// The longest business postal address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 300;

/// The longest business phone number, in characters.
pub const MAX_PHONE_CHARS: usize = 32;

/// The longest purpose, in characters (the same bound grants have).
pub const MAX_PURPOSE_CHARS: usize = 200;

/// The longest callback URL, in bytes.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;

/// A request's identifier: `r_` and 26 base32 characters of randomness.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

crate::id::random_id_type!(RequestId, "r_", "a request id");

impl RequestId {
    /// Where the business polls for the decision: `/v1/requests/{id}`.
    pub fn poll_url(&self) -> String {
        format!("/v1/requests/{}", self.0)
    }
}

/// A business as it introduced itself, checked. `contact`, `email`, `address` and `phone` are
/// always present in requests checked by this version; they are optional because requests
/// stored by older versions lack them (and then the receipt lacks them too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedBusiness {
    pub id: BusinessId,
    pub name: String,
    /// The contact person or department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The postal address, on one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl CheckedBusiness {
    /// Checks the id's shape, a name of 1 to [`MAX_NAME_CHARS`] characters, and the members
    /// Kantara CR 1.1 requires of a PII controller: a contact of 1 to [`MAX_CONTACT_CHARS`], an
    /// e-mail address (the rule of `/profile/email`), a postal address of 1 to
    /// [`MAX_ADDRESS_CHARS`] and a phone number (the rule of `/profile/phone_number`). Texts are
    /// trimmed; control characters are refused, since they would reach the owner's terminal.
    pub fn check(info: &BusinessInfo) -> Result<Self> {
        let id = BusinessId::parse(&info.id)?;
        let name = text(&info.name, "business.name", MAX_NAME_CHARS)?;
        let contact = text(
            required(
                &info.contact,
                "business.contact",
                "a contact person or department",
            )?,
            "business.contact",
            MAX_CONTACT_CHARS,
        )?;
        let email = required(&info.email, "business.email", "an e-mail address")?;
        if !document::is_email(email) {
            return Err(Error::invalid(
                "business.email must be an e-mail address like privacy@webshop.example",
            ));
        }
        let address = text(
            required(&info.address, "business.address", "a postal address")?,
            "business.address",
            MAX_ADDRESS_CHARS,
        )?;
        let phone = required(&info.phone, "business.phone", "a phone number")?;
        if phone.chars().count() > MAX_PHONE_CHARS || !document::is_phone(phone) {
            return Err(Error::invalid(format!(
                "business.phone must be a phone number like +31 20 123 4567 (6 to 15 digits, at most {MAX_PHONE_CHARS} characters)"
            )));
        }
        Ok(Self {
            id,
            name,
            contact: Some(contact),
            email: Some(email.to_owned()),
            address: Some(address),
            phone: Some(phone.to_owned()),
        })
    }

    /// Back to the wire form.
    pub fn to_info(&self) -> BusinessInfo {
        BusinessInfo {
            id: self.id.to_string(),
            name: self.name.clone(),
            contact: self.contact.clone(),
            email: self.email.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
        }
    }
}

/// The trimmed value of a member the request must carry; absent or blank is refused, naming it.
fn required<'a>(value: &'a Option<String>, what: &str, meaning: &str) -> Result<&'a str> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Err(Error::invalid(format!(
            "{what} is required: {meaning}, which the consent receipt names (Kantara CR 1.1)"
        ))),
        Some(value) => Ok(value),
    }
}

/// An access request that passed every check: what the owner is shown and decides on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedRequest {
    pub business: CheckedBusiness,
    /// The business's public key, reduced to its RFC 7638 members (`kty`, `crv`, `x`).
    pub jwk: Jwk,
    /// The key's RFC 7638 thumbprint: the grant's `cnf.jkt` once approved.
    pub key_thumbprint: String,
    /// Normalized: sorted, no duplicates, none inside another. Empty when only a contact right,
    /// the right to add to its record, or both are asked for.
    pub fields: Vec<Pointer>,
    /// The contact right asked for, normalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactRight>,
    /// Whether the right to append entries to the business's relationship record is asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_record: bool,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_category: Option<String>,
    /// How long the business asked access for, in seconds.
    pub duration_secs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

impl CheckedRequest {
    /// Checks a request body. Every message names the member at fault, for the business's
    /// developer; none echoes key material.
    pub fn check(body: &AccessRequestBody) -> Result<Self> {
        let business = CheckedBusiness::check(&body.business)?;
        // The key's shape, not whether `x` is a point of the curve: no schema can say that,
        // and a key that is not one signs no proof, so a grant bound to it is never used.
        body.jwk.ed25519_bytes().map_err(|_| {
            Error::invalid("jwk must be an Ed25519 public key (kty OKP, crv Ed25519, x)")
        })?;
        let jwk = Jwk {
            kty: body.jwk.kty.clone(),
            crv: body.jwk.crv.clone(),
            x: body.jwk.x.clone(),
            kid: None,
            alg: None,
            use_: None,
        };
        let key_thumbprint = jose::thumbprint(&jwk);
        let purpose = text(&body.purpose, "purpose", MAX_PURPOSE_CHARS)?;
        let purpose_category = grant::check_purpose_category(body.purpose_category.clone())?;
        let duration_secs = body.duration_secs.unwrap_or(DEFAULT_LIFETIME_SECS);
        if !(60..=MAX_LIFETIME_SECS).contains(&duration_secs) {
            return Err(Error::invalid(format!(
                "duration_secs must be between 60 and {MAX_LIFETIME_SECS} (a year)"
            )));
        }
        let callback_url = body
            .callback_url
            .as_deref()
            .map(check_callback)
            .transpose()?;
        let contact = body
            .contact
            .clone()
            .map(ContactRight::validated)
            .transpose()
            .map_err(|e| Error::invalid(format!("contact: {e}")))?;
        let fields = if body.fields.is_empty() && (contact.is_some() || body.append_record) {
            Vec::new()
        } else {
            check_fields(&body.fields)?
        };
        Ok(Self {
            business,
            jwk,
            key_thumbprint,
            fields,
            contact,
            append_record: body.append_record,
            purpose,
            purpose_category,
            duration_secs,
            callback_url,
        })
    }

    /// The requested fields as JSON Pointer strings.
    pub fn fields_text(&self) -> Vec<String> {
        self.fields.iter().map(ToString::to_string).collect()
    }
}

/// The requested pointers' total length, so the token and receipt stay small.
pub const MAX_FIELDS_BYTES: usize = 1024;

fn check_fields(fields: &[String]) -> Result<Vec<Pointer>> {
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return Err(Error::invalid(format!(
            "fields must name 1 to {MAX_FIELDS} JSON Pointers (or none, with a contact right or append_record)"
        )));
    }
    // The fields travel in the token and the receipt, which must stay well under 8 KiB.
    if fields.iter().map(String::len).sum::<usize>() > MAX_FIELDS_BYTES {
        return Err(Error::invalid(format!(
            "the fields' pointers may be at most {MAX_FIELDS_BYTES} bytes together"
        )));
    }
    let mut parsed = Vec::with_capacity(fields.len());
    for field in fields {
        let pointer = Pointer::parse(field)?;
        if pointer.is_root() {
            return Err(Error::invalid(
                "fields cannot ask for the whole vault; name the fields",
            ));
        }
        document::validate_pointer(&pointer)?;
        parsed.push(pointer);
    }
    Ok(grant::normalize(parsed))
}

fn check_callback(url: &str) -> Result<String> {
    if url.len() > MAX_CALLBACK_URL_LEN || !document::is_url(url) {
        return Err(Error::invalid(format!(
            "callback_url must be an http:// or https:// URL of at most {MAX_CALLBACK_URL_LEN} characters"
        )));
    }
    Ok(url.to_owned())
}

/// Trims `value` and checks it holds 1 to `max` characters and no control characters.
fn text(value: &str, what: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::GrantId;

    // RFC 8037 Appendix A.
    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    fn body() -> AccessRequestBody {
        AccessRequestBody {
            business: BusinessInfo::new("webshop.example", " De Webwinkel B.V. ")
                .with_contact(" Privacy Office ")
                .with_email("privacy@webshop.example")
                .with_address("Keizersgracht 1, 1015 AA Amsterdam, Netherlands")
                .with_phone(" +31 20 123 4567 "),
            jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: X.into(),
                kid: Some("their-own-kid".into()),
                alg: Some("EdDSA".into()),
                use_: None,
            },
            fields: vec![
                "/profile/email".into(),
                "/profile/address/locality".into(),
                "/profile/address".into(),
            ],
            contact: None,
            append_record: false,
            purpose: "order delivery".into(),
            purpose_category: Some("contract".into()),
            duration_secs: None,
            callback_url: Some("https://webshop.example/kluis/callback".into()),
        }
    }

    fn refused(edit: impl FnOnce(&mut AccessRequestBody), needle: &str) {
        let mut b = body();
        edit(&mut b);
        let err = CheckedRequest::check(&b).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }

    #[test]
    fn request_ids_round_trip_and_reject_junk() {
        let id = RequestId::from_random([7; 16]);
        assert_eq!(RequestId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.as_str().len(), 28);
        assert_eq!(id.poll_url(), format!("/v1/requests/{id}"));
        let grant = GrantId::from_random([7; 16]);
        for junk in ["", "r_", grant.as_str(), "r_../../etc/passwd/aaaaaaaaaa"] {
            assert!(RequestId::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_good_body_is_checked_and_normalized() {
        let checked = CheckedRequest::check(&body()).unwrap();
        assert_eq!(checked.business.name, "De Webwinkel B.V.");
        assert_eq!(checked.business.id.as_str(), "webshop.example");
        assert_eq!(checked.key_thumbprint, THUMBPRINT);
        assert_eq!(
            (checked.jwk.kid.as_ref(), checked.jwk.alg.as_ref()),
            (None, None)
        );
        assert_eq!(
            checked.fields_text(),
            ["/profile/address", "/profile/email"]
        );
        assert_eq!(checked.duration_secs, DEFAULT_LIFETIME_SECS);
        assert_eq!(checked.purpose_category.as_deref(), Some("contract"));
        let business = &checked.business;
        assert_eq!(business.contact.as_deref(), Some("Privacy Office"));
        assert_eq!(business.email.as_deref(), Some("privacy@webshop.example"));
        assert_eq!(
            business.address.as_deref(),
            Some("Keizersgracht 1, 1015 AA Amsterdam, Netherlands")
        );
        assert_eq!(business.phone.as_deref(), Some("+31 20 123 4567"));
        assert_eq!(business.to_info().phone.as_deref(), Some("+31 20 123 4567"));
        let mut b = body();
        b.duration_secs = Some(60);
        b.callback_url = None;
        let checked = CheckedRequest::check(&b).unwrap();
        assert_eq!(checked.duration_secs, 60);
    }

    #[test]
    fn every_controller_member_of_the_receipt_is_required_and_named() {
        type Member = fn(&mut BusinessInfo) -> &mut Option<String>;
        let members: [(&str, Member); 4] = [
            ("business.contact", |b| &mut b.contact),
            ("business.email", |b| &mut b.email),
            ("business.address", |b| &mut b.address),
            ("business.phone", |b| &mut b.phone),
        ];
        for (name, member) in members {
            refused(
                |b| *member(&mut b.business) = None,
                &format!("{name} is required"),
            );
            refused(
                |b| *member(&mut b.business) = Some(" \t ".into()),
                &format!("{name} is required"),
            );
            refused(
                |b| *member(&mut b.business) = Some("a\u{1b}[2J".into()),
                name,
            );
        }
    }

    #[test]
    fn older_stored_businesses_without_the_new_members_still_read() {
        let old =
            r#"{"id":"webshop.example","name":"De Webwinkel","contact":"privacy@webshop.example"}"#;
        let business: CheckedBusiness = serde_json::from_str(old).unwrap();
        assert_eq!(business.contact.as_deref(), Some("privacy@webshop.example"));
        assert_eq!(
            (business.email, business.address, business.phone),
            (None, None, None)
        );
        let oldest: CheckedBusiness =
            serde_json::from_str(r#"{"id":"webshop.example","name":"De Webwinkel"}"#).unwrap();
        assert_eq!(oldest.contact, None);
        let info = serde_json::to_value(oldest.to_info()).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"id": "webshop.example", "name": "De Webwinkel"})
        );
    }

    #[test]
    fn bad_business_info_is_refused() {
        refused(|b| b.business.id = "web shop".into(), "business id");
        refused(|b| b.business.name = "  ".into(), "business.name");
        refused(|b| b.business.name = "n".repeat(101), "business.name");
        refused(|b| b.business.name = "Evil\u{1b}[2J".into(), "control");
        refused(
            |b| b.business.contact = Some("c".repeat(201)),
            "business.contact",
        );
        refused(
            |b| b.business.contact = Some("a\nb".into()),
            "business.contact",
        );
        refused(
            |b| b.business.address = Some("a".repeat(MAX_ADDRESS_CHARS + 1)),
            "business.address",
        );
        refused(
            |b| b.business.address = Some("Keizersgracht 1\n1015 AA".into()),
            "business.address",
        );
        for email in [
            "privacy",
            "privacy@webshop",
            "pri vacy@webshop.example",
            "@x.nl",
        ] {
            refused(|b| b.business.email = Some(email.into()), "business.email");
        }
        for phone in [
            "call us",
            "12345",
            "+31 20 123 4567 890 12",
            "31+20",
            "+31 (20) 123 4567 ext 8",
        ] {
            refused(|b| b.business.phone = Some(phone.into()), "business.phone");
        }
        refused(
            |b| b.business.phone = Some(format!("+31{}", " ".repeat(40))),
            "business.phone",
        );
        // Other spellings of a phone number pass, and so does a long address within bounds.
        let mut b = body();
        b.business.phone = Some("(020) 123-4567".into());
        b.business.address = Some("a".repeat(MAX_ADDRESS_CHARS));
        assert!(CheckedRequest::check(&b).is_ok());
        // 100 characters is fine, even when they are not ASCII.
        let mut b = body();
        b.business.name = "é".repeat(100);
        assert!(CheckedRequest::check(&b).is_ok());
    }

    #[test]
    fn only_ed25519_public_keys_are_accepted() {
        refused(|b| b.jwk.kty = "EC".into(), "Ed25519");
        refused(|b| b.jwk.crv = "X25519".into(), "Ed25519");
        refused(|b| b.jwk.x = "AAAA".into(), "Ed25519");
        refused(|b| b.jwk.alg = Some("ES256".into()), "Ed25519");
        refused(|b| b.jwk.use_ = Some("enc".into()), "Ed25519");
        // Not canonical base64url: the last character carries bits past the 32 bytes.
        refused(|b| b.jwk.x = format!("{}p", &X[..42]), "Ed25519");
    }

    #[test]
    fn fields_must_be_vault_pointers() {
        refused(|b| b.fields.clear(), "1 to 64");
        refused(
            |b| b.fields = (0..65).map(|i| format!("/custom/f{i}")).collect(),
            "1 to 64",
        );
        refused(|b| b.fields = vec![String::new()], "whole vault");
        refused(
            |b| {
                b.fields = (0..40)
                    .map(|i| format!("/custom/{}{i}", "x".repeat(40)))
                    .collect()
            },
            "1024 bytes",
        );
        refused(
            |b| b.fields = vec!["profile/email".into()],
            "start with '/'",
        );
        refused(|b| b.fields = vec!["/secrets/pin".into()], "not a section");
        refused(|b| b.fields = vec!["/profile/shoe_size".into()], "/custom");
    }

    #[test]
    fn the_append_right_may_be_asked_with_or_instead_of_fields() {
        let mut b = body();
        b.append_record = true;
        let with = CheckedRequest::check(&b).unwrap();
        assert!(with.append_record);
        assert_eq!(with.fields.len(), 2);
        b.fields.clear();
        let alone = CheckedRequest::check(&b).unwrap();
        assert!(alone.append_record && alone.fields.is_empty() && alone.contact.is_none());
        // Bad fields are still refused beside it, and asking for nothing is refused.
        b.fields = vec!["/secrets/pin".into()];
        assert!(CheckedRequest::check(&b).is_err());
        refused(|b| b.fields.clear(), "or append_record");
        // Not asked: left out of the wire body and of the stored request.
        let json = serde_json::to_value(body()).unwrap();
        assert!(json.get("append_record").is_none(), "{json}");
        let stored = serde_json::to_value(CheckedRequest::check(&body()).unwrap()).unwrap();
        assert!(stored.get("append_record").is_none(), "{stored}");
    }

    #[test]
    fn purpose_duration_and_callback_are_bounded() {
        refused(|b| b.purpose = " ".into(), "purpose");
        refused(|b| b.purpose = "p".repeat(201), "purpose");
        refused(|b| b.purpose_category = Some("c".repeat(65)), "category");
        refused(|b| b.purpose_category = Some(String::new()), "category");
        refused(|b| b.duration_secs = Some(59), "duration_secs");
        refused(
            |b| b.duration_secs = Some(MAX_LIFETIME_SECS + 1),
            "duration_secs",
        );
        refused(|b| b.duration_secs = Some(-1), "duration_secs");
        for url in [
            "ftp://webshop.example/cb",
            "webshop.example/cb",
            "https://",
            "https://web shop.example/",
            "javascript:alert(1)",
        ] {
            refused(|b| b.callback_url = Some(url.into()), "callback_url");
        }
        let long = format!(
            "https://webshop.example/{}",
            "a".repeat(MAX_CALLBACK_URL_LEN)
        );
        refused(|b| b.callback_url = Some(long), "callback_url");
        let mut b = body();
        b.callback_url = Some("http://127.0.0.1:9/cb".into());
        assert!(CheckedRequest::check(&b).is_ok());
    }
}
