//! `kluis contact report` through the real binary, over contact attempts planted in the
//! vault's access log (as `POST /v1/contact/check` and `POST /v1/inbox` log them).

mod common;

use kluis_core::access::{AccessRecord, Action, Actor, ContactNote, Outcome};
use kluis_core::grant::BusinessId;
use serde_json::json;

use common::{fresh, json_of, kluis, ok, vault};

/// 2026-12-01T00:00:00Z in milliseconds.
const DEC_1: i64 = 1_796_083_200_000;

fn attempt(at_ms: i64, business: &str, reason: Option<&str>) -> AccessRecord {
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::ContactCheck,
        request: None,
        grant: None,
        business: Some(BusinessId::parse(business).unwrap()),
        purpose: None,
        fields: vec![],
        outcome: if reason.is_some() {
            Outcome::Refused
        } else {
            Outcome::Allowed
        },
        reason: reason.map(str::to_owned),
        contact: Some(ContactNote {
            channel: "email".into(),
            topic: "news".into(),
            message: None,
            counted: false,
        }),
    }
}

#[test]
fn the_report_counts_refusals_against_the_owners_wishes_per_business() {
    let dir = fresh();
    let d = dir.path();
    let out = ok(d, &["contact", "report", "--json"]);
    assert_eq!(json_of(&out), json!([]));

    vault(d)
        .append_log(&[
            attempt(DEC_1 - 1000, "old.example", Some("cap_reached")),
            attempt(DEC_1 + 1000, "shop.example", None),
            attempt(DEC_1 + 2000, "shop.example", Some("quiet_hours")),
            attempt(DEC_1 + 3000, "pushy.example", Some("cap_reached")),
            attempt(DEC_1 + 4000, "pushy.example", Some("cap_reached")),
            attempt(DEC_1 + 5000, "pushy.example", Some("no_contact_right")),
            attempt(DEC_1 + 6000, "pushy.example", Some("the grant was revoked")),
        ])
        .unwrap();
    let report = json_of(&ok(
        d,
        &["contact", "report", "--since", "2026-12-01", "--json"],
    ));
    let names: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["business"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pushy.example", "shop.example"]);
    let pushy = &report[0];
    assert_eq!(pushy["attempts"], 4);
    assert_eq!(pushy["against_wishes"], 3);
    assert_eq!(pushy["refused"]["cap_reached"], 2);
    assert_eq!(pushy["refused"]["no_contact_right"], 1);
    assert_eq!(pushy["refused"]["quiet_hours"], 0);
    assert_eq!(pushy["refused_other"], 1);
    assert_eq!(pushy["last_attempt_ms"], DEC_1 + 6000);
    assert_eq!(report[1]["allowed"], 1);

    let all = json_of(&ok(d, &["contact", "report", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 3);

    let table = ok(d, &["contact", "report"]);
    let line = table
        .lines()
        .find(|l| l.starts_with("pushy.example"))
        .unwrap();
    assert!(
        line.contains("1 × outside its right, 2 × cap reached"),
        "{table}"
    );
    assert!(line.contains("2026-12-01T00:00:06.000Z"), "{table}");
}

#[test]
fn a_bad_since_is_refused_before_the_vault_is_opened() {
    let dir = fresh();
    let d = dir.path();
    let out = kluis(d, &["contact", "report", "--since", "2026-13-45"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--since \"2026-13-45\" is not a time"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
