//! `kluis grant`, `kluis log` and `kluis key` driven through the real binary; the vault is read
//! back through the store to check tokens against the published keys and to plant log entries.

mod common;

use std::cell::RefCell;
use std::path::Path;

use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::token::{Expectations, GrantClaims, verify_grant};
use kluis_store::{LOG_FILE, frame_ranges, unix_now};
use serde_json::{Value, json};

use common::{fresh, json_of, kluis, kluis_as, ok, vault};

const CREATE: [&str; 8] = [
    "grant",
    "create",
    "--to",
    "webshop.example",
    "--fields",
    "/profile/email,/profile/address",
    "--purpose",
    "order delivery",
];

/// Verifies `token` against the vault's published JWKS; returns its claims and the `kid` it named.
fn verify_against_jwks(dir: &Path, token: &str, audience: &str) -> (GrantClaims, String) {
    let vault = vault(dir);
    let jwks = vault.jwks(unix_now()).unwrap();
    let named = RefCell::new(String::new());
    let claims = verify_grant(
        token,
        |kid| {
            *named.borrow_mut() = kid.to_owned();
            jwks.find(kid)
        },
        &Expectations {
            issuer: &vault.issuer(),
            audience: Some(audience),
            now: unix_now(),
            leeway: 0,
        },
    )
    .unwrap();
    (claims, named.into_inner())
}

#[test]
fn create_prints_only_a_token_that_verifies_against_the_vault_keys() {
    let dir = fresh();
    let d = dir.path();
    let out = ok(d, &CREATE);
    assert!(out.ends_with('\n') && out.lines().count() == 1, "{out:?}");
    let token = out.trim_end();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    for part in parts {
        assert!(!part.is_empty());
        assert!(
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{part} is not base64url"
        );
    }
    let (claims, _) = verify_against_jwks(d, token, "webshop.example");
    assert_eq!(claims.fields(), ["/profile/address", "/profile/email"]);
    assert_eq!(claims.purpose, "order delivery");
    assert_eq!(
        claims.exp - claims.iat,
        kluis_core::grant::DEFAULT_LIFETIME_SECS
    );

    let mut args = CREATE.to_vec();
    args.extend([
        "--fields",
        "/profile/name",
        "--category",
        "contract",
        "--expires",
        "2h",
        "--json",
    ]);
    let created = json_of(&ok(d, &args));
    let id = created["id"].as_str().unwrap();
    assert!(GrantId::parse(id).is_ok(), "{id}");
    assert_eq!(created["audience"], "webshop.example");
    assert_eq!(
        created["fields"],
        json!(["/profile/address", "/profile/email", "/profile/name"])
    );
    assert_eq!(created["purpose_category"], "contract");
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["expires_at"].as_i64().unwrap() - created["issued_at"].as_i64().unwrap(),
        7200
    );
    let (claims, _) = verify_against_jwks(d, created["token"].as_str().unwrap(), "webshop.example");
    assert_eq!(claims.jti, id);
    assert_eq!(claims.sub, created["subject"]);
}

#[test]
fn list_show_and_revoke() {
    let dir = fresh();
    let d = dir.path();
    let mut args = CREATE.to_vec();
    args.push("--json");
    let created = json_of(&ok(d, &args));
    let id = created["id"].as_str().unwrap();

    let table = ok(d, &["grant", "list"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID "), "{table}");
    let row = lines.next().unwrap();
    assert!(row.starts_with(id), "{table}");
    assert!(
        row.contains("webshop.example") && row.contains("active"),
        "{row}"
    );
    assert!(row.contains("/profile/address,/profile/email"), "{row}");
    assert_eq!(
        header.find("STATUS"),
        row.find("active"),
        "columns line up: {table}"
    );

    let listed = json_of(&ok(d, &["grant", "list", "--json"]));
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("token");
    // No server has counted reads yet: unknown, not 0.
    expected["reads_today"] = Value::Null;
    assert_eq!(listed, json!([expected]));
    assert_eq!(json_of(&ok(d, &["grant", "show", id, "--json"])), expected);
    let shown = ok(d, &["grant", "show", id]);
    assert!(
        shown.contains("order delivery") && shown.contains(id),
        "{shown}"
    );

    let out = ok(d, &["grant", "revoke", id]);
    assert!(out.contains("revoked") && !out.contains("already"), "{out}");
    let again = json_of(&ok(d, &["grant", "revoke", id, "--json"]));
    assert_eq!(again["already_revoked"], true);
    assert_eq!(again["status"], "revoked");
    assert!(ok(d, &["grant", "revoke", id]).contains("already"));

    assert_eq!(json_of(&ok(d, &["grant", "list", "--json"])), json!([]));
    assert!(!ok(d, &["grant", "list"]).contains(id));
    let all = json_of(&ok(d, &["grant", "list", "--all", "--json"]));
    assert_eq!(all[0]["id"], id);
    assert_eq!(all[0]["status"], "revoked");
    assert!(all[0]["revoked_at"].is_i64());
    assert!(ok(d, &["grant", "list", "--all"]).contains("revoked"));
}

#[test]
fn narrow_keeps_fewer_fields_and_refuses_widening() {
    let dir = fresh();
    let d = dir.path();
    let mut args = CREATE.to_vec();
    args.push("--json");
    let created = json_of(&ok(d, &args));
    let id = created["id"].as_str().unwrap();

    let out = ok(d, &["grant", "narrow", id, "--keep", "/profile/email"]);
    assert!(out.contains("now covers /profile/email only"), "{out}");
    let shown = json_of(&ok(d, &["grant", "show", id, "--json"]));
    assert_eq!(shown["fields"], json!(["/profile/email"]));
    // The narrowing is logged by the owner through the CLI, naming what was dropped.
    let log = json_of(&ok(d, &["log", "--json"]));
    let last = log.as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["actor"].as_str(), last["action"].as_str()),
        (Some("owner_cli"), Some("grant_narrow"))
    );
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("/profile/address"),
        "{last}"
    );

    let before = ok(d, &["grant", "show", id, "--json"]);
    for refused in [
        vec!["grant", "narrow", id, "--keep", "/profile/address"],
        vec!["grant", "narrow", id, "--keep", "/profile/email"],
        vec!["grant", "narrow", id, "--keep", "not a pointer"],
    ] {
        let out = kluis(d, &refused);
        assert_eq!(out.status.code(), Some(5), "{refused:?}");
    }
    assert_eq!(
        ok(d, &["grant", "show", id, "--json"]),
        before,
        "nothing changed"
    );
    ok(d, &["grant", "revoke", id]);
    assert_eq!(
        kluis(d, &["grant", "narrow", id, "--keep", "/profile/email"])
            .status
            .code(),
        Some(5)
    );
}

