//! The relationship pages over HTTP against a real server: the list (businesses from grants
//! and from records, overdue promises marked in words, nothing written by looking), the record
//! page with its forms (each adding exactly its entry; bad input refused beside the form with
//! nothing stored; CSRF), settling, removing (the owner's entries only), a document's file as
//! an attachment, the timeline with what the log saw, the overview's overdue line, and the due
//! page's iCalendar feed, opened by its session's key only.

mod common;
#[path = "common/html.rs"]
mod html;
/// A document's file, the timeline and the calendar feed: what the record shows of others.
#[path = "dashboard_relationships/seen.rs"]
mod seen;

use common::Dash;
use html::{attr, shows_as_text, tag, text_of};
use jiff::ToSpan;
use kluis_core::grant::{BusinessId, Grant, GrantId, GrantRequest};
use kluis_core::relationship::entry::day_of_ms;
use kluis_core::relationship::{Author, Date, Entry, EntryId, Item, NoticeUnit, PromiseStatus};
use kluis_store::{Appended, NewEntry, Relationships, unix_now, unix_now_ms};
use reqwest::StatusCode;

fn business(name: &str) -> BusinessId {
    BusinessId::parse(name).unwrap()
}

fn today() -> Date {
    day_of_ms(unix_now_ms())
}

fn grant_for(dash: &Dash, to: &str) -> Grant {
    dash.vault
        .create_grant(
            GrantRequest {
                audience: business(to),
                fields: vec![kluis_core::Pointer::parse("/profile/email").unwrap()],
                purpose: "orders".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: None,
                contact: None,
                append_record: false,
            },
            unix_now(),
        )
        .unwrap()
        .0
}

fn rel(dash: &Dash) -> Relationships {
    dash.vault.open_relationships().unwrap()
}

fn id(n: u8) -> EntryId {
    EntryId::from_random([n; 16])
}

/// An entry `business` appended through a DPoP-bound grant.
fn by_business(n: u8, item: Item) -> NewEntry {
    NewEntry {
        entry: Entry {
            id: id(n),
            at_ms: unix_now_ms(),
            author: Author::Business {
                grant: GrantId::from_random([9; 16]),
                request_sha256: "rEqUeStHaSh".into(),
                jkt: Some("tHuMbPrInT".into()),
            },
            item,
        },
        attachment: None,
        bytes: 100,
    }
}

fn append(dash: &Dash, to: &str, new: &NewEntry) {
    let stored = rel(dash).append(&business(to), new).unwrap();
    assert!(matches!(stored, Appended::Stored), "{stored:?}");
}

fn promise(what: &str, due_on: Date) -> Item {
    Item::Promise {
        what: what.into(),
        due_on,
    }
}

