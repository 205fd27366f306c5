//! Saying vault things in words: field pointers as people name them ("your e-mail"), lists
//! ("e-mail, phone and address"), in English and Dutch. Pointers without a name of their own are
//! shown as they are.

use kluis_core::Pointer;

use super::i18n::Lang;

/// (pointer, English, Dutch) for the fields people share most.
const NAMES: &[(&str, &str, &str)] = &[
    ("/profile", "profile", "profiel"),
    ("/profile/name", "name", "naam"),
    ("/profile/given_name", "given name", "voornaam"),
    ("/profile/family_name", "family name", "achternaam"),
    ("/profile/middle_name", "middle name", "tussennaam"),
    ("/profile/nickname", "nickname", "roepnaam"),
    ("/profile/preferred_username", "user name", "gebruikersnaam"),
    ("/profile/profile", "profile page", "profielpagina"),
    ("/profile/picture", "picture", "foto"),
    ("/profile/website", "website", "website"),
    ("/profile/email", "e-mail", "e-mailadres"),
    (
        "/profile/email_verified",
        "e-mail verified",
        "e-mail bevestigd",
    ),
    ("/profile/gender", "gender", "gender"),
    ("/profile/birthdate", "date of birth", "geboortedatum"),
    ("/profile/zoneinfo", "time zone", "tijdzone"),
    ("/profile/locale", "locale", "taalregio"),
    ("/profile/phone_number", "phone number", "telefoonnummer"),
    (
        "/profile/phone_number_verified",
        "phone verified",
        "telefoon bevestigd",
    ),
    ("/profile/updated_at", "last update", "laatst bijgewerkt"),
    ("/profile/address", "address", "adres"),
    ("/profile/addresses", "other addresses", "andere adressen"),
    ("/preferences", "preferences", "voorkeuren"),
    (
        "/preferences/channels",
        "contact channels",
        "contactkanalen",
    ),
    ("/preferences/topics", "topics", "onderwerpen"),
    (
        "/preferences/blocked_topics",
        "blocked topics",
        "geblokkeerde onderwerpen",
    ),
    ("/preferences/frequency", "how often", "hoe vaak"),
    ("/preferences/language", "language", "taal"),
    ("/preferences/anonymous", "anonymity", "anonimiteit"),
    (
        "/preferences/do_not_contact",
        "do not contact",
        "niet benaderen",
    ),
    ("/custom", "custom fields", "eigen velden"),
];

/// A field as people name it, e.g. `e-mail` for `/profile/email`.
pub fn field(lang: Lang, pointer: &Pointer) -> String {
    let text = pointer.to_string();
    NAMES
        .iter()
        .find(|(p, _, _)| *p == text)
        .map_or(text, |(_, en, nl)| lang.pick(*en, *nl).to_owned())
}

/// Fields in words: `e-mail and address`.
pub fn fields(lang: Lang, pointers: &[Pointer]) -> String {
    let names: Vec<String> = pointers.iter().map(|p| field(lang, p)).collect();
    list(lang, &names)
}

/// `a`, `a and b`, `a, b and c` (Dutch: `en`).
pub fn list(lang: Lang, items: &[String]) -> String {
    let and = lang.pick("and", "en");
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {and} {last}", rest.join(", ")),
    }
}

/// (address field, English, Dutch), for `/profile/address` and each of `/profile/addresses`.
const ADDRESS_PARTS: &[(&str, &str, &str)] = &[
    (
        "formatted",
        "whole address as written",
        "volledig adres zoals geschreven",
    ),
    (
        "street_address",
        "street and number",
        "straat en huisnummer",
    ),
    ("locality", "city or town", "plaats"),
    ("region", "region or province", "regio of provincie"),
    ("postal_code", "postal code", "postcode"),
    ("country", "country", "land"),
    ("label", "label (home, work, …)", "label (thuis, werk, …)"),
];

