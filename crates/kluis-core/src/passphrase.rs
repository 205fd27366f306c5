//! How strong a new passphrase must be. The dashboard makes the passphrase reachable over the
//! network, so `init` and `passwd` (CLI and dashboard) refuse guessable ones; the estimate is
//! zxcvbn's (Dropbox's estimator), which knows common words, names, keyboard walks and dates.

use crate::error::{Error, Result};

/// zxcvbn's score a new passphrase needs: 3, "safely unguessable" (at least 10^8 guesses),
/// which Argon2id then makes slow to try.
pub const MIN_SCORE: u8 = 3;

/// Whether `passphrase` is strong enough for a new vault key; the error says why not and what
/// would help, in words for the owner (it never repeats the passphrase).
pub fn check_new(passphrase: &str) -> Result<()> {
    match weakness(passphrase) {
        None => Ok(()),
        Some(why) => Err(Error::invalid(format!("the passphrase is too weak: {why}"))),
    }
}

/// Why `passphrase` is weak, or `None` if it is strong enough.
pub fn weakness(passphrase: &str) -> Option<String> {
    if passphrase.trim().is_empty() {
        return Some("it is empty".into());
    }
    let estimate = zxcvbn::zxcvbn(passphrase, &["kluis", "vault"]);
    if u8::from(estimate.score()) >= MIN_SCORE {
        return None;
    }
    let mut why = String::from("it could be guessed quickly");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            why = format!("{warning}").trim_end_matches('.').to_owned();
        }
        let hints: Vec<String> = feedback
            .suggestions()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !hints.is_empty() {
            why = format!("{why}. {}", hints.join(" "));
        }
    }
    if !why.ends_with('.') {
        why.push('.');
    }
    Some(format!(
        "{why} Four or more unrelated words make a strong one"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessable_passphrases_are_refused_with_a_reason() {
        for weak in [
            "",
            "a",
            "password",
            "Password1",
            "qwertyuiop",
            "kluis2026",
            "welkom123",
        ] {
            let err = check_new(weak).expect_err(weak).to_string();
            assert!(err.contains("too weak"), "{weak}: {err}");
            // The passphrase is never repeated; "", "a" and "password" stand in any message
            // (zxcvbn's own words: "a common password").
            if !["", "a", "password"].contains(&weak) {
                assert!(!err.contains(weak), "echoes the passphrase: {err}");
            }
        }
        for strong in ["correct horse battery staple", "tulp fiets regen molen 42"] {
            assert!(
                check_new(strong).is_ok(),
                "{strong}: {:?}",
                weakness(strong)
            );
        }
    }
}
