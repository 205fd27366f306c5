//! Each pattern against the check it describes, on generated strings drawn from the characters
//! where the rules differ: whitespace that trimming removes (and `\u{85}`, both whitespace and
//! control), other controls, the separators of pointers, URLs and e-mail addresses, digits,
//! base64 letters and non-ASCII text. Where a pattern says exactly what the check takes, the two
//! must agree on every string; where it names fewer (an ASCII e-mail address, the pointers
//! outside the contact policy), whatever it matches must pass the check.

use proptest::prelude::*;
use regex::Regex;

use super::*;
use crate::contact::{MAX_TOPIC_CHARS, check_topic};
use crate::grant::BusinessId;
use crate::jose::Jwk;
use crate::pointer::Pointer;

/// The pattern compiled, once per pattern.
fn re(pattern: &str) -> Regex {
    static COMPILED: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, Regex>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut compiled = COMPILED.lock().unwrap();
    compiled
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
        .clone()
}

/// Strings of up to `len` characters from the characters the rules care about.
fn text(len: usize) -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', 'Z', 'é', '0', '1', '7', ' ', '\t', '\n', '\r', '\u{85}', '\u{a0}', '\u{2028}',
        '\u{1}', '\u{7f}', '\u{9f}', '/', '~', ',', '@', '.', '-', '+', '(', ')', '#', '?', ':',
        '_', '=', '\\', 'w', 'A', 'h', 't', 'p', 's',
    ]);
    prop::collection::vec(chars, 0..len).prop_map(|v| v.into_iter().collect())
}

