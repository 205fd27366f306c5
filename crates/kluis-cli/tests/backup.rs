//! `kluis backup`, `kluis restore` and `kluis log prune` against a vault that a real
//! `kluis serve` process is reading and writing meanwhile.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use common::{Running, fresh, json_of, kluis, kluis_cmd, kluis_cmd_as, ok, start, succeeded};

fn grant(d: &Path, n: usize) -> Value {
    json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "shop.example",
            "--fields",
            "/profile/email",
            "--purpose",
            &format!("order {n}"),
            "--json",
        ],
    ))
}

fn read(url: &str, token: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{url}/v1/data"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Every entry of the log of the vault in `d`, oldest first.
fn log(d: &Path) -> Vec<Value> {
    json_of(&ok(d, &["log", "--json", "--limit", "1000000"]))
        .as_array()
        .unwrap()
        .clone()
}

fn grant_ids(d: &Path) -> HashSet<String> {
    json_of(&ok(d, &["grant", "list", "--all", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A vault with an e-mail address and a grant of it, served by `kluis serve`: the vault, the
/// grant's token, the server and its URL.
fn served() -> (tempfile::TempDir, String, Running, String) {
    let vault = fresh();
    let d = vault.path();
    ok(d, &["set", "/profile/email", "anna@example.nl"]);
    let token = grant(d, 0)["token"].as_str().unwrap().to_owned();
    let mut serve = kluis_cmd(d);
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let (server, url, _) = start(serve);
    (vault, token, server, url)
}

#[test]
fn a_backup_of_a_served_vault_restores_consistent_and_verified() {
    let (vault, token, _server, url) = served();
    let d = vault.path();

    let tmp = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let backups: Vec<_> = std::thread::scope(|scope| {
        // A business reading through the API, and the owner making grants, all along.
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(read(&url, &token), 200);
                reads.fetch_add(1, Ordering::Relaxed);
            }
        });
        scope.spawn(|| {
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                grant(d, n);
                n += 1;
            }
        });
        let backups = (0..3)
            .map(|i| {
                std::thread::sleep(std::time::Duration::from_millis(400));
                let dir = tmp.path().join(format!("backup-{i}"));
                let manifest = json_of(&ok(d, &["backup", dir.to_str().unwrap(), "--json"]));
                (dir, manifest)
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        backups
    });
    assert!(reads.load(Ordering::Relaxed) > 10);

    let mut ends = HashSet::new();
    for (i, (backup, manifest)) in backups.iter().enumerate() {
        let target = tmp.path().join(format!("restored-{i}"));
        let restored = json_of(&ok(
            &target,
            &["restore", backup.to_str().unwrap(), "--json"],
        ));
        assert_eq!(restored["intact"], true);
        assert_eq!(restored["log_entries"], manifest["log"]["last_seq"]);
        ok(&target, &["log", "verify"]);
        let grants = grant_ids(&target);
        let entries = log(&target);
        assert!(entries.iter().any(|e| e["action"] == "read"), "backup {i}");
        // Every read and grant in the copied log is of a grant in the copied vault, and every
        // grant in it was created in the copied log.
        let mut created = HashSet::new();
        for entry in &entries {
            if let Some(id) = entry["grant"].as_str() {
                assert!(grants.contains(id), "backup {i}: {id} is not in the copy");
                if entry["action"] == "grant_create" {
                    created.insert(id.to_owned());
                }
            }
        }
        assert_eq!(created, grants, "backup {i}");
        ends.insert(manifest["log"]["last_seq"].as_i64().unwrap());
        // The copy can be served and written as a vault of its own.
        ok(&target, &["set", "/profile/name", "Anna"]);
        ok(&target, &["log", "verify"]);
    }
    assert_eq!(ends.len(), 3, "the log grew between backups: {ends:?}");
}

#[test]
fn restore_refuses_an_altered_backup_and_an_existing_vault() {
    let vault = fresh();
    let d = vault.path();
    grant(d, 0);
    let tmp = tempfile::tempdir().unwrap();
    let backup = tmp.path().join("backup");
    let b = backup.to_str().unwrap();
    ok(d, &["backup", b]);
    // Into a non-empty directory: refused.
    let again = kluis(d, &["backup", b]);
    assert_eq!(again.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not an empty directory"));

    // Over the vault itself, without --force.
    let over = kluis(d, &["restore", b]);
    assert_eq!(over.status.code(), Some(5), "{over:?}");
    assert!(String::from_utf8_lossy(&over.stderr).contains("already exists"));

    // An altered file.
    let target = tmp.path().join("restored");
    let db = backup.join("vault.db");
    let good = std::fs::read(&db).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&db, &bad).unwrap();
    let altered = kluis(&target, &["restore", b]);
    assert_eq!(altered.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&altered.stderr).contains("vault.db does not match"));
    assert!(!target.exists());
    std::fs::write(&db, &good).unwrap();

    // A manifest that is not one.
    let manifest = backup.join("kluis-backup.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("kluis-backup/1", "kluis-backup/2")).unwrap();
    let bad_manifest = kluis(&target, &["restore", b]);
    assert_eq!(bad_manifest.status.code(), Some(5));
    std::fs::write(&manifest, &text).unwrap();

    // A symlink where a file of the backup belongs (to a FIFO or a device, it would be read
    // for ever): refused, nothing restored.
    std::fs::rename(&db, backup.join("vault.db.kept")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &db).unwrap();
    let linked = kluis(&target, &["restore", b]);
    assert_eq!(linked.status.code(), Some(6), "{linked:?}");
    assert!(String::from_utf8_lossy(&linked.stderr).contains("not a regular file"));
    assert!(!target.exists());
    std::fs::remove_file(&db).unwrap();
    std::fs::rename(backup.join("vault.db.kept"), &db).unwrap();

    // With --force over a vault, the backup's passphrase opens it.
    let other = fresh();
    succeeded(kluis_cmd(other.path()).args(["restore", b, "--force"]));
    assert_eq!(grant_ids(other.path()), grant_ids(d));

    // Another passphrase: the files are in place, and the message does not say otherwise.
    let third = fresh();
    let wrong = kluis_cmd_as(third.path(), "not the backup's passphrase")
        .args(["restore", b, "--force"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3), "{wrong:?}");
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("the backup was restored into"), "{said}");
    assert!(!said.contains("nothing was changed"), "{said}");
    assert_eq!(grant_ids(third.path()), grant_ids(d));
}

#[test]
fn a_prune_while_served_keeps_the_log_verifiable() {
    let (vault, token, _server, url) = served();
    let d = vault.path();
    for _ in 0..5 {
        assert_eq!(read(&url, &token), 200);
    }
    let before = log(d).len();
    assert_eq!(before, 7);

    // A date before everything removes nothing; one in the future is refused.
    let nothing = ok(d, &["log", "prune", "--before", "2020-01-01"]);
    assert!(nothing.contains("nothing was removed"), "{nothing}");
    assert_eq!(log(d).len(), before);
    let future = kluis(d, &["log", "prune", "--before", "2999-01-01"]);
    assert_eq!(future.status.code(), Some(5));

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let pruned = json_of(&ok(d, &["log", "prune", "--before", "1s", "--json"]));
    assert_eq!(pruned["removed_entries"], 7);
    // The server goes on appending, into the pruned file.
    for _ in 0..3 {
        assert_eq!(read(&url, &token), 200);
    }
    let entries = log(d);
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["log_prune", "read", "read", "read"]);
    assert_eq!(entries[0]["seq"], 8);
    let verified = ok(d, &["log", "verify"]);
    assert!(
        verified.contains("11 entries; entries 1 to 7 were pruned"),
        "{verified}"
    );
    let check = json_of(&ok(d, &["log", "verify", "--json"]));
    assert_eq!(check["pruned"]["through_seq"], 7);
    assert_eq!(check["intact"], true);

    // Tampering with the pruned log is still found.
    let path = d.join("access.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 40] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let broken = kluis(d, &["log", "verify"]);
    assert_eq!(broken.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("breaks at entry 8"));
}
