//! Change notifications: the events a business is sent (their bodies are the Standard Webhooks
//! payload `{"type", "timestamp", "data"}`), subscriptions' rules, and which changes of the
//! document fall inside a grant. Nothing outside a grant's fields can get into an event for it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::grant::{self, GrantId};
use crate::pointer::Pointer;
use crate::wire::AccessRequestStatus;

/// A new subscription's id: `sub_` and 26 base32 characters.
pub fn subscription_id(random: [u8; 16]) -> String {
    crate::id::random_id("sub_", random)
}

/// A new event's `webhook-id`: `msg_` and 26 base32 characters, the same on every retry.
pub fn message_id(random: [u8; 16]) -> String {
    crate::id::random_id("msg_", random)
}

/// The id grouping the events of one change: `chg_` and 26 base32 characters.
pub fn change_id(random: [u8; 16]) -> String {
    crate::id::random_id("chg_", random)
}

/// Whether `text` looks like a subscription id (anything else is not looked up).
pub fn is_subscription_id(text: &str) -> bool {
    crate::id::is_random_id(text, "sub_")
}

/// What a subscription's `field.changed` events carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// The changed pointers only: the business reads the values with its grant.
    Thin,
    /// The pointers and their new values (`null` for removed ones).
    Full,
}

impl Payload {
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Thin => "thin",
            Payload::Full => "full",
        }
    }
}

/// Subscriptions one grant may hold.
pub const MAX_SUBSCRIPTIONS_PER_GRANT: usize = 5;
/// The longest subscription URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// The body of `POST /v1/subscriptions`.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where events are POSTed: https, public addresses only.
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: String,
    /// `thin` (the changed pointers; the default) or `full` (also their new values).
    #[serde(default = "thin")]
    pub payload: Payload,
}

fn thin() -> Payload {
    Payload::Thin
}

impl NewSubscription {
    /// Checks what can be checked without the network: the URL's length, scheme, and that it
    /// has a host and no credentials or fragment. `allow_http` lets `http://` through (local
    /// set-ups and tests). Where the host leads is the sender's to check, at every delivery.
    pub fn validated(self, allow_http: bool) -> Result<Self> {
        check_url(&self.url, allow_http)?;
        Ok(self)
    }
}

/// The URL rules every webhook destination meets (subscriptions and request callbacks).
pub fn check_url(url: &str, allow_http: bool) -> Result<()> {
    if url.len() > MAX_URL_LEN {
        return Err(Error::invalid(format!(
            "url: at most {MAX_URL_LEN} characters"
        )));
    }
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://").filter(|_| allow_http) {
        rest
    } else {
        return Err(Error::invalid(
            "url: must start with https:// (http is only allowed when the vault runs with --allow-local-webhooks)",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(Error::invalid("url: has no host"));
    }
    if authority.contains('@') {
        return Err(Error::invalid("url: must not hold a user name or password"));
    }
    if url.contains('#') {
        return Err(Error::invalid("url: must not have a #fragment"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "url: must not hold spaces or control characters",
        ));
    }
    Ok(())
}

/// An event's type, as sent in `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "field.changed")]
    FieldChanged,
    #[serde(rename = "grant.narrowed")]
    GrantNarrowed,
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    #[serde(rename = "grant.expired")]
    GrantExpired,
    #[serde(rename = "request.decided")]
    RequestDecided,
    /// The owner answered a message in their inbox (`data`: [`crate::inbox::InboxReplied`]).
    #[serde(rename = "inbox.reply")]
    InboxReply,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::FieldChanged => "field.changed",
            EventType::GrantNarrowed => "grant.narrowed",
            EventType::GrantRevoked => "grant.revoked",
            EventType::GrantExpired => "grant.expired",
            EventType::RequestDecided => "request.decided",
            EventType::InboxReply => "inbox.reply",
        }
    }

    /// Whether the grant ends with this event: nothing follows it on the subscription.
    pub fn ends_grant(self) -> bool {
        matches!(self, EventType::GrantRevoked | EventType::GrantExpired)
    }
}