/// (channel, English, Dutch) for `/preferences/channels`.
const CHANNELS: &[(&str, &str, &str)] = &[
    ("email", "e-mail", "e-mail"),
    ("phone", "phone", "telefoon"),
    ("sms", "text message", "sms"),
    ("post", "post", "post"),
    ("app", "app", "app"),
    ("inbox", "Kluis inbox", "Kluis-inbox"),
    ("none", "none", "geen"),
];

/// (frequency, English, Dutch) for `/preferences/frequency`.
const FREQUENCIES: &[(&str, &str, &str)] = &[
    ("never", "never", "nooit"),
    ("daily", "daily", "dagelijks"),
    ("weekly", "weekly", "wekelijks"),
    ("monthly", "monthly", "maandelijks"),
    ("quarterly", "quarterly", "per kwartaal"),
    ("yearly", "yearly", "jaarlijks"),
    ("on_change", "when something changes", "bij een wijziging"),
];

const CONTACT_REASONS: &[(&str, &str, &str)] = &[
    (
        "no_contact_right",
        "outside the right you gave it",
        "buiten het recht dat u gaf",
    ),
    (
        "do_not_contact",
        "you want no contact",
        "u wilt geen contact",
    ),
    (
        "channel_off",
        "you do not use that channel",
        "u gebruikt dat kanaal niet",
    ),
    (
        "topic_blocked",
        "you blocked that topic",
        "u blokkeerde dat onderwerp",
    ),
    (
        "topic_not_chosen",
        "you did not choose that topic",
        "u koos dat onderwerp niet",
    ),
    (
        "cap_reached",
        "it reached the number you allow",
        "het bereikte het aantal dat u toestaat",
    ),
    (
        "quiet_hours",
        "during your quiet hours",
        "tijdens uw rustige uren",
    ),
];

fn named(table: &[(&str, &'static str, &'static str)], lang: Lang, key: &str) -> String {
    table.iter().find(|(k, _, _)| *k == key).map_or_else(
        || key.to_owned(),
        |(_, en, nl)| lang.pick(*en, *nl).to_owned(),
    )
}

/// A field of an address in words: `city or town` for `locality`.
pub fn address_part(lang: Lang, name: &str) -> String {
    named(ADDRESS_PARTS, lang, name)
}

/// A contact channel in words: `text message` for `sms`.
pub fn channel(lang: Lang, name: &str) -> String {
    named(CHANNELS, lang, name)
}

/// Why a contact attempt was refused, in words: `you blocked that topic` for
/// `topic_blocked`; a reason of another kind (a revoked grant) as it is.
pub fn contact_reason(lang: Lang, reason: &str) -> String {
    named(CONTACT_REASONS, lang, reason)
}

/// A frequency in words: `monthly`.
pub fn frequency(lang: Lang, name: &str) -> String {
    named(FREQUENCIES, lang, name)
}

/// `e-mail` → `E-mail`: a name as a label starts a sentence.
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_words() {
        let p = |t: &str| Pointer::parse(t).unwrap();
        assert_eq!(
            fields(Lang::En, &[p("/profile/email"), p("/profile/address")]),
            "e-mail and address"
        );
        assert_eq!(
            fields(
                Lang::Nl,
                &[
                    p("/profile/email"),
                    p("/profile/phone_number"),
                    p("/custom/x")
                ]
            ),
            "e-mailadres, telefoonnummer en /custom/x"
        );
    }

    #[test]
    fn every_rule_word_has_a_name() {
        for part in kluis_core::document::ADDRESS_FIELDS {
            assert!(ADDRESS_PARTS.iter().any(|(k, _, _)| *k == part), "{part}");
        }
        for c in kluis_core::document::CHANNELS {
            assert!(CHANNELS.iter().any(|(k, _, _)| *k == c), "{c}");
        }
        for f in kluis_core::document::FREQUENCIES {
            assert!(FREQUENCIES.iter().any(|(k, _, _)| *k == f), "{f}");
        }
        assert_eq!(frequency(Lang::Nl, "on_change"), "bij een wijziging");
        assert_eq!(capitalized("e-mail"), "E-mail");
        assert_eq!(capitalized(""), "");
    }
}
