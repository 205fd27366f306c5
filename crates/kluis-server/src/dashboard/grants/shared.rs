//! What the grants, requests and receipts pages share: filling a translated sentence, a field
//! named for people, durations in words, the "Expires after" choices, a grant's status, and a
//! value from the query string (the status messages after a redirect).

use kluis_core::Pointer;
use kluis_core::grant::{MAX_LIFETIME_SECS, Status, parse_lifetime};

use crate::dashboard::i18n::Lang;
use crate::dashboard::words;

/// `template` with each `{name}` replaced by its value, in one pass: a value that itself holds
/// `{…}` (a business's name may) is never filled again.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let found = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (close, *v))
        });
        match found {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A field as a checkbox label: its name in words, or else its last key made readable
/// (`shoe_size` → `shoe size`).
pub fn field_label(lang: Lang, pointer: &Pointer) -> String {
    let named = words::field(lang, pointer);
    if named != pointer.to_string() {
        return named;
    }
    pointer
        .tokens()
        .last()
        .map_or(named, |last| last.replace('_', " "))
}

/// The first letter in capitals: a section's name as a heading.
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `30 days`, `1 day`, `12 hours`, `90 minutes`, `61 seconds`.
pub fn duration_words(lang: Lang, secs: i64) -> String {
    let (n, en, nl) = if secs % 86_400 == 0 {
        (secs / 86_400, ("day", "days"), ("dag", "dagen"))
    } else if secs % 3600 == 0 {
        (secs / 3600, ("hour", "hours"), ("uur", "uur"))
    } else if secs % 60 == 0 {
        (secs / 60, ("minute", "minutes"), ("minuut", "minuten"))
    } else {
        (secs, ("second", "seconds"), ("seconde", "seconden"))
    };
    let (one, many) = match lang {
        Lang::En => en,
        Lang::Nl => nl,
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One option of an "Expires after" select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The select's usual values (`kluis grant create --expires` takes the same).
const PRESETS: [(&str, &str, &str); 5] = [
    ("1d", "1 day", "1 dag"),
    ("7d", "7 days", "7 dagen"),
    ("30d", "30 days", "30 dagen"),
    ("90d", "90 days", "90 dagen"),
    ("365d", "1 year", "1 jaar"),
];

/// What the select shows when the owner has not chosen: the CLI's default, 30 days.
pub const DEFAULT_EXPIRY: &str = "30d";

/// The options of an "Expires after" select, `selected` chosen (compared as durations, so
/// `720h` selects 30 days). `asked` (a business's requested duration) is marked as asked, and
/// added as its own option when it is not one of the usual ones.
pub fn expiry_choices(lang: Lang, selected: &str, asked: Option<i64>) -> Vec<Choice> {
    let chosen = parse_lifetime(selected).ok();
    let asked_mark = lang.pick(" (asked)", " (gevraagd)");
    let mut choices: Vec<Choice> = PRESETS
        .iter()
        .map(|(value, en, nl)| {
            let secs = parse_lifetime(value).ok();
            let mut label = lang.pick(*en, *nl).to_owned();
            if asked.is_some() && secs == asked {
                label.push_str(asked_mark);
            }
            Choice {
                value: (*value).to_owned(),
                label,
                selected: secs.is_some() && secs == chosen,
            }
        })
        .collect();
    if let Some(asked) = asked
        && !choices
            .iter()
            .any(|c| parse_lifetime(&c.value).ok() == Some(asked))
    {
        let at = choices
            .iter()
            .position(|c| parse_lifetime(&c.value).is_ok_and(|s| s > asked))
            .unwrap_or(choices.len());
        choices.insert(
            at,
            Choice {
                value: format!("{asked}s"),
                label: format!("{}{asked_mark}", duration_words(lang, asked)),
                selected: chosen == Some(asked),
            },
        );
    }
    choices
}

/// A chosen expiry in seconds, or the message for the owner (the CLI's words for `--expires`).
pub fn parse_expiry(text: &str) -> Result<i64, String> {
    let secs = parse_lifetime(text).map_err(|e| e.to_string())?;
    if !(60..=MAX_LIFETIME_SECS).contains(&secs) {
        return Err("a grant must run at least a minute and at most a year".to_owned());
    }
    Ok(secs)
}

/// A grant's status in a word, and the class that colours it.
pub fn status_word(lang: Lang, status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Active => (lang.pick("active", "actief"), "ok"),
        Status::Revoked => (lang.pick("revoked", "ingetrokken"), "meta"),
        Status::Expired => (lang.pick("expired", "verlopen"), "meta"),
    }
}

/// The value of `name` in a raw query string.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filling_is_one_pass() {
        assert_eq!(
            fill(
                "{business} may read {fields}",
                &[("business", "{fields}"), ("fields", "e-mail")]
            ),
            "{fields} may read e-mail"
        );
        assert_eq!(fill("a {b", &[("b", "x")]), "a {b");
        assert_eq!(fill("{unknown} {b}", &[("b", "x")]), "{unknown} x");
    }

    #[test]
    fn words_for_fields_and_durations() {
        let p = |t: &str| Pointer::parse(t).unwrap();
        assert_eq!(field_label(Lang::En, &p("/profile/email")), "e-mail");
        assert_eq!(field_label(Lang::En, &p("/custom/shoe_size")), "shoe size");
        assert_eq!(capitalized("custom fields"), "Custom fields");
        assert_eq!(duration_words(Lang::En, 86_400), "1 day");
        assert_eq!(duration_words(Lang::Nl, 14 * 86_400), "14 dagen");
        assert_eq!(duration_words(Lang::En, 5400), "90 minutes");
        assert_eq!(duration_words(Lang::En, 61), "61 seconds");
    }

    #[test]
    fn expiry_choices_select_and_mark_the_asked_duration() {
        let plain = expiry_choices(Lang::En, DEFAULT_EXPIRY, None);
        let selected: Vec<&str> = plain
            .iter()
            .filter(|c| c.selected)
            .map(|c| c.value.as_str())
            .collect();
        assert_eq!(selected, ["30d"]);
        assert_eq!(plain.len(), PRESETS.len());

        // Asked for 14 days: its own option, in order, chosen.
        let asked = expiry_choices(Lang::En, "1209600s", Some(14 * 86_400));
        let labels: Vec<&str> = asked.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "1 day",
                "7 days",
                "14 days (asked)",
                "30 days",
                "90 days",
                "1 year"
            ]
        );
        assert!(asked[2].selected && asked.iter().filter(|c| c.selected).count() == 1);
        assert_eq!(parse_expiry(&asked[2].value), Ok(14 * 86_400));

        // Asked for a usual one: marked, not repeated.
        let usual = expiry_choices(Lang::En, "7d", Some(7 * 86_400));
        assert_eq!(usual.len(), PRESETS.len());
        assert_eq!(usual[1].label, "7 days (asked)");
        assert!(usual[1].selected);
    }

    #[test]
    fn expiries_are_bounded() {
        assert_eq!(parse_expiry("7d"), Ok(7 * 86_400));
        assert!(parse_expiry("400d").unwrap_err().contains("at most a year"));
        assert!(parse_expiry("30s").is_err());
        assert!(parse_expiry("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn query_values() {
        assert_eq!(
            query_value(Some("revoked=g_x&told=1"), "told").as_deref(),
            Some("1")
        );
        assert_eq!(query_value(Some("a=1"), "b"), None);
        assert_eq!(query_value(None, "b"), None);
    }
}
