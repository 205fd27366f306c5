//! The store end to end on real files: round trips, wrong passphrases, tampering, and what
//! the bytes on disk do and do not reveal.

mod common;

use std::path::Path;

use common::{p, raw};
use kluis_core::document::sample;
use kluis_store::{DB_FILE, KdfParams, Passphrase, StoreError, Vault};
use serde_json::{Value, json};

fn new_vault(dir: &Path) -> Vault {
    Vault::create(
        dir,
        &Passphrase::new("hunter2 but longer"),
        KdfParams::OWASP_MINIMUM,
    )
    .unwrap()
}

fn reopen(dir: &Path) -> Vault {
    Vault::open(dir, &Passphrase::new("hunter2 but longer")).unwrap()
}

#[test]
fn a_document_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.replace_document(sample()).unwrap();
    vault
        .set(&p("/profile/address/locality"), json!("Utrecht"))
        .unwrap();
    drop(vault);
    let vault = reopen(dir.path());
    let mut expected = sample();
    expected["profile"]["address"]["locality"] = json!("Utrecht");
    assert_eq!(vault.document().unwrap(), expected);
    assert_eq!(
        vault.get(&p("/profile/address")).unwrap(),
        expected["profile"]["address"]
    );
    assert_eq!(
        vault.get(&p("/preferences/channels/1")).unwrap(),
        json!("post")
    );
    assert_eq!(
        vault
            .get(&p("/custom/loyalty~1ids/bakery~0corner"))
            .unwrap(),
        json!("B-1")
    );
}

#[test]
fn set_and_unset_follow_pointer_rules() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    // Missing parents are created.
    vault.set(&p("/custom/a/b/c"), json!(1)).unwrap();
    assert_eq!(
        vault.get(&p("/custom")).unwrap(),
        json!({"a": {"b": {"c": 1}}})
    );
    // A subtree replaces what was there.
    vault.set(&p("/custom/a"), json!({"x": true})).unwrap();
    assert_eq!(vault.get(&p("/custom")).unwrap(), json!({"a": {"x": true}}));
    assert!(matches!(
        vault.get(&p("/custom/a/b")),
        Err(StoreError::NotFound(_))
    ));
    // Arrays: append, replace, remove by index.
    vault.set(&p("/preferences/topics"), json!(["a"])).unwrap();
    vault.set(&p("/preferences/topics/-"), json!("b")).unwrap();
    vault.set(&p("/preferences/topics/0"), json!("z")).unwrap();
    assert_eq!(
        vault.unset(&p("/preferences/topics/0")).unwrap(),
        json!("z")
    );
    assert_eq!(vault.get(&p("/preferences/topics")).unwrap(), json!(["b"]));
    // Under a scalar: an error that changes nothing.
    vault.set(&p("/custom/s"), json!("text")).unwrap();
    let before = vault.document().unwrap();
    let err = vault.set(&p("/custom/s/t"), json!(1)).unwrap_err();
    assert!(err.to_string().contains("/custom/s"), "{err}");
    assert_eq!(vault.document().unwrap(), before);
    // Unset of a subtree returns it; unset of nothing is NotFound.
    assert_eq!(vault.unset(&p("/custom/a")).unwrap(), json!({"x": true}));
    assert!(matches!(
        vault.unset(&p("/custom/a")),
        Err(StoreError::NotFound(_))
    ));
    // Empty objects are kept and can gain children.
    vault.set(&p("/custom/empty"), json!({})).unwrap();
    assert_eq!(vault.get(&p("/custom/empty")).unwrap(), json!({}));
    vault.set(&p("/custom/empty/now"), json!(2)).unwrap();
    assert_eq!(vault.get(&p("/custom/empty")).unwrap(), json!({"now": 2}));
}

#[test]
fn invalid_values_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.replace_document(sample()).unwrap();
    let generation = vault.generation().unwrap();
    for (at, value) in [
        ("/profile/email", json!("not an address")),
        ("/profile/birthdate", json!("1999-13-01")),
        ("/nonsense", json!(1)),
    ] {
        assert!(matches!(
            vault.set(&p(at), value),
            Err(StoreError::Invalid(_))
        ));
    }
    let mut bad = sample();
    bad["profile"]["email"] = json!("nope");
    assert!(vault.replace_document(bad).is_err());
    // A batch with one bad write leaves the good ones out too.
    assert!(
        vault
            .set_many(vec![
                (p("/custom/ok"), json!(1)),
                (p("/profile/phone_number"), json!("call me")),
            ])
            .is_err()
    );
    assert_eq!(vault.document().unwrap(), sample());
    assert_eq!(vault.generation().unwrap(), generation);
}

