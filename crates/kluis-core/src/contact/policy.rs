//! The policy's shape: the contact rules of `/preferences` and of each
//! `/preferences/businesses/<id>`, read from JSON with a message naming the place of every bad
//! rule, and merged into the rules that hold for one business.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::caps::Cap;
use super::quiet::{self, QuietHours};
use crate::document::CHANNELS;
use crate::error::{Error, Result};
use crate::grant::BusinessId;
use crate::pointer::Pointer;

/// The keys a per-business override may hold.
pub const BUSINESS_KEYS: [&str; 6] = [
    "channels",
    "topics",
    "blocked_topics",
    "do_not_contact",
    "caps",
    "quiet_hours",
];

/// One level of contact rules: the top of `/preferences` or one business's override.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// The channels the owner accepts; `None` when not set (then the grant's right decides).
    pub channels: Option<Vec<String>>,
    /// The topics the owner opted in to; `None` when not set (then the grant's right decides).
    pub topics: Option<Vec<String>>,
    pub blocked_topics: Vec<String>,
    pub do_not_contact: bool,
    pub caps: Vec<Cap>,
    pub quiet_hours: Option<QuietHours>,
}

/// Everything `/preferences` says about contact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactPolicy {
    pub rules: Rules,
    /// `/preferences/time_zone`, for calendar caps when no quiet hours name a zone.
    pub time_zone: Option<TimeZone>,
    pub businesses: BTreeMap<BusinessId, Rules>,
}

/// The rules that hold for one business, its override merged over the top level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectivePolicy {
    pub channels: Option<Vec<String>>,
    pub topics: Option<Vec<String>>,
    pub blocked_topics: Vec<String>,
    pub do_not_contact: bool,
    /// The top level's caps and the business's, all of which apply.
    pub caps: Vec<Cap>,
    pub quiet_hours: Option<QuietHours>,
    /// Where calendar caps count days, weeks and months: the quiet hours' zone, else
    /// `/preferences/time_zone`, else UTC.
    pub zone: TimeZone,
}

impl ContactPolicy {
    /// Reads the contact rules of a `/preferences` object (`null` or absent means none); other
    /// preferences are ignored here and checked by [`crate::document`].
    pub fn from_preferences(preferences: &Value) -> Result<ContactPolicy> {
        let at = Pointer::from_tokens(["preferences"]);
        if preferences.is_null() {
            return Ok(ContactPolicy::default());
        }
        let map = object(preferences, &at, "an object")?;
        let time_zone = map
            .get("time_zone")
            .map(|v| quiet::zone(v, &at.child("time_zone")))
            .transpose()?;
        let businesses = match map.get("businesses") {
            None => BTreeMap::new(),
            Some(v) => businesses(v, &at.child("businesses"))?,
        };
        Ok(ContactPolicy {
            rules: Rules::read(map, &at)?,
            time_zone,
            businesses,
        })
    }

    /// The policy of a whole vault document (its `/preferences`).
    pub fn from_document(document: &Value) -> Result<ContactPolicy> {
        Self::from_preferences(document.get("preferences").unwrap_or(&Value::Null))
    }

    /// The rules for `business`: its `channels`, `topics` and `quiet_hours` replace the top
    /// level's, its `blocked_topics` add to them, `do_not_contact` holds if either says so, and
    /// both levels' caps apply.
    pub fn for_business(&self, business: &BusinessId) -> EffectivePolicy {
        let top = &self.rules;
        let own = self.businesses.get(business);
        let pick = |f: fn(&Rules) -> &Option<Vec<String>>| {
            own.and_then(|o| f(o).clone()).or_else(|| f(top).clone())
        };
        let mut blocked_topics = top.blocked_topics.clone();
        let mut caps = top.caps.clone();
        if let Some(own) = own {
            blocked_topics.extend(own.blocked_topics.iter().cloned());
            caps.extend(own.caps.iter().cloned());
        }
        let quiet_hours = own
            .and_then(|o| o.quiet_hours.clone())
            .or_else(|| top.quiet_hours.clone());
        // Calendar periods are the owner's days, weeks and months, the same for every
        // business: a business's own quiet hours move only its window, not the caps' days
        // (else a cap over all businesses could be passed by counting in two zones).
        let zone = top
            .quiet_hours
            .as_ref()
            .map(|q| q.zone.clone())
            .or_else(|| self.time_zone.clone())
            .unwrap_or(TimeZone::UTC);
        EffectivePolicy {
            channels: pick(|r| &r.channels),
            topics: pick(|r| &r.topics),
            blocked_topics,
            do_not_contact: top.do_not_contact || own.is_some_and(|o| o.do_not_contact),
            caps,
            quiet_hours,
            zone,
        }
    }
}

impl EffectivePolicy {
    /// The caps a contact over `channel` about `topic` counts against (and is held to).
    pub fn caps_for<'a>(
        &'a self,
        channel: &'a str,
        topic: &'a str,
    ) -> impl Iterator<Item = &'a Cap> {
        self.caps
            .iter()
            .filter(move |cap| cap.applies(channel, topic))
    }
}

