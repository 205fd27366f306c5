//! Access records: one per grant-API call (allowed or refused) and one per owner action, as the
//! owner sees them in the log. Each names its actor and action as types; records written before
//! they had them named the call in free text (`endpoint`) and still read (see [`Action::from_endpoint`]).

use serde::{Deserialize, Serialize};

use crate::grant::{BusinessId, GrantId};
use crate::pointer::Pointer;
use crate::request::RequestId;

/// Whether a call was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Refused,
}

/// Who made a call or a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A business, through the grant API.
    Business,
    /// The owner, with the `kluis` command.
    OwnerCli,
    /// The owner, on the dashboard.
    OwnerDashboard,
}

impl Actor {
    pub fn is_owner(self) -> bool {
        !matches!(self, Actor::Business)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Business => "business",
            Actor::OwnerCli => "owner_cli",
            Actor::OwnerDashboard => "owner_dashboard",
        }
    }
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `GET /v1/data`.
    Read,
    /// `POST /v1/introspect`.
    Introspect,
    /// A count of grant-API calls without a valid token, over the number listed one by one.
    RefusedCalls,
    GrantCreate,
    GrantRevoke,
    GrantNarrow,
    /// The owner set a grant's read budget (`reason`: the new one, in words).
    GrantBudget,
    RequestApprove,
    RequestDeny,
    /// Fields of the document written (`fields` names them; values are never logged).
    DocumentSet,
    DocumentUnset,
    DocumentImport,
    KeyRotate,
    PassphraseChange,
    /// The owner removed the log's oldest entries (`reason`: which, and before what date); the
    /// first entry after the checkpoint the rest is proven from.
    LogPrune,
    SignIn,
    SignInFailed,
    SignOut,
    /// A business was sent a change notification (`fields`: the pointers it names; with a
    /// `full` subscription also their values); recorded once it acknowledged the delivery.
    Notified,
    /// A business subscribed to change notifications, or ended a subscription.
    SubscriptionCreate,
    SubscriptionDelete,
    /// A business gave one of its subscriptions a new signing secret.
    SubscriptionRotate,
    /// The owner sent dead notifications again.
    DeliveryReplay,
    /// `POST /v1/contact/check`: a business asked whether it may reach the owner (`contact`
    /// names the channel and topic; `reason` the refusal, in the API's words).
    ContactCheck,
    /// `POST /v1/inbox`: a business left a message in the owner's inbox, or was refused.
    InboxDeliver,
    /// The owner answered a message in their inbox.
    InboxReply,
    /// The owner blocked a topic from one business, from a message in their inbox.
    TopicBlock,
    /// The owner allowed such a topic again.
    TopicUnblock,
    /// `POST /v1/relationship/entries`: a business added an entry to its relationship record,
    /// or was refused (`reason`: the entry's kind and id when added, e.g. `promise e_…`).
    RelationshipAppend,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Introspect => "introspect",
            Action::RefusedCalls => "refused_calls",
            Action::GrantCreate => "grant_create",
            Action::GrantRevoke => "grant_revoke",
            Action::GrantNarrow => "grant_narrow",
            Action::GrantBudget => "grant_budget",
            Action::RequestApprove => "request_approve",
            Action::RequestDeny => "request_deny",
            Action::DocumentSet => "document_set",
            Action::DocumentUnset => "document_unset",
            Action::DocumentImport => "document_import",
            Action::KeyRotate => "key_rotate",
            Action::PassphraseChange => "passphrase_change",
            Action::LogPrune => "log_prune",
            Action::SignIn => "sign_in",
            Action::SignInFailed => "sign_in_failed",
            Action::SignOut => "sign_out",
            Action::Notified => "notified",
            Action::SubscriptionCreate => "subscription_create",
            Action::SubscriptionDelete => "subscription_delete",
            Action::SubscriptionRotate => "subscription_rotate",
            Action::DeliveryReplay => "delivery_replay",
            Action::ContactCheck => "contact_check",
            Action::InboxDeliver => "inbox_deliver",
            Action::InboxReply => "inbox_reply",
            Action::TopicBlock => "topic_block",
            Action::TopicUnblock => "topic_unblock",
            Action::RelationshipAppend => "relationship_append",
        }
    }

    /// The actor, action and request id of a record written before records were typed, from
    /// its free-text `endpoint`; `None` for text no version of Kluis wrote.
    pub fn from_endpoint(endpoint: &str) -> Option<(Actor, Action, Option<RequestId>)> {
        let request = |rest: &str| RequestId::parse(rest).ok();
        Some(match endpoint {
            "GET /v1/data" => (Actor::Business, Action::Read, None),
            "POST /v1/introspect" => (Actor::Business, Action::Introspect, None),
            "grant API" => (Actor::Business, Action::RefusedCalls, None),
            "owner: revoke grant" => (Actor::OwnerCli, Action::GrantRevoke, None),
            other => {
                if let Some(id) = other.strip_prefix("owner: approve request ") {
                    (Actor::OwnerCli, Action::RequestApprove, Some(request(id)?))
                } else if let Some(id) = other.strip_prefix("owner: deny request ") {
                    (Actor::OwnerCli, Action::RequestDeny, Some(request(id)?))
                } else {
                    return None;
                }
            }
        })
    }
}

