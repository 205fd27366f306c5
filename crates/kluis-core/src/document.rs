//! The vault document's shape: `/profile` (OpenID Connect standard claims), `/preferences`
//! (how the owner wants to be served) and `/custom` (free fields), with the rules for each.
//!
//! Validation works on a value *at a pointer*, so a write of one field is checked without
//! loading the rest of the document.

use serde_json::Value;

use crate::contact::schema::Rule;
use crate::error::{Error, Result};
use crate::pointer::Pointer;

/// Top-level sections of the document.
pub const SECTIONS: [&str; 3] = ["profile", "preferences", "custom"];

/// Contact channels a customer can name in `/preferences/channels`.
pub const CHANNELS: [&str; 7] = ["email", "phone", "sms", "post", "app", "inbox", "none"];

/// How often a customer is willing to hear from a business, in `/preferences/frequency`.
pub const FREQUENCIES: [&str; 7] = [
    "never",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
    "on_change",
];

const PROFILE_CLAIMS: [(&str, Kind); 20] = [
    ("name", Kind::Text),
    ("given_name", Kind::Text),
    ("family_name", Kind::Text),
    ("middle_name", Kind::Text),
    ("nickname", Kind::Text),
    ("preferred_username", Kind::Text),
    ("profile", Kind::Url),
    ("picture", Kind::Url),
    ("website", Kind::Url),
    ("email", Kind::Email),
    ("email_verified", Kind::Bool),
    ("gender", Kind::Text),
    ("birthdate", Kind::Birthdate),
    ("zoneinfo", Kind::Text),
    ("locale", Kind::LanguageTag),
    ("phone_number", Kind::Phone),
    ("phone_number_verified", Kind::Bool),
    ("updated_at", Kind::Timestamp),
    ("address", Kind::Address),
    ("addresses", Kind::ListOf(&Kind::Address)),
];

/// The fields an address object may hold (in `/profile/address` and each of
/// `/profile/addresses`), each a non-empty string.
pub const ADDRESS_FIELDS: [&str; 7] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
    "label",
];

const PREFERENCES: [(&str, Kind); 11] = [
    ("channels", Kind::ListOf(&Kind::OneOf(&CHANNELS))),
    ("topics", Kind::ListOf(&Kind::Text)),
    ("frequency", Kind::OneOf(&FREQUENCIES)),
    ("language", Kind::LanguageTag),
    ("anonymous", Kind::Bool),
    ("do_not_contact", Kind::Bool),
    // The contact policy's own rules (crate::contact), which no single form control holds.
    ("blocked_topics", Kind::ListOf(&Kind::Text)),
    ("time_zone", Kind::Contact(Rule::TimeZone)),
    ("caps", Kind::Contact(Rule::Caps)),
    ("quiet_hours", Kind::Contact(Rule::QuietHours)),
    ("businesses", Kind::Contact(Rule::Businesses)),
];

/// How a named field of `/profile` or `/preferences` is written, for front ends that offer a
/// control per field (the dashboard's form). Derived from the same rules [`validate_at`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A non-empty string.
    Text,
    /// An http(s) URL.
    Url,
    Email,
    Bool,
    /// `YYYY-MM-DD`, `YYYY` or `0000-MM-DD`.
    Birthdate,
    /// A language tag like `nl-NL`.
    LanguageTag,
    Phone,
    /// Seconds since 1970, a number.
    Timestamp,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A list, each item one of these words.
    ManyOf(&'static [&'static str]),
    /// A list of non-empty strings.
    TextList,
    /// An address object of [`ADDRESS_FIELDS`].
    Address,
    /// A list of address objects.
    AddressList,
}

/// A named field of `/profile` or `/preferences` and how it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// `/profile/email`, `/preferences/channels`, …
    pub pointer: Pointer,
    /// The claim or preference: `email`, `channels`, …
    pub name: &'static str,
    pub kind: FieldKind,
}

