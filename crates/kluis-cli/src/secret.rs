//! Where passphrases come from: a file, an environment variable, or a hidden prompt.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use kluis_store::Passphrase;
use zeroize::Zeroizing;

/// The passphrase that unlocks the vault.
pub fn current(file: Option<&Path>) -> Result<Passphrase> {
    obtain(file, "KLUIS_PASSPHRASE", "Passphrase: ", false)
}

/// A new passphrase (for `init` and `passwd`), asked twice when prompted.
pub fn new(file: Option<&Path>, env: &str) -> Result<Passphrase> {
    obtain(file, env, "New passphrase: ", true)
}

fn obtain(file: Option<&Path>, env: &str, prompt: &str, confirm: bool) -> Result<Passphrase> {
    if let Some(file) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the passphrase file {}", file.display()))?,
        );
        let line = text.lines().next().unwrap_or("");
        return non_empty(Passphrase::new(line));
    }
    if let Ok(text) = std::env::var(env) {
        return non_empty(Passphrase::new(text));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase given: set {env} or pass a passphrase file (no terminal to ask on)");
    }
    let first = Zeroizing::new(rpassword::prompt_password(prompt)?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Repeat it: ")?);
        if *first != *again {
            bail!("the two passphrases differ; nothing was changed");
        }
    }
    non_empty(Passphrase::new(first.as_str()))
}

fn non_empty(passphrase: Passphrase) -> Result<Passphrase> {
    if passphrase.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(passphrase)
}
