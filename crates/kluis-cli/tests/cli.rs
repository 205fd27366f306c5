//! The `kluis` binary driven as a user or a script would: exit codes, stdout, stderr.

mod common;

use std::process::Command;

use common::{fresh_with, json_of, kluis, kluis_as, ok};
use serde_json::json;

/// A new vault made by `kluis init --json`, whose reply names it.
fn fresh() -> tempfile::TempDir {
    let (dir, out) = fresh_with(&["init", "--json"]);
    assert!(json_of(&out)["id"].is_string());
    dir
}

#[test]
fn set_get_unset_show_round_trip() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &["set", "/profile/email", "anna@example.nl"]);
    ok(
        d,
        &[
            "set",
            "/profile/address",
            r#"{"locality":"Delft","postal_code":"2611 AA"}"#,
        ],
    );
    ok(d, &["set", "/preferences/topics", r#"["orders"]"#]);
    ok(d, &["set", "/custom/a~1b", "1016", "--string"]);
    assert_eq!(
        ok(d, &["get", "/profile/email", "--raw"]),
        "anna@example.nl\n"
    );
    assert_eq!(
        json_of(&ok(d, &["get", "/profile/address/locality"])),
        json!("Delft")
    );
    assert_eq!(json_of(&ok(d, &["get", "/custom/a~1b"])), json!("1016"));
    ok(d, &["unset", "/profile/address/postal_code"]);
    assert_eq!(
        json_of(&ok(d, &["show"])),
        json!({
            "profile": {"email": "anna@example.nl", "address": {"locality": "Delft"}},
            "preferences": {"topics": ["orders"]},
            "custom": {"a/b": "1016"}
        })
    );
}

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &["set", "/profile/email", "anna@example.nl"]);
    let before = ok(d, &["show"]);
    for (args, needle) in [
        (vec!["set", "/profile/email", "not-an-email"], "e-mail"),
        (
            vec!["set", "/profile/birthdate", "1984-02-30"],
            "YYYY-MM-DD",
        ),
        (vec!["set", "profile/email", "a@b.nl"], "start with '/'"),
        (vec!["set", "/profile/emial", "a@b.nl"], "/custom"),
    ] {
        let out = kluis(d, &args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = kluis(d, &["get", "/profile/phone_number"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(ok(d, &["show"]), before);
}

#[test]
fn a_wrong_passphrase_exits_non_zero_and_touches_nothing() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &["set", "/profile/name", "Anna"]);
    let out = kluis_as(d, "guess", &["set", "/profile/name", "Mallory"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("passphrase is wrong"), "{err}");
    assert!(!err.contains("guess"));
    assert_eq!(json_of(&ok(d, &["get", "/profile/name"])), json!("Anna"));
}

#[test]
fn export_then_import_into_another_vault() {
    let a = fresh();
    ok(a.path(), &["set", "/profile/given_name", "Anna"]);
    ok(a.path(), &["set", "/preferences/frequency", "monthly"]);
    let exported = ok(a.path(), &["export"]);
    let file = a.path().join("export.json");
    std::fs::write(&file, &exported).unwrap();
    let b = fresh();
    ok(b.path(), &["set", "/custom/old", "gone after import"]);
    ok(b.path(), &["import", file.to_str().unwrap()]);
    // The export holds the document (and the relationship records, none here).
    let exported = json_of(&exported);
    assert_eq!(exported["kluis_export"], 2);
    assert_eq!(json_of(&ok(b.path(), &["show"])), exported["document"]);
    assert_eq!(exported["relationships"]["records"], json!([]));
    // An invalid import changes nothing.
    std::fs::write(&file, r#"{"profile": {"email": "nope"}}"#).unwrap();
    assert_eq!(
        kluis(b.path(), &["import", file.to_str().unwrap()])
            .status
            .code(),
        Some(5)
    );
    std::fs::write(&file, "{not json").unwrap();
    assert_eq!(
        kluis(b.path(), &["import", file.to_str().unwrap()])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(json_of(&ok(b.path(), &["show"])), exported["document"]);
}

#[test]
fn weak_passphrases_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = kluis_as(dir.path(), "welkom123", &["init"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too weak"), "{err}");
    assert!(!dir.path().join("vault.db").exists(), "no vault made");

    let dir = fresh();
    let d = dir.path();
    let new_file = d.join("new-pass");
    std::fs::write(&new_file, "password1\n").unwrap();
    let out = kluis(
        d,
        &[
            "passwd",
            "--new-passphrase-file",
            new_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too weak"));
    ok(d, &["show"]);
}

#[test]
fn passwd_rewraps_the_key() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &["set", "/profile/name", "Anna"]);
    let new_file = d.join("new-pass");
    std::fs::write(&new_file, "a brand new passphrase\n").unwrap();
    ok(
        d,
        &[
            "passwd",
            "--new-passphrase-file",
            new_file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        kluis(d, &["show"]).status.code(),
        Some(3),
        "old passphrase retired"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kluis"))
        .args([
            "get",
            "/profile/name",
            "--passphrase-file",
            new_file.to_str().unwrap(),
        ])
        .env("KLUIS_VAULT", d)
        .env_remove("KLUIS_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_of(&String::from_utf8(out.stdout).unwrap()),
        json!("Anna")
    );
}

#[test]
fn init_refuses_an_existing_vault_and_commands_refuse_a_missing_one() {
    let dir = fresh();
    assert_eq!(kluis(dir.path(), &["init"]).status.code(), Some(5));
    let empty = tempfile::tempdir().unwrap();
    let out = kluis(&empty.path().join("nothing"), &["show"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kluis init"));
}

#[test]
fn the_demo_creates_and_shows_a_sample_vault() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("demo");
    let out = ok(
        dir.path(),
        &["demo", "--no-serve", "--dir", vault.to_str().unwrap()],
    );
    assert!(out.contains("Anna de Vries"), "{out}");
    let shown = kluis_as(
        &vault,
        "demo passphrase",
        &["get", "/profile/email", "--raw"],
    );
    assert_eq!(
        String::from_utf8(shown.stdout).unwrap(),
        "anna@example.nl\n"
    );
}
