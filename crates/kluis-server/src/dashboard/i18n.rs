//! English and Dutch for the dashboard: chosen from a `kluis_lang` cookie (set by the switch on
//! every page) or else `Accept-Language`. Texts are plain structs of `&'static str`, one per
//! page module plus [`Common`] here, so a missing translation does not compile.

use axum::http::HeaderMap;
use axum::http::header;

use super::session::cookie_value;

pub const COOKIE: &str = "kluis_lang";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Nl,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Lang::En),
            "nl" => Some(Lang::Nl),
            _ => None,
        }
    }

    /// The other language, which the switch offers.
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Nl,
            Lang::Nl => Lang::En,
        }
    }

    /// The language of a request: the cookie, else the best of `Accept-Language`, else English.
    pub fn of(headers: &HeaderMap) -> Self {
        if let Some(lang) = cookie_value(headers, COOKIE).and_then(Lang::parse) {
            return lang;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The `Set-Cookie` value that remembers the choice.
    pub fn cookie(self) -> String {
        format!(
            "{COOKIE}={}; Path={}; SameSite=Strict; Max-Age=31536000",
            self.code(),
            super::BASE
        )
    }

    /// Picks this language's of two texts.
    pub fn pick<T: ?Sized>(self, en: &'static T, nl: &'static T) -> &'static T {
        match self {
            Lang::En => en,
            Lang::Nl => nl,
        }
    }
}

/// Texts every page shows: the navigation, the switch, sign-out, common words.
pub struct Common {
    pub skip: &'static str,
    pub nav_label: &'static str,
    pub overview: &'static str,
    pub profile: &'static str,
    pub grants: &'static str,
    pub requests: &'static str,
    pub log: &'static str,
    pub notifications: &'static str,
    pub receipts: &'static str,
    pub contact: &'static str,
    pub inbox: &'static str,
    pub relationships: &'static str,
    /// After the count of overdue promises beside the relationships: `(2 overdue)`.
    pub overdue: &'static str,
    pub passphrase: &'static str,
    pub sign_out: &'static str,
    pub other_language: &'static str,
    pub vault: &'static str,
}

pub const EN: Common = Common {
    skip: "Skip to the content",
    nav_label: "Main",
    overview: "Overview",
    profile: "Profile",
    grants: "Grants",
    requests: "Requests",
    log: "Access log",
    notifications: "Notifications",
    receipts: "Receipts",
    contact: "Contact",
    inbox: "Inbox",
    relationships: "Relationships",
    overdue: "overdue",
    passphrase: "Passphrase",
    sign_out: "Sign out",
    other_language: "Nederlands",
    vault: "Your Kluis vault",
};

pub const NL: Common = Common {
    skip: "Naar de inhoud",
    nav_label: "Hoofdmenu",
    overview: "Overzicht",
    profile: "Profiel",
    grants: "Toegang",
    requests: "Verzoeken",
    log: "Inzagelog",
    notifications: "Meldingen",
    receipts: "Bewijzen",
    contact: "Contact",
    inbox: "Postvak",
    relationships: "Relaties",
    overdue: "te laat",
    passphrase: "Wachtzin",
    sign_out: "Afmelden",
    other_language: "English",
    vault: "Uw Kluis",
};

impl Common {
    pub fn of(lang: Lang) -> &'static Common {
        lang.pick(&EN, &NL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_cookie_wins_then_the_best_accepted_language() {
        assert_eq!(Lang::of(&headers(&[])), Lang::En);
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "nl-NL,nl;q=0.9,en;q=0.8")])),
            Lang::Nl
        );
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "de, en;q=0.5, nl;q=0.7")])),
            Lang::Nl
        );
        assert_eq!(Lang::of(&headers(&[("accept-language", "fr")])), Lang::En);
        assert_eq!(
            Lang::of(&headers(&[
                ("accept-language", "nl"),
                ("cookie", "kluis_lang=en")
            ])),
            Lang::En
        );
    }
}
