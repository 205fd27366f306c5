//! The owner's inbox, as far as rules go: a business's message (`POST /v1/inbox`) and its
//! checks, the message's SHA-256 over a documented canonical form, the delivery receipt the
//! vault signs for it (an explicitly typed EdDSA JWT the business keeps as proof), and the
//! `data` of the `inbox.reply` event that carries the owner's answer back.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::contact;
use crate::error::{Error, Result};
use crate::grant::{BusinessId, GrantId};
use crate::jose;
use crate::token::TokenError;

/// The contact channel of inbox messages (in the contact policy and the access log).
pub const CHANNEL: &str = "inbox";

/// The longest body, in bytes of UTF-8: 16 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// The longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 100;

/// The JWS `typ` of a delivery receipt (RFC 8725 §3.11), so that it is never taken for a grant
/// token or a consent receipt. `application/kluis-delivery+jwt` is accepted too.
pub const DELIVERY_TYP: &str = "kluis-delivery+jwt";

/// A message's id (the receipt's `jti`): `m_` and 26 base32 characters of randomness. On the
/// wire a bare string; reading one checks its shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

crate::id::random_id_type!(MessageId, "m_", "a message id", checked);

/// The body of `POST /v1/inbox`: a message a business leaves in the owner's inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InboxPost {
    /// What the message is about, as the owner's contact policy names topics (e.g. `orders`).
    #[cfg_attr(feature = "openapi", schema(max_length = 100, example = "orders"))]
    pub topic: String,
    /// One line of 1 to 200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, example = "Your order has shipped")
    )]
    pub subject: String,
    /// Plain text (never rendered as markup), at most 16 KiB of UTF-8.
    pub body: String,
    /// The owner's reply this message answers (`m_…`): one the owner sent to this business.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub in_reply_to: Option<MessageId>,
}

impl InboxPost {
    /// Checks the message: the topic by the contact policy's rule ([`contact::is_topic`]), at
    /// most [`MAX_TOPIC_CHARS`] characters and no control characters; a subject of 1 to
    /// [`MAX_SUBJECT_CHARS`] characters, not blank, without control characters; a body of 1 to
    /// [`MAX_BODY_BYTES`] bytes, not blank, without control characters other than line feed,
    /// carriage return and tab. Nothing is trimmed: the hash covers exactly what was sent.
    pub fn check(&self) -> Result<()> {
        if !contact::is_topic(&self.topic) {
            return Err(Error::invalid("topic: must not be empty"));
        }
        if self.topic.chars().count() > MAX_TOPIC_CHARS || self.topic.chars().any(char::is_control)
        {
            return Err(Error::invalid(format!(
                "topic: must be at most {MAX_TOPIC_CHARS} characters without control characters"
            )));
        }
        let subject_chars = self.subject.chars().count();
        if self.subject.trim().is_empty()
            || subject_chars > MAX_SUBJECT_CHARS
            || self.subject.chars().any(char::is_control)
        {
            return Err(Error::invalid(format!(
                "subject: must be 1 to {MAX_SUBJECT_CHARS} characters on one line, without control characters"
            )));
        }
        check_body(&self.body)
    }
}

/// The rule for a message's text (a business's body, the owner's reply): 1 to
/// [`MAX_BODY_BYTES`] bytes, not blank, no control characters but `\n`, `\r` and `\t`.
pub fn check_body(body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::invalid("body: must not be empty"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(format!(
            "body: must be at most {MAX_BODY_BYTES} bytes (16 KiB) of UTF-8, not {}",
            body.len()
        )));
    }
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::invalid(
            "body: must be text; control characters other than line breaks and tabs are not allowed",
        ));
    }
    Ok(())
}

/// The canonical form a message's hash is taken over: the JSON object
/// `{"topic":…,"subject":…,"body":…,"in_reply_to":…}` with exactly these members in this
/// order, no white space, `in_reply_to` `null` when absent, and strings escaped only where
/// JSON requires (`"`, `\`, and `\n`, `\r`, `\t` as such; other characters as UTF-8). That is
/// what JavaScript's `JSON.stringify` and Python's `json.dumps(…, separators=(",", ":"),
/// ensure_ascii=False)` write for a checked message.
pub fn canonical_form(post: &InboxPost) -> Vec<u8> {
    #[derive(Serialize)]
    struct Canonical<'a> {
        topic: &'a str,
        subject: &'a str,
        body: &'a str,
        in_reply_to: Option<&'a str>,
    }
    serde_json::to_vec(&Canonical {
        topic: &post.topic,
        subject: &post.subject,
        body: &post.body,
        in_reply_to: post.in_reply_to.as_ref().map(MessageId::as_str),
    })
    .expect("strings serialize to JSON")
}