/// Every field `/profile` may hold, in the order of the rules.
pub fn profile_fields() -> Vec<Field> {
    fields_of("profile", &PROFILE_CLAIMS)
}

/// Every field `/preferences` may hold, in the order of the rules.
pub fn preference_fields() -> Vec<Field> {
    fields_of("preferences", &PREFERENCES)
}

fn fields_of(section: &str, table: &[(&'static str, Kind)]) -> Vec<Field> {
    let base = Pointer::from_tokens([section]);
    table
        .iter()
        .filter_map(|&(name, kind)| {
            Some(Field {
                pointer: base.child(name),
                name,
                kind: kind.field_kind()?,
            })
        })
        .collect()
}

/// What a place in the document may hold.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Root,
    Profile,
    Preferences,
    Address,
    Anything,
    Text,
    Url,
    Email,
    Bool,
    Birthdate,
    LanguageTag,
    Phone,
    Timestamp,
    OneOf(&'static [&'static str]),
    ListOf(&'static Kind),
    /// A place in the contact policy, whose rules live in [`crate::contact`].
    Contact(Rule),
}

impl Kind {
    /// The public face of a named field's kind; `None` for kinds no named field has.
    fn field_kind(self) -> Option<FieldKind> {
        Some(match self {
            Kind::Text => FieldKind::Text,
            Kind::Url => FieldKind::Url,
            Kind::Email => FieldKind::Email,
            Kind::Bool => FieldKind::Bool,
            Kind::Birthdate => FieldKind::Birthdate,
            Kind::LanguageTag => FieldKind::LanguageTag,
            Kind::Phone => FieldKind::Phone,
            Kind::Timestamp => FieldKind::Timestamp,
            Kind::OneOf(options) => FieldKind::OneOf(options),
            Kind::Address => FieldKind::Address,
            Kind::ListOf(Kind::OneOf(options)) => FieldKind::ManyOf(options),
            Kind::ListOf(Kind::Text) => FieldKind::TextList,
            Kind::ListOf(Kind::Address) => FieldKind::AddressList,
            Kind::Root | Kind::Profile | Kind::Preferences | Kind::Anything | Kind::ListOf(_) => {
                return None;
            }
            Kind::Contact(_) => return None,
        })
    }

    fn describe(self) -> String {
        match self {
            Kind::Root | Kind::Profile | Kind::Preferences | Kind::Address => "an object".into(),
            Kind::Anything => "any JSON value".into(),
            Kind::Text => "a non-empty string".into(),
            Kind::Url => "an http(s) URL".into(),
            Kind::Email => "an e-mail address like name@example.org".into(),
            Kind::Bool => "true or false".into(),
            Kind::Birthdate => "a date as YYYY-MM-DD (or YYYY, or 0000-MM-DD)".into(),
            Kind::LanguageTag => "a language tag like nl-NL or en".into(),
            Kind::Phone => "a phone number like +31 20 123 4567".into(),
            Kind::Timestamp => "seconds since 1970 as a number".into(),
            Kind::OneOf(options) => format!("one of {}", options.join(", ")),
            Kind::ListOf(inner) => format!("a list of {}", inner.describe()),
            Kind::Contact(_) => "a contact rule".into(),
        }
    }

    /// The kind one level down, at `token`; `at` names the child for messages.
    fn child(self, token: &str, at: &Pointer) -> Result<Kind> {
        let found = match self {
            Kind::Root => match token {
                "profile" => Some(Kind::Profile),
                "preferences" => Some(Kind::Preferences),
                "custom" => Some(Kind::Anything),
                _ => {
                    return Err(Error::invalid(format!(
                        "{at} is not a section of the vault; use /profile, /preferences or /custom"
                    )));
                }
            },
            Kind::Profile => lookup(&PROFILE_CLAIMS, token),
            Kind::Preferences => lookup(&PREFERENCES, token),
            Kind::Address => ADDRESS_FIELDS.contains(&token).then_some(Kind::Text),
            Kind::Anything => Some(Kind::Anything),
            Kind::Contact(rule) => return rule.child(token, at).map(Kind::Contact),
            Kind::ListOf(inner) => {
                let is_index = token == "-"
                    || (!token.is_empty()
                        && token.bytes().all(|b| b.is_ascii_digit())
                        && (token == "0" || !token.starts_with('0')));
                if !is_index {
                    return Err(Error::invalid(format!(
                        "{at}: {token:?} is not an index into a list"
                    )));
                }
                Some(*inner)
            }
            _ => {
                return Err(Error::invalid(format!(
                    "{at} cannot exist: its parent holds {}, which has no fields",
                    self.describe()
                )));
            }
        };
        found.ok_or_else(|| match self {
            Kind::Profile => Error::invalid(format!(
                "{at} is not an OpenID Connect profile claim; known claims are {}; \
                 put other fields under /custom",
                PROFILE_CLAIMS.map(|(n, _)| n).join(", ")
            )),
            Kind::Preferences => Error::invalid(format!(
                "{at} is not a known preference; known preferences are {}; \
                 put other fields under /custom",
                PREFERENCES.map(|(n, _)| n).join(", ")
            )),
            _ => Error::invalid(format!(
                "{at} is not an address field; address fields are {}",
                ADDRESS_FIELDS.join(", ")
            )),
        })
    }

    fn check(self, value: &Value, at: &Pointer) -> Result<()> {
        let ok = match (self, value) {
            (Kind::Anything, _) => true,
            (Kind::Contact(rule), _) => return rule.check(value, at),
            (Kind::Root | Kind::Profile | Kind::Preferences | Kind::Address, Value::Object(m)) => {
                for (key, child) in m {
                    let child_at = at.child(key.clone());
                    self.child(key, &child_at)?.check(child, &child_at)?;
                }
                true
            }
            (Kind::ListOf(inner), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    inner.check(item, &at.child(i.to_string()))?;
                }
                true
            }
            (Kind::Text, Value::String(s)) => !s.trim().is_empty(),
            (Kind::Url, Value::String(s)) => is_url(s),
            (Kind::Email, Value::String(s)) => is_email(s),
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::Birthdate, Value::String(s)) => is_birthdate(s),
            (Kind::LanguageTag, Value::String(s)) => is_language_tag(s),
            (Kind::Phone, Value::String(s)) => is_phone(s),
            (Kind::Timestamp, Value::Number(n)) => n.as_u64().is_some(),
            (Kind::OneOf(options), Value::String(s)) => options.contains(&s.as_str()),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "{} must be {}, not {}",
                if at.is_root() {
                    "the document".into()
                } else {
                    at.to_string()
                },
                self.describe(),
                shown(value)
            )))
        }
    }
}