/// One event: the exact JSON sent as the delivery's body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the event happened (RFC 3339, UTC).
    pub timestamp: String,
    pub data: Value,
}

/// `data` of `field.changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChanged {
    pub grant_id: GrantId,
    /// The owner's pairwise subject for this business (the token's `sub`).
    pub subject: String,
    /// Groups the events one change of the document caused, across subscriptions.
    pub change_id: String,
    /// The changed pointers inside the grant.
    pub changed: Vec<Pointer>,
    /// With a `full` subscription: each changed pointer's new value, `null` if removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, Value>>,
}

/// `data` of `grant.narrowed`, `grant.revoked` and `grant.expired`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantChanged {
    pub grant_id: GrantId,
    pub subject: String,
    /// The fields the business lost: it must stop using and delete its copy of them.
    pub removed: Vec<Pointer>,
    /// The fields the grant still covers (empty once it ended).
    pub remaining: Vec<Pointer>,
}

/// `data` of `request.decided`: the request's status, as `GET /v1/requests/{id}` gives it.
pub type RequestDecided = AccessRequestStatus;

impl Event {
    pub fn new(kind: EventType, at_unix: i64, data: &impl Serialize) -> Self {
        Self {
            kind,
            timestamp: rfc3339(at_unix),
            data: serde_json::to_value(data).expect("event data serializes"),
        }
    }

    /// The body as sent.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event serializes")
    }
}

fn rfc3339(at_unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at_unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Where `old` and `new` differ: object members added, removed or changed (recursively), array
/// elements changed in place, and an array whose length changed as a whole (its elements
/// moved). Sorted, no pointer inside another.
pub fn diff(old: &Value, new: &Value) -> Vec<Pointer> {
    let mut out = Vec::new();
    diff_at(&Pointer::root(), Some(old), Some(new), &mut out);
    grant::normalize(out)
}

fn diff_at(at: &Pointer, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Pointer>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, value) in a {
                diff_at(&at.child(key.clone()), Some(value), b.get(key), out);
            }
            for (key, value) in b {
                if !a.contains_key(key) {
                    diff_at(&at.child(key.clone()), None, Some(value), out);
                }
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() && !at.is_root() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                diff_at(&at.child(index.to_string()), Some(x), Some(y), out);
            }
        }
        (a, b) if a == b => {}
        _ => out.push(at.clone()),
    }
}

/// Of the document's changes `changed` (from [`diff`] of `old` to `new`), those a grant covering
/// `granted` may be told about: each change inside a granted field, and each granted field
/// inside a change whose value differs. Every pointer returned lies inside `granted`.
pub fn changes_within(
    changed: &[Pointer],
    granted: &[Pointer],
    old: &Value,
    new: &Value,
) -> Vec<Pointer> {
    let inside = changed
        .iter()
        .filter(|c| granted.iter().any(|g| c.starts_with(g)));
    let below = granted.iter().filter(|g| {
        changed.iter().any(|c| g.starts_with(c) && g != &c) && g.get(old) != g.get(new)
    });
    grant::normalize(inside.chain(below).cloned().collect())
}