/// The SHA-256 of a message's [`canonical_form`]: what its receipt's `sha256` holds.
pub fn message_sha256(post: &InboxPost) -> [u8; 32] {
    Sha256::digest(canonical_form(post)).into()
}

/// A hash as a receipt writes it: base64url without padding (43 characters).
pub fn sha256_text(hash: &[u8; 32]) -> String {
    jose::b64_encode(hash)
}

/// The claims of a delivery receipt. On the wire:
///
/// ```json
/// {"iss": "urn:kluis:vault:…", "sub": "<pairwise subject>", "aud": "webshop.example",
///  "jti": "m_…", "iat": 1700000000, "topic": "orders",
///  "sha256": "<base64url SHA-256 of the message's canonical form>", "in_reply_to": "m_…"}
/// ```
///
/// `in_reply_to` is left out when the message answered nothing. `iat` is when the vault took
/// the message in, Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// The vault (its token issuer).
    pub iss: String,
    /// The owner as this business knows them: the grant's pairwise subject.
    pub sub: String,
    /// The business that sent the message.
    pub aud: String,
    /// The message's id.
    pub jti: MessageId,
    pub iat: i64,
    pub topic: String,
    /// [`message_sha256`], base64url without padding.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<MessageId>,
}

impl DeliveryReceipt {
    /// The receipt for `post`, delivered as `id` at `at` (Unix seconds) from `business` to the
    /// owner known to it as `subject`.
    pub fn new(
        issuer: &str,
        subject: &str,
        business: &BusinessId,
        id: &MessageId,
        at: i64,
        post: &InboxPost,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub: subject.to_owned(),
            aud: business.to_string(),
            jti: id.clone(),
            iat: at,
            topic: post.topic.clone(),
            sha256: sha256_text(&message_sha256(post)),
            in_reply_to: post.in_reply_to.clone(),
        }
    }

    /// Whether this receipt is for exactly `post`: its hash, topic and `in_reply_to`.
    pub fn covers(&self, post: &InboxPost) -> bool {
        self.sha256 == sha256_text(&message_sha256(post))
            && self.topic == post.topic
            && self.in_reply_to == post.in_reply_to
    }
}

/// Signs a receipt with the vault's key, `kid` naming it in the vault's JWKS.
pub fn sign_receipt(claims: &DeliveryReceipt, key: &SigningKey, kid: &str) -> String {
    jose::sign_typed(claims, DELIVERY_TYP, key, kid)
}

/// Verifies a delivery receipt: the JWS ([`jose::verify_compact`], typed [`DELIVERY_TYP`], so a
/// grant token or a consent receipt is refused as `WrongType`), a `kid` that `resolve_key`
/// knows (with the vault's JWKS: `|kid| jwks.find(kid)`), `iss` and `aud`, and a `sha256`
/// that is 32 bytes of base64url. A receipt does not expire: it proves a delivery at `iat`.
pub fn verify_receipt(
    jws: &str,
    resolve_key: impl Fn(&str) -> Option<VerifyingKey>,
    issuer: &str,
    audience: &str,
) -> Result<DeliveryReceipt, TokenError> {
    let claims: DeliveryReceipt = jose::verify_typed(jws, resolve_key, DELIVERY_TYP)?;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    let hash = jose::b64_decode(&claims.sha256)?;
    if hash.len() != 32 {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}

/// What `POST /v1/inbox` answers with 201: the message's id and its signed receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxDelivered {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: MessageId,
    /// The delivery receipt, a compact JWS typed `kluis-delivery+jwt`.
    pub receipt: String,
}

/// `data` of `inbox.reply`: the owner answered a message the business left in their inbox.
///
/// ```json
/// {"grant_id": "g_…", "subject": "<pairwise subject>",
///  "message": {"id": "m_…", "in_reply_to": "m_…", "topic": "orders",
///              "subject": "Re: Your order has shipped", "body": "Thank you!"}}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxReplied {
    /// The grant the answered message came with.
    pub grant_id: GrantId,
    /// The owner's pairwise subject for this business, as in every event.
    pub subject: String,
    pub message: ReplyMessage,
}

/// The owner's reply as the business receives it. Answer it with `in_reply_to` set to `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyMessage {
    pub id: MessageId,
    /// The business's message it answers.
    pub in_reply_to: MessageId,
    /// The answered message's topic.
    pub topic: String,
    /// `Re: ` and the answered message's subject.
    pub subject: String,
    pub body: String,
}

/// The subject of a reply to a message with `subject`: `Re: ` before it (once), cut to
/// [`MAX_SUBJECT_CHARS`] characters.
pub fn reply_subject(subject: &str) -> String {
    let subject = if subject.starts_with("Re: ") {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    };
    subject.chars().take(MAX_SUBJECT_CHARS).collect()
}

#[cfg(test)]
mod tests;
