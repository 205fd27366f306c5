//! Where the contact rules sit in the document's shape: the places below
//! `/preferences/{time_zone,caps,quiet_hours,businesses}` and what a value written at each must
//! be, for [`crate::document`]'s pointer-by-pointer checks. The readers in this module's
//! siblings are the rules; this only says which reader a place uses.

use serde_json::{Value, json};

use super::caps::Cap;
use super::policy::{self, BUSINESS_KEYS, Rules};
use super::quiet::{self, QuietHours};
use crate::error::{Error, Result};
use crate::pointer::Pointer;

/// A place in the contact rules.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rule {
    TimeZone,
    Caps,
    Cap,
    CapField(&'static str),
    QuietHours,
    Clock,
    Businesses,
    Business,
    Channels,
    Channel,
    Topics,
    Topic,
    Bool,
}

const CAP_FIELDS: [&str; 5] = ["max", "per", "channel", "topic", "scope"];

impl Rule {
    /// The place one level down, at `token` (named `at` in messages).
    pub(crate) fn child(self, token: &str, at: &Pointer) -> Result<Rule> {
        let parent = at.prefix(at.depth().saturating_sub(1));
        Ok(match self {
            Rule::Caps => {
                index(token, at)?;
                Rule::Cap
            }
            Rule::Channels => {
                index(token, at)?;
                Rule::Channel
            }
            Rule::Topics => {
                index(token, at)?;
                Rule::Topic
            }
            Rule::Cap => match CAP_FIELDS.iter().find(|k| **k == token) {
                Some(k) => Rule::CapField(k),
                None => return Err(policy::unknown_key(&parent, token, &CAP_FIELDS)),
            },
            Rule::QuietHours => match token {
                "start" | "end" => Rule::Clock,
                "time_zone" => Rule::TimeZone,
                _ => {
                    return Err(policy::unknown_key(
                        &parent,
                        token,
                        &["start", "end", "time_zone"],
                    ));
                }
            },
            Rule::Businesses => {
                policy::business_key(token, at)?;
                Rule::Business
            }
            Rule::Business => match token {
                "channels" => Rule::Channels,
                "topics" | "blocked_topics" => Rule::Topics,
                "do_not_contact" => Rule::Bool,
                "caps" => Rule::Caps,
                "quiet_hours" => Rule::QuietHours,
                _ => return Err(policy::unknown_key(&parent, token, &BUSINESS_KEYS)),
            },
            Rule::TimeZone
            | Rule::CapField(_)
            | Rule::Clock
            | Rule::Channel
            | Rule::Topic
            | Rule::Bool => {
                return Err(Error::invalid(format!(
                    "{at} cannot exist: its parent holds a single value, which has no fields"
                )));
            }
        })
    }

    /// Checks a value written at `at`, a place of this rule.
    pub(crate) fn check(self, value: &Value, at: &Pointer) -> Result<()> {
        match self {
            Rule::TimeZone => quiet::zone(value, at).map(drop),
            Rule::Caps => policy::list(value, at, Cap::parse).map(drop),
            Rule::Cap => Cap::parse(value, at).map(drop),
            Rule::CapField(key) => {
                // Alone, a field is read as part of an otherwise minimal cap.
                let mut cap = json!({"max": 1, "per": "day"});
                cap[key] = value.clone();
                Cap::parse(&cap, &at.prefix(at.depth().saturating_sub(1))).map(drop)
            }
            Rule::QuietHours => QuietHours::parse(value, at).map(drop),
            Rule::Clock => quiet::clock(value, at).map(drop),
            Rule::Businesses => policy::businesses(value, at).map(drop),
            Rule::Business => Rules::parse_override(value, at).map(drop),
            Rule::Channels => policy::channels(value, at).map(drop),
            Rule::Channel => policy::listed_channel(value, at).map(drop),
            Rule::Topics => policy::list(value, at, policy::text).map(drop),
            Rule::Topic => policy::text(value, at).map(drop),
            Rule::Bool => policy::boolean(value, at).map(drop),
        }
    }
}

fn index(token: &str, at: &Pointer) -> Result<()> {
    let is_index = token == "-"
        || (!token.is_empty()
            && token.bytes().all(|b| b.is_ascii_digit())
            && (token == "0" || !token.starts_with('0')));
    if is_index {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{at}: {token:?} is not an index into a list"
        )))
    }
}