/// Each pointer's value in `doc` (`null` where nothing is): a `full` event's `values`.
pub fn values_at(doc: &Value, pointers: &[Pointer]) -> BTreeMap<String, Value> {
    pointers
        .iter()
        .map(|p| (p.to_string(), p.get(doc).cloned().unwrap_or(Value::Null)))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn p(text: &str) -> Pointer {
        Pointer::parse(text).unwrap()
    }

    fn ps(texts: &[&str]) -> Vec<Pointer> {
        texts.iter().map(|t| p(t)).collect()
    }

    #[test]
    fn diff_names_what_changed_and_whole_arrays_that_moved() {
        let old = json!({"name": "Ann", "email": "a@x", "address": [{"city": "A"}, {"city": "B"}]});
        let new = json!({"name": "Ann", "phone": "1", "address": [{"city": "A"}, {"city": "C"}]});
        assert_eq!(
            diff(&old, &new),
            ps(&["/address/1/city", "/email", "/phone"])
        );
        let shorter = json!({"name": "Ann", "email": "a@x", "address": [{"city": "A"}]});
        assert_eq!(diff(&old, &shorter), ps(&["/address"]));
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn only_changes_inside_the_grant_are_told() {
        let old = json!({"name": "Ann", "address": [{"city": "A", "zip": "1"}]});
        let new = json!({"name": "Bo", "address": [{"city": "B", "zip": "1"}]});
        let changed = diff(&old, &new);
        assert_eq!(
            changes_within(&changed, &ps(&["/address"]), &old, &new),
            ps(&["/address/0/city"])
        );
        assert!(changes_within(&changed, &ps(&["/email"]), &old, &new).is_empty());
        // A whole replaced array reports the granted fields below it that really differ.
        let moved = json!({"name": "Ann", "address": [{"city": "A", "zip": "1"}, {"city": "Z"}]});
        let changed = diff(&old, &moved);
        assert_eq!(changed, ps(&["/address"]));
        assert!(
            changes_within(&changed, &ps(&["/address/0/zip"]), &old, &moved).is_empty(),
            "the granted zip did not change"
        );
        assert_eq!(
            changes_within(&changed, &ps(&["/address/1"]), &old, &moved),
            ps(&["/address/1"])
        );
    }

    #[test]
    fn events_serialize_as_standard_webhooks_payloads() {
        let data = GrantChanged {
            grant_id: GrantId::parse(&format!("g_{}", "a".repeat(26))).unwrap(),
            subject: "s".into(),
            removed: ps(&["/email"]),
            remaining: vec![],
        };
        let event = Event::new(EventType::GrantRevoked, 1_700_000_000, &data);
        let body: Value = serde_json::from_slice(&event.to_body()).unwrap();
        assert_eq!(body["type"], "grant.revoked");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(body["data"]["removed"], json!(["/email"]));
        let back: Event = serde_json::from_value(body).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn subscription_urls_follow_the_rules() {
        assert!(check_url("https://shop.example/hooks", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/h", true).is_ok());
        for bad in [
            "http://shop.example/h",
            "ftp://shop.example",
            "https://",
            "https://user:pw@shop.example/",
            "https://shop.example/#x",
            "https://shop.example/ a",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(3000)), false).is_err());
    }

    fn arb_doc() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..5).prop_map(|n| json!(n)),
            "[ab]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[abc]", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .prop_map(|v| json!({"a": v.clone(), "b": v}))
    }

    fn arb_pointer() -> impl Strategy<Value = Pointer> {
        prop::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just("c"), Just("0"), Just("1")],
            1..4,
        )
        .prop_map(Pointer::from_tokens)
    }

    proptest! {
        /// Whatever the documents and the grant, an event names only pointers inside the grant,
        /// and its values are exactly the new document's at those pointers.
        #[test]
        fn no_event_carries_a_field_outside_its_grant(
            old in arb_doc(),
            new in arb_doc(),
            granted in prop::collection::vec(arb_pointer(), 1..4),
        ) {
            let changed = diff(&old, &new);
            let told = changes_within(&changed, &granted, &old, &new);
            for pointer in &told {
                prop_assert!(granted.iter().any(|g| pointer.starts_with(g)), "{pointer} outside");
                prop_assert!(pointer.get(&old) != pointer.get(&new), "{pointer} did not change");
            }
            let values = values_at(&new, &told);
            let (shown, _) = grant::subset(&new, &granted);
            for (pointer, value) in &values {
                if !value.is_null() {
                    let p = Pointer::parse(pointer).unwrap();
                    prop_assert!(p.get(&new) == Some(value));
                    prop_assert!(shown != Value::Null);
                }
            }
            // And every granted field that changed is told (nothing is missed).
            for g in &granted {
                if g.get(&old) != g.get(&new) {
                    prop_assert!(
                        told.iter().any(|t| t.starts_with(g) || g.starts_with(t)),
                        "the change of {g} was not told"
                    );
                }
            }
        }
    }
}
