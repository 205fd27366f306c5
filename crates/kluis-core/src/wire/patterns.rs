//! The body rules of the grant API as JSON Schema patterns (ECMA-262 regular expressions that
//! Python's `re` reads the same way), for the OpenAPI description. Each pattern says exactly
//! what the check it mirrors accepts, so that a client generated from the description sends
//! only what the server takes; the server's tests hold every pattern to its check.
//!
//! Whitespace is Rust's `char::is_whitespace` (Unicode `White_Space`) and a control character
//! is `char::is_control` (`Cc`): written out, since `\s` differs between regex dialects.

/// Unicode `White_Space`, the characters `str::trim` removes, as class members.
const WS: &str = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The control characters (`Cc`), as class members.
const CTRL: &str = r"\x00-\x1f\x7f-\x9f";

/// The control characters but line feed, carriage return and tab.
const CTRL_BUT_LINES: &str = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f";

/// A text that is trimmed before it is checked: after trimming, 1 to `max` characters and no
/// control characters (the rule of business names, purposes, topics of a contact right).
pub fn trimmed_text(max: usize) -> String {
    let inner = max.saturating_sub(2);
    format!("^[{WS}]*[^{WS}{CTRL}](?:[^{CTRL}]{{0,{inner}}}[^{WS}{CTRL}])?[{WS}]*$")
}

/// A text checked as sent: not blank, no control characters (length by `maxLength`).
pub fn untrimmed_text() -> String {
    format!("^[^{CTRL}]*[^{WS}{CTRL}][^{CTRL}]*$")
}

/// A message text: not blank, no control characters but line breaks and tabs.
pub fn message_text() -> String {
    format!("^[^{CTRL_BUT_LINES}]*[^{WS}{CTRL}][^{CTRL_BUT_LINES}]*$")
}

/// A file name: trimmed, 1 to `max` characters, no control characters, `/` or `\`.
pub fn file_name(max: usize) -> String {
    let inner = max.saturating_sub(2);
    let bad = format!(r"{CTRL}/\\");
    format!("^[{WS}]*[^{WS}{bad}](?:[^{bad}]{{0,{inner}}}[^{WS}{bad}])?[{WS}]*$")
}

/// The channels a business may name: [`crate::document::CHANNELS`] but `none`.
pub const CONTACT_CHANNELS: [&str; 6] = ["email", "phone", "sms", "post", "app", "inbox"];

/// A media type `type/subtype` of RFC 6838 restricted-name characters, 1 to 63 each.
pub const MEDIA_TYPE: &str = r"^[A-Za-z0-9!#$&^_.+-]{1,63}/[A-Za-z0-9!#$&^_.+-]{1,63}$";

/// Canonical standard base64 with padding (RFC 4648 §4), at least one byte.
pub const BASE64: &str = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)$";

/// A business id ([`crate::grant::BusinessId`]).
pub const BUSINESS_ID: &str = r"^[A-Za-z0-9._:/@-]{1,128}$";

/// A phone number: digits, spaces and `-().`, a `+` only in front, 6 to 15 digits.
pub const PHONE: &str = r"^\+?[ ().-]*(?:[0-9][ ().-]*){6,15}$";

/// An e-mail address, in ASCII: a local part of 1 to 64 printable characters without `@`, and
/// a domain of two or more labels of letters, digits and inner hyphens. (The vault also takes
/// non-ASCII letters in domains; the description asks for the ASCII form.)
pub const EMAIL: &str = r"^[!-?A-~]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$";

/// An `http://` or `https://` URL in printable ASCII with a host (an access request's
/// `callback_url`).
pub const HTTP_URL: &str = r#"^https?://[!"$-.0->@-~][!-~]*$"#;

/// An `https://` webhook URL in printable ASCII: a host without user name or password, and
/// no fragment. (Where the host leads, public addresses only, is checked by resolving it.)
pub const HTTPS_WEBHOOK_URL: &str = r#"^https://[!-"$-.0->A-~]+(?:[/?][!-"$-~]*)?$"#;

/// [`HTTPS_WEBHOOK_URL`] with `http://` too, for vaults that allow local webhooks.
pub const HTTP_WEBHOOK_URL: &str = r#"^https?://[!-"$-.0->A-~]+(?:[/?][!-"$-~]*)?$"#;

/// An Ed25519 public key's 32 bytes in canonical base64url without padding (RFC 8037).
pub const ED25519_X: &str = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$";

/// A JSON Pointer (RFC 6901), non-empty.
pub const POINTER: &str = r"^(?:/(?:[^/~]|~[01])*)+$";

/// One or more JSON Pointers separated by commas (`GET /v1/data?fields=`); empty parts are
/// skipped, a pointer cannot hold a comma.
pub const POINTER_LIST: &str = r"^,*(?:/(?:[^/~,]|~[01])*)+(?:,+(?:/(?:[^/~,]|~[01])*)+)*,*$";

/// A day `YYYY-MM-DD` (with a four-digit year) no later than `year`-`month`-`day`. Whether
/// the day exists is `format: date`'s to say; this bounds it from above.
pub fn days_through(year: u16, month: u8, day: u8) -> String {
    const MONTH: &str = "(?:0[1-9]|1[0-2])";
    const DAY: &str = "(?:0[1-9]|[12][0-9]|3[01])";
    let two = |n: u8| format!("{n:02}");
    let (y, m) = (format!("{year:04}"), two(month));
    let months: Vec<String> = (1..month).map(two).collect();
    let days: Vec<String> = (1..=day).map(two).collect();
    let mut alternatives = Vec::new();
    if let Some(years) = below(&y) {
        alternatives.push(format!("{years}-{MONTH}-{DAY}"));
    }
    if !months.is_empty() {
        alternatives.push(format!("{y}-(?:{})-{DAY}", months.join("|")));
    }
    alternatives.push(format!("{y}-{m}-(?:{})", days.join("|")));
    format!("^(?:{})$", alternatives.join("|"))
}

/// A pattern of the digit strings as long as `digits` and smaller than it, if any.
fn below(digits: &str) -> Option<String> {
    let alternatives: Vec<String> = digits
        .char_indices()
        .filter(|&(_, c)| c > '0')
        .map(|(i, c)| {
            let lower = char::from(c as u8 - 1);
            let rest = match digits.len() - i - 1 {
                0 => String::new(),
                n => format!("[0-9]{{{n}}}"),
            };
            format!("{}[0-{lower}]{rest}", &digits[..i])
        })
        .collect();
    (!alternatives.is_empty()).then(|| format!("(?:{})", alternatives.join("|")))
}

/// An id of a kind: `prefix` and 26 base32 characters.
pub fn random_id(prefix: &str) -> String {
    format!("^{prefix}[a-z2-7]{{26}}$")
}

#[cfg(test)]
#[path = "patterns_tests.rs"]
mod tests;
