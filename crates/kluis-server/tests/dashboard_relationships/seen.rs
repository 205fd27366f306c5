//! What a record shows of what others did: a business's document and its file (as an
//! attachment), the timeline with what the access log saw, and the due page's calendar feed.

use std::io::BufReader;

use jiff::ToSpan;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::GrantId;
use kluis_core::relationship::entry::sha256_hex;
use kluis_core::relationship::{Attachment, Author, Entry, Item, PromiseStatus};
use kluis_store::{NewEntry, unix_now_ms};
use reqwest::StatusCode;

use super::common::{self, Dash};
use super::html::{attr, shows_as_text, tag};
use super::{append, business, by_business, id, promise, rel, today, words_of};

#[tokio::test]
async fn a_documents_file_is_an_attachment_and_its_body_text() {
    let dash = Dash::signed_in().await;
    let data = b"<html><script>alert(1)</script></html>".to_vec();
    let mut new = by_business(
        1,
        Item::Document {
            title: "Invoice <i>1042</i>".into(),
            body: serde_json::json!({"total": "12.50", "note": "<script>alert(2)</script>"}),
            attachment: Some(Attachment {
                name: "invoice \"1042\".html".into(),
                media_type: "text/html".into(),
                size: data.len() as u64,
                sha256: sha256_hex(&data),
            }),
        },
    );
    new.attachment = Some(data.clone());
    append(&dash, "shop.example", &new);
    let (_, page) = dash.get("/dashboard/relationships/shop.example").await;
    assert!(shows_as_text(&page, "Invoice <i>1042</i>"), "{page}");
    assert!(shows_as_text(&page, "<script>alert(2)</script>"), "{page}");
    assert!(page.contains("<dt>total</dt><dd>12.50</dd>"), "{page}");
    let href = format!("/dashboard/relationships/shop.example/files/{}", id(1));
    assert!(
        page.contains(&format!(r#"<a href="{href}" download>"#)),
        "{page}"
    );

    let response = dash.get_response(&href).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    // A page from the vault's origin is not served as one, even as a download.
    assert_eq!(headers["content-type"], "application/octet-stream");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"invoice _1042_.html\""),
        "{disposition}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().to_vec(), data);

    // Under another business's path, or not a file: 404; signed out: to the sign-in page.
    let (status, _) = dash
        .get(&format!(
            "/dashboard/relationships/bank.example/files/{}",
            id(1)
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = dash
        .get(&format!(
            "/dashboard/relationships/shop.example/files/{}",
            id(2)
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = stranger
        .get(format!("{}{href}", dash.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_file_is_never_served_as_a_script_style_or_page() {
    let dash = Dash::signed_in().await;
    let data = b"alert(document.cookie)".to_vec();
    let types = [
        ("text/javascript", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/css", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("application/pdf", "application/pdf"),
        ("image/png", "image/png"),
        ("text/plain", "text/plain"),
    ];
    for (n, (given, _)) in types.iter().enumerate() {
        let mut new = by_business(
            n as u8 + 1,
            Item::Document {
                title: format!("File {n}"),
                body: serde_json::json!({}),
                attachment: Some(Attachment {
                    name: "file".into(),
                    media_type: (*given).into(),
                    size: data.len() as u64,
                    sha256: sha256_hex(&data),
                }),
            },
        );
        new.attachment = Some(data.clone());
        append(&dash, "shop.example", &new);
    }
    for (n, (given, served)) in types.iter().enumerate() {
        let href = format!(
            "/dashboard/relationships/shop.example/files/{}",
            id(n as u8 + 1)
        );
        let response = dash.get_response(&href).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], *served, "{given}");
    }
}

#[tokio::test]
async fn the_timeline_tells_what_the_vault_saw() {
    let dash = Dash::signed_in().await;
    let grant = GrantId::from_random([7; 16]);
    let now = unix_now_ms();
    let record = |at_ms, actor, action, outcome| AccessRecord {
        at_ms,
        actor,
        action,
        request: None,
        grant: Some(grant.clone()),
        business: Some(business("shop.example")),
        purpose: Some("orders".into()),
        fields: vec![kluis_core::Pointer::parse("/profile/email").unwrap()],
        outcome,
        reason: (action == Action::RelationshipAppend).then(|| format!("promise {}", id(1))),
        contact: None,
    };
    dash.vault
        .append_log(&[
            record(
                now - 3000,
                Actor::OwnerDashboard,
                Action::GrantCreate,
                Outcome::Allowed,
            ),
            record(now - 2000, Actor::Business, Action::Read, Outcome::Allowed),
            record(
                now - 1000,
                Actor::Business,
                Action::RelationshipAppend,
                Outcome::Allowed,
            ),
        ])
        .unwrap();
    append(
        &dash,
        "shop.example",
        &by_business(1, promise("Refund", today())),
    );
    let (_, page) = dash.get("/dashboard/relationships/shop.example").await;
    let timeline = words_of(&page, "timeline");
    for said in [
        "You gave shop.example access to your e-mail, for orders (dashboard)",
        "shop.example added an entry (promise) to your record of it",
        "shop.example read from your vault once",
        "shop.example: Recorded a promise: “Refund”",
    ] {
        assert!(timeline.contains(said), "{said:?} in {timeline}");
    }
}

#[tokio::test]
async fn the_calendar_feed_opens_with_its_sessions_key_only() {
    let mut dash = Dash::signed_in().await;
    let tomorrow = today().tomorrow().unwrap();
    append(
        &dash,
        "shop.example",
        &by_business(1, promise("Deliver the sofa", tomorrow)),
    );
    let kept = today().checked_add(2.days()).unwrap();
    append(
        &dash,
        "shop.example",
        &by_business(2, promise("Kept already", kept)),
    );
    let settled = NewEntry {
        entry: Entry {
            id: id(3),
            at_ms: unix_now_ms(),
            author: Author::Owner,
            item: Item::Settled {
                promise: id(2),
                status: PromiseStatus::Kept,
            },
        },
        attachment: None,
        bytes: 0,
    };
    append(&dash, "shop.example", &settled);
    // Notice by a month before an end 40 days from now: a deadline in about ten days.
    let end = today().checked_add(40.days()).unwrap();
    let contract = [
        ("what", "Energy".to_owned()),
        ("starts_on", end.checked_sub(1.year()).unwrap().to_string()),
        ("ends_on", end.to_string()),
        ("notice_amount", "1".to_owned()),
        ("notice_unit", "months".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = contract.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = dash
        .post("/dashboard/relationships/energy.example/contract", &pairs)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, page) = dash.get("/dashboard/due").await;
    assert_eq!(status, StatusCode::OK);
    let listed = words_of(&page, "due");
    assert!(
        listed.contains("Deliver the sofa") && listed.contains("Energy"),
        "{listed}"
    );
    assert!(!listed.contains("Kept already"), "only what is due");
    let href = attr(tag(&page, "feed-link").unwrap(), "href").unwrap();
    assert!(href.starts_with("/dashboard/due.ics?key="), "{href}");

    // A calendar app has no cookie: the key alone opens the feed.
    let app = reqwest::Client::new();
    let response = app
        .get(format!("{}{href}", dash.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let ics = response.text().await.unwrap();
    let mut parser = ical::IcalParser::new(BufReader::new(ics.as_bytes()));
    let calendar = parser.next().expect("a calendar").expect("that parses");
    let uid = |props: &[ical::property::Property]| {
        props
            .iter()
            .find(|p| p.name == "UID")
            .and_then(|p| p.value.clone())
            .unwrap()
    };
    let mut uids: Vec<String> = calendar
        .todos
        .iter()
        .map(|c| uid(&c.properties))
        .chain(calendar.events.iter().map(|c| uid(&c.properties)))
        .collect();
    uids.sort();
    let vault = dash.vault.unlocked().id_hex();
    let mut expected: Vec<String> = rel(&dash)
        .due(today(), 30)
        .unwrap()
        .iter()
        .map(|d| d.uid(&vault))
        .collect();
    // The promise kept today is in the feed too, completed, so a calendar that had it open
    // sees it done.
    let kept = rel(&dash).calendar(today(), 30).unwrap();
    let kept: Vec<_> = kept.iter().filter(|d| d.done).collect();
    assert_eq!(kept.len(), 1);
    expected.push(kept[0].uid(&vault));
    expected.sort();
    assert_eq!(uids, expected);
    assert_eq!((calendar.todos.len(), calendar.events.len()), (2, 1));
    assert!(uids.contains(&format!("{}@{vault}", id(1))));
    let completed = calendar
        .todos
        .iter()
        .filter(|t| {
            t.properties
                .iter()
                .any(|p| p.name == "STATUS" && p.value.as_deref() == Some("COMPLETED"))
        })
        .count();
    assert_eq!(completed, 1);

    // A wrong key, no key, or the key of a session that ended: no feed.
    let wrong = format!("{}A", &href[..href.find('&').unwrap()]);
    for path in [
        wrong.as_str(),
        "/dashboard/due.ics",
        "/dashboard/due.ics?key=",
    ] {
        let response = app
            .get(format!("{}{path}", dash.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!response.text().await.unwrap().contains("BEGIN:VCALENDAR"));
    }
    let (status, _, _) = dash.post("/dashboard/sign-out", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let response = app
        .get(format!("{}{href}", dash.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A new session has a key of its own.
    dash.sign_in(common::PASS).await;
    let (_, page) = dash.get("/dashboard/due").await;
    let again = attr(tag(&page, "feed-link").unwrap(), "href").unwrap();
    assert_ne!(again, href);
    let (status, _) = dash.get("/dashboard/due?days=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
