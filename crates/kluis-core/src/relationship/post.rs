//! What a business sends to `POST /v1/relationship/entries`, checked, and the receipt the
//! vault signs for an entry it stored (an explicitly typed EdDSA JWT, like a delivery receipt).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::entry::{Attachment, EntryId, Item, MAX_ATTACHMENT_BYTES, MAX_DOCUMENT_BYTES};
use crate::jose;
use crate::token::TokenError;

/// The JWS `typ` of an entry receipt. `application/kluis-entry+jwt` is accepted too.
pub const ENTRY_TYP: &str = "kluis-entry+jwt";

/// The largest request body the endpoint reads: a 1 MiB attachment in base64, a 64 KiB body
/// and room for the rest.
pub const MAX_REQUEST_BYTES: usize =
    MAX_ATTACHMENT_BYTES.div_ceil(3) * 4 + MAX_DOCUMENT_BYTES + 8 * 1024;

/// A file as a business sends it: its bytes in standard base64 (RFC 4648 §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttachmentPost {
    /// A file name of 1 to 200 characters, without `/`, `\` or control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, example = "invoice-1042.pdf")
    )]
    pub name: String,
    /// A media type (`type/subtype`), e.g. `application/pdf`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 127, example = "application/pdf")
    )]
    pub media_type: String,
    /// The bytes, standard base64 with padding; at most 1 MiB once decoded.
    pub data: String,
}

/// The body of `POST /v1/relationship/entries`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EntryPost {
    /// A document: a receipt, a warranty, an order confirmation.
    Document {
        /// 1 to 200 characters.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
        title: String,
        /// A JSON object of at most 64 KiB.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        body: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<AttachmentPost>,
    },
    /// A promise the business makes to the owner, due on a day (`YYYY-MM-DD`).
    Promise {
        /// 1 to 500 characters.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
        what: String,
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
        due_on: Date,
    },
    /// An interaction that took place: a day, a channel (`phone`, `shop`, …) and a summary.
    Interaction {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
        on: Date,
        /// 1 to 40 characters.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 40))]
        channel: String,
        /// 1 to 500 characters.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
        summary: String,
    },
}

/// Why a post was refused: a mistake in it (400), or too much of it (413).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
}

/// A checked post: the item to store and the attachment's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedPost {
    pub item: Item,
    pub attachment: Option<Vec<u8>>,
}

impl EntryPost {
    /// Checks the post by the rules of its item ([`Item::validated`]) and decodes the
    /// attachment. Sizes over the limits are [`PostError::TooLarge`].
    pub fn check(self) -> Result<CheckedPost, PostError> {
        let (item, attachment) = match self {
            Self::Document {
                title,
                body,
                attachment,
            } => {
                let size = serde_json::to_vec(&body).map_or(usize::MAX, |b| b.len());
                if size > MAX_DOCUMENT_BYTES {
                    return Err(PostError::TooLarge(format!(
                        "body: a document's body may be at most {MAX_DOCUMENT_BYTES} bytes (64 KiB) of JSON, not {size}"
                    )));
                }
                let (info, bytes) = match attachment {
                    Some(a) => {
                        let (info, bytes) = a.decoded()?;
                        (Some(info), Some(bytes))
                    }
                    None => (None, None),
                };
                let item = Item::Document {
                    title,
                    body,
                    attachment: info,
                };
                (item, bytes)
            }
            Self::Promise { what, due_on } => (Item::Promise { what, due_on }, None),
            Self::Interaction {
                on,
                channel,
                summary,
            } => (
                Item::Interaction {
                    on,
                    channel,
                    summary,
                },
                None,
            ),
        };
        let item = item
            .validated()
            .map_err(|e| PostError::Invalid(e.to_string()))?;
        Ok(CheckedPost { item, attachment })
    }
}