#[test]
fn a_wrong_passphrase_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    new_vault(dir.path()).replace_document(sample()).unwrap();
    let file = dir.path().join(DB_FILE);
    let before = std::fs::read(&file).unwrap();
    let err = Vault::open(dir.path(), &Passphrase::new("hunter3 but longer"))
        .err()
        .expect("wrong passphrase must fail");
    assert!(matches!(err, StoreError::WrongPassphrase), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn changing_the_passphrase_keeps_the_data_and_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.replace_document(sample()).unwrap();
    let sealed_before: Vec<Vec<u8>> = sealed_values(dir.path());
    vault
        .change_passphrase(&Passphrase::new("a new one"), KdfParams::OWASP_MINIMUM)
        .unwrap();
    drop(vault);
    assert!(matches!(
        Vault::open(dir.path(), &Passphrase::new("hunter2 but longer")),
        Err(StoreError::WrongPassphrase)
    ));
    let vault = Vault::open(dir.path(), &Passphrase::new("a new one")).unwrap();
    assert_eq!(vault.document().unwrap(), sample());
    assert_eq!(
        sealed_values(dir.path()),
        sealed_before,
        "data was not re-encrypted"
    );
}

fn sealed_values(dir: &Path) -> Vec<Vec<u8>> {
    let conn = raw(dir);
    let mut stmt = conn
        .prepare("SELECT sealed FROM fields ORDER BY key")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn swapped_or_altered_rows_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.set(&p("/profile/given_name"), json!("Anna")).unwrap();
    vault
        .set(&p("/profile/family_name"), json!("Jansen"))
        .unwrap();
    drop(vault);
    let conn = raw(dir.path());
    let rows: Vec<(Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT key, sealed FROM fields")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    // Swap the two ciphertexts: each is authentic, but not in this place.
    conn.execute(
        "UPDATE fields SET sealed = ?2 WHERE key = ?1",
        (&rows[0].0, &rows[1].1),
    )
    .unwrap();
    conn.execute(
        "UPDATE fields SET sealed = ?2 WHERE key = ?1",
        (&rows[1].0, &rows[0].1),
    )
    .unwrap();
    let vault = reopen(dir.path());
    let err = vault.get(&p("/profile/given_name")).unwrap_err();
    assert!(matches!(err, StoreError::Tampered(_)), "{err}");
    assert!(matches!(vault.document(), Err(StoreError::Tampered(_))));

    // One flipped byte in a ciphertext.
    let mut altered = rows[0].1.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0x01;
    conn.execute(
        "UPDATE fields SET sealed = ?2 WHERE key = ?1",
        (&rows[0].0, &rows[1].1),
    )
    .unwrap();
    conn.execute(
        "UPDATE fields SET sealed = ?2 WHERE key = ?1",
        (&rows[1].0, &altered),
    )
    .unwrap();
    let err = vault.document().unwrap_err();
    assert!(err.to_string().contains("tampered"), "{err}");
}

#[test]
fn a_lowered_kdf_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(new_vault(dir.path()));
    let conn = raw(dir.path());
    let kdf: Vec<u8> = conn
        .query_row("SELECT value FROM meta WHERE name = 'kdf'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let lowered = String::from_utf8(kdf)
        .unwrap()
        .replace("\"t\":2", "\"t\":3");
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'kdf'",
        [lowered.as_bytes()],
    )
    .unwrap();
    // The record is bound to the wrapped key: even a stronger-looking edit does not unwrap.
    assert!(Vault::open(dir.path(), &Passphrase::new("hunter2 but longer")).is_err());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(new_vault(dir.path()));
    raw(dir.path())
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let err = Vault::open(dir.path(), &Passphrase::new("hunter2 but longer"))
        .err()
        .unwrap();
    assert!(
        matches!(err, StoreError::TooNew { found: 999, .. }),
        "{err}"
    );
}

