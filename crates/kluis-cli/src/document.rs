//! Commands on the vault document: init, set, get, unset, show/export, import, passwd, demo.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use kluis_core::{Pointer, document};
use kluis_store::{EXPORT_MARK, EXPORT_VERSION, KdfParams, Vault, Via, split_export};
use serde_json::{Value, json};

use crate::args::Global;
use crate::{open, secret, vault_dir};

pub fn init(global: &Global, json: bool) -> Result<()> {
    let dir = vault_dir(global)?;
    let passphrase = secret::new(global.passphrase_file.as_deref(), "KLUIS_PASSPHRASE")?;
    passphrase.check_new()?;
    let vault = Vault::create(&dir, &passphrase, KdfParams::OWASP_MINIMUM)?;
    if json {
        print_json(&json!({"vault": dir, "id": vault.unlocked().id_hex()}));
    } else {
        println!("created a new vault in {}", dir.display());
    }
    Ok(())
}

pub fn set(global: &Global, pointer: &str, value: &str, as_string: bool) -> Result<()> {
    let at = parse_pointer(pointer)?;
    let value = if as_string {
        Value::String(value.to_owned())
    } else {
        serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()))
    };
    open(global)?.owner(Via::Cli).set(vec![(at, value)])?;
    Ok(())
}

pub fn get(global: &Global, pointer: &str, raw: bool) -> Result<()> {
    let at = parse_pointer(pointer)?;
    match open(global)?.get(&at)? {
        Value::String(text) if raw => println!("{text}"),
        value => print_json(&value),
    }
    Ok(())
}

pub fn unset(global: &Global, pointer: &str) -> Result<()> {
    let at = parse_pointer(pointer)?;
    open(global)?.owner(Via::Cli).unset(&at)?;
    Ok(())
}

pub fn show(global: &Global) -> Result<()> {
    print_json(&open(global)?.document()?);
    Ok(())
}

/// The document and the relationship records, in one JSON object:
/// `{"kluis_export": 2, "document": {...}, "relationships": {...}}`.
pub fn export(global: &Global) -> Result<()> {
    let vault = open(global)?;
    let document = vault.document()?;
    let relationships = vault.open_relationships()?.export()?;
    print_json(&json!({
        EXPORT_MARK: EXPORT_VERSION,
        "document": document,
        "relationships": relationships,
    }));
    Ok(())
}

pub fn import(global: &Global, file: &Path) -> Result<()> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        kluis_store::StoreError::Invalid(kluis_core::Error::invalid(format!(
            "{} is not valid JSON: {e}",
            file.display()
        )))
    })?;
    let (doc, relationships) = split_export(doc)?;
    document::validate(&doc)?;
    let vault = open(global)?;
    // The records first: an import they refuse changes nothing, the document included.
    if let Some(relationships) = &relationships {
        let done = vault.open_relationships()?.import(relationships)?;
        eprintln!(
            "relationships: {} records, {} entries added, {} already here",
            done.records, done.added, done.kept
        );
    }
    vault.owner(Via::Cli).import(doc)?;
    Ok(())
}

pub fn passwd(global: &Global, new_file: Option<&Path>) -> Result<()> {
    let vault = open(global)?;
    let new = secret::new(new_file, "KLUIS_NEW_PASSPHRASE")?;
    vault
        .owner(Via::Cli)
        .change_passphrase(&new, KdfParams::OWASP_MINIMUM)?;
    eprintln!("the passphrase is changed");
    Ok(())
}

fn parse_pointer(text: &str) -> Result<Pointer> {
    Ok(Pointer::parse(text).map_err(kluis_store::StoreError::Invalid)?)
}

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a Value always serializes")
    );
}
