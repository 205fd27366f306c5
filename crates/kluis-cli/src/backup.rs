//! `kluis backup DIR` and `kluis restore DIR`: a copy of the vault made while it may be served,
//! and putting one back, checked and verified (docs/storage.md#backups).

use std::path::Path;

use anyhow::Result;
use kluis_store::backup::Manifest;
use kluis_store::{StoreError, Vault};
use serde_json::json;

use crate::args::Global;
use crate::document::print_json;
use crate::grants::rfc3339_ms;
use crate::{open, secret, vault_dir};

pub fn backup(global: &Global, dir: &Path, json: bool) -> Result<()> {
    let vault = open(global)?;
    let manifest = vault.backup(dir)?;
    if json {
        print_json(&serde_json::to_value(&manifest)?);
    } else {
        println!("backed up to {}:", dir.display());
        print_files(&manifest);
        println!(
            "the access log up to entry {} (made {})",
            manifest.log.last_seq,
            rfc3339_ms(manifest.created_ms)
        );
    }
    Ok(())
}

/// Restores, then unlocks the restored vault and verifies its log: a backup that does not
/// verify is reported as tampered (exit code 6), with the files left in place for inspection.
pub fn restore(global: &Global, dir: &Path, force: bool, json: bool) -> Result<()> {
    let target = vault_dir(global)?;
    // Asked first, so that a prompt does not come between checking the backup and using it.
    let passphrase = secret::current(global.passphrase_file.as_deref())?;
    let manifest = kluis_store::backup::restore(dir, &target, force)?;
    let vault = Vault::open(&target, &passphrase).map_err(|err| match err {
        // The files are in place already: saying "nothing was changed" would be untrue.
        StoreError::WrongPassphrase => StoreError::RestoredWrongPassphrase(target.clone()),
        err => err,
    })?;
    if vault.unlocked().id_hex() != manifest.vault_id {
        return Err(StoreError::Tampered(
            "the restored vault is not the one the backup's manifest names".into(),
        )
        .into());
    }
    let check = vault.verify_log()?;
    if let Some((seq, why)) = check.first_broken {
        return Err(StoreError::Tampered(format!(
            "the restored access log breaks at entry {seq}: {why}"
        ))
        .into());
    }
    if check.entries != manifest.log.last_seq {
        return Err(StoreError::Tampered(format!(
            "the restored access log ends at entry {}, the backup's manifest at {}",
            check.entries, manifest.log.last_seq
        ))
        .into());
    }
    if json {
        print_json(&json!({
            "restored": target.display().to_string(),
            "manifest": manifest,
            "log_entries": check.entries,
            "intact": true,
        }));
    } else {
        println!("restored {} into {}:", dir.display(), target.display());
        print_files(&manifest);
        println!(
            "the access log is intact ({} entries, as backed up {})",
            check.entries,
            rfc3339_ms(manifest.created_ms)
        );
    }
    Ok(())
}

fn print_files(manifest: &Manifest) {
    for file in &manifest.files {
        println!(
            "  {:<18} {:>12} bytes  sha256 {}",
            file.name, file.bytes, file.sha256
        );
    }
}