/// One grant-API call or owner action. `grant` and `business` are absent when the token could
/// not be read, or the action concerned none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredRecord")]
pub struct AccessRecord {
    /// Milliseconds since 1970-01-01 UTC.
    pub at_ms: i64,
    pub actor: Actor,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<BusinessId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The fields whose values were returned (empty when refused), or that an owner action
    /// concerned.
    #[serde(default)]
    pub fields: Vec<Pointer>,
    pub outcome: Outcome,
    /// Why a call was refused, or a note on an owner action, in words for the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The channel and topic of a contact attempt (a check, an inbox message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactNote>,
}

/// What a contact attempt was about, in the access log: how and about what a business tried to
/// reach the owner, and the message it left, if any.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContactNote {
    pub channel: String,
    pub topic: String,
    /// The id of the inbox message delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the attempt counts against the owner's caps: a delivered message, or an
    /// allowed check that reserved its contact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted: bool,
}

/// A record as stored, typed or from before (with `endpoint`).
#[derive(Deserialize)]
struct StoredRecord {
    at_ms: i64,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    request: Option<RequestId>,
    #[serde(default)]
    grant: Option<GrantId>,
    #[serde(default)]
    business: Option<BusinessId>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    fields: Vec<Pointer>,
    outcome: Outcome,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    contact: Option<ContactNote>,
}

impl TryFrom<StoredRecord> for AccessRecord {
    type Error = String;

    fn try_from(r: StoredRecord) -> Result<Self, String> {
        let (actor, action, request) = match (r.actor, r.action, r.endpoint) {
            (Some(actor), Some(action), _) => (actor, action, None),
            (None, None, Some(endpoint)) => Action::from_endpoint(&endpoint)
                .ok_or_else(|| format!("unknown endpoint {endpoint:?}"))?,
            _ => return Err("a record names neither its actor and action nor its endpoint".into()),
        };
        Ok(Self {
            at_ms: r.at_ms,
            actor,
            action,
            request: request.or(r.request),
            grant: r.grant,
            business: r.business,
            purpose: r.purpose,
            fields: r.fields,
            outcome: r.outcome,
            reason: r.reason,
            contact: r.contact,
        })
    }
}