fn lookup(table: &[(&str, Kind)], token: &str) -> Option<Kind> {
    table.iter().find(|(n, _)| *n == token).map(|(_, k)| *k)
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// Checks that `value`, placed at `at`, fits the vault's shape.
pub fn validate_at(at: &Pointer, value: &Value) -> Result<()> {
    let mut kind = Kind::Root;
    for depth in 0..at.depth() {
        kind = kind.child(&at.tokens()[depth], &at.prefix(depth + 1))?;
    }
    kind.check(value, at)
}

/// Checks a whole document.
pub fn validate(document: &Value) -> Result<()> {
    validate_at(&Pointer::root(), document)
}

/// The depth of the first list the pointer goes *into* (e.g. 2 for `/preferences/channels/0`):
/// a write there needs the list to exist already, since missing parents are made as objects.
pub fn list_depth(at: &Pointer) -> Option<usize> {
    let mut kind = Kind::Root;
    for depth in 0..at.depth() {
        if matches!(kind, Kind::ListOf(_)) {
            return Some(depth);
        }
        kind = kind
            .child(&at.tokens()[depth], &at.prefix(depth + 1))
            .ok()?;
    }
    None
}

/// A JSON Schema pattern of the pointers [`validate_pointer`] takes, for the API description:
/// every section, claim, preference and address field, list indices, and anything under
/// `/custom`. The members inside the contact policy's preferences (`/preferences/caps/0/…`)
/// are left out: a description that names fewer places than the vault takes keeps a generated
/// client on the safe side.
pub fn pointer_pattern() -> String {
    const TOKEN: &str = "(?:[^/~]|~[01])*";
    const INDEX: &str = "(?:-|0|[1-9][0-9]*)";
    fn below(kind: Kind) -> String {
        let table = |names: Vec<(&str, String)>| {
            let alternatives: Vec<String> = names
                .into_iter()
                .map(|(name, rest)| format!("{name}{rest}"))
                .collect();
            format!("(?:/(?:{}))?", alternatives.join("|"))
        };
        match kind {
            Kind::Profile => table(PROFILE_CLAIMS.iter().map(|&(n, k)| (n, below(k))).collect()),
            Kind::Preferences => table(PREFERENCES.iter().map(|&(n, k)| (n, below(k))).collect()),
            Kind::Address => table(ADDRESS_FIELDS.iter().map(|&n| (n, String::new())).collect()),
            Kind::Anything => format!("(?:/{TOKEN})*"),
            Kind::ListOf(inner) => format!("(?:/{INDEX}{})?", below(*inner)),
            _ => String::new(),
        }
    }
    format!(
        "^/(?:profile{}|preferences{}|custom{})$",
        below(Kind::Profile),
        below(Kind::Preferences),
        below(Kind::Anything)
    )
}

/// Checks that a pointer names a place that may exist in a vault (used for grants and queries).
pub fn validate_pointer(at: &Pointer) -> Result<()> {
    let mut kind = Kind::Root;
    for depth in 0..at.depth() {
        kind = kind.child(&at.tokens()[depth], &at.prefix(depth + 1))?;
    }
    Ok(())
}

pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !local.contains('@')
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

pub(crate) fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// The rule of `/profile/phone_number`: digits, spaces and `-().`, a `+` only in front, 6 to
/// 15 digits (E.164 allows 15). Access requests hold a business's phone to it too.
pub(crate) fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let allowed = s
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -().".contains(c) || (c == '+' && i == 0));
    allowed && (6..=15).contains(&digits)
}

fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// OpenID Connect birthdate: `YYYY-MM-DD`, `YYYY` alone, or `0000-MM-DD` when the year is withheld.
fn is_birthdate(s: &str) -> bool {
    if s.len() == 4 {
        return s.bytes().all(|b| b.is_ascii_digit()) && s != "0000";
    }
    let shape_ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return false;
    }
    let Some([y, m, d]) = s
        .split('-')
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|v| <[u16; 3]>::try_from(v).ok())
    else {
        return false;
    };
    if s.len() != 10 || !(1..=12).contains(&m) {
        return false;
    }
    let leap = y == 0 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=days).contains(&d)
}

/// A small, valid sample document for demos and tests.
pub fn sample() -> Value {
    serde_json::json!({
        "profile": {
            "name": "Anna de Vries",
            "given_name": "Anna",
            "family_name": "de Vries",
            "email": "anna@example.nl",
            "email_verified": true,
            "phone_number": "+31 20 123 4567",
            "birthdate": "1984-03-12",
            "locale": "nl-NL",
            "address": {
                "street_address": "Prinsengracht 263",
                "locality": "Amsterdam",
                "postal_code": "1016 GV",
                "country": "NL"
            }
        },
        "preferences": {
            "channels": ["email", "post"],
            "topics": ["orders", "new products"],
            "frequency": "monthly",
            "language": "nl",
            "anonymous": false
        },
        "custom": {
            "shoe_size": 39,
            "loyalty/ids": {"bakery~corner": "B-1"}
        }
    })
}

#[cfg(test)]
mod tests;
