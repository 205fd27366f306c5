//! A verified delivery as the business uses it: the typed event, with the delivery's id and time.

use std::fmt;

use kluis_core::Pointer;
use kluis_core::grant::GrantId;
use kluis_core::inbox::InboxReplied;
use kluis_core::notify::{EventType, FieldChanged, GrantChanged};
use kluis_core::wire::AccessRequestStatus;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One verified change notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// `webhook-id`: the same on every retry of this delivery. Keep it as an idempotency key if
    /// handling an event twice would do harm; the verifier only remembers it for minutes.
    pub id: String,
    /// `webhook-timestamp`: when the vault signed this attempt (Unix seconds).
    pub timestamp: i64,
    /// The event's `timestamp`: when the change happened (RFC 3339, UTC). A retry keeps it.
    pub occurred_at: String,
    pub event: Event,
}

/// What happened, by the event's `type`. `Debug` leaves out a decided request's token and the
/// text of the owner's reply.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `field.changed`: the owner changed granted fields. Read them again with the grant (a
    /// `full` subscription also carries the new values).
    FieldChanged(FieldChanged),
    /// `grant.narrowed`: the grant covers fewer fields; delete your copies of `removed`.
    GrantNarrowed(GrantChanged),
    /// `grant.revoked`: the owner ended the grant; delete your copies of `removed`.
    GrantRevoked(GrantChanged),
    /// `grant.expired`: the grant ran out; delete your copies of `removed`.
    GrantExpired(GrantChanged),
    /// `request.decided`: the owner decided an access request (what `GET /v1/requests/{id}`
    /// gives; confirm a token as for a callback before relying on it).
    RequestDecided(AccessRequestStatus),
    /// `inbox.reply`: the owner answered a message you left in their inbox
    /// (`POST /v1/inbox`). Answer it in turn with `in_reply_to` set to `message.id`.
    InboxReply(InboxReplied),
    /// A type this SDK does not know, from a newer vault. Authentic: acknowledge it, and ignore
    /// it or log it.
    Unknown { kind: String, data: Value },
}

impl Event {
    /// The event's `type` as sent, e.g. `field.changed`.
    pub fn kind(&self) -> &str {
        match self {
            Event::FieldChanged(_) => EventType::FieldChanged.as_str(),
            Event::GrantNarrowed(_) => EventType::GrantNarrowed.as_str(),
            Event::GrantRevoked(_) => EventType::GrantRevoked.as_str(),
            Event::GrantExpired(_) => EventType::GrantExpired.as_str(),
            Event::RequestDecided(_) => EventType::RequestDecided.as_str(),
            Event::InboxReply(_) => EventType::InboxReply.as_str(),
            Event::Unknown { kind, .. } => kind,
        }
    }

    /// The grant the event is about, when it is about one.
    pub fn grant_id(&self) -> Option<&GrantId> {
        match self {
            Event::FieldChanged(change) => Some(&change.grant_id),
            Event::GrantNarrowed(change)
            | Event::GrantRevoked(change)
            | Event::GrantExpired(change) => Some(&change.grant_id),
            Event::InboxReply(reply) => Some(&reply.grant_id),
            Event::RequestDecided(_) | Event::Unknown { .. } => None,
        }
    }

    /// The fields the business must stop using and delete its copies of (those a grant lost);
    /// empty for events that take nothing away.
    pub fn fields_to_delete(&self) -> &[Pointer] {
        match self {
            Event::GrantNarrowed(change)
            | Event::GrantRevoked(change)
            | Event::GrantExpired(change) => &change.removed,
            _ => &[],
        }
    }

    /// Whether the grant is over: nothing more comes for it, and it reads nothing any more.
    pub fn ends_grant(&self) -> bool {
        matches!(self, Event::GrantRevoked(_) | Event::GrantExpired(_))
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::FieldChanged(change) => f.debug_tuple("FieldChanged").field(change).finish(),
            Event::GrantNarrowed(change) => f.debug_tuple("GrantNarrowed").field(change).finish(),
            Event::GrantRevoked(change) => f.debug_tuple("GrantRevoked").field(change).finish(),
            Event::GrantExpired(change) => f.debug_tuple("GrantExpired").field(change).finish(),
            Event::RequestDecided(status) => f
                .debug_struct("RequestDecided")
                .field("id", &status.id)
                .field("status", &status.status)
                .field("fields_granted", &status.fields_granted)
                .field("grant_id", &status.grant_id)
                .finish_non_exhaustive(),
            Event::InboxReply(reply) => f
                .debug_struct("InboxReply")
                .field("grant_id", &reply.grant_id)
                .field("id", &reply.message.id)
                .field("in_reply_to", &reply.message.in_reply_to)
                .field("topic", &reply.message.topic)
                .finish_non_exhaustive(),
            Event::Unknown { kind, data } => f
                .debug_struct("Unknown")
                .field("kind", kind)
                .field("data", data)
                .finish(),
        }
    }
}

/// The payload's envelope, with `type` kept as text so that unknown types still parse.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    timestamp: String,
    data: Value,
}

/// Reads a body into the event's timestamp and the event. The error says what is wrong in the
/// SDK's words, never quoting the body.
pub(crate) fn parse(body: &[u8]) -> Result<(String, Event), String> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|_| "the body is not a JSON object with type, timestamp and data".to_owned())?;
    let Ok(kind) = serde_json::from_value::<EventType>(Value::String(envelope.kind.clone())) else {
        let event = Event::Unknown {
            kind: envelope.kind,
            data: envelope.data,
        };
        return Ok((envelope.timestamp, event));
    };
    let data = envelope.data;
    let event = match kind {
        EventType::FieldChanged => Event::FieldChanged(typed(kind, data)?),
        EventType::GrantNarrowed => Event::GrantNarrowed(typed(kind, data)?),
        EventType::GrantRevoked => Event::GrantRevoked(typed(kind, data)?),
        EventType::GrantExpired => Event::GrantExpired(typed(kind, data)?),
        EventType::RequestDecided => Event::RequestDecided(typed(kind, data)?),
        EventType::InboxReply => Event::InboxReply(typed(kind, data)?),
    };
    Ok((envelope.timestamp, event))
}

fn typed<T: DeserializeOwned>(kind: EventType, data: Value) -> Result<T, String> {
    // serde's message may quote the data (personal data, in a full payload): not repeated.
    serde_json::from_value(data).map_err(|_| {
        format!(
            "the data of {} does not have that event's shape",
            kind.as_str()
        )
    })
}