#[test]
fn bad_grant_input_is_refused_and_changes_nothing() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &CREATE);
    let before = ok(d, &["grant", "list", "--all", "--json"]);
    // CREATE with one flag's value replaced, or with more flags after it.
    let with = |flag: &str, value: &str| {
        let mut args: Vec<String> = CREATE.iter().map(|a| a.to_string()).collect();
        match args.iter().position(|a| a == flag) {
            Some(at) => args[at + 1] = value.to_owned(),
            None => args.extend([flag.to_owned(), value.to_owned()]),
        }
        args
    };
    for (args, needle) in [
        (with("--fields", "/profile/nope"), "/profile/nope"),
        (with("--fields", "profile/email"), "start with '/'"),
        (with("--fields", "/profile/email,,"), "empty entry"),
        (with("--purpose", "  "), "purpose"),
        (with("--to", "web shop"), "business id"),
        (with("--expires", "2y"), "duration"),
        (with("--expires", "400d"), "at most a year"),
        (with("--category", " "), "category"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kluis(d, &args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let unknown = "g_aaaaaaaaaaaaaaaaaaaaaaaaaa";
    for command in ["show", "revoke"] {
        let out = kluis(d, &["grant", command, unknown]);
        assert_eq!(out.status.code(), Some(4), "{command}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(unknown));
        let out = kluis(d, &["grant", command, "../etc/passwd"]);
        assert_eq!(out.status.code(), Some(5), "{command}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a grant id"));
    }
    for filter in [["--grant", "nope"], ["--business", "a b"]] {
        assert_eq!(
            kluis(d, &["log", filter[0], filter[1]]).status.code(),
            Some(5)
        );
    }
    assert_eq!(ok(d, &["grant", "list", "--all", "--json"]), before);
}

fn record(at_ms: i64, grant: &GrantId, business: &str, outcome: Outcome) -> AccessRecord {
    let refused = outcome == Outcome::Refused;
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(grant.clone()),
        business: Some(BusinessId::parse(business).unwrap()),
        purpose: Some("order delivery".into()),
        fields: if refused {
            vec![]
        } else {
            vec![Pointer::parse("/profile/email").unwrap()]
        },
        outcome,
        reason: refused.then(|| "the grant was revoked".into()),
        contact: None,
    }
}

/// Appends four entries, one by one (four frames of the log file): three by webshop.example
/// (two grants), one by other.example.
fn plant_log(dir: &Path) -> (GrantId, GrantId) {
    let a = GrantId::from_random([1; 16]);
    let b = GrantId::from_random([2; 16]);
    let vault = vault(dir);
    for record in [
        record(1_750_000_000_250, &a, "webshop.example", Outcome::Allowed),
        record(1_750_000_001_000, &b, "other.example", Outcome::Allowed),
        record(1_750_000_002_000, &a, "webshop.example", Outcome::Refused),
        record(1_750_000_003_000, &b, "webshop.example", Outcome::Allowed),
    ] {
        vault.append_log(&[record]).unwrap();
    }
    (a, b)
}

/// The log file's bytes, and where its frames are.
fn log_bytes(dir: &Path) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let path = dir.join(LOG_FILE);
    let frames = frame_ranges(&path)
        .unwrap()
        .into_iter()
        .map(|r| r.start as usize..r.end as usize)
        .collect();
    (std::fs::read(&path).unwrap(), frames)
}

fn seqs(entries: &Value) -> Vec<i64> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