/// The same, behind a fixed start (`https://`, `/profile`…), so that the deeper rules are met.
fn after(start: &'static str, len: usize) -> impl Strategy<Value = String> {
    text(len).prop_map(move |rest| format!("{start}{rest}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn trimmed_texts(s in text(8)) {
        let pattern = re(&trimmed_text(5));
        let check = |s: &str| {
            let t = s.trim();
            !t.is_empty() && t.chars().count() <= 5 && !t.chars().any(char::is_control)
        };
        prop_assert_eq!(pattern.is_match(&s), check(&s), "{:?}", s);
    }

    #[test]
    fn topics_of_a_contact_right(s in text(80)) {
        let pattern = re(&trimmed_text(MAX_TOPIC_CHARS));
        prop_assert_eq!(pattern.is_match(&s), check_topic(&s).is_ok(), "{:?}", s);
    }

    #[test]
    fn inbox_texts(s in text(12)) {
        let subject = |s: &str| !s.trim().is_empty() && !s.chars().any(char::is_control);
        prop_assert_eq!(re(&untrimmed_text()).is_match(&s), subject(&s), "{:?}", s);
        prop_assert_eq!(re(&message_text()).is_match(&s), crate::inbox::check_body(&s).is_ok(), "{:?}", s);
    }

    #[test]
    fn file_names(s in text(8)) {
        let check = |s: &str| {
            let t = s.trim();
            !t.is_empty() && t.chars().count() <= 6
                && !t.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        };
        prop_assert_eq!(re(&file_name(6)).is_match(&s), check(&s), "{:?}", s);
    }

    #[test]
    fn business_ids_and_phones(s in text(20)) {
        prop_assert_eq!(re(BUSINESS_ID).is_match(&s), BusinessId::parse(&s).is_ok(), "{:?}", s);
        let phone = s.chars().count() <= 32 && crate::document::is_phone(&s);
        prop_assert_eq!(re(PHONE).is_match(&s), phone, "{:?}", s);
    }

    #[test]
    fn e_mail_addresses(s in text(12), local in "[a-z0-9.+-]{1,5}", domain in "[a-z0-9-]{1,4}(\\.[a-z0-9-]{0,4}){0,3}") {
        for candidate in [s.clone(), format!("{local}@{domain}"), format!("{s}@a.b")] {
            if re(EMAIL).is_match(&candidate) {
                prop_assert!(crate::document::is_email(&candidate), "{:?}", candidate);
            }
            let ascii = candidate.chars().all(|c| c.is_ascii_graphic());
            if ascii && crate::document::is_email(&candidate) {
                prop_assert!(re(EMAIL).is_match(&candidate), "{:?}", candidate);
            }
        }
    }

    #[test]
    fn webhook_urls(s in after("https://", 10), t in after("http://", 10)) {
        for url in [s, t] {
            let ascii = url.chars().all(|c| c.is_ascii_graphic());
            let https = crate::notify::check_url(&url, false).is_ok();
            let http = crate::notify::check_url(&url, true).is_ok();
            prop_assert_eq!(re(HTTPS_WEBHOOK_URL).is_match(&url), ascii && https, "{:?}", url);
            prop_assert_eq!(re(HTTP_WEBHOOK_URL).is_match(&url), ascii && http, "{:?}", url);
            let callback = ascii && crate::document::is_url(&url);
            prop_assert_eq!(re(HTTP_URL).is_match(&url), callback, "{:?}", url);
        }
    }

    #[test]
    fn pointers_of_a_read(s in text(10), t in after("/", 10)) {
        let check = |query: &str| {
            let parts: Vec<&str> = query.split(',').filter(|p| !p.is_empty()).collect();
            !parts.is_empty() && parts.iter().all(|p| Pointer::parse(p).is_ok_and(|p| !p.is_root()))
        };
        for query in [s, t] {
            prop_assert_eq!(re(POINTER_LIST).is_match(&query), check(&query), "{:?}", query);
        }
    }

    #[test]
    fn pointers_of_a_request(s in after("/profile", 12), t in after("/preferences/", 12), u in after("/custom", 8)) {
        let pattern = re(&crate::document::pointer_pattern());
        for text in [s, t, u] {
            let valid = Pointer::parse(&text).is_ok_and(|p| crate::document::validate_pointer(&p).is_ok());
            if pattern.is_match(&text) {
                prop_assert!(valid, "{:?}", text);
            }
        }
    }

    #[test]
    fn keys_and_base64(x in "[A-Za-z0-9_=+/-]{40,45}", data in "[A-Za-z0-9+/=]{0,9}") {
        let jwk = Jwk { kty: "OKP".into(), crv: "Ed25519".into(), x: x.clone(), kid: None, alg: None, use_: None };
        prop_assert_eq!(re(ED25519_X).is_match(&x), jwk.ed25519_bytes().is_ok(), "{:?}", x);
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(&data);
        let taken = decoded.is_ok_and(|bytes| !bytes.is_empty());
        prop_assert_eq!(re(BASE64).is_match(&data), taken, "{:?}", data);
    }

    #[test]
    fn media_types(s in text(10)) {
        prop_assert_eq!(re(MEDIA_TYPE).is_match(&s), crate::relationship::post::is_media_type(&s), "{:?}", s);
    }

    #[test]
    fn ids(s in "[a-z0-9_]{0,30}") {
        let id = format!("r_{s}");
        prop_assert_eq!(re(&random_id("r_")).is_match(&id), crate::id::is_random_id(&id, "r_"), "{:?}", id);
    }
}

#[test]
fn the_pointers_a_request_may_name() {
    let pattern = re(&crate::document::pointer_pattern());
    for ok in [
        "/profile",
        "/profile/email",
        "/profile/address/locality",
        "/profile/addresses/0/postal_code",
        "/profile/addresses/-",
        "/preferences/topics/12",
        "/preferences/caps",
        "/custom",
        "/custom/loyalty~1ids/bakery~0corner",
    ] {
        assert!(pattern.is_match(ok), "{ok}");
    }
    for bad in [
        "",
        "/",
        "/profile/shoe_size",
        "/profile/email/x",
        "/profile/addresses/01",
        "/custom/a~2",
        "/secrets",
    ] {
        assert!(!pattern.is_match(bad), "{bad}");
    }
}

#[test]
fn days_through_a_day_take_it_and_no_later() {
    use jiff::civil::date;
    let pattern = re(&days_through(2026, 12, 2));
    for day in [
        date(2026, 12, 2),
        date(2026, 11, 30),
        date(2025, 12, 31),
        date(1, 1, 1),
    ] {
        assert!(pattern.is_match(&day.to_string()), "{day}");
    }
    for later in [date(2026, 12, 3), date(2027, 1, 1), date(9999, 12, 31)] {
        assert!(!pattern.is_match(&later.to_string()), "{later}");
    }
    // Every day of three years around the bound, against the date order.
    let bound = date(2026, 3, 1);
    let pattern = re(&days_through(2026, 3, 1));
    let mut day = date(2025, 1, 1);
    while day < date(2028, 1, 1) {
        assert_eq!(pattern.is_match(&day.to_string()), day <= bound, "{day}");
        day = day.tomorrow().unwrap();
    }
}
