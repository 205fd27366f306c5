//! Consent receipts in the shape of the Kantara Initiative Consent Receipt Specification 1.1:
//! the record, signed by the vault as an explicitly typed EdDSA JWT, of what the owner agreed
//! to when approving an access request. The business keeps it as proof of consent; the owner
//! keeps it to see what they agreed to and when.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::document;
use crate::error::{Error, Result};
use crate::grant::Grant;
use crate::jose;
use crate::request::CheckedBusiness;
use crate::token::TokenError;

/// The JWS `typ` of a consent receipt (RFC 8725 §3.11), so it is never taken for a grant token.
pub const RECEIPT_TYP: &str = "kluis-receipt+jwt";

/// The `version` member Kantara CR 1.1 prescribes.
pub const RECEIPT_VERSION: &str = "KI-CR-v1.1.0";

/// The jurisdiction a receipt names unless told otherwise (ISO 3166 code of the Netherlands).
pub const DEFAULT_JURISDICTION: &str = "NL";

/// The language of a receipt's texts (they are written in English).
pub const DEFAULT_LANGUAGE: &str = "en";

/// How consent was collected, as the receipt's `collectionMethod` says it.
pub const COLLECTION_METHOD: &str = "access request approved by the owner (kluis requests approve)";

/// A receipt's id (`consentReceiptID` and `jti`): a random UUID (version 4), as the
/// specification recommends.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReceiptId(String);

impl ReceiptId {
    /// A version-4 UUID from 16 random bytes.
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))
    }

    /// Accepts a lowercase hyphenated UUID.
    pub fn parse(text: &str) -> Result<Self> {
        let ok = text.len() == 36
            && text.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
            });
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(format!("{text:?} is not a receipt id")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A consent receipt: Kantara CR 1.1 members plus the JWT claims `iss`, `iat`, `jti`, `aud`
/// (the business) and `grant_id` (the grant the consent created).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentReceipt {
    pub version: String,
    pub jurisdiction: String,
    /// When the owner approved, Unix seconds (the specification's integer).
    pub consent_timestamp: i64,
    pub collection_method: String,
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    pub language: String,
    /// The owner as this business knows them: the grant's pairwise subject.
    pub pii_principal_id: String,
    pub pii_controllers: Vec<PiiController>,
    pub policy_url: String,
    pub services: Vec<Service>,
    pub sensitive: bool,
    pub spi_cat: Vec<String>,
    pub iss: String,
    pub iat: i64,
    pub jti: String,
    pub aud: String,
    #[serde(rename = "grant_id")]
    pub grant_id: String,
}

/// The business that receives the data (CR 1.1 `piiControllers[]`). Receipts of requests made
/// with this version hold every member CR 1.1 requires (`piiController`, `contact`, `address`,
/// `email`, `phone`); `address`, `email` and `phone` are optional because receipts of requests
/// made with older versions lack them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiiController {
    pub pii_controller: String,
    pub on_behalf: bool,
    /// The contact person or department the business gave (older requests: their free-text
    /// contact, or the business id when there was none).
    pub contact: String,
    /// The postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii_controller_url: Option<String>,
}

/// One service the consent covers (CR 1.1 `services[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service: String,
    pub purposes: Vec<Purpose>,
}

/// One purpose of a service (CR 1.1 `purposes[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purpose {
    pub purpose: String,
    pub purpose_category: Vec<String>,
    pub consent_type: String,
    /// The granted fields, as JSON Pointers into the vault.
    pub pii_category: Vec<String>,
    pub primary_purpose: bool,
    pub termination: String,
    pub third_party_disclosure: bool,
}

/// What a receipt says beyond the grant and the business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptContext {
    /// The vault's token issuer (`iss`).
    pub issuer: String,
    pub receipt_id: ReceiptId,
    /// When the owner approved (Unix seconds): `consentTimestamp` and `iat`.
    pub consented_at: i64,
    pub jurisdiction: String,
    pub language: String,
    /// The privacy policy the consent refers to.
    pub policy_url: String,
}

impl ReceiptContext {
    /// A context with the default jurisdiction and language, and the issuer as `policyUrl`: a
    /// vault has no policy page of its own, and the issuer names the vault whose owner decided.
    /// Set `policy_url` when a real policy exists.
    pub fn new(issuer: &str, receipt_id: ReceiptId, consented_at: i64) -> Self {
        Self {
            issuer: issuer.to_owned(),
            receipt_id,
            consented_at,
            jurisdiction: DEFAULT_JURISDICTION.to_owned(),
            language: DEFAULT_LANGUAGE.to_owned(),
            policy_url: issuer.to_owned(),
        }
    }
}