impl AttachmentPost {
    fn decoded(self) -> Result<(Attachment, Vec<u8>), PostError> {
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > 200
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(PostError::Invalid(
                "attachment.name: a file name of 1 to 200 characters, without /, \\ or control characters"
                    .into(),
            ));
        }
        if !is_media_type(&self.media_type) {
            return Err(PostError::Invalid(
                "attachment.media_type: a media type such as application/pdf".into(),
            ));
        }
        if self.data.len() > MAX_ATTACHMENT_BYTES.div_ceil(3) * 4 {
            return Err(too_large_attachment());
        }
        let bytes = STANDARD.decode(self.data.as_bytes()).map_err(|_| {
            PostError::Invalid("attachment.data: not standard base64 (RFC 4648 §4)".into())
        })?;
        if bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(too_large_attachment());
        }
        if bytes.is_empty() {
            return Err(PostError::Invalid(
                "attachment.data: the file is empty".into(),
            ));
        }
        let info = Attachment {
            name: name.to_owned(),
            media_type: self.media_type.to_ascii_lowercase(),
            size: bytes.len() as u64,
            sha256: super::entry::sha256_hex(&bytes),
        };
        Ok((info, bytes))
    }
}

fn too_large_attachment() -> PostError {
    PostError::TooLarge(format!(
        "attachment.data: an attachment may be at most {MAX_ATTACHMENT_BYTES} bytes (1 MiB)"
    ))
}

/// `type/subtype` of RFC 6838 restricted-name characters, at most 127 characters.
pub(crate) fn is_media_type(text: &str) -> bool {
    let name = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    text.len() <= 127
        && text
            .split_once('/')
            .is_some_and(|(t, s)| name(t) && name(s))
}

/// The SHA-256 of a request body, as entries and receipts write it: base64url, no padding.
pub fn request_sha256(body: &[u8]) -> String {
    jose::b64_encode(Sha256::digest(body))
}

/// The claims of an entry receipt. On the wire:
///
/// ```json
/// {"iss": "urn:kluis:vault:…", "sub": "<pairwise subject>", "aud": "webshop.example",
///  "jti": "e_…", "iat": 1700000000, "kind": "promise",
///  "sha256": "<base64url SHA-256 of the request body as sent>", "jkt": "<thumbprint>"}
/// ```
///
/// `jkt` is there when the grant is DPoP-bound: the key whose proof came with the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryReceipt {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub jti: EntryId,
    pub iat: i64,
    pub kind: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl EntryReceipt {
    /// Whether this receipt is for the request body `body`.
    pub fn covers(&self, body: &[u8]) -> bool {
        self.sha256 == request_sha256(body)
    }
}

/// Signs an entry receipt with the vault's key.
pub fn sign_entry_receipt(claims: &EntryReceipt, key: &SigningKey, kid: &str) -> String {
    jose::sign_typed(claims, ENTRY_TYP, key, kid)
}

