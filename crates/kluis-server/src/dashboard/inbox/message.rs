//! One message of the inbox: `/dashboard/inbox/{id}` shows it (and marks it read) with the
//! owner's replies; its forms reply, archive or move back, mark unread, and block its topic
//! from its business in one step. A refused form is shown again with the reason beside it
//! (400 or 409) and nothing changed; an unknown or malformed id is a 404.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::inbox::{MAX_BODY_BYTES, MessageId};
use kluis_store::{Message, Via, blocked_topics};

use super::texts::{Texts, texts};
use super::{row, state_words};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::grants::shared::{fill, query_value};
use crate::dashboard::i18n::Lang;
use crate::dashboard::render::{Chrome, date_time, page_with, see_other};
use crate::dashboard::session::{Posted, SignedIn};

/// The id in the path; a malformed one is a 404 like an unknown one.
fn message_id(text: &str, t: &Texts) -> Result<MessageId, PageError> {
    MessageId::parse(text).map_err(|_| PageError::NotFound(t.not_a_message.to_owned()))
}

/// A store's "not found" in the page's words.
fn not_found(t: &Texts) -> impl Fn(PageError) -> PageError + '_ {
    |err| match err {
        PageError::NotFound(_) => PageError::NotFound(t.not_a_message.to_owned()),
        other => other,
    }
}

struct Reply {
    title: String,
    body: String,
}

/// What a refused form left to show beside it.
#[derive(Default)]
struct Refused {
    reply: Option<String>,
    block: Option<String>,
    /// The reply as typed, kept in the textarea.
    text: String,
}

#[derive(Template)]
#[template(path = "dashboard/inbox_message.html")]
struct MessagePage {
    chrome: Chrome,
    t: &'static Texts,
    notice: Vec<String>,
    id: String,
    body: String,
    business: String,
    topic: String,
    grant: String,
    when: String,
    state: String,
    archived: bool,
    replies: Vec<Reply>,
    reply_hint: String,
    block: String,
    block_intro: String,
    /// Offer to allow the topic again (right after it was blocked).
    offer_unblock: bool,
    unblock: String,
    max_body: usize,
    refused: Refused,
}

fn message_page(
    owner: &SignedIn,
    message: &Message,
    notice: Vec<String>,
    refused: Refused,
) -> MessagePage {
    let lang: Lang = owner.lang;
    let t = texts(lang);
    let m = &message.summary;
    let business = m.business.to_string();
    let names = [("business", business.as_str()), ("topic", m.topic.as_str())];
    let offer_unblock = notice.len() == 2;
    MessagePage {
        chrome: Chrome::new(owner, "inbox", &m.subject, &row(lang, t, m).href),
        t,
        notice,
        id: m.id.to_string(),
        body: message.body.clone(),
        business: business.clone(),
        topic: m.topic.clone(),
        grant: m.grant.to_string(),
        when: date_time(lang, m.at_ms.div_euclid(1000)),
        state: state_words(t, m),
        archived: m.archived,
        replies: message
            .replies
            .iter()
            .map(|r| Reply {
                title: fill(
                    t.your_reply_of,
                    &[("when", &date_time(lang, r.at_ms.div_euclid(1000)))],
                ),
                body: r.body.clone(),
            })
            .collect(),
        reply_hint: fill(t.reply_hint, &names),
        block: fill(t.block, &names),
        block_intro: fill(t.block_intro, &names),
        offer_unblock,
        unblock: fill(t.unblock, &names),
        max_body: MAX_BODY_BYTES,
        refused,
    }
}

/// The confirmations a redirect after a form asks for (`done=…`), in words.
fn notices(t: &Texts, message: &Message, done: Option<&str>) -> Vec<String> {
    let m = &message.summary;
    let business = m.business.to_string();
    let pointer = blocked_topics(&m.business).to_string();
    let names = [
        ("business", business.as_str()),
        ("topic", m.topic.as_str()),
        ("pointer", pointer.as_str()),
    ];
    match done {
        Some("replied") => vec![fill(t.replied, &names)],
        Some("archived") => vec![t.archived_done.to_owned()],
        Some("unarchived") => vec![t.unarchived_done.to_owned()],
        Some("blocked") => vec![fill(t.blocked, &names), fill(t.undo_block, &names)],
        Some("blocked-already") => {
            vec![fill(t.blocked_already, &names), fill(t.undo_block, &names)]
        }
        Some("unblocked") => vec![fill(t.unblocked, &names)],
        Some("not-blocked") => vec![fill(t.not_blocked, &names)],
        _ => Vec::new(),
    }
}

pub async fn show(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let t = texts(owner.lang);
    let id = message_id(&id, t)?;
    let (message, unread) = dashboard
        .with_inbox(move |_, inbox| Ok((inbox.read(&id)?, inbox.unread_count()?)))
        .await
        .map_err(not_found(t))?;
    let done = query_value(query.as_deref(), "done");
    let notice = notices(t, &message, done.as_deref());
    let mut shown = message_page(&owner, &message, notice, Refused::default());
    // Counted before this message was read: the navigation counts it no more.
    shown.chrome.unread = Some(unread);
    page_with(StatusCode::OK, &shown)
}