#[test]
fn the_log_lists_and_filters() {
    let dir = fresh();
    let d = dir.path();
    assert_eq!(json_of(&ok(d, &["log", "--json"])), json!([]));
    assert_eq!(
        ok(d, &["log", "verify"]),
        "the access log is intact (0 entries)\n"
    );
    let (a, b) = plant_log(d);

    let all = json_of(&ok(d, &["log", "--json"]));
    assert_eq!(seqs(&all), [1, 2, 3, 4]);
    assert_eq!(
        all[0],
        json!({
            "seq": 1,
            "at_ms": 1_750_000_000_250_i64,
            "time": "2025-06-15T15:06:40.250Z",
            "actor": "business",
            "action": "read",
            "request": null,
            "grant": a.as_str(),
            "business": "webshop.example",
            "purpose": "order delivery",
            "fields": ["/profile/email"],
            "outcome": "allowed",
            "reason": null,
            "contact": null,
        })
    );
    assert_eq!(all[2]["outcome"], "refused");
    assert_eq!(all[2]["reason"], "the grant was revoked");

    let by_grant = json_of(&ok(d, &["log", "--grant", a.as_str(), "--json"]));
    assert_eq!(seqs(&by_grant), [1, 3]);
    let by_business = json_of(&ok(d, &["log", "--business", "webshop.example", "--json"]));
    assert_eq!(seqs(&by_business), [1, 3, 4]);
    let both = json_of(&ok(
        d,
        &[
            "log",
            "--business",
            "webshop.example",
            "--grant",
            b.as_str(),
            "--json",
        ],
    ));
    assert_eq!(seqs(&both), [4]);
    let none = json_of(&ok(d, &["log", "--business", "nobody.example", "--json"]));
    assert_eq!(none, json!([]));

    let table = ok(d, &["log"]);
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.contains("2025-06-15T15:06:41.000Z"), "{table}");
    assert!(table.contains("the grant was revoked"), "{table}");

    assert_eq!(
        ok(d, &["log", "verify"]),
        "the access log is intact (4 entries)\n"
    );
    let check = json_of(&ok(d, &["log", "verify", "--json"]));
    assert_eq!(
        check,
        json!({"intact": true, "entries": 4, "first_broken": null, "pruned": null})
    );
    // Filters belong to listing: mixing them with `verify` is a usage error.
    assert_eq!(
        kluis(d, &["log", "--grant", a.as_str(), "verify"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_tampered_log_fails_verification_with_exit_code_6() {
    let dir = fresh();
    let d = dir.path();
    plant_log(d);
    // One bit of entry 2's sealed record flipped, its MAC left in place.
    let (mut bytes, frames) = log_bytes(d);
    bytes[frames[1].start + 20] ^= 1;
    std::fs::write(d.join(LOG_FILE), &bytes).unwrap();

    let out = kluis(d, &["log", "verify"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 2") && err.contains("altered"), "{err}");

    let out = kluis(d, &["log", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(6));
    let check = json_of(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(check["intact"], false);
    assert_eq!(check["first_broken"]["seq"], 2);
}

#[test]
fn reordered_log_entries_are_named() {
    let dir = fresh();
    let d = dir.path();
    plant_log(d);
    // Swap whole entries 2 and 3 (records and MACs), as someone hiding an order would.
    let (mut bytes, frames) = log_bytes(d);
    let (two, three) = (frames[1].clone(), frames[2].clone());
    let swapped = [&bytes[three.clone()], &bytes[two.clone()]].concat();
    bytes[two.start..three.end].copy_from_slice(&swapped);
    std::fs::write(d.join(LOG_FILE), &bytes).unwrap();
    let out = kluis(d, &["log", "verify"]);
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 2"), "{err}");
    // Listing a log whose entries no longer open is refused the same way, not shown half-read.
    assert_eq!(kluis(d, &["log"]).status.code(), Some(6));
}

#[test]
fn key_rotation_changes_the_kid_new_tokens_carry() {
    let dir = fresh();
    let d = dir.path();
    let before = ok(d, &CREATE);
    let (_, old_kid) = verify_against_jwks(d, before.trim_end(), "webshop.example");

    let rotated = ok(d, &["key", "rotate"]);
    let new_kid = rotated.trim_end();
    assert_eq!(rotated.lines().count(), 1);
    assert_ne!(new_kid, old_kid);
    let after = ok(d, &CREATE);
    let (_, kid) = verify_against_jwks(d, after.trim_end(), "webshop.example");
    assert_eq!(kid, new_kid);
    // The old token still verifies: its key stays published while the grant runs.
    verify_against_jwks(d, before.trim_end(), "webshop.example");

    let again = json_of(&ok(d, &["key", "rotate", "--json"]));
    assert!(again["kid"].is_string());
    assert_ne!(again["kid"], new_kid);
}

#[test]
fn grants_need_the_right_passphrase() {
    let dir = fresh();
    let d = dir.path();
    let out = kluis_as(d, "guess", &CREATE);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert_eq!(
        json_of(&ok(d, &["grant", "list", "--all", "--json"])),
        json!([])
    );
}
