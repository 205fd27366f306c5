//! `kluis grant budget` through the real binary: a live grant's reads a day set and put back to
//! the default, recorded once per change; bad budgets and ended grants refused with nothing
//! changed; `grant list` and `grant show` with the budget and the day's reads as the server
//! counted them.

mod common;

use std::collections::HashMap;

use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::budget::day_of;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{DayReads, GrantDay, unix_now, unix_now_ms};
use serde_json::Value;

use common::{fresh, json_of, kluis, ok, vault};

fn create(d: &std::path::Path) -> String {
    let created = json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "webshop.example",
            "--fields",
            "/profile/email",
            "--purpose",
            "orders",
            "--json",
        ],
    ));
    assert_eq!(created["read_budget"], 10_000);
    assert_eq!(created["read_budget_is_default"], true);
    created["id"].as_str().unwrap().to_owned()
}

fn budget_records(d: &std::path::Path) -> Vec<String> {
    vault(d)
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == Action::GrantBudget && e.record.actor == Actor::OwnerCli)
        .map(|e| e.record.reason.unwrap())
        .collect()
}

fn served_read(grant: &GrantId) -> AccessRecord {
    AccessRecord {
        at_ms: unix_now_ms(),
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(grant.clone()),
        business: Some(BusinessId::parse("webshop.example").unwrap()),
        purpose: Some("orders".into()),
        fields: vec![Pointer::parse("/profile/email").unwrap()],
        outcome: Outcome::Allowed,
        reason: None,
        contact: None,
    }
}

#[test]
fn budget_sets_a_grants_reads_a_day_and_list_shows_the_days_reads() {
    let dir = fresh();
    let d = dir.path();
    let id = create(d);

    let out = ok(d, &["grant", "budget", &id, "--reads-per-day", "500"]);
    assert!(out.contains("500 reads a day"), "{out}");
    let set = json_of(&ok(
        d,
        &["grant", "budget", &id, "--reads-per-day", "500", "--json"],
    ));
    assert_eq!(set["read_budget"], 500);
    assert_eq!(set["changed"], false, "the same budget again");
    assert_eq!(
        budget_records(d),
        ["read budget now 500 reads a day; was 10000 reads a day (the default)"]
    );

    // What the server's ledger would have saved, and a read it logged after saving.
    let grant = GrantId::parse(&id).unwrap();
    let v = vault(d);
    v.append_log(&[served_read(&grant)]).unwrap();
    let reads = DayReads {
        day: day_of(unix_now()),
        grants: HashMap::from([(
            grant.clone(),
            GrantDay {
                reads: 7,
                refusal_recorded: false,
            },
        )]),
    };
    v.save_day_reads(&reads, &v.log_mark().unwrap()).unwrap();
    v.append_log(&[served_read(&grant)]).unwrap();

    let listed = json_of(&ok(d, &["grant", "list", "--json"]));
    assert_eq!(listed[0]["read_budget"], 500);
    assert_eq!(listed[0]["read_budget_is_default"], false);
    assert_eq!(listed[0]["reads_today"], 8);
    let table = ok(d, &["grant", "list"]);
    assert!(
        table.lines().next().unwrap().contains("READS TODAY"),
        "{table}"
    );
    assert!(table.contains(" 8/500 "), "{table}");
    let shown = ok(d, &["grant", "show", &id]);
    assert!(shown.contains("read budget:  500 reads a day"), "{shown}");
    assert!(shown.contains("reads today:  8"), "{shown}");

    let back = json_of(&ok(d, &["grant", "budget", &id, "--default", "--json"]));
    assert_eq!(
        (back["read_budget"].clone(), back["changed"].clone()),
        (Value::from(10_000), Value::Bool(true))
    );
    assert_eq!(budget_records(d).len(), 2);
}

#[test]
fn bad_budgets_and_ended_grants_are_refused_and_change_nothing() {
    let dir = fresh();
    let d = dir.path();
    let id = create(d);
    ok(d, &["grant", "budget", &id, "--reads-per-day", "40"]);
    let before = ok(d, &["grant", "show", &id, "--json"]);
    for (args, code, needle) in [
        (vec!["--reads-per-day", "0"], 5, "1 to 10000000"),
        (vec!["--reads-per-day", "10000001"], 5, "1 to 10000000"),
        (vec!["--reads-per-day", "many"], 5, "is not a read budget"),
        (
            vec!["--reads-per-day", "5", "--default"],
            2,
            "cannot be used",
        ),
        (vec![], 2, "--reads-per-day"),
    ] {
        let mut full = vec!["grant", "budget", id.as_str()];
        full.extend(&args);
        let out = kluis(d, &full);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let unknown = kluis(
        d,
        &[
            "grant",
            "budget",
            "g_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            "--default",
        ],
    );
    assert_eq!(unknown.status.code(), Some(4));
    ok(d, &["grant", "revoke", &id]);
    let revoked_before = ok(d, &["grant", "show", &id, "--json"]);
    let out = kluis(d, &["grant", "budget", &id, "--reads-per-day", "5"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no longer active"));
    assert_eq!(ok(d, &["grant", "show", &id, "--json"]), revoked_before);
    assert_eq!(json_of(&before)["read_budget"], 40);
    assert_eq!(json_of(&revoked_before)["read_budget"], 40);
    assert_eq!(budget_records(d).len(), 1);
}