/// Verifies an entry receipt: the JWS typed [`ENTRY_TYP`] under a key `resolve_key` knows, its
/// `iss` and `aud`, and a `sha256` of 32 bytes.
pub fn verify_entry_receipt(
    jws: &str,
    resolve_key: impl Fn(&str) -> Option<VerifyingKey>,
    issuer: &str,
    audience: &str,
) -> Result<EntryReceipt, TokenError> {
    let claims: EntryReceipt = jose::verify_typed(jws, resolve_key, ENTRY_TYP)?;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    if jose::b64_decode(&claims.sha256)?.len() != 32 {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}

/// What `POST /v1/relationship/entries` answers with 201.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryStored {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: EntryId,
    /// The entry receipt, a compact JWS typed `kluis-entry+jwt`.
    pub receipt: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(json: &str) -> Result<CheckedPost, PostError> {
        let post: EntryPost =
            serde_json::from_str(json).map_err(|e| PostError::Invalid(e.to_string()))?;
        post.check()
    }

    #[test]
    fn each_kind_a_business_may_send_is_read_and_checked() {
        let promise =
            parse(r#"{"kind":"promise","what":" Call back ","due_on":"2026-12-08"}"#).unwrap();
        assert_eq!(
            promise.item,
            Item::Promise {
                what: "Call back".into(),
                due_on: jiff::civil::date(2026, 12, 8)
            }
        );
        let doc = parse(
            r#"{"kind":"document","title":"Order 1042","body":{"total":"12.50"},
                "attachment":{"name":"a.txt","media_type":"Text/Plain","data":"aGVsbG8="}}"#,
        )
        .unwrap();
        assert_eq!(doc.attachment.as_deref(), Some(&b"hello"[..]));
        let Item::Document {
            attachment: Some(a),
            ..
        } = &doc.item
        else {
            panic!("{doc:?}")
        };
        assert_eq!((a.size, a.media_type.as_str()), (5, "text/plain"));
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        parse(r#"{"kind":"interaction","on":"2026-11-30","channel":"phone","summary":"Asked about the bill"}"#)
            .unwrap();
    }

    #[test]
    fn what_a_business_may_not_send_is_refused() {
        for bad in [
            r#"{"kind":"note","text":"hi"}"#,
            r#"{"kind":"contract","contract":{}}"#,
            r#"{"kind":"settled","promise":"e_x","status":"kept"}"#,
            r#"{"kind":"promise","what":"x","due_on":"2026-12-08","status":"kept"}"#,
            r#"{"kind":"promise","what":"","due_on":"2026-12-08"}"#,
            r#"{"kind":"promise","what":"x","due_on":"2026-02-30"}"#,
            r#"{"kind":"document","title":"x","body":[1]}"#,
            r#"{"kind":"document","title":"x","body":{},"attachment":{"name":"../a","media_type":"text/plain","data":"aGk="}}"#,
            r#"{"kind":"document","title":"x","body":{},"attachment":{"name":"a","media_type":"text","data":"aGk="}}"#,
            r#"{"kind":"document","title":"x","body":{},"attachment":{"name":"a","media_type":"text/plain","data":"a*k="}}"#,
            r#"{"kind":"interaction","on":"2026-11-30","channel":"","summary":"x"}"#,
        ] {
            assert!(matches!(parse(bad), Err(PostError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn oversized_documents_and_attachments_are_too_large() {
        let big = "x".repeat(MAX_DOCUMENT_BYTES);
        let doc = format!(r#"{{"kind":"document","title":"x","body":{{"a":"{big}"}}}}"#);
        assert!(matches!(parse(&doc), Err(PostError::TooLarge(_))));
        let data = STANDARD.encode(vec![0u8; MAX_ATTACHMENT_BYTES + 1]);
        let doc = format!(
            r#"{{"kind":"document","title":"x","body":{{}},"attachment":{{"name":"a","media_type":"application/octet-stream","data":"{data}"}}}}"#
        );
        assert!(matches!(parse(&doc), Err(PostError::TooLarge(_))));
        let data = STANDARD.encode(vec![0u8; MAX_ATTACHMENT_BYTES]);
        let doc = format!(
            r#"{{"kind":"document","title":"x","body":{{}},"attachment":{{"name":"a","media_type":"application/octet-stream","data":"{data}"}}}}"#
        );
        assert!(parse(&doc).is_ok());
        assert!(doc.len() < MAX_REQUEST_BYTES);
    }

    #[test]
    fn a_receipt_verifies_only_as_what_it_is() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let body = br#"{"kind":"promise","what":"x","due_on":"2026-12-08"}"#;
        let claims = EntryReceipt {
            iss: "urn:kluis:vault:1".into(),
            sub: "s".into(),
            aud: "shop.example".into(),
            jti: EntryId::from_random([1; 16]),
            iat: 1,
            kind: "promise".into(),
            sha256: request_sha256(body),
            jkt: None,
        };
        let jws = sign_entry_receipt(&claims, &key, "k1");
        let resolve = |kid: &str| (kid == "k1").then(|| key.verifying_key());
        let back =
            verify_entry_receipt(&jws, resolve, "urn:kluis:vault:1", "shop.example").unwrap();
        assert_eq!(back, claims);
        assert!(back.covers(body) && !back.covers(b"{}"));
        assert_eq!(
            verify_entry_receipt(&jws, resolve, "urn:kluis:vault:1", "other.example"),
            Err(TokenError::WrongAudience)
        );
        let delivery = crate::jose::sign_compact(
            &json!({"typ": crate::inbox::DELIVERY_TYP, "kid": "k1"}),
            &serde_json::to_vec(&claims).unwrap(),
            &key,
        );
        assert_eq!(
            verify_entry_receipt(&delivery, resolve, "urn:kluis:vault:1", "shop.example"),
            Err(TokenError::WrongType)
        );
    }
}
