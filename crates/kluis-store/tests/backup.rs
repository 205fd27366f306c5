//! Backups while the vault is written, and restoring them: the copy opens and verifies, every
//! grant its log names is in its database, and a bad manifest or an altered file is refused.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{record, vault};
use kluis_core::Pointer;
use kluis_core::access::Action;
use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_store::backup::{MANIFEST_FILE, Manifest, read_manifest, restore};
use kluis_store::{DB_FILE, LOG_FILE, Passphrase, StoreError, Vault, Via};

fn request(n: usize) -> GrantRequest {
    GrantRequest {
        audience: BusinessId::parse("shop.example").unwrap(),
        fields: vec![Pointer::parse("/profile/email").unwrap()],
        purpose: format!("order {n}"),
        purpose_category: None,
        lifetime_secs: 3600,
        key_thumbprint: None,
        append_record: false,
        contact: None,
    }
}

fn open(dir: &Path) -> Vault {
    Vault::open(dir, &Passphrase::new("pass phrase")).unwrap()
}

/// A vault with a grant, a few log entries and an inbox, backed up into `<tmp>/backup`.
fn backed_up(tmp: &Path) -> (std::path::PathBuf, Manifest) {
    let v = vault(&tmp.join("vault"));
    v.owner(Via::Cli).create_grant(request(0)).unwrap();
    v.append_log(&[record(1), record(2)]).unwrap();
    v.open_inbox().unwrap();
    let backup = tmp.join("backup");
    let manifest = v.backup(&backup).unwrap();
    (backup, manifest)
}

#[test]
fn a_backup_restores_to_a_vault_that_opens_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (backup, manifest) = backed_up(tmp.path());
    let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec![DB_FILE, LOG_FILE, "inbox.db"]);
    assert_eq!(manifest.log.last_seq, 3);
    assert_eq!(read_manifest(&backup).unwrap(), manifest);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for name in names.iter().chain([&MANIFEST_FILE]) {
        let mode = fs::metadata(backup.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // Sealed, like the vault: the purpose is nowhere in plain text.
    for name in &names {
        let bytes = fs::read(backup.join(name)).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"order 0"), "{name}");
    }

    let target = tmp.path().join("restored");
    restore(&backup, &target, false).unwrap();
    let restored = open(&target);
    let check = restored.verify_log().unwrap();
    assert_eq!((check.entries, check.first_broken), (3, None));
    assert_eq!(restored.grants().unwrap().len(), 1);
    restored.append_log(&[record(3)]).unwrap();
    assert_eq!(restored.verify_log().unwrap().first_broken, None);
}

#[test]
fn a_backup_goes_into_a_new_or_empty_directory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let v = vault(&tmp.path().join("vault"));
    let busy = tmp.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("notes.txt"), b"mine").unwrap();
    let err = v.backup(&busy).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(fs::read_dir(&busy).unwrap().count(), 1);
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    v.backup(&empty).unwrap();
}

#[test]
fn restore_refuses_an_altered_file_or_a_bad_manifest_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (backup, _) = backed_up(tmp.path());
    let target = tmp.path().join("restored");

    // One byte of the log changed.
    let log = backup.join(LOG_FILE);
    let good = fs::read(&log).unwrap();
    let mut bad = good.clone();
    bad[4096 + 30] ^= 1;
    fs::write(&log, &bad).unwrap();
    let err = restore(&backup, &target, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::Tampered(why) if why.contains("access.log")),
        "{err}"
    );
    assert!(!target.exists());
    fs::write(&log, &good).unwrap();

    // A file missing.
    let db = backup.join(DB_FILE);
    fs::rename(&db, tmp.path().join("aside")).unwrap();
    let err = restore(&backup, &target, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::Tampered(why) if why.contains("missing")),
        "{err}"
    );
    fs::rename(tmp.path().join("aside"), &db).unwrap();

    // Manifests that are not one.
    let manifest = backup.join(MANIFEST_FILE);
    let text = fs::read_to_string(&manifest).unwrap();
    for (edited, says) in [
        (
            text.replace("kluis-backup/1", "kluis-backup/9"),
            "another format",
        ),
        (
            text.replace("\"inbox.db\"", "\"../inbox.db\""),
            "unknown file",
        ),
        (text.replace("\"inbox.db\"", "\"vault.db\""), "twice"),
        ("{".to_owned(), "unreadable"),
    ] {
        fs::write(&manifest, &edited).unwrap();
        let err = restore(&backup, &target, false).unwrap_err();
        assert!(err.to_string().contains(says), "{says}: {err}");
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }
    fs::remove_file(&manifest).unwrap();
    let err = restore(&backup, &target, false).unwrap_err();
    assert!(err.to_string().contains("no kluis-backup.json"), "{err}");
    assert!(!target.exists());
    fs::write(&manifest, &text).unwrap();
    restore(&backup, &target, false).unwrap();
}

#[test]
fn restore_replaces_a_vault_only_with_force_and_leaves_none_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (backup, _) = backed_up(tmp.path());
    let target = tmp.path().join("other");
    let other = vault(&target);
    other.append_log(&[record(9)]).unwrap();
    other.open_relationships().unwrap();
    drop(other);
    let err = restore(&backup, &target, false).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
    restore(&backup, &target, true).unwrap();
    // The other vault's relationships.db is not the backup's: gone.
    assert!(!target.join("relationships.db").exists());
    let restored = open(&target);
    assert_eq!(restored.verify_log().unwrap().entries, 3);
    assert_eq!(restored.grants().unwrap().len(), 1);
}

#[test]
fn a_backup_while_another_connection_writes_is_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let v = vault(&dir);
    let unlocked = v.unlocked().clone();
    let stop = AtomicBool::new(false);
    let backups: Vec<std::path::PathBuf> = std::thread::scope(|scope| {
        scope.spawn(|| {
            let writer = Vault::connect(&dir, &unlocked).unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (grant, _) = writer.owner(Via::Cli).create_grant(request(n)).unwrap();
                let read = common::record_by(
                    kluis_store::unix_now_ms(),
                    "shop.example",
                    &grant.id,
                    kluis_core::access::Outcome::Allowed,
                );
                writer.append_log(&[read]).unwrap();
                n += 1;
            }
        });
        let backups = (0..5)
            .map(|i| {
                std::thread::sleep(std::time::Duration::from_millis(30));
                let backup = tmp.path().join(format!("backup-{i}"));
                v.backup(&backup).unwrap();
                backup
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        backups
    });
    let mut sizes = HashSet::new();
    for (i, backup) in backups.iter().enumerate() {
        let target = tmp.path().join(format!("restored-{i}"));
        restore(backup, &target, false).unwrap();
        let restored = open(&target);
        assert_eq!(restored.verify_log().unwrap().first_broken, None);
        let grants: HashSet<_> = restored
            .grants()
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect();
        let entries = restored.log_entries().unwrap();
        let created: HashSet<_> = entries
            .iter()
            .filter(|e| e.record.action == Action::GrantCreate)
            .filter_map(|e| e.record.grant.clone())
            .collect();
        // Every grant the log names is in the database, and every grant in the database has
        // its creation in the log.
        for entry in &entries {
            if let Some(grant) = &entry.record.grant {
                assert!(grants.contains(grant), "backup {i}: {grant} missing");
            }
        }
        assert_eq!(created, grants, "backup {i}");
        sizes.insert(grants.len());
    }
    assert!(
        sizes.len() > 1,
        "the writer wrote between the backups: {sizes:?}"
    );
}