/// What of the owner the grant uses: its fields as JSON Pointers, then `contact:<channel>` for
/// each channel of its contact right (the owner's reachability there, even when no address
/// or number is disclosed).
fn pii_categories(grant: &Grant) -> Vec<String> {
    let fields = grant.fields.iter().map(ToString::to_string);
    let channels = grant
        .contact
        .iter()
        .flat_map(|right| right.channels.iter().map(|c| format!("contact:{c}")));
    fields.chain(channels).collect()
}

/// The receipt for `grant`, given to `business` by the vault owner.
pub fn build_receipt(
    grant: &Grant,
    business: &CheckedBusiness,
    context: &ReceiptContext,
) -> ConsentReceipt {
    let contact = business.contact.clone();
    let controller = PiiController {
        pii_controller: business.name.clone(),
        on_behalf: false,
        contact: contact.clone().unwrap_or_else(|| business.id.to_string()),
        address: business.address.clone(),
        // Requests stored before `email` was a member of its own had it in `contact`.
        email: business
            .email
            .clone()
            .or_else(|| contact.clone().filter(|c| document::is_email(c))),
        phone: business.phone.clone(),
        pii_controller_url: contact.filter(|c| document::is_url(c)),
    };
    let purpose = Purpose {
        purpose: grant.purpose.clone(),
        purpose_category: vec![
            grant
                .purpose_category
                .clone()
                .unwrap_or_else(|| "unspecified".to_owned()),
        ],
        consent_type: "EXPLICIT".to_owned(),
        pii_category: pii_categories(grant),
        primary_purpose: true,
        termination: format!(
            "access ends at {} or when the owner revokes it",
            rfc3339(grant.expires_at)
        ),
        third_party_disclosure: false,
    };
    ConsentReceipt {
        version: RECEIPT_VERSION.to_owned(),
        jurisdiction: context.jurisdiction.clone(),
        consent_timestamp: context.consented_at,
        collection_method: COLLECTION_METHOD.to_owned(),
        consent_receipt_id: context.receipt_id.to_string(),
        language: context.language.clone(),
        pii_principal_id: grant.subject.clone(),
        pii_controllers: vec![controller],
        policy_url: context.policy_url.clone(),
        services: vec![Service {
            service: grant.purpose.clone(),
            purposes: vec![purpose],
        }],
        sensitive: false,
        spi_cat: Vec::new(),
        iss: context.issuer.clone(),
        iat: context.consented_at,
        jti: context.receipt_id.to_string(),
        aud: grant.audience.to_string(),
        grant_id: grant.id.to_string(),
    }
}

/// Signs a receipt as a compact JWS typed [`RECEIPT_TYP`], `kid` naming the key in the JWKS.
pub fn sign_receipt(receipt: &ConsentReceipt, key: &SigningKey, kid: &str) -> String {
    jose::sign_typed(receipt, RECEIPT_TYP, key, kid)
}

