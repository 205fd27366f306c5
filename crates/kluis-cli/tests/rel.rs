//! `kluis rel`, `kluis due` and `kluis export`/`import` with relationship records, through the
//! real binary.

mod common;

use jiff::ToSpan;
use jiff::civil::Date;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::relationship::entry::sha256_hex;
use kluis_core::relationship::{Attachment, Author, Entry, EntryId, Item};
use kluis_store::NewEntry;
use serde_json::Value;

use common::{fresh, json_of, kluis, ok, vault};

fn today() -> Date {
    jiff::ZonedDateTime::now().date()
}

fn day(offset: i64) -> String {
    today().checked_add(offset.days()).unwrap().to_string()
}

fn entry_of(out: &str) -> String {
    json_of(out)["entry"]["id"].as_str().unwrap().to_owned()
}

fn fails_with(dir: &std::path::Path, args: &[&str], code: i32, needle: &str) {
    let out = kluis(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn the_owner_records_a_relationship_and_sees_what_is_due() {
    let dir = fresh();
    let d = dir.path();
    // A contract ending in 40 days with a month's notice: the last day is about 10 days out.
    let end = day(40);
    ok(
        d,
        &[
            "rel",
            "contract",
            "telco.example",
            "--what",
            "Mobile subscription",
            "--start",
            "2025-01-01",
            "--end",
            &end,
            "--renews",
            "--notice",
            "1m",
            "--json",
        ],
    );
    let late = entry_of(&ok(
        d,
        &[
            "rel",
            "promise",
            "shop.example",
            "--what",
            "Call back",
            "--due",
            &day(-2),
            "--json",
        ],
    ));
    ok(
        d,
        &[
            "rel",
            "promise",
            "shop.example",
            "--what",
            "Send the part",
            "--due",
            &day(3),
        ],
    );
    ok(
        d,
        &[
            "rel",
            "interaction",
            "shop.example",
            "--channel",
            "phone",
            "--summary",
            "Asked about the repair",
        ],
    );
    ok(
        d,
        &["rel", "score", "shop.example", "2", "--comment", "Slow"],
    );
    ok(d, &["rel", "note", "shop.example", "Ask for Anna"]);

    let list = json_of(&ok(d, &["rel", "--json"]));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["business"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop.example", "telco.example"]);
    assert_eq!(list[0]["overdue"], 1);
    assert_eq!(list[0]["satisfaction"]["score"], 2);
    let end_date: Date = end.parse().unwrap();
    let notice_day = end_date.checked_sub(1.month()).unwrap().to_string();
    assert_eq!(
        list[1]["contracts"][0]["last_notice_day"],
        Value::from(notice_day.clone())
    );
    assert_eq!(
        list[1]["next_notice_deadline"],
        Value::from(notice_day.clone())
    );

    let shown = ok(d, &["rel", "show", "shop.example"]);
    assert!(shown.contains("OVERDUE"), "{shown}");
    assert!(shown.contains("phone: Asked about the repair"), "{shown}");

    let due = json_of(&ok(d, &["due", "--json"]));
    let kinds: Vec<(&str, &str)> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap(), i["on"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("promise", day(-2).as_str()),
            ("promise", day(3).as_str()),
            ("notice_deadline", notice_day.as_str())
        ]
    );
    assert_eq!(due[0]["overdue"], true);
    // Not within 5 days: the deadline.
    assert_eq!(
        json_of(&ok(d, &["due", "--days", "5", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The calendar reads in an iCalendar parser, with UIDs stable across exports.
    let ics = ok(d, &["due", "--ics"]);
    let uids = |text: &str| -> Vec<String> {
        let cal = ical::IcalParser::new(text.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let uid = |props: &[ical::property::Property]| {
            props
                .iter()
                .find(|p| p.name == "UID")
                .unwrap()
                .value
                .clone()
                .unwrap()
        };
        let mut out: Vec<String> = cal.todos.iter().map(|t| uid(&t.properties)).collect();
        out.extend(cal.events.iter().map(|e| uid(&e.properties)));
        out
    };
    let first = uids(&ics);
    assert_eq!(first.len(), 3);
    assert!(first[0].starts_with(&late), "{first:?}");
    assert_eq!(uids(&ok(d, &["due", "--ics"])), first);

    // Kept: no longer due, but the calendar keeps its entry, completed, under the same UID,
    // so a calendar that imported it sees it done.
    ok(d, &["rel", "settle", &late, "kept"]);
    let due = json_of(&ok(d, &["due", "--json"]));
    assert_eq!(due.as_array().unwrap().len(), 2);
    let ics = ok(d, &["due", "--ics"]);
    assert_eq!(uids(&ics), first);
    let cal = ical::IcalParser::new(ics.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let status = |uid: &str| -> String {
        let todo = cal
            .todos
            .iter()
            .find(|t| {
                t.properties
                    .iter()
                    .any(|p| p.name == "UID" && p.value.as_deref() == Some(uid))
            })
            .unwrap();
        let p = todo.properties.iter().find(|p| p.name == "STATUS").unwrap();
        p.value.clone().unwrap()
    };
    assert_eq!(status(&first[0]), "COMPLETED");
    assert_eq!(status(&first[1]), "NEEDS-ACTION");
    // A kept promise cannot become broken; only opened again.
    fails_with(d, &["rel", "settle", &late, "broken"], 5, "opened again");
}

#[test]
fn bad_input_is_refused_and_records_nothing() {
    let dir = fresh();
    let d = dir.path();
    fails_with(d, &["rel", "score", "shop.example", "9"], 5, "1 to 5");
    fails_with(
        d,
        &[
            "rel",
            "promise",
            "shop.example",
            "--what",
            "x",
            "--due",
            "2026-02-30",
        ],
        5,
        "YYYY-MM-DD",
    );
    fails_with(
        d,
        &[
            "rel",
            "promise",
            "shop.example",
            "--what",
            " ",
            "--due",
            "2026-02-03",
        ],
        5,
        "description",
    );
    fails_with(
        d,
        &[
            "rel",
            "contract",
            "shop.example",
            "--what",
            "x",
            "--start",
            "2026-02-03",
            "--end",
            "2026-01-01",
        ],
        5,
        "before it starts",
    );
    fails_with(
        d,
        &[
            "rel",
            "contract",
            "shop.example",
            "--what",
            "x",
            "--start",
            "2026-02-03",
            "--notice",
            "1y",
        ],
        5,
        "notice period",
    );
    fails_with(d, &["rel", "note", "not a business!", "hello"], 5, "");
    fails_with(d, &["rel", "settle", "e_nope", "kept"], 5, "entry id");
    fails_with(d, &["rel", "show", "shop.example"], 4, "no relationship");
    assert_eq!(json_of(&ok(d, &["rel", "--json"])), Value::Array(vec![]));
}

/// A document the business deposited, planted through the store as the grant API stores it.
fn plant_document(d: &std::path::Path, file: &[u8]) -> EntryId {
    let v = vault(d);
    let mut rel = v.open_relationships().unwrap();
    let id = EntryId::from_random([5; 16]);
    let entry = Entry {
        id: id.clone(),
        at_ms: kluis_store::unix_now_ms(),
        author: Author::Business {
            grant: GrantId::from_random([1; 16]),
            request_sha256: "hash".into(),
            jkt: Some("thumbprint".into()),
        },
        item: Item::Document {
            title: "Warranty \u{202e}fdp.exe".into(),
            body: serde_json::json!({"years": 2}),
            attachment: Some(Attachment {
                name: "warranty.pdf".into(),
                media_type: "application/pdf".into(),
                size: file.len() as u64,
                sha256: sha256_hex(file),
            }),
        },
    };
    let new = NewEntry {
        entry,
        attachment: Some(file.to_vec()),
        bytes: 10,
    };
    rel.append(&BusinessId::parse("shop.example").unwrap(), &new)
        .unwrap();
    id
}

#[test]
fn a_businesss_document_is_shown_escaped_saved_and_kept() {
    let dir = fresh();
    let d = dir.path();
    let id = plant_document(d, b"%PDF warranty");
    let shown = ok(d, &["rel", "show", "shop.example"]);
    assert!(
        !shown.contains('\u{202e}') && shown.contains("Warranty \\u{202e}fdp.exe"),
        "characters that reorder text are shown escaped: {shown:?}"
    );
    assert!(
        shown.contains("key thumbprint, request sha256 hash"),
        "the business's proof is shown: {shown}"
    );
    let out = d.join("saved.pdf");
    ok(
        d,
        &["rel", "file", id.as_str(), "--out", out.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"%PDF warranty");
    fails_with(d, &["rel", "remove", id.as_str()], 5, "stays in its record");
    let note = entry_of(&ok(d, &["rel", "note", "shop.example", "mine", "--json"]));
    ok(d, &["rel", "remove", &note]);
    let record = json_of(&ok(d, &["rel", "show", "shop.example", "--json"]));
    assert_eq!(record["entries"], 1);
}

#[test]
fn an_export_carries_the_records_and_imports_once() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &["set", "/profile/email", "a@b.nl"]);
    let planted = plant_document(d, b"file bytes");
    ok(
        d,
        &[
            "rel",
            "promise",
            "shop.example",
            "--what",
            "Refund",
            "--due",
            &day(5),
        ],
    );
    let export = ok(d, &["export"]);
    let parsed = json_of(&export);
    assert_eq!(parsed["kluis_export"], 2);
    assert_eq!(parsed["document"]["profile"]["email"], "a@b.nl");

    let other = fresh();
    let o = other.path();
    let file = o.join("export.json");
    std::fs::write(&file, &export).unwrap();
    ok(o, &["import", file.to_str().unwrap()]);
    ok(o, &["import", file.to_str().unwrap()]);
    let a = json_of(&ok(d, &["rel", "show", "shop.example", "--json"]));
    let b = json_of(&ok(o, &["rel", "show", "shop.example", "--json"]));
    assert_eq!(b["entries"], 2, "imported once");
    assert_eq!(a["promises"], b["promises"]);
    assert_eq!(json_of(&ok(o, &["get", "/profile/email"])), "a@b.nl");
    let saved = o.join("f");
    ok(
        o,
        &[
            "rel",
            "file",
            planted.as_str(),
            "--out",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&saved).unwrap(), b"file bytes");

    // A bare document (an older export, or `kluis show`) still imports.
    let bare = o.join("bare.json");
    std::fs::write(&bare, r#"{"profile": {"email": "c@d.nl"}}"#).unwrap();
    ok(o, &["import", bare.to_str().unwrap()]);
    assert_eq!(json_of(&ok(o, &["get", "/profile/email"])), "c@d.nl");

    // A damaged entry in an export changes nothing, the document included.
    let mut damaged = parsed.clone();
    damaged["relationships"]["records"][0]["entries"][0]["attachment"] = "not base64!".into();
    damaged["document"]["profile"]["email"] = "x@y.nl".into();
    let third = fresh();
    let t = third.path();
    let file = t.join("damaged.json");
    std::fs::write(&file, damaged.to_string()).unwrap();
    fails_with(t, &["import", file.to_str().unwrap()], 5, "base64");
    assert_eq!(json_of(&ok(t, &["rel", "--json"])), Value::Array(vec![]));
    assert_eq!(kluis(t, &["get", "/profile/email"]).status.code(), Some(4));
}

#[test]
fn a_grant_starts_a_relationship_before_any_entry() {
    let dir = fresh();
    let d = dir.path();
    ok(d, &["set", "/profile/email", "a@b.nl"]);
    ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "bank.example",
            "--fields",
            "/profile/email",
            "--purpose",
            "statements",
        ],
    );
    let list = json_of(&ok(d, &["rel", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["business"], "bank.example");
    assert_eq!(list[0]["entries"], 0);
    // Its timeline already tells what the vault saw: the grant given.
    let shown = ok(d, &["rel", "show", "bank.example"]);
    assert!(shown.contains("you gave it a grant"), "{shown}");
}

#[test]
fn kluis_serve_holds_businesses_to_the_quotas_it_is_given() {
    let dir = fresh();
    let d = dir.path();
    let created = json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "shop.example",
            "--append-record",
            "--purpose",
            "receipts",
            "--json",
        ],
    ));
    let token = created["token"].as_str().unwrap().to_owned();
    let refused = kluis(
        d,
        &["serve", "--listen", "127.0.0.1:0", "--entries-per-day", "0"],
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a quota of 0 is a usage error"
    );
    let mut serve = common::kluis_cmd(d);
    serve.args(["serve", "--listen", "127.0.0.1:0", "--entries-per-day", "1"]);
    let (_server, url, _) = common::start(serve);
    let post = |what: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{url}/v1/relationship/entries"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"kind": "promise", "what": what, "due_on": day(3)}))
            .send()
            .unwrap()
    };
    assert_eq!(post("Refund").status().as_u16(), 201);
    let second = post("Another");
    assert_eq!(second.status().as_u16(), 429);
    assert!(second.headers().contains_key("retry-after"));
    let record = json_of(&ok(d, &["rel", "show", "shop.example", "--json"]));
    assert_eq!(record["entries"], 1);
    assert_eq!(record["promises"][0]["recorded_by"], "business");
}
