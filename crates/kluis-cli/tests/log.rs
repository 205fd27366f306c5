//! `kluis log` pages: `--limit` (the most recent), the `--before` cursor it prints for the next
//! page, `--since`/`--until` and `--outcome`, through the real binary on a log planted through
//! the store.

mod common;

use std::path::Path;

use common::{fresh, json_of, kluis, ok, vault};
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use serde_json::Value;

/// 2025-06-15T15:06:40Z.
const T0: i64 = 1_750_000_000_000;
const HOUR: i64 = 3_600_000;

fn record(at_ms: i64, outcome: Outcome) -> AccessRecord {
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(GrantId::from_random([3; 16])),
        business: Some(BusinessId::parse("webshop.example").unwrap()),
        purpose: Some("order delivery".into()),
        fields: vec![],
        outcome,
        reason: (outcome == Outcome::Refused).then(|| "the grant was revoked".into()),
        contact: None,
    }
}

/// Seven entries an hour apart from `start`, in three frames; entries 3 and 6 refused.
fn plant(dir: &Path, start: i64) {
    let v = vault(dir);
    let records: Vec<AccessRecord> = (0..7)
        .map(|i| {
            let outcome = if i % 3 == 2 {
                Outcome::Refused
            } else {
                Outcome::Allowed
            };
            record(start + i * HOUR, outcome)
        })
        .collect();
    for frame in [&records[..2], &records[2..5], &records[5..]] {
        v.append_log(frame).unwrap();
    }
}

fn seqs(entries: &Value) -> Vec<i64> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

/// `kluis log args --json`: the entries' numbers, and what it said on stderr.
fn page(dir: &Path, args: &[&str]) -> (Vec<i64>, String) {
    let mut all = vec!["log"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = kluis(dir, &all);
    assert!(out.status.success(), "{args:?}: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (seqs(&json_of(&stdout)), stderr)
}

#[test]
fn limit_shows_the_most_recent_and_before_pages_back() {
    let dir = fresh();
    let d = dir.path();
    plant(d, T0);
    let (newest, hint) = page(d, &["--limit", "3"]);
    assert_eq!(newest, [5, 6, 7], "the most recent, oldest first");
    assert!(hint.contains("--before 5"), "{hint}");
    let (older, hint) = page(d, &["--limit", "3", "--before", "5"]);
    assert_eq!(older, [2, 3, 4]);
    assert!(hint.contains("--before 2"), "{hint}");
    let (oldest, hint) = page(d, &["--limit", "3", "--before", "2"]);
    assert_eq!(oldest, [1]);
    assert!(hint.is_empty(), "no more pages: {hint}");
    let (all, hint) = page(d, &[]);
    assert_eq!(all, [1, 2, 3, 4, 5, 6, 7]);
    assert!(hint.is_empty(), "{hint}");

    // The table pages the same way.
    let out = kluis(d, &["log", "--limit", "2"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("6 "), "{table}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--before 6"));
    let out = kluis(d, &["log", "--before", "1"]);
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no entries in the access log match"));

    for bad in [
        &["--limit", "0"][..],
        &["--before", "x"],
        &["--limit", "-1"],
    ] {
        let mut args = vec!["log"];
        args.extend_from_slice(bad);
        let code = kluis(d, &args).status.code();
        assert!(matches!(code, Some(2) | Some(5)), "{bad:?}: {code:?}");
    }
}

#[test]
fn since_and_until_take_timestamps_dates_and_times_ago() {
    let dir = fresh();
    let d = dir.path();
    plant(d, T0);
    // Entry n is at T0 + (n - 1) h: 15:06:40Z, 16:06:40Z, …
    let at = |n: i64| T0 + (n - 1) * HOUR;
    assert_eq!(at(3), 1_750_007_200_000);
    let (from_3, _) = page(d, &["--since", "2025-06-15T17:06:40Z"]);
    assert_eq!(from_3, [3, 4, 5, 6, 7], "since is inclusive");
    let (before_3, _) = page(d, &["--until", "2025-06-15T19:06:40+02:00"]);
    assert_eq!(before_3, [1, 2], "until is exclusive");
    let (window, _) = page(
        d,
        &[
            "--since",
            "2025-06-15T17:00:00Z",
            "--until",
            "2025-06-15T20:00:00Z",
        ],
    );
    assert_eq!(window, [3, 4, 5]);
    // A date is midnight UTC: the entries after 21:00Z are on the 15th too.
    let (day, _) = page(d, &["--since", "2025-06-15", "--until", "2025-06-16"]);
    assert_eq!(day, [1, 2, 3, 4, 5, 6, 7]);
    let (next_day, _) = page(d, &["--since", "2025-06-16"]);
    assert_eq!(next_day, [] as [i64; 0]);

    let out = kluis(d, &["log", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--since") && err.contains("not a time"),
        "{err}"
    );
    assert_eq!(
        kluis(d, &["log", "--until", "2025-02-30"]).status.code(),
        Some(5)
    );
}

#[test]
fn since_a_time_ago_counts_back_from_now() {
    let dir = fresh();
    let d = dir.path();
    // Seven entries an hour apart: 7 h ago … 1 h ago.
    let now = kluis_store::unix_now_ms();
    plant(d, now - 7 * HOUR);
    let (recent, _) = page(d, &["--since", "150m"]);
    assert_eq!(recent, [6, 7]);
    let (old, _) = page(d, &["--until", "1d"]);
    assert_eq!(old, [] as [i64; 0]);
}

#[test]
fn outcome_keeps_allowed_or_refused_calls() {
    let dir = fresh();
    let d = dir.path();
    plant(d, T0);
    let (refused, _) = page(d, &["--outcome", "refused"]);
    assert_eq!(refused, [3, 6]);
    let (allowed, hint) = page(d, &["--outcome", "allowed", "--limit", "2"]);
    assert_eq!(allowed, [5, 7]);
    assert!(hint.contains("--before 5"), "{hint}");
    let (allowed, _) = page(
        d,
        &["--outcome", "allowed", "--limit", "2", "--before", "5"],
    );
    assert_eq!(allowed, [2, 4]);
    let out = json_of(&ok(d, &["log", "--outcome", "refused", "--json"]));
    assert!(
        out.as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "refused")
    );
    assert_eq!(
        kluis(d, &["log", "--outcome", "maybe"]).status.code(),
        Some(2)
    );
}