/// Verifies a receipt: the JWS (see [`jose::verify_compact`], typed [`RECEIPT_TYP`]) with the
/// key `resolve_key` finds for its `kid`, the CR 1.1 version, and `jti` equal to
/// `consentReceiptID`. Nothing here expires: a receipt records a moment.
pub fn verify_receipt(
    jws: &str,
    resolve_key: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<ConsentReceipt, TokenError> {
    let receipt: ConsentReceipt = jose::verify_typed(jws, resolve_key, RECEIPT_TYP)?;
    if receipt.version != RECEIPT_VERSION || receipt.jti != receipt.consent_receipt_id {
        return Err(TokenError::Malformed);
    }
    Ok(receipt)
}

fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Pointer;
    use crate::grant::{BusinessId, GrantId};
    use crate::jose::{Jwk, b64_decode, b64_encode};
    use crate::token::encode_grant;
    use serde_json::Value;

    const NOW: i64 = 1_750_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn kid(key: &SigningKey) -> String {
        Jwk::from_verifying_key(&key.verifying_key()).kid.unwrap()
    }

    fn grant() -> Grant {
        Grant {
            id: GrantId::from_random([3; 16]),
            audience: BusinessId::parse("webshop.example").unwrap(),
            subject: "5f0c1e2d3c4b5a69".into(),
            fields: vec![
                Pointer::parse("/profile/address").unwrap(),
                Pointer::parse("/profile/email").unwrap(),
            ],
            purpose: "order delivery".into(),
            purpose_category: None,
            issued_at: NOW,
            expires_at: NOW + 3600,
            revoked_at: None,
            key_thumbprint: Some("jkt".into()),
            kid: kid(&key(1)),
            contact: None,
            append_record: false,
        }
    }

    /// A business as an older version stored it: no e-mail, address or phone of its own.
    fn business(contact: Option<&str>) -> CheckedBusiness {
        CheckedBusiness {
            id: BusinessId::parse("webshop.example").unwrap(),
            name: "De Webwinkel B.V.".into(),
            contact: contact.map(str::to_owned),
            email: None,
            address: None,
            phone: None,
        }
    }

    /// A business as this version checks it: every member CR 1.1 requires.
    fn full_business() -> CheckedBusiness {
        CheckedBusiness {
            contact: Some("Privacy Office".into()),
            email: Some("privacy@webshop.example".into()),
            address: Some("Keizersgracht 1, 1015 AA Amsterdam, Netherlands".into()),
            phone: Some("+31 20 123 4567".into()),
            ..business(None)
        }
    }

    fn receipt() -> ConsentReceipt {
        let context =
            ReceiptContext::new("urn:kluis:vault:ab", ReceiptId::from_random([9; 16]), NOW);
        build_receipt(&grant(), &full_business(), &context)
    }

    fn verify(jws: &str) -> Result<ConsentReceipt, TokenError> {
        let k = key(1);
        let known = kid(&k);
        verify_receipt(jws, |kid| (kid == known).then(|| k.verifying_key()))
    }

    #[test]
    fn receipt_ids_are_uuid_v4() {
        let id = ReceiptId::from_random([0xff; 16]);
        assert_eq!(id.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(ReceiptId::parse(id.as_str()).unwrap(), id);
        for junk in [
            "",
            "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF",
            "g_x",
            &id.as_str()[1..],
        ] {
            assert!(ReceiptId::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_receipt_has_the_kantara_shape() {
        let id = ReceiptId::from_random([9; 16]);
        let value = serde_json::to_value(receipt()).unwrap();
        let expected = json!({
            "version": "KI-CR-v1.1.0",
            "jurisdiction": "NL",
            "consentTimestamp": NOW,
            "collectionMethod": COLLECTION_METHOD,
            "consentReceiptID": id.as_str(),
            "language": "en",
            "piiPrincipalId": "5f0c1e2d3c4b5a69",
            "piiControllers": [{
                "piiController": "De Webwinkel B.V.",
                "onBehalf": false,
                "contact": "Privacy Office",
                "address": "Keizersgracht 1, 1015 AA Amsterdam, Netherlands",
                "email": "privacy@webshop.example",
                "phone": "+31 20 123 4567",
            }],
            "policyUrl": "urn:kluis:vault:ab",
            "services": [{
                "service": "order delivery",
                "purposes": [{
                    "purpose": "order delivery",
                    "purposeCategory": ["unspecified"],
                    "consentType": "EXPLICIT",
                    "piiCategory": ["/profile/address", "/profile/email"],
                    "primaryPurpose": true,
                    "termination": "access ends at 2025-06-15T16:06:40Z or when the owner revokes it",
                    "thirdPartyDisclosure": false,
                }],
            }],
            "sensitive": false,
            "spiCat": [],
            "iss": "urn:kluis:vault:ab",
            "iat": NOW,
            "jti": id.as_str(),
            "aud": "webshop.example",
            "grant_id": grant().id.as_str(),
        });
        assert_eq!(value, expected);
    }

    #[test]
    fn controllers_of_older_requests_without_contact_or_with_a_url_contact() {
        let context = ReceiptContext::new("urn:x", ReceiptId::from_random([1; 16]), NOW);
        let bare = build_receipt(&grant(), &business(None), &context);
        assert_eq!(bare.pii_controllers[0].contact, "webshop.example");
        assert_eq!(bare.pii_controllers[0].email, None);
        let value = serde_json::to_value(&bare.pii_controllers[0]).unwrap();
        assert_eq!(
            value,
            json!({"piiController": "De Webwinkel B.V.", "onBehalf": false, "contact": "webshop.example"})
        );
        // An older request's e-mail contact still becomes the receipt's `email`.
        let mail = build_receipt(&grant(), &business(Some("dpo@webshop.example")), &context);
        assert_eq!(
            mail.pii_controllers[0].email.as_deref(),
            Some("dpo@webshop.example")
        );
        let url = "https://webshop.example/privacy";
        let with_url = build_receipt(&grant(), &business(Some(url)), &context);
        assert_eq!(
            with_url.pii_controllers[0].pii_controller_url.as_deref(),
            Some(url)
        );
        let mut categorized = grant();
        categorized.purpose_category = Some("contract".into());
        let receipt = build_receipt(&categorized, &business(None), &context);
        assert_eq!(
            receipt.services[0].purposes[0].purpose_category,
            ["contract"]
        );
    }

    #[test]
    fn a_signed_receipt_verifies_and_says_its_type() {
        let jws = sign_receipt(&receipt(), &key(1), &kid(&key(1)));
        assert_eq!(verify(&jws), Ok(receipt()));
        let header: Value =
            serde_json::from_slice(&b64_decode(jws.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "EdDSA", "typ": RECEIPT_TYP, "kid": kid(&key(1))})
        );
    }

    #[test]
    fn receipts_signed_before_address_and_phone_existed_still_verify() {
        let old = json!({
            "version": "KI-CR-v1.1.0", "jurisdiction": "NL", "consentTimestamp": NOW,
            "collectionMethod": COLLECTION_METHOD, "consentReceiptID": receipt().jti,
            "language": "en", "piiPrincipalId": "5f0c1e2d3c4b5a69",
            "piiControllers": [{"piiController": "De Webwinkel B.V.", "onBehalf": false,
                "contact": "privacy@webshop.example", "email": "privacy@webshop.example"}],
            "policyUrl": "urn:kluis:vault:ab", "services": [], "sensitive": false, "spiCat": [],
            "iss": "urn:kluis:vault:ab", "iat": NOW, "jti": receipt().jti,
            "aud": "webshop.example", "grant_id": grant().id.as_str(),
        });
        let header = json!({ "typ": RECEIPT_TYP, "kid": kid(&key(1)) });
        let jws = jose::sign_compact(&header, &serde_json::to_vec(&old).unwrap(), &key(1));
        let verified = verify(&jws).unwrap();
        let controller = &verified.pii_controllers[0];
        assert_eq!((&controller.address, &controller.phone), (&None, &None));
        assert_eq!(serde_json::to_value(&verified).unwrap(), old);
    }

    #[test]
    fn a_contact_right_is_in_the_categories() {
        let mut with_contact = grant();
        with_contact.contact = Some(crate::contact::ContactRight {
            channels: vec!["email".into(), "inbox".into()],
            topics: vec!["orders".into()],
        });
        let fields = with_contact.fields.len();
        let context =
            ReceiptContext::new("urn:kluis:vault:ab", ReceiptId::from_random([9; 16]), NOW);
        let receipt = build_receipt(&with_contact, &full_business(), &context);
        let categories = &receipt.services[0].purposes[0].pii_category;
        assert_eq!(categories.len(), fields + 2);
        assert_eq!(&categories[fields..], ["contact:email", "contact:inbox"]);
        with_contact.fields.clear();
        let receipt = build_receipt(&with_contact, &full_business(), &context);
        assert_eq!(
            receipt.services[0].purposes[0].pii_category,
            ["contact:email", "contact:inbox"]
        );
    }

    #[test]
    fn tampered_forged_and_mistyped_receipts_fail() {
        let jws = sign_receipt(&receipt(), &key(1), &kid(&key(1)));
        let parts: Vec<&str> = jws.split('.').collect();
        let mut widened = receipt();
        widened.services[0].purposes[0]
            .pii_category
            .push("/profile/birthdate".into());
        let payload = b64_encode(serde_json::to_vec(&widened).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verify(&tampered), Err(TokenError::BadSignature));

        let forged = sign_receipt(&receipt(), &key(2), &kid(&key(1)));
        assert_eq!(verify(&forged), Err(TokenError::BadSignature));
        let unknown = sign_receipt(&receipt(), &key(2), &kid(&key(2)));
        assert_eq!(verify(&unknown), Err(TokenError::UnknownKey));

        // A grant token is not a receipt, even from the same key.
        let token = encode_grant(&grant().claims("urn:x"), &key(1), &kid(&key(1)));
        assert_eq!(verify(&token), Err(TokenError::WrongType));

        let mut other_version = receipt();
        other_version.version = "KI-CR-v1.0.0".into();
        let jws = sign_receipt(&other_version, &key(1), &kid(&key(1)));
        assert_eq!(verify(&jws), Err(TokenError::Malformed));
        let mut mismatched = receipt();
        mismatched.jti = "another".into();
        let jws = sign_receipt(&mismatched, &key(1), &kid(&key(1)));
        assert_eq!(verify(&jws), Err(TokenError::Malformed));
    }
}
