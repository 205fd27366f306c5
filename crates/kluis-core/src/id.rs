//! Random identifiers: a short prefix naming the kind (`g_` grant, `r_` request) and 26 base32
//! characters carrying 128 bits of randomness.

/// The methods of a random identifier type `$name(String)`: `from_random`, `parse` (checking
/// the shape, refusing with "… is not `$what`"), `as_str` and `Display`. With `checked`, also
/// `TryFrom<String>` and `From<$name> for String`, for types that serde reads through `parse`.
macro_rules! random_id_type {
    ($name:ident, $prefix:literal, $what:literal) => {
        impl $name {
            /// Builds an id from 16 random bytes.
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self($crate::id::random_id($prefix, bytes))
            }

            #[doc = concat!("Accepts text that has the shape of ", $what, ".")]
            pub fn parse(text: &str) -> $crate::error::Result<Self> {
                if $crate::id::is_random_id(text, $prefix) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err($crate::error::Error::invalid(format!(
                        "{text:?} is not {}",
                        $what
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
    ($name:ident, $prefix:literal, $what:literal, checked) => {
        $crate::id::random_id_type!($name, $prefix, $what);

        impl TryFrom<String> for $name {
            type Error = $crate::error::Error;

            fn try_from(text: String) -> $crate::error::Result<Self> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}
pub(crate) use random_id_type;

/// `prefix` followed by `bytes` in lowercase RFC 4648 base32 without padding (26 characters).
pub(crate) fn random_id(prefix: &str, bytes: [u8; 16]) -> String {
    format!("{prefix}{}", base32(&bytes))
}

/// Whether `text` has the shape [`random_id`] makes with `prefix`.
pub(crate) fn is_random_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 26
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_lowercased() {
        // RFC 4648 §10: BASE32("foobar") = "MZXW6YTBOI======".
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(random_id("r_", [0; 16]), format!("r_{}", "a".repeat(26)));
    }

    #[test]
    fn shape_is_checked_per_prefix() {
        let id = random_id("r_", [0xAB; 16]);
        assert!(is_random_id(&id, "r_"));
        assert!(!is_random_id(&id, "g_"));
        assert!(!is_random_id(&id[..id.len() - 1], "r_"));
        assert!(!is_random_id(&id.to_uppercase(), "r_"));
        assert!(!is_random_id("r_abcdefghijklmnopqrstuvwxy1", "r_"));
    }
}
