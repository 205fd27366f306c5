//! The inbox pages over HTTP against a real server: the list by filter and in pages with the
//! unread counts (per business and in the navigation), reading marks read, a business's markup
//! shown as text, a reply as exactly one `inbox.reply` event (refused beside the form, with
//! nothing changed, when empty, too long, or the grant cannot receive it), "no more about this
//! topic" writing the business's blocked topics, CSRF, and 404s for unknown ids.

mod common;
#[path = "common/html.rs"]
mod html;

use common::Dash;
use html::{shows_as_text, unescape};
use kluis_core::grant::{BusinessId, Grant, GrantRequest};
use kluis_core::inbox::{InboxPost, MessageId, message_sha256};
use kluis_core::notify::{EventType, NewSubscription, Payload};
use kluis_store::{NewMessage, Vault, blocked_topics, unix_now};
use reqwest::StatusCode;
use serde_json::json;

fn grant_for(vault: &Vault, business: &str) -> Grant {
    vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse(business).unwrap(),
                fields: vec![kluis_core::Pointer::parse("/profile/email").unwrap()],
                purpose: "orders".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap()
        .0
}

fn subscribe(vault: &Vault, grant: &Grant) {
    vault
        .create_subscription(
            &grant.id,
            NewSubscription {
                url: "https://shop.example/hooks".into(),
                payload: Payload::Full,
            },
            unix_now(),
        )
        .unwrap();
}

/// Leaves a message from `grant`'s business in the inbox, `n` seconds after the epoch of the
/// test (so their order is known); returns its id.
fn deliver(vault: &Vault, grant: &Grant, n: u8, topic: &str, subject: &str, body: &str) -> String {
    let post = InboxPost {
        topic: topic.into(),
        subject: subject.into(),
        body: body.into(),
        in_reply_to: None,
    };
    let mut random = [n; 16];
    random[0] = 0xa5;
    let message = NewMessage {
        id: MessageId::from_random(random),
        at_ms: (unix_now() - 1000 + i64::from(n)) * 1000,
        grant: grant.id.clone(),
        business: grant.audience.clone(),
        sha256: message_sha256(&post),
        post,
    };
    vault
        .open_inbox()
        .unwrap()
        .deliver(std::slice::from_ref(&message))
        .unwrap();
    message.id.to_string()
}

fn replies_in_outbox(vault: &Vault) -> usize {
    vault
        .outbox_after(0, 1000)
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventType::InboxReply)
        .count()
}

/// The position of `text` in `page`, which must hold it.
fn at(page: &str, text: &str) -> usize {
    page.find(text)
        .unwrap_or_else(|| panic!("{text:?} not in {page}"))
}