/// A borrowed [`AccessRecord`] that serializes to the same JSON: the server's ledger writes one
/// per call without copying the grant's strings.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AccessRecordRef<'a> {
    pub at_ms: i64,
    pub actor: Actor,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<&'a RequestId>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<&'a ContactNote>,
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
            actor: self.actor,
            action: self.action,
            request: self.request.cloned(),
            grant: self.grant.cloned(),
            business: self.business.cloned(),
            purpose: self.purpose.map(str::to_owned),
            fields: self.fields.to_pointers(),
            outcome: self.outcome,
            reason: self.reason.map(str::to_owned),
            contact: self.contact.cloned(),
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
            actor: self.actor,
            action: self.action,
            request: self.request.as_ref(),
            grant: self.grant.as_ref(),
            business: self.business.as_ref(),
            purpose: self.purpose.as_deref(),
            fields: FieldList::Pointers(&self.fields),
            outcome: self.outcome,
            reason: self.reason.as_deref(),
            contact: self.contact.as_ref(),
        }
    }

    /// A call refused before any grant was identified (no token, a forged one…).
    pub fn refused_anonymously(at_ms: i64, action: Action, reason: String) -> Self {
        Self {
            at_ms,
            actor: Actor::Business,
            action,
            request: None,
            grant: None,
            business: None,
            purpose: None,
            fields: Vec::new(),
            outcome: Outcome::Refused,
            reason: Some(reason),
            contact: None,
        }
    }
}

/// The `reason` of a `log_prune` record: the entries removed and the date they were before.
pub fn log_prune_reason(first: i64, last: i64, before_ms: i64) -> String {
    let before = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(before_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{before_ms} ms"));
    format!(
        "removed entries {first} to {last}, those before {before}; the rest is proven from the checkpoint after entry {last}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_view_serializes_like_the_record() {
        let allowed = AccessRecord {
            at_ms: 1_700_000_000_123,
            actor: Actor::Business,
            action: Action::Read,
            request: None,
            grant: Some(GrantId::from_random([7; 16])),
            business: Some(BusinessId::parse("shop.example").unwrap()),
            purpose: Some("order \"delivery\"".into()),
            fields: vec![
                Pointer::parse("/profile/email").unwrap(),
                Pointer::parse("/custom/a~1b").unwrap(),
            ],
            outcome: Outcome::Allowed,
            reason: None,
            contact: None,
        };
        let refused = AccessRecord::refused_anonymously(5, Action::Introspect, "no token".into());
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

    #[test]
    fn records_from_before_typed_actors_still_read() {
        let id = RequestId::from_random([0; 16]);
        let old = format!(
            r#"{{"at_ms":1,"endpoint":"owner: approve request {id}","grant":"{}","fields":[],"outcome":"allowed"}}"#,
            GrantId::from_random([0; 16])
        );
        let record: AccessRecord = serde_json::from_str(&old).unwrap();
        assert_eq!(
            (record.actor, record.action, record.request),
            (Actor::OwnerCli, Action::RequestApprove, Some(id))
        );
        for (endpoint, actor, action) in [
            ("GET /v1/data", Actor::Business, Action::Read),
            ("POST /v1/introspect", Actor::Business, Action::Introspect),
            ("owner: revoke grant", Actor::OwnerCli, Action::GrantRevoke),
        ] {
            let json = format!(r#"{{"at_ms":1,"endpoint":"{endpoint}","outcome":"refused"}}"#);
            let record: AccessRecord = serde_json::from_str(&json).unwrap();
            assert_eq!((record.actor, record.action), (actor, action), "{endpoint}");
            // Written again, it is typed.
            let again = serde_json::to_string(&record).unwrap();
            assert!(
                !again.contains("endpoint") && again.contains(action.as_str()),
                "{again}"
            );
        }
        for junk in [
            r#"{"at_ms":1,"endpoint":"DELETE /x","outcome":"allowed"}"#,
            r#"{"at_ms":1,"outcome":"allowed"}"#,
            r#"{"at_ms":1,"actor":"business","outcome":"allowed"}"#,
        ] {
            assert!(
                serde_json::from_str::<AccessRecord>(junk).is_err(),
                "{junk}"
            );
        }
    }
}
