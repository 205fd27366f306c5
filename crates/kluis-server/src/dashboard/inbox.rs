//! The owner's inbox on the dashboard: `/dashboard/inbox` lists the messages businesses left,
//! newest first, by filter (current, unread, archived, all) in pages (`before`), with the
//! unread counts per business; [`message`] shows one and holds its forms (reply, archive,
//! mark unread, "no more about this topic from this business"). Reads and flags are the
//! store's [`kluis_store::Inbox`]; the reply and the block are its logged owner actions.

mod message;
mod texts;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::{get, post};
use kluis_store::{Inbox, InboxFilter, MessageSummary, StoreError, Vault};

use self::texts::{Texts, texts};
use super::Dashboard;
use super::error::PageError;
use super::grants::shared::{fill, query_value};
use super::i18n::Lang;
use super::render::{Chrome, date_time, page};
use super::session::SignedIn;

/// Messages on one page of the list.
const PAGE: usize = 25;

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/inbox", get(list))
        .route("/dashboard/inbox/{id}", get(message::show))
        .route("/dashboard/inbox/{id}/reply", post(message::reply))
        .route("/dashboard/inbox/{id}/archive", post(message::archive))
        .route("/dashboard/inbox/{id}/unarchive", post(message::unarchive))
        .route("/dashboard/inbox/{id}/unread", post(message::mark_unread))
        .route("/dashboard/inbox/{id}/block", post(message::block))
        .route("/dashboard/inbox/{id}/unblock", post(message::unblock))
}

impl Dashboard {
    /// Runs `work` with the owner's connection and the inbox (opened on first use), on a
    /// blocking thread; afterwards the dispatcher is woken, as after every owner action.
    async fn with_inbox<T, F>(&self, work: F) -> Result<T, PageError>
    where
        T: Send + 'static,
        F: FnOnce(&Vault, &Inbox) -> Result<T, StoreError> + Send + 'static,
    {
        let dashboard = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            let vault = dashboard
                .0
                .owner
                .lock()
                .map_err(|_| PageError::internal("owner connection lock poisoned"))?;
            let mut slot = dashboard
                .0
                .inbox
                .lock()
                .map_err(|_| PageError::internal("inbox connection lock poisoned"))?;
            let inbox = match slot.take() {
                Some(inbox) => inbox,
                None => Inbox::open(&dashboard.0.dir, &dashboard.0.unlocked)?,
            };
            let out = work(&vault, &inbox).map_err(PageError::from);
            *slot = Some(inbox);
            out
        })
        .await
        .map_err(PageError::internal)?;
        self.0.app.wake_dispatcher();
        out
    }

    /// The unread messages, for the navigation of every page: one count on the inbox's own
    /// connection (not the owner's, so a page never waits for an owner action). `None` if
    /// the inbox cannot be read; the page is shown without the count.
    pub(crate) async fn unread_count(&self) -> Option<u64> {
        let dashboard = self.clone();
        let counted = tokio::task::spawn_blocking(move || {
            let mut slot = dashboard.0.inbox.lock().ok()?;
            if slot.is_none() {
                *slot = Some(
                    Inbox::open(&dashboard.0.dir, &dashboard.0.unlocked)
                        .map_err(|err| tracing::warn!(%err, "the inbox could not be opened"))
                        .ok()?,
                );
            }
            slot.as_ref()?
                .unread_count()
                .map_err(|err| tracing::warn!(%err, "unread messages could not be counted"))
                .ok()
        })
        .await;
        counted.ok().flatten()
    }
}

/// A filter as the query string names it.
fn filter_of(query: Option<&str>, t: &Texts) -> Result<InboxFilter, PageError> {
    match query_value(query, "show").as_deref() {
        None | Some("current") => Ok(InboxFilter::Current),
        Some("unread") => Ok(InboxFilter::Unread),
        Some("archived") => Ok(InboxFilter::Archived),
        Some("all") => Ok(InboxFilter::All),
        Some(_) => Err(PageError::BadRequest(t.bad_filter.to_owned())),
    }
}

fn filter_code(filter: InboxFilter) -> &'static str {
    match filter {
        InboxFilter::Current => "current",
        InboxFilter::Unread => "unread",
        InboxFilter::Archived => "archived",
        InboxFilter::All => "all",
    }
}

/// One link of the filter choice.
struct FilterLink {
    href: String,
    label: &'static str,
    current: &'static str,
}

/// A message as the list shows it.
struct Row {
    href: String,
    subject: String,
    business: String,
    topic: String,
    when: String,
    unread: bool,
    /// In words: read or unread, archived, answered.
    state: String,
}

/// The state of a message in words (never by colour alone).
fn state_words(t: &Texts, m: &MessageSummary) -> String {
    let mut words = vec![if m.read { t.state_read } else { t.state_unread }];
    if m.archived {
        words.push(t.state_archived);
    }
    if m.replied {
        words.push(t.state_replied);
    }
    words.join(", ")
}

fn row(lang: Lang, t: &Texts, m: &MessageSummary) -> Row {
    Row {
        href: format!("/dashboard/inbox/{}", m.id),
        subject: m.subject.clone(),
        business: m.business.to_string(),
        topic: m.topic.clone(),
        when: date_time(lang, m.at_ms.div_euclid(1000)),
        unread: !m.read,
        state: state_words(t, m),
    }
}

#[derive(Template)]
#[template(path = "dashboard/inbox.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    notice: Option<String>,
    filters: Vec<FilterLink>,
    rows: Vec<Row>,
    none: &'static str,
    by_business: Vec<(String, String)>,
    older: Option<String>,
}

async fn list(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let query = query.as_deref();
    let filter = filter_of(query, t)?;
    let before = match query_value(query, "before") {
        None => None,
        Some(seq) => Some(
            seq.parse::<i64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| PageError::BadRequest(t.bad_before.to_owned()))?,
        ),
    };
    let (mut messages, by_business) = dashboard
        .with_inbox(move |_, inbox| {
            Ok((
                inbox.list_before(filter, before, PAGE + 1)?,
                inbox.unread_by_business()?,
            ))
        })
        .await?;
    let more = messages.len() > PAGE;
    messages.truncate(PAGE);
    let code = filter_code(filter);
    let older = more
        .then(|| messages.last())
        .flatten()
        .map(|last| format!("/dashboard/inbox?show={code}&before={}", last.seq));
    let filters = [
        (InboxFilter::Current, t.current),
        (InboxFilter::Unread, t.unread),
        (InboxFilter::Archived, t.archived),
        (InboxFilter::All, t.all),
    ]
    .into_iter()
    .map(|(f, label)| FilterLink {
        href: format!("/dashboard/inbox?show={}", filter_code(f)),
        label,
        current: if f == filter { "page" } else { "false" },
    })
    .collect();
    let notice = (query_value(query, "done").as_deref() == Some("unread"))
        .then(|| t.marked_unread.to_owned());
    let here = match query {
        Some(q) => format!("/dashboard/inbox?{q}"),
        None => "/dashboard/inbox".to_owned(),
    };
    page(&ListPage {
        chrome: Chrome::new(&owner, "inbox", t.title, &here),
        t,
        notice,
        filters,
        rows: messages.iter().map(|m| row(lang, t, m)).collect(),
        none: match filter {
            InboxFilter::Current => t.none_current,
            InboxFilter::Unread => t.none_unread,
            InboxFilter::Archived => t.none_archived,
            InboxFilter::All => t.none_all,
        },
        by_business: by_business
            .into_iter()
            .map(|(b, n)| (b.to_string(), fill(t.unread_of, &[("n", &n.to_string())])))
            .collect(),
        older,
    })
}