#[test]
fn no_value_or_field_name_reaches_the_disk_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    let name = "zebrafieldnamemarker";
    let value = "Quokkavaluemarker";
    let mut doc = sample();
    doc["custom"][name] = json!(value);
    doc["profile"]["family_name"] = json!(value);
    vault.replace_document(doc).unwrap();
    vault
        .set(&p(&format!("/custom/{name}2")), json!({"nested": value}))
        .unwrap();
    // Scan while the connection is open (the WAL holds the recent writes) and after closing.
    let scan = |label: &str| {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for needle in [name, value, "family_name", "profile/", "anna@example.nl"] {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{label}: {needle:?} found in {}",
                    path.display()
                );
            }
        }
    };
    assert!(
        dir.path().join(format!("{DB_FILE}-wal")).exists(),
        "the WAL is in use"
    );
    scan("open");
    drop(vault);
    scan("closed");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_second_connection_sees_committed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = new_vault(dir.path());
    let reader = Vault::connect(dir.path(), writer.unlocked()).unwrap();
    let g0 = reader.generation().unwrap();
    writer.set(&p("/profile/nickname"), json!("An")).unwrap();
    assert_eq!(reader.get(&p("/profile/nickname")).unwrap(), json!("An"));
    assert!(reader.generation().unwrap() > g0);
    let doc: Value = reader.document().unwrap();
    assert_eq!(doc, json!({"profile": {"nickname": "An"}}));
}

#[test]
fn an_empty_import_leaves_later_fields_visible() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.replace_document(json!({})).unwrap();
    vault.set(&p("/profile/name"), json!("Anna")).unwrap();
    vault.set(&p("/custom/x"), json!(1)).unwrap();
    assert_eq!(
        vault.document().unwrap(),
        json!({"profile": {"name": "Anna"}, "custom": {"x": 1}})
    );
}

#[test]
fn writing_into_a_missing_list_is_refused_instead_of_making_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    let err = vault
        .set(&p("/preferences/channels/-"), json!("sms"))
        .unwrap_err();
    assert!(
        err.to_string().contains("no list at /preferences/channels"),
        "{err}"
    );
    assert!(
        vault
            .set(&p("/profile/addresses/0/locality"), json!("Delft"))
            .is_err()
    );
    assert_eq!(vault.document().unwrap(), json!({}));
    vault.set(&p("/preferences/channels"), json!([])).unwrap();
    vault
        .set(&p("/preferences/channels/-"), json!("sms"))
        .unwrap();
    assert_eq!(
        vault.get(&p("/preferences/channels")).unwrap(),
        json!(["sms"])
    );
}

#[test]
fn an_owner_edit_sets_and_unsets_in_one_recorded_action() {
    use kluis_core::access::{Action, Actor};
    use kluis_store::Via;

    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.replace_document(sample()).unwrap();
    let owner = vault.owner(Via::Dashboard);

    // One bad write: nothing is stored, not even the unset, and nothing is recorded.
    let refused = owner.edit(
        vec![
            (p("/profile/name"), json!("Anna V.")),
            (p("/profile/email"), json!("nope")),
        ],
        vec![p("/profile/birthdate")],
    );
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(vault.document().unwrap(), sample());
    assert!(vault.log_entries().unwrap().is_empty());

    // A field that is not stored is skipped, not named.
    owner
        .edit(
            vec![(p("/profile/name"), json!("Anna V."))],
            vec![p("/profile/birthdate"), p("/profile/nickname")],
        )
        .unwrap();
    assert_eq!(vault.get(&p("/profile/name")).unwrap(), json!("Anna V."));
    assert!(matches!(
        vault.get(&p("/profile/birthdate")),
        Err(StoreError::NotFound(_))
    ));
    let entries = vault.log_entries().unwrap();
    assert_eq!(entries.len(), 1);
    let record = &entries[0].record;
    assert_eq!(
        (record.actor, record.action),
        (Actor::OwnerDashboard, Action::DocumentSet)
    );
    assert_eq!(record.fields, [p("/profile/name"), p("/profile/birthdate")]);

    // Nothing to change: nothing recorded.
    owner.edit(vec![], vec![p("/profile/nickname")]).unwrap();
    assert_eq!(vault.log_entries().unwrap().len(), 1);
}
