//! The entries of a relationship record: what the owner or the business recorded, each with
//! its author. A business appends through a write grant (`POST /v1/relationship/entries`,
//! [`EntryPost`]); the owner records contracts, promises, interactions, a satisfaction score
//! and notes, and settles promises.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contract::Contract;
use super::promise::PromiseStatus;
use crate::error::{Error, Result};
use crate::grant::GrantId;

/// The largest JSON body of a document, in bytes as serialized: 64 KiB.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The largest attachment of a document, in bytes (before base64): 1 MiB.
pub const MAX_ATTACHMENT_BYTES: usize = 1024 * 1024;

/// The longest channel name of an interaction, in characters.
pub const MAX_CHANNEL_CHARS: usize = 40;

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// An entry's id: `e_` and 26 base32 characters of randomness.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryId(String);

crate::id::random_id_type!(EntryId, "e_", "an entry id", checked);

/// Who recorded an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum Author {
    /// The owner, on the CLI or the dashboard.
    Owner,
    /// The business, through a write grant: the grant, the SHA-256 of the request body it
    /// sent (hex), and for a DPoP-bound grant the RFC 7638 thumbprint of the key that signed
    /// the request's proof.
    Business {
        grant: GrantId,
        request_sha256: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jkt: Option<String>,
    },
}

impl Author {
    pub fn is_owner(&self) -> bool {
        matches!(self, Self::Owner)
    }
}

/// A file attached to a document, as stored (its bytes apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name the business gave, e.g. `invoice-1042.pdf`.
    pub name: String,
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    /// A contract (the owner records these).
    Contract { contract: Contract },
    /// A promise the business made, due on a day. Its status is kept with the record and
    /// changed by [`Item::Settled`] entries.
    Promise { what: String, due_on: Date },
    /// An interaction: on a day, over a channel, in a sentence.
    Interaction {
        on: Date,
        channel: String,
        summary: String,
    },
    /// A document the business deposited (a receipt, a warranty, an order confirmation): a
    /// title, a JSON body and perhaps a file.
    Document {
        title: String,
        body: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<Attachment>,
    },
    /// How satisfied the owner is, 1 to 5, on a day.
    Satisfaction {
        score: u8,
        on: Date,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A free note.
    Note { text: String },
    /// The owner settled (or opened again) a promise.
    Settled {
        promise: EntryId,
        status: PromiseStatus,
    },
}

impl Item {
    /// The word the wire and the CLI use for the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Contract { .. } => "contract",
            Self::Promise { .. } => "promise",
            Self::Interaction { .. } => "interaction",
            Self::Document { .. } => "document",
            Self::Satisfaction { .. } => "satisfaction",
            Self::Note { .. } => "note",
            Self::Settled { .. } => "settled",
        }
    }

    /// Checks the item and normalizes its texts (trimmed). `Document` bodies must be JSON
    /// objects of at most [`MAX_DOCUMENT_BYTES`].
    pub fn validated(self) -> Result<Self> {
        Ok(match self {
            Self::Contract { contract } => Self::Contract {
                contract: contract.validated()?,
            },
            Self::Promise { what, due_on } => Self::Promise {
                what: super::description(&what, 500, "a promise")?,
                due_on,
            },
            Self::Interaction {
                on,
                channel,
                summary,
            } => Self::Interaction {
                on,
                channel: super::description(
                    &channel,
                    MAX_CHANNEL_CHARS,
                    "an interaction's channel",
                )?,
                summary: super::description(&summary, 500, "an interaction")?,
            },
            Self::Document {
                title,
                body,
                attachment,
            } => {
                check_document_body(&body)?;
                Self::Document {
                    title: super::description(&title, 200, "a document")?,
                    body,
                    attachment,
                }
            }
            Self::Satisfaction { score, on, comment } => {
                if !(1..=5).contains(&score) {
                    return Err(Error::invalid("a satisfaction score is 1 to 5"));
                }
                let comment = comment
                    .filter(|c| !c.trim().is_empty())
                    .map(|c| super::description(&c, 500, "a satisfaction comment"))
                    .transpose()?;
                Self::Satisfaction { score, on, comment }
            }
            Self::Note { text } => Self::Note {
                text: note_text(&text)?,
            },
            settled @ Self::Settled { .. } => settled,
        })
    }

    /// The dates a business may give, as of `today` (UTC): an interaction took place, so it
    /// is not dated after tomorrow (a day of slack for time zones). Otherwise a business could
    /// pin entries to the top of the owner's timeline.
    pub fn check_business_dates(&self, today: Date) -> Result<()> {
        if let Self::Interaction { on, .. } = self
            && today.tomorrow().is_ok_and(|tomorrow| *on > tomorrow)
        {
            return Err(Error::invalid(format!(
                "on: an interaction took place; {on} is in the future"
            )));
        }
        Ok(())
    }
}

/// A note: 1 to [`MAX_NOTE_CHARS`] characters, line breaks and tabs allowed.
fn note_text(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty()
        || text.chars().count() > MAX_NOTE_CHARS
        || text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::invalid(format!(
            "a note needs 1 to {MAX_NOTE_CHARS} characters of text"
        )));
    }
    Ok(text.to_owned())
}

/// A document's body: a JSON object of at most [`MAX_DOCUMENT_BYTES`] serialized.
pub fn check_document_body(body: &Value) -> Result<()> {
    if !body.is_object() {
        return Err(Error::invalid(
            "body: a document's body must be a JSON object",
        ));
    }
    let size = serde_json::to_vec(body)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DOCUMENT_BYTES {
        return Err(Error::invalid(format!(
            "body: a document's body may be at most {MAX_DOCUMENT_BYTES} bytes (64 KiB) of JSON, not {size}"
        )));
    }
    Ok(())
}

/// One entry of a relationship record, as the vault keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: EntryId,
    /// When it was recorded, Unix milliseconds.
    pub at_ms: i64,
    pub author: Author,
    pub item: Item,
}

impl Entry {
    /// The day the entry is about, for ordering a timeline: an interaction's or a score's day,
    /// a promise's due day, a contract's start; otherwise the day it was recorded (UTC).
    pub fn day(&self) -> Date {
        match &self.item {
            Item::Interaction { on, .. } | Item::Satisfaction { on, .. } => *on,
            Item::Contract { contract } => contract.starts_on,
            _ => day_of_ms(self.at_ms),
        }
    }
}

/// The UTC day of a Unix time in milliseconds.
pub fn day_of_ms(ms: i64) -> Date {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

/// SHA-256 as lowercase hex, as an [`Attachment`] records its file's.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Day `n` counted from 1970-01-01 (as the access log's day counts are).
pub fn date_of_day(n: i64) -> Option<Date> {
    let epoch = Date::constant(1970, 1, 1);
    epoch.checked_add(jiff::Span::new().try_days(n).ok()?).ok()
}

/// The number of `day` counted from 1970-01-01.
pub fn day_number(day: Date) -> i64 {
    day.since(Date::constant(1970, 1, 1))
        .map_or(0, |span| i64::from(span.get_days()))
}