/// The message page again, with `refused` beside its form, as `status`; nothing changed.
async fn refused_page(
    dashboard: &Dashboard,
    owner: &SignedIn,
    id: MessageId,
    status: StatusCode,
    refused: Refused,
) -> Result<Response, PageError> {
    let t = texts(owner.lang);
    let message = dashboard
        .with_inbox(move |_, inbox| inbox.message(&id))
        .await
        .map_err(not_found(t))?;
    page_with(status, &message_page(owner, &message, Vec::new(), refused))
}

/// A refusal's status and words: a client's mistake or a conflict, shown beside the form;
/// anything else (unknown message, a fault) as its own page.
fn refusal(err: PageError) -> Result<(StatusCode, String), PageError> {
    match err {
        PageError::BadRequest(m) => Ok((StatusCode::BAD_REQUEST, m)),
        PageError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        other => Err(other),
    }
}

fn back_to(id: &MessageId, done: &str) -> Response {
    see_other(&format!("/dashboard/inbox/{id}?done={done}"))
}

#[tracing::instrument(skip_all)]
pub async fn reply(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let t = texts(posted.owner.lang);
    let id = message_id(&id, t)?;
    let text = posted.form.one("text").unwrap_or_default().to_owned();
    let early = if text.trim().is_empty() {
        Some(t.reply_empty.to_owned())
    } else if text.len() > MAX_BODY_BYTES {
        Some(fill(t.reply_too_long, &[("n", &text.len().to_string())]))
    } else {
        None
    };
    if let Some(error) = early {
        let refused = Refused {
            reply: Some(error),
            text,
            ..Refused::default()
        };
        return refused_page(
            &dashboard,
            &posted.owner,
            id,
            StatusCode::BAD_REQUEST,
            refused,
        )
        .await;
    }
    let (answered, typed) = (id.clone(), text.clone());
    let sent = dashboard
        .with_inbox(move |vault, inbox| vault.owner(Via::Dashboard).reply(inbox, &answered, &typed))
        .await
        .map_err(not_found(t));
    match sent {
        Ok(_) => Ok(back_to(&id, "replied")),
        Err(err) => {
            let (status, error) = refusal(err)?;
            let refused = Refused {
                reply: Some(error),
                text,
                ..Refused::default()
            };
            refused_page(&dashboard, &posted.owner, id, status, refused).await
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn block(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    set_blocked(&dashboard, &id, &posted, true).await
}

/// Allows the message's topic from its business again.
#[tracing::instrument(skip_all)]
pub async fn unblock(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    set_blocked(&dashboard, &id, &posted, false).await
}

/// Blocks (or allows again) the message's topic from its business.
async fn set_blocked(
    dashboard: &Dashboard,
    id: &str,
    posted: &Posted,
    block: bool,
) -> Result<Response, PageError> {
    let t = texts(posted.owner.lang);
    let id = message_id(id, t)?;
    let target = id.clone();
    let changed = dashboard
        .with_inbox(move |vault, inbox| {
            let owner = vault.owner(Via::Dashboard);
            if block {
                owner.block_topic(inbox, &target)
            } else {
                owner.unblock_topic(inbox, &target)
            }
        })
        .await
        .map_err(not_found(t));
    let done = match (block, changed) {
        (true, Ok(true)) => "blocked",
        (true, Ok(false)) => "blocked-already",
        (false, Ok(true)) => "unblocked",
        (false, Ok(false)) => "not-blocked",
        (_, Err(err)) => {
            let (status, error) = refusal(err)?;
            let refused = Refused {
                block: Some(error),
                ..Refused::default()
            };
            return refused_page(dashboard, &posted.owner, id, status, refused).await;
        }
    };
    Ok(back_to(&id, done))
}

/// Archive, unarchive or mark unread: flags of `inbox.db` only.
async fn flag(
    dashboard: &Dashboard,
    id: &str,
    posted: &Posted,
    change: fn(&kluis_store::Inbox, &MessageId) -> kluis_store::Result<bool>,
) -> Result<MessageId, PageError> {
    let t = texts(posted.owner.lang);
    let id = message_id(id, t)?;
    let target = id.clone();
    dashboard
        .with_inbox(move |_, inbox| change(inbox, &target))
        .await
        .map_err(not_found(t))?;
    Ok(id)
}

#[tracing::instrument(skip_all)]
pub async fn archive(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = flag(&dashboard, &id, &posted, kluis_store::Inbox::archive).await?;
    Ok(back_to(&id, "archived"))
}

#[tracing::instrument(skip_all)]
pub async fn unarchive(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = flag(&dashboard, &id, &posted, kluis_store::Inbox::unarchive).await?;
    Ok(back_to(&id, "unarchived"))
}

/// Back to the list: the message page would mark it read again.
#[tracing::instrument(skip_all)]
pub async fn mark_unread(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    flag(&dashboard, &id, &posted, kluis_store::Inbox::mark_unread).await?;
    Ok(see_other("/dashboard/inbox?done=unread"))
}