/// The text of the element with `id`, its white space collapsed.
fn words_of(page: &str, id: &str) -> String {
    let text = text_of(page, id).unwrap_or_else(|| panic!("no #{id} in {page}"));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn entries(dash: &Dash, of: &str) -> Vec<Entry> {
    rel(dash).entries(&business(of)).unwrap()
}

#[tokio::test]
async fn the_list_holds_known_businesses_and_marks_overdue_promises() {
    let dash = Dash::signed_in().await;
    grant_for(&dash, "shop.example");
    let yesterday = today().yesterday().unwrap();
    append(
        &dash,
        "bank.example",
        &by_business(1, promise("Call back", yesterday)),
    );
    let (status, page) = dash.get("/dashboard/relationships").await;
    assert_eq!(status, StatusCode::OK);
    let table = words_of(&page, "relationships");
    assert!(
        table.find("bank.example") < table.find("shop.example"),
        "{table}"
    );
    // The grant's business is listed without a record; looking made none.
    assert!(table.contains("shop.example no record yet"), "{table}");
    assert!(
        rel(&dash)
            .standing(&business("shop.example"))
            .unwrap()
            .is_none()
    );
    // The overdue promise in words, not only by colour; in the navigation too.
    assert!(
        page.contains(r#"<strong class="overdue">1 overdue</strong>"#),
        "{page}"
    );
    assert!(page.contains(">Relationships (1 overdue)</a>"), "{page}");
    let href = "/dashboard/relationships/bank.example";
    assert!(page.contains(&format!(r#"<a href="{href}">bank.example</a>"#)));

    // The overview says so and leads to the record.
    let (_, overview) = dash.get("/dashboard/").await;
    let said = words_of(&overview, "overdue-promises");
    let due = kluis_server_day(yesterday);
    assert_eq!(
        said,
        format!("bank.example promised “Call back” by {due} — overdue")
    );
    assert!(
        overview.contains(&format!(r#"<a href="{href}">"#)),
        "{overview}"
    );

    // Kept: no longer overdue anywhere.
    let (status, _, _) = dash
        .post(
            &format!("{href}/settle"),
            &[("promise", id(1).as_str()), ("status", "kept")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = dash.get("/dashboard/relationships").await;
    assert!(!page.contains("overdue</strong>") && page.contains(">Relationships</a>"));
    let (_, overview) = dash.get("/dashboard/").await;
    assert!(!overview.contains("overdue-promises"));
}

/// A day as the dashboard writes it in English: `28 Nov 2026`.
fn kluis_server_day(day: Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {}",
        day.day(),
        MONTHS[usize::try_from(day.month()).unwrap() - 1],
        day.year()
    )
}

#[tokio::test]
async fn each_form_adds_its_entry() {
    let dash = Dash::signed_in().await;
    grant_for(&dash, "telco.example");
    let base = "/dashboard/relationships/telco.example";
    let (status, page) = dash.get(base).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No record yet"), "{page}");
    let end = today().checked_add(40.days()).unwrap();
    let start = end.checked_sub(1.year()).unwrap();
    let forms: [(&str, Vec<(&str, String)>); 5] = [
        (
            "contract",
            vec![
                ("what", "  Mobile subscription ".into()),
                ("starts_on", start.to_string()),
                ("ends_on", end.to_string()),
                ("renews", "on".into()),
                ("notice_amount", "1".into()),
                ("notice_unit", "months".into()),
            ],
        ),
        (
            "promise",
            vec![
                ("what", "Send the new SIM".into()),
                ("due_on", today().to_string()),
            ],
        ),
        (
            "interaction",
            vec![
                ("on", today().to_string()),
                ("channel", "phone".into()),
                ("summary", "Asked about roaming".into()),
            ],
        ),
        (
            "satisfaction",
            vec![
                ("score", "4".into()),
                ("on", today().to_string()),
                ("comment", "".into()),
            ],
        ),
        (
            "note",
            vec![("text", "Ask for the loyalty discount".into())],
        ),
    ];
    for (n, (form, pairs)) in forms.iter().enumerate() {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, location, body) = dash.post(&format!("{base}/{form}"), &pairs).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{form}: {body}");
        assert!(
            location
                .unwrap()
                .starts_with(&format!("{base}?done={form}#")),
            "{form}"
        );
        let stored = entries(&dash, "telco.example");
        assert_eq!(stored.len(), n + 1, "{form}: exactly one entry more");
        assert!(stored.iter().all(|e| e.author == Author::Owner));
        assert!(stored.iter().any(|e| e.item.kind() == *form), "{form}");
    }
    let standing = rel(&dash)
        .standing(&business("telco.example"))
        .unwrap()
        .unwrap();
    let contract = &standing.contracts[0].value;
    assert_eq!(contract.what, "Mobile subscription", "trimmed");
    assert_eq!((contract.starts_on, contract.ends_on), (start, Some(end)));
    assert!(contract.renews);
    assert_eq!(contract.notice.unwrap().unit, NoticeUnit::Months);
    assert_eq!(standing.promises[0].value.what, "Send the new SIM");
    assert_eq!(standing.satisfaction, Some((4, today())));

    let (_, page) = dash.get(&format!("{base}?done=note")).await;
    assert!(page.contains("The note is recorded."), "{page}");
    // The contract's last day to give notice: its end less a month, by the calendar.
    let last = contract.last_notice_day(end).unwrap();
    let deadline = format!(
        "by {} at the latest, for the end of {}",
        kluis_server_day(last),
        kluis_server_day(end)
    );
    assert!(page.contains(&deadline), "{deadline}\n{page}");
    assert!(page.contains("4 of 5, on "), "{page}");
    assert!(page.contains("Ask for the loyalty discount"));
    assert!(page.contains("Asked about roaming"));
    // Its entries are in the timeline, newest first.
    let timeline = words_of(&page, "timeline");
    assert!(
        timeline.contains("You: Recorded a contract: Mobile subscription"),
        "{timeline}"
    );
    assert!(timeline.contains("You: Recorded a promise: “Send the new SIM”"));
    let (_, list) = dash.get("/dashboard/relationships").await;
    let row = words_of(&list, "relationships");
    assert!(row.contains("telco.example 5 1 none"), "{row}");
}

/// A refused form: its name, what is posted, the field at fault and words of the refusal.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[tokio::test]
async fn bad_input_is_refused_beside_its_form_and_nothing_is_stored() {
    let dash = Dash::signed_in().await;
    grant_for(&dash, "shop.example");
    let base = "/dashboard/relationships/shop.example";
    let today = today().to_string();
    let long_note = "x".repeat(4001);
    let cases: [Case; 6] = [
        (
            "satisfaction",
            vec![("score", "9"), ("on", &today)],
            "s-score",
            "A score is a whole number from 1 to 5",
        ),
        (
            "promise",
            vec![("what", "   "), ("due_on", &today)],
            "p-what",
            "Say what was promised",
        ),
        (
            "contract",
            vec![
                ("what", "Gym"),
                ("starts_on", "2026-03-01"),
                ("ends_on", "2026-02-01"),
            ],
            "c-end",
            "A contract cannot end before it starts",
        ),
        (
            "contract",
            vec![
                ("what", "Gym"),
                ("starts_on", "2026-03-01"),
                ("notice_amount", "0"),
            ],
            "c-notice",
            "a notice period must be 1 to 1100",
        ),
        (
            "interaction",
            vec![("on", "2026-02-30"), ("channel", "phone"), ("summary", "x")],
            "i-on",
            "“2026-02-30” is not a date",
        ),
        (
            "note",
            vec![("text", &long_note)],
            "n-text",
            "a note needs 1 to 4000 characters",
        ),
    ];
    for (form, pairs, field, words) in &cases {
        let (status, _, page) = dash.post(&format!("{base}/{form}"), pairs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form} {pairs:?}");
        let error = text_of(&page, &format!("{form}-error")).unwrap();
        assert!(error.contains(words), "{form}: {error}");
        let input = tag(&page, field).unwrap();
        assert_eq!(
            attr(input, "aria-invalid").as_deref(),
            Some("true"),
            "{input}"
        );
        assert!(
            attr(input, "aria-describedby")
                .unwrap()
                .contains(&format!("{form}-error"))
        );
    }
    // What was typed is kept in the form.
    let (_, _, page) = dash
        .post(
            &format!("{base}/satisfaction"),
            &[("score", "9"), ("on", &today), ("comment", "<b>meh</b>")],
        )
        .await;
    assert_eq!(
        attr(tag(&page, "s-score").unwrap(), "value").as_deref(),
        Some("9")
    );
    assert!(shows_as_text(&page, "<b>meh</b>"), "{page}");
    assert!(
        rel(&dash)
            .standing(&business("shop.example"))
            .unwrap()
            .is_none()
    );
    // An unknown form is a 404.
    let (status, _, _) = dash.post(&format!("{base}/invoice"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_form_without_the_csrf_token_or_from_elsewhere_is_refused() {
    let dash = Dash::signed_in().await;
    let pairs = [("what", "Refund"), ("due_on", "2026-12-01")];
    let path = "/dashboard/relationships/shop.example/promise";
    let (status, _, _) = dash.post_raw(path, &pairs, Some(&dash.base)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = dash.csrf.clone().unwrap();
    let mut with_token = pairs.to_vec();
    with_token.push(("csrf", &csrf));
    let (status, _, _) = dash
        .post_raw(path, &with_token, Some("https://evil.example"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = dash
        .post_raw(
            "/dashboard/relationships",
            &[("business", "x.example")],
            Some(&dash.base),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(rel(&dash).list().unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_record_is_started_by_name() {
    let dash = Dash::signed_in().await;
    let (status, _, page) = dash
        .post("/dashboard/relationships", &[("business", "<b>bad</b>")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text_of(&page, "start-error")
            .unwrap()
            .contains("is not a business id")
    );
    assert!(shows_as_text(&page, "<b>bad</b>"));
    let (status, location, _) = dash
        .post(
            "/dashboard/relationships",
            &[("business", " garage.example ")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.unwrap(),
        "/dashboard/relationships/garage.example?done=started"
    );
    assert!(
        rel(&dash)
            .standing(&business("garage.example"))
            .unwrap()
            .is_some()
    );
    let (status, page) = dash.get("/dashboard/relationships/garage.example").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Record made "));
    // A business the vault knows nothing of has no page.
    let (status, _) = dash.get("/dashboard/relationships/nobody.example").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = dash.get("/dashboard/relationships/not%20an%20id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn promises_are_settled_and_opened_again() {
    let dash = Dash::signed_in().await;
    append(
        &dash,
        "shop.example",
        &by_business(1, promise("Refund", today())),
    );
    let settle = "/dashboard/relationships/shop.example/settle";
    let status_of = |dash: &Dash| {
        rel(dash)
            .standing(&business("shop.example"))
            .unwrap()
            .unwrap()
            .promises[0]
            .value
            .status
    };
    let (status, location, _) = dash
        .post(settle, &[("promise", id(1).as_str()), ("status", "broken")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().ends_with("?done=settled#promises"));
    assert_eq!(status_of(&dash), PromiseStatus::Broken);
    let last = entries(&dash, "shop.example");
    assert!(last.iter().any(|e| matches!(
        &e.item,
        Item::Settled { promise, status: PromiseStatus::Broken } if *promise == id(1)
    )));
    let (_, page) = dash.get("/dashboard/relationships/shop.example").await;
    assert!(page.contains(r#"<dd class="status">broken</dd>"#), "{page}");
    assert!(page.contains("Open again"));

    // Settled another way, or the same way again: refused, nothing stored.
    for (to, code) in [
        ("kept", StatusCode::BAD_REQUEST),
        ("broken", StatusCode::CONFLICT),
        ("lost", StatusCode::BAD_REQUEST),
    ] {
        let (status, _, page) = dash
            .post(settle, &[("promise", id(1).as_str()), ("status", to)])
            .await;
        assert_eq!(status, code, "{to}");
        assert!(text_of(&page, "entry-error").is_some(), "{page}");
    }
    assert_eq!(entries(&dash, "shop.example").len(), 2);
    let (status, _, _) = dash
        .post(settle, &[("promise", id(1).as_str()), ("status", "open")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&dash), PromiseStatus::Open);
    let (status, _, _) = dash
        .post(settle, &[("promise", id(7).as_str()), ("status", "kept")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_owners_own_entries_can_be_removed() {
    let dash = Dash::signed_in().await;
    append(
        &dash,
        "shop.example",
        &by_business(1, promise("Refund", today())),
    );
    let note = NewEntry {
        entry: Entry {
            id: id(2),
            at_ms: unix_now_ms(),
            author: Author::Owner,
            item: Item::Note {
                text: "Rude on the phone".into(),
            },
        },
        attachment: None,
        bytes: 0,
    };
    append(&dash, "shop.example", &note);
    let (_, page) = dash.get("/dashboard/relationships/shop.example").await;
    let button = |entry: &EntryId| format!(r#"name="entry" value="{entry}""#);
    assert!(
        page.contains(&button(&id(2))),
        "the owner's note has a remove button"
    );
    assert!(
        !page.contains(&button(&id(1))),
        "the business's promise has none"
    );
    // The business's entry is shown with what proves it.
    assert!(
        page.contains("tHuMbPrInT") && page.contains("rEqUeStHaSh"),
        "{page}"
    );

    let remove = "/dashboard/relationships/shop.example/remove";
    let (status, _, page) = dash.post(remove, &[("entry", id(1).as_str())]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let said = text_of(&page, "entry-error").unwrap();
    assert!(
        said.contains("shop.example recorded this entry") && said.contains("Nothing was removed"),
        "{said}"
    );
    assert!(rel(&dash).entry(&id(1)).is_ok());

    // Another business's entry is not in this record.
    append(
        &dash,
        "bank.example",
        &NewEntry {
            entry: Entry {
                id: id(3),
                ..note.entry.clone()
            },
            ..note.clone()
        },
    );
    let (status, _, _) = dash.post(remove, &[("entry", id(3).as_str())]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(rel(&dash).entry(&id(3)).is_ok());

    let (status, location, _) = dash.post(remove, &[("entry", id(2).as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().contains("?done=removed"));
    assert!(rel(&dash).entry(&id(2)).is_err());
    assert_eq!(entries(&dash, "shop.example").len(), 1);
}