#[tokio::test]
async fn the_list_filters_pages_and_counts_unread() {
    let dash = Dash::signed_in().await;
    let (status, page) = dash.get("/dashboard/inbox").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No messages in your inbox."), "{page}");
    assert!(page.contains(r#"aria-current="page">Inbox</a>"#), "{page}");

    let shop = grant_for(&dash.vault, "shop.example");
    let bank = grant_for(&dash.vault, "bank.example");
    let first = deliver(&dash.vault, &shop, 1, "orders", "First order", "one");
    let second = deliver(&dash.vault, &bank, 2, "statements", "Your statement", "two");
    deliver(&dash.vault, &shop, 3, "offers", "Spring offer", "three");

    let (_, page) = dash.get("/dashboard/inbox").await;
    // Newest first, each unread in words; the navigation counts them on every page.
    assert!(at(&page, "Spring offer") < at(&page, "Your statement"));
    assert!(at(&page, "Your statement") < at(&page, "First order"));
    assert_eq!(
        page.matches(r#"<span class="badge">Unread:</span>"#)
            .count(),
        3
    );
    assert!(page.contains(">Inbox (3)</a>"), "{page}");
    let (_, overview) = dash.get("/dashboard/").await;
    assert!(overview.contains(">Inbox (3)</a>"), "{overview}");
    let counts = html::text_of(&page, "unread-by-business").unwrap();
    assert!(counts.contains("bank.example: 1 unread"), "{counts}");
    assert!(counts.contains("shop.example: 2 unread"), "{counts}");

    // Archived: out of the inbox and the counts, into the archive.
    let (status, location, _) = dash
        .post(&format!("/dashboard/inbox/{second}/archive"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.unwrap(),
        format!("/dashboard/inbox/{second}?done=archived")
    );
    let (_, page) = dash.get("/dashboard/inbox?show=current").await;
    assert!(!page.contains("Your statement"), "{page}");
    assert!(page.contains("First order"));
    let (_, page) = dash.get("/dashboard/inbox?show=archived").await;
    assert!(page.contains("Your statement") && !page.contains("First order"));
    assert!(page.contains("Unread, archived"), "{page}");
    let (_, page) = dash.get("/dashboard/inbox?show=all").await;
    assert!(page.contains("Your statement") && page.contains("First order"));

    // Unread: reading one takes it off; marking it unread puts it back.
    dash.get(&format!("/dashboard/inbox/{first}")).await;
    let (_, page) = dash.get("/dashboard/inbox?show=unread").await;
    assert!(page.contains("Spring offer") && !page.contains("First order"));
    assert!(page.contains(">Inbox (1)</a>"), "{page}");
    let (status, location, _) = dash
        .post(&format!("/dashboard/inbox/{first}/unread"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(page.contains("Marked unread."));
    assert!(page.contains(">Inbox (2)</a>"), "{page}");

    let (status, _) = dash.get("/dashboard/inbox?show=spam").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = dash.get("/dashboard/inbox?before=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn older_messages_are_on_the_next_page() {
    let dash = Dash::signed_in().await;
    let shop = grant_for(&dash.vault, "shop.example");
    for n in 1..=27u8 {
        deliver(
            &dash.vault,
            &shop,
            n,
            "orders",
            &format!("Message {n:02}"),
            "x",
        );
    }
    let (_, page) = dash.get("/dashboard/inbox").await;
    assert!(page.contains("Message 27") && page.contains("Message 03"));
    assert!(!page.contains("Message 02"), "{page}");
    let start = at(&page, r#"<p class="pager"><a href=""#) + r#"<p class="pager"><a href=""#.len();
    let older = unescape(&page[start..start + page[start..].find('"').unwrap()]);
    let (status, next) = dash.get(&older).await;
    assert_eq!(status, StatusCode::OK);
    assert!(next.contains("Message 02") && next.contains("Message 01"));
    assert!(!next.contains("Message 03") && !next.contains("Older messages"));
}

#[tokio::test]
async fn reading_marks_read_and_markup_stays_text() {
    let dash = Dash::signed_in().await;
    let shop = grant_for(&dash.vault, "shop.example");
    let subject = "<b>Sale</b> & more";
    let body = "Line one\n<script>alert(1)</script>\n<img src=x onerror=alert(2)>";
    let id = deliver(&dash.vault, &shop, 1, "<i>offers</i>", subject, body);
    let (_, page) = dash.get("/dashboard/inbox").await;
    assert!(shows_as_text(&page, subject), "{page}");
    assert!(shows_as_text(&page, "<i>offers</i>"), "{page}");
    assert!(page.contains("&lt;b&gt;Sale&lt;/b&gt;") || page.contains("&#60;b&#62;Sale"));

    let (status, page) = dash.get(&format!("/dashboard/inbox/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shows_as_text(&page, subject), "{page}");
    assert!(shows_as_text(&page, "<script>alert(1)</script>"), "{page}");
    assert!(
        shows_as_text(&page, "<img src=x onerror=alert(2)>"),
        "{page}"
    );
    // The body keeps its line breaks (white-space: pre-wrap in the CSS).
    assert_eq!(html::text_of(&page, "message-body").unwrap(), body);
    assert!(shows_as_text(
        &page,
        "No more about <i>offers</i> from shop.example"
    ));
    assert_eq!(
        html::text_of(&page, "message-state").unwrap(),
        "Read",
        "{page}"
    );
    let inbox = dash.vault.open_inbox().unwrap();
    assert_eq!(inbox.unread_count().unwrap(), 0);
    assert!(page.contains(r#"aria-current="page">Inbox</a>"#), "{page}");
}

#[tokio::test]
async fn a_reply_is_one_inbox_reply_event_and_a_refused_one_changes_nothing() {
    let dash = Dash::signed_in().await;
    let shop = grant_for(&dash.vault, "shop.example");
    let id = deliver(
        &dash.vault,
        &shop,
        1,
        "orders",
        "Shipped",
        "It ships today.",
    );
    let path = format!("/dashboard/inbox/{id}/reply");

    // No subscription: the business could not receive it.
    let (status, _, page) = dash.post(&path, &[("text", "Thanks!")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains(r#"id="reply-error""#), "{page}");
    assert!(unescape(&page).contains("has no subscription to notifications"));
    assert!(page.contains(">Thanks!</textarea>"), "{page}");
    assert_eq!(replies_in_outbox(&dash.vault), 0);

    subscribe(&dash.vault, &shop);
    let (status, _, page) = dash.post(&path, &[("text", "  \n ")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("Write a reply first; nothing was sent."),
        "{page}"
    );
    let long = "a".repeat(16 * 1024 + 1);
    let (status, _, page) = dash.post(&path, &[("text", &long)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Your reply is 16385 bytes"), "{page}");
    assert_eq!(replies_in_outbox(&dash.vault), 0);

    let (status, location, _) = dash
        .post(&path, &[("text", "Thanks, <b>Tuesday</b> is fine.\nBye")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(
        page.contains("Your reply was sent to shop.example."),
        "{page}"
    );
    assert!(page.contains("Your replies"));
    assert!(shows_as_text(&page, "Thanks, <b>Tuesday</b> is fine.\nBye"));
    assert_eq!(replies_in_outbox(&dash.vault), 1);
    let message = dash
        .vault
        .open_inbox()
        .unwrap()
        .message(&MessageId::parse(&id).unwrap())
        .unwrap();
    assert_eq!(message.replies.len(), 1);
    assert_eq!(
        message.replies[0].body,
        "Thanks, <b>Tuesday</b> is fine.\nBye"
    );

    // The grant ended: refused, with nothing more sent.
    dash.vault.revoke_grant(&shop.id, unix_now()).unwrap();
    let (status, _, page) = dash.post(&path, &[("text", "Another")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(unescape(&page).contains("was revoked"), "{page}");
    assert_eq!(replies_in_outbox(&dash.vault), 1);
}

#[tokio::test]
async fn no_more_about_a_topic_blocks_it_for_that_business_in_one_step() {
    let dash = Dash::signed_in().await;
    let shop = grant_for(&dash.vault, "shop.example");
    let id = deliver(&dash.vault, &shop, 1, "offers", "Spring sale", "Buy now");
    let at_pointer = blocked_topics(&shop.audience);
    assert_eq!(dash.vault.get(&at_pointer).ok(), None);

    let (status, location, _) = dash
        .post(&format!("/dashboard/inbox/{id}/block"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(dash.vault.get(&at_pointer).unwrap(), json!(["offers"]));
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(
        page.contains("Blocked: shop.example can no longer contact you about offers."),
        "{page}"
    );
    assert!(
        page.contains(&format!("action=\"/dashboard/inbox/{id}/unblock\"")),
        "{page}"
    );

    // Again: nothing more is written.
    let (_, location, _) = dash
        .post(&format!("/dashboard/inbox/{id}/block"), &[])
        .await;
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(page.contains("offers from shop.example was blocked already."));
    assert_eq!(dash.vault.get(&at_pointer).unwrap(), json!(["offers"]));

    // Allowed again in one step, from the same page.
    let (status, location, _) = dash
        .post(&format!("/dashboard/inbox/{id}/unblock"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(dash.vault.get(&at_pointer).unwrap(), json!([]));
    let (_, page) = dash.get(&location.unwrap()).await;
    assert!(
        page.contains("Allowed again: shop.example may contact you about offers"),
        "{page}"
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_change_nothing() {
    let dash = Dash::signed_in().await;
    let shop = grant_for(&dash.vault, "shop.example");
    subscribe(&dash.vault, &shop);
    let id = deliver(&dash.vault, &shop, 1, "offers", "Spring sale", "Buy now");
    for action in ["reply", "block", "unblock", "archive", "unread"] {
        let (status, _, _) = dash
            .post_raw(
                &format!("/dashboard/inbox/{id}/{action}"),
                &[("text", "hello")],
                Some(&dash.base),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(replies_in_outbox(&dash.vault), 0);
    assert_eq!(dash.vault.get(&blocked_topics(&shop.audience)).ok(), None);
    let inbox = dash.vault.open_inbox().unwrap();
    let all = inbox.list(kluis_store::InboxFilter::All, 10).unwrap();
    assert!(!all[0].archived && !all[0].read);
}

#[tokio::test]
async fn an_unknown_or_malformed_id_is_a_404_page() {
    let dash = Dash::signed_in().await;
    let unknown = MessageId::from_random([7; 16]).to_string();
    for path in [
        format!("/dashboard/inbox/{unknown}"),
        "/dashboard/inbox/not-an-id".to_owned(),
        "/dashboard/inbox/%3Cb%3E".to_owned(),
    ] {
        let (status, page) = dash.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            page.contains("There is no such message in your inbox."),
            "{page}"
        );
    }
    for action in ["reply", "block", "archive", "unarchive", "unread"] {
        let (status, _, _) = dash
            .post(
                &format!("/dashboard/inbox/{unknown}/{action}"),
                &[("text", "hello")],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
}

#[tokio::test]
async fn the_inbox_in_dutch() {
    let dash = Dash::signed_in().await;
    let shop = grant_for(&dash.vault, "shop.example");
    let id = deliver(&dash.vault, &shop, 1, "aanbiedingen", "Lente", "Koop nu");
    dash.get("/dashboard/lang/nl?back=/dashboard/inbox").await;
    let (_, page) = dash.get("/dashboard/inbox").await;
    assert!(page.contains(">Postvak (1)</a>"), "{page}");
    assert!(
        page.contains("shop.example</strong>: 1 ongelezen"),
        "{page}"
    );
    let (_, page) = dash.get(&format!("/dashboard/inbox/{id}")).await;
    assert!(
        page.contains("Niets meer over aanbiedingen van shop.example"),
        "{page}"
    );
}