impl Rules {
    /// Reads the contact keys of `map` (at `at`), ignoring the others.
    fn read(map: &Map<String, Value>, at: &Pointer) -> Result<Rules> {
        let get = |key: &str| map.get(key).map(|v| (v, at.child(key)));
        Ok(Rules {
            channels: get("channels")
                .map(|(v, at)| channels(v, &at))
                .transpose()?,
            topics: get("topics")
                .map(|(v, at)| list(v, &at, text))
                .transpose()?,
            blocked_topics: get("blocked_topics")
                .map(|(v, at)| list(v, &at, text))
                .transpose()?
                .unwrap_or_default(),
            do_not_contact: get("do_not_contact")
                .map(|(v, at)| boolean(v, &at))
                .transpose()?
                .unwrap_or(false),
            caps: get("caps")
                .map(|(v, at)| list(v, &at, Cap::parse))
                .transpose()?
                .unwrap_or_default(),
            quiet_hours: get("quiet_hours")
                .map(|(v, at)| QuietHours::parse(v, &at))
                .transpose()?,
        })
    }

    /// Reads one business's override (at `at`), which holds only [`BUSINESS_KEYS`].
    pub fn parse_override(value: &Value, at: &Pointer) -> Result<Rules> {
        let map = object(value, at, "an object of contact rules")?;
        for key in map.keys() {
            if !BUSINESS_KEYS.contains(&key.as_str()) {
                return Err(unknown_key(at, key, &BUSINESS_KEYS));
            }
        }
        Rules::read(map, at)
    }
}

/// Reads `/preferences/businesses`: an object keyed by business id.
pub(super) fn businesses(value: &Value, at: &Pointer) -> Result<BTreeMap<BusinessId, Rules>> {
    let map = object(value, at, "an object keyed by business id")?;
    map.iter()
        .map(|(key, rules)| {
            let here = at.child(key.clone());
            let id = business_key(key, &here)?;
            Ok((id, Rules::parse_override(rules, &here)?))
        })
        .collect()
}

pub(super) fn business_key(key: &str, at: &Pointer) -> Result<BusinessId> {
    BusinessId::parse(key).map_err(|e| Error::invalid(format!("{at}: {e}")))
}

pub(super) fn object<'v>(
    value: &'v Value,
    at: &Pointer,
    wanted: &str,
) -> Result<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::invalid(format!("{at}: must be {wanted}, not {}", shown(value))))
}

pub(super) fn unknown_key(at: &Pointer, key: &str, known: &[&str]) -> Error {
    Error::invalid(format!(
        "{}: not a known key here; known keys are {}",
        at.child(key),
        known.join(", ")
    ))
}

/// The rule for a topic (and any other text of the policy): a string that is not empty or
/// only white space.
pub fn is_topic(text: &str) -> bool {
    !text.trim().is_empty()
}

pub(super) fn text(value: &Value, at: &Pointer) -> Result<String> {
    match value.as_str() {
        Some(s) if is_topic(s) => Ok(s.to_owned()),
        _ => Err(Error::invalid(format!(
            "{at}: must be a non-empty string, not {}",
            shown(value)
        ))),
    }
}

/// A contact channel: one of [`CHANNELS`] other than `none`.
pub(super) fn channel(value: &Value, at: &Pointer) -> Result<String> {
    let known: Vec<&str> = CHANNELS.into_iter().filter(|c| *c != "none").collect();
    match value.as_str() {
        Some(s) if known.contains(&s) => Ok(s.to_owned()),
        _ => Err(Error::invalid(format!(
            "{at}: must be one of {}, not {}",
            known.join(", "),
            shown(value)
        ))),
    }
}

/// An item of a `channels` list: a channel, or `none`.
pub(super) fn listed_channel(value: &Value, at: &Pointer) -> Result<String> {
    if value.as_str() == Some("none") {
        return Ok("none".into());
    }
    channel(value, at).map_err(|_| {
        Error::invalid(format!(
            "{at}: must be one of {}, not {}",
            CHANNELS.join(", "),
            shown(value)
        ))
    })
}

pub(super) fn boolean(value: &Value, at: &Pointer) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid(format!("{at}: must be true or false, not {}", shown(value))))
}

pub(super) fn list<T>(
    value: &Value,
    at: &Pointer,
    item: impl Fn(&Value, &Pointer) -> Result<T>,
) -> Result<Vec<T>> {
    let items = value
        .as_array()
        .ok_or_else(|| Error::invalid(format!("{at}: must be a list, not {}", shown(value))))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| item(v, &at.child(i.to_string())))
        .collect()
}

/// The channels list reader, for the schema.
pub(super) fn channels(value: &Value, at: &Pointer) -> Result<Vec<String>> {
    list(value, at, listed_channel)
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}
