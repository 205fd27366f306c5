//! What is due: `/dashboard/due?days=N` (30 by default) lists the open promises due by then
//! (overdue ones however old) and the last days to give notice coming up, over every record,
//! soonest first; and `/dashboard/due.ics?key=…` serves the same as an iCalendar feed
//! (RFC 5545, `kluis_core::relationship::ics`).
//!
//! A calendar app has no session cookie, so the feed's URL carries a key instead: the HMAC of
//! the session (see [`crate::dashboard::session::Sessions::feed_key`]). It opens the feed only
//! while the session that showed it lives (it ends at sign-out, after 15 minutes without a
//! page, after 12 hours in any case, at a restart) and does not keep it alive. Without a live
//! key the answer is a 404, never the feed.

use std::time::Instant;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kluis_core::relationship::{DueKind, ics};

use super::texts::{Texts, texts};
use super::{record_href, today};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::grants::shared::{fill, query_value};
use crate::dashboard::render::{Chrome, day, page};
use crate::dashboard::session::{Sessions, SignedIn};

/// Days ahead the page and the feed look by default.
pub const DEFAULT_DAYS: u32 = 30;

/// The farthest they look: ten years.
pub const MAX_DAYS: u32 = 3660;

/// `days` of the query: 0 to [`MAX_DAYS`], [`DEFAULT_DAYS`] when absent.
fn days_of(query: Option<&str>, t: &Texts) -> Result<u32, PageError> {
    match query_value(query, "days") {
        None => Ok(DEFAULT_DAYS),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= MAX_DAYS)
            .ok_or_else(|| PageError::BadRequest(t.bad_days.to_owned())),
    }
}

struct Row {
    iso: String,
    on: String,
    kind: String,
    overdue: bool,
    business: String,
    href: String,
    what: String,
}

#[derive(Template)]
#[template(path = "dashboard/relationships_due.html")]
struct DuePage {
    chrome: Chrome,
    t: &'static Texts,
    days: u32,
    intro: String,
    rows: Vec<Row>,
    feed_href: String,
    feed_url: String,
}

pub async fn show(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let days = days_of(query.as_deref(), t)?;
    let today = today();
    let due = dashboard
        .with_relationships(move |_, rel| rel.due(today, days))
        .await?;
    let rows = due
        .iter()
        .map(|d| {
            let (kind, overdue) = match d.kind {
                DueKind::Promise { overdue: true } => (t.due_overdue.to_owned(), true),
                DueKind::Promise { overdue: false } => (t.due_promise.to_owned(), false),
                DueKind::NoticeDeadline { ends_on } => {
                    (fill(t.due_notice, &[("end", &day(lang, ends_on))]), false)
                }
            };
            Row {
                iso: d.on.to_string(),
                on: day(lang, d.on),
                kind,
                overdue,
                business: d.business.to_string(),
                href: record_href(&d.business),
                what: d.what.clone(),
            }
        })
        .collect();
    let key = Sessions::feed_key(&dashboard.0.feed_secret[..], &owner.session);
    let feed_href = format!("/dashboard/due.ics?key={key}&days={days}");
    let origin = dashboard.app().public_url().map_or_else(
        || {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            format!("http://{host}")
        },
        |url| url.trim_end_matches('/').to_owned(),
    );
    let here = match days {
        DEFAULT_DAYS => "/dashboard/due".to_owned(),
        n => format!("/dashboard/due?days={n}"),
    };
    page(&DuePage {
        chrome: Chrome::new(&owner, "relationships", t.due_title, &here),
        t,
        days,
        intro: fill(t.due_intro, &[("n", &days.to_string())]),
        rows,
        feed_url: format!("{origin}{feed_href}"),
        feed_href,
    })
}

/// The iCalendar feed, for the key of a live session only.
pub async fn feed(
    State(dashboard): State<Dashboard>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let t = texts(crate::dashboard::i18n::Lang::En);
    let live = query_value(query.as_deref(), "key").is_some_and(|key| {
        dashboard
            .0
            .sessions
            .feed_is_live(&dashboard.0.feed_secret[..], &key, Instant::now())
    });
    if !live {
        return Err(PageError::NotFound(t.no_such_feed.to_owned()));
    }
    let days = days_of(query.as_deref(), t)?;
    let today = today();
    let (vault, due) = dashboard
        .with_relationships(move |v, rel| Ok((v.unlocked().id_hex(), rel.calendar(today, days)?)))
        .await?;
    let entries: Vec<ics::Entry> = due.iter().map(|d| d.to_ics(&vault)).collect();
    let calendar = ics::calendar(&entries, jiff::Timestamp::now());
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"kluis-due.ics\""),
            ),
        ],
        calendar,
    )
        .into_response())
}
