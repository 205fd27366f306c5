//! The vault document and `kluis import`: `kluis_store::split_export` (a bare document or a
//! `kluis_export` with `kluis-relationships/1` records), `document::validate`, the store's
//! `Vault::replace_document` (what the import's `Owner::import` does) and
//! `Relationships::import`, on a real vault in a temporary directory.
//!
//! Input: a JSON text, as `kluis import` reads from its file.
//!
//! Checked: nothing panics; the store refuses exactly the documents `validate` refuses; a
//! document it takes reads back as it was, and validates again after a trip through its
//! JSON text; relationships that import once import again into the same vault as all kept, and
//! their export imports into a fresh vault to the same export.
#![no_main]

use std::cell::RefCell;

use kluis_core::document;
use kluis_store::{KdfParams, Passphrase, Relationships, RelationshipsExport, Vault, split_export};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tempfile::TempDir;

thread_local! {
    /// One vault for the whole run (its key derivation is slow on purpose); each input replaces
    /// its document, so it does not grow.
    static VAULT: RefCell<(TempDir, Vault)> = RefCell::new({
        let dir = scratch();
        let vault = Vault::create(
            &dir.path().join("vault"),
            &Passphrase::new("fuzzing vault passphrase"),
            KdfParams::OWASP_MINIMUM,
        )
        .expect("a new vault");
        (dir, vault)
    });
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok((doc, relationships)) = split_export(value) else {
        return;
    };
    VAULT.with_borrow(|(_, vault)| {
        let valid = document::validate(&doc);
        let stored = vault.replace_document(doc.clone());
        assert_eq!(
            valid.is_ok(),
            stored.is_ok(),
            "validate said {valid:?} but the store said {stored:?}"
        );
        if valid.is_ok() {
            let back = vault.document().expect("the document reads back");
            assert_eq!(back, doc, "the stored document reads back changed");
            let text = serde_json::to_string(&back).expect("a document serializes");
            let again: Value = serde_json::from_str(&text).expect("its JSON parses");
            assert!(
                document::validate(&again).is_ok(),
                "a stored document no longer validates"
            );
        }
        if let Some(export) = relationships {
            import_twice(vault, &export);
        }
    });
});

fn import_twice(vault: &Vault, export: &RelationshipsExport) {
    let dir = scratch();
    let mut records = Relationships::open(dir.path(), vault.unlocked()).expect("records open");
    let Ok(first) = records.import(export) else {
        return;
    };
    let again = records
        .import(export)
        .expect("an import that passed passes again");
    assert_eq!(again.added, 0, "a second import added entries");
    assert_eq!(
        again.kept,
        first.added + first.kept,
        "a second import lost entries"
    );
    let out = records.export().expect("the records export");

    let fresh = scratch();
    let mut other = Relationships::open(fresh.path(), vault.unlocked()).expect("records open");
    other
        .import(&out)
        .expect("an export imports into a fresh vault");
    assert_eq!(
        other.export().expect("the records export"),
        out,
        "the export changed"
    );
}

/// A temporary directory in memory when the machine has one (`/dev/shm`): SQLite's syncs on a
/// busy disk would otherwise make inputs that import time out for the disk's sake alone.
fn scratch() -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.expect("a temporary directory")
}
