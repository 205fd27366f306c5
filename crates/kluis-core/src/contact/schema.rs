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

#[cfg(test)]
mod tests {
    use crate::contact::ContactPolicy;
    use crate::document::{sample, validate, validate_at};
    use crate::pointer::Pointer;
    use serde_json::{Value, json};

    fn at(p: &str) -> Pointer {
        Pointer::parse(p).unwrap()
    }

    fn refused_at(pointer: &str, value: Value) -> String {
        let err = validate_at(&at(pointer), &value)
            .expect_err(&format!("{pointer} = {value} should be refused"));
        err.to_string()
    }

    #[test]
    fn a_full_policy_is_a_valid_document() {
        let mut doc = sample();
        doc["preferences"] = json!({
            "channels": ["email", "inbox"], "topics": ["orders"], "blocked_topics": ["surveys"],
            "do_not_contact": false, "time_zone": "Europe/Amsterdam",
            "caps": [{"max": 3, "per": "week"}, {"max": 10, "per": "P30D", "scope": "all", "channel": "inbox"}],
            "quiet_hours": {"start": "21:00", "end": "08:00", "time_zone": "Europe/Amsterdam"},
            "businesses": {"webshop.example": {
                "topics": ["orders", "offers"], "caps": [{"max": 1, "per": "day", "topic": "offers"}],
                "do_not_contact": false, "blocked_topics": ["news"], "channels": ["inbox"],
                "quiet_hours": {"start": "18:00", "end": "09:00", "time_zone": "UTC"}
            }}
        });
        validate(&doc).unwrap();
        let policy = ContactPolicy::from_document(&doc).unwrap();
        assert_eq!(policy.rules.caps.len(), 2);
        assert_eq!(policy.businesses.len(), 1);
        assert!(policy.time_zone.is_some());
    }

    #[test]
    fn each_bad_rule_is_refused_at_its_place() {
        let cases = [
            (
                "/preferences/caps",
                json!([{"max": 3, "per": "day"}, {"max": 3, "per": "P0D"}]),
                "/preferences/caps/1/per:",
            ),
            ("/preferences/caps", json!({"max": 3}), "/preferences/caps:"),
            (
                "/preferences/caps/0",
                json!({"max": 3, "per": "hour"}),
                "/preferences/caps/0/per:",
            ),
            (
                "/preferences/caps/0/max",
                json!(0),
                "/preferences/caps/0/max:",
            ),
            (
                "/preferences/caps/-",
                json!({"max": 3, "per": "day", "channel": "none"}),
                "/preferences/caps/-/channel:",
            ),
            (
                "/preferences/caps/0/when",
                json!(1),
                "/preferences/caps/0/when:",
            ),
            ("/preferences/caps/x", json!({}), "/preferences/caps/x:"),
            (
                "/preferences/time_zone",
                json!("Europe/Atlantis"),
                "/preferences/time_zone:",
            ),
            (
                "/preferences/quiet_hours",
                json!({"start": "21:00", "end": "21:00", "time_zone": "UTC"}),
                "/preferences/quiet_hours:",
            ),
            (
                "/preferences/quiet_hours/start",
                json!("9pm"),
                "/preferences/quiet_hours/start:",
            ),
            (
                "/preferences/quiet_hours/time_zone",
                json!("Nowhere"),
                "/preferences/quiet_hours/time_zone:",
            ),
            (
                "/preferences/quiet_hours/days",
                json!([]),
                "/preferences/quiet_hours/days:",
            ),
            (
                "/preferences/blocked_topics",
                json!(["ok", ""]),
                "/preferences/blocked_topics/1",
            ),
            (
                "/preferences/businesses",
                json!({"bad id!": {}}),
                "/preferences/businesses/bad id!:",
            ),
            (
                "/preferences/businesses/shop",
                json!({"frequency": "daily"}),
                "/preferences/businesses/shop/frequency:",
            ),
            (
                "/preferences/businesses/shop/channels",
                json!(["fax"]),
                "/preferences/businesses/shop/channels/0:",
            ),
            (
                "/preferences/businesses/shop/channels/0",
                json!("fax"),
                "/preferences/businesses/shop/channels/0:",
            ),
            (
                "/preferences/businesses/shop/do_not_contact",
                json!("yes"),
                "/preferences/businesses/shop/do_not_contact:",
            ),
            (
                "/preferences/businesses/shop/caps/0/scope",
                json!("world"),
                "/preferences/businesses/shop/caps/0/scope:",
            ),
            (
                "/preferences/businesses/shop/quiet_hours",
                json!({"start": "21:00", "end": "08:00"}),
                "/preferences/businesses/shop/quiet_hours/time_zone:",
            ),
            (
                "/preferences/businesses/shop/time_zone",
                json!("UTC"),
                "/preferences/businesses/shop/time_zone:",
            ),
            (
                "/preferences/businesses/a b/topics",
                json!(["x"]),
                "/preferences/businesses/a b:",
            ),
            (
                "/preferences/time_zone/x",
                json!(1),
                "/preferences/time_zone/x",
            ),
        ];
        for (pointer, value, prefix) in cases {
            let err = refused_at(pointer, value.clone());
            assert!(err.starts_with(prefix), "{pointer} = {value}: {err}");
        }
        // The message docs/vault-document.md shows.
        assert_eq!(
            refused_at("/preferences/caps", json!([{"max": 3, "per": "fortnight"}])),
            "/preferences/caps/0/per: must be \"day\", \"week\", \"month\" or an ISO 8601 \
             duration like \"P7D\" or \"PT12H\", not \"fortnight\""
        );
        // The whole document is refused the same way, naming the deepest place.
        let mut doc = sample();
        doc["preferences"]["businesses"] = json!({"shop": {"caps": [{"max": 1001, "per": "day"}]}});
        let err = validate(&doc).unwrap_err().to_string();
        assert!(
            err.starts_with("/preferences/businesses/shop/caps/0/max:"),
            "{err}"
        );
    }

    #[test]
    fn single_fields_of_rules_can_be_written() {
        let good = [
            ("/preferences/channels/-", json!("inbox")),
            ("/preferences/caps/0/per", json!("PT12H")),
            ("/preferences/caps/3/channel", json!("inbox")),
            ("/preferences/quiet_hours/end", json!("07:30")),
            (
                "/preferences/quiet_hours/time_zone",
                json!("America/New_York"),
            ),
            (
                "/preferences/businesses/webshop.example/blocked_topics/-",
                json!("news"),
            ),
            (
                "/preferences/businesses/webshop.example/caps",
                json!([{"max": 2, "per": "month"}]),
            ),
            ("/preferences/businesses/a:b@c/do_not_contact", json!(true)),
        ];
        for (pointer, value) in good {
            validate_at(&at(pointer), &value)
                .unwrap_or_else(|e| panic!("{pointer} = {value}: {e}"));
        }
    }
}
