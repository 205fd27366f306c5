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
}
