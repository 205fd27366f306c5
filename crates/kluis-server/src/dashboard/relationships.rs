//! The owner's relationship records on the dashboard (relationships issue):
//! `/dashboard/relationships` lists one row per business, those with a record and those the
//! vault knows from grants and access requests; [`record`] shows one record, its timeline
//! ([`timeline`]) and its forms ([`forms`]), [`mod@file`] a document's file; [`due`] lists what is
//! due soon and serves it as an iCalendar feed. Reads and appends are the store's [`kluis_store::Relationships`], on the dashboard's
//! own connection to `relationships.db`, opened on first use.
//!
//! A business the vault knows without a record is listed as such; its record is made by the
//! first entry, or by "Start a record" ([`Relationships::ensure`]). A page that only shows
//! never writes.

mod due;
mod file;
mod forms;
mod record;
mod texts;
mod timeline;

use std::collections::BTreeSet;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kluis_core::grant::BusinessId;
use kluis_core::relationship::entry::day_of_ms;
use kluis_core::relationship::{Date, Promise, Standing};
use kluis_store::{Relationships, StoreError, Vault, unix_now, unix_now_ms};

use self::texts::{Texts, texts};
use super::Dashboard;
use super::error::PageError;
use super::grants::shared::fill;
use super::i18n::Lang;
use super::logview::GrantsCache;
use super::render::{Chrome, day, page_with};
use super::session::SignedIn;

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/relationships", get(list).post(forms::start))
        .route("/dashboard/relationships/{business}", get(record::show))
        .route(
            "/dashboard/relationships/{business}/files/{entry}",
            get(file::file),
        )
        .route(
            "/dashboard/relationships/{business}/{form}",
            post(forms::submit),
        )
        .route("/dashboard/due", get(due::show))
        .route("/dashboard/due.ics", get(due::feed))
}

impl Dashboard {
    /// Runs `work` with the owner's connection and the relationship records (opened on first
    /// use), on a blocking thread.
    async fn with_relationships<T, F>(&self, work: F) -> Result<T, PageError>
    where
        T: Send + 'static,
        F: FnOnce(&Vault, &mut Relationships) -> Result<T, StoreError> + Send + 'static,
    {
        let dashboard = self.clone();
        tokio::task::spawn_blocking(move || {
            let vault = dashboard
                .0
                .owner
                .lock()
                .map_err(|_| PageError::internal("owner connection lock poisoned"))?;
            let mut slot = dashboard
                .0
                .relationships
                .lock()
                .map_err(|_| PageError::internal("relationships connection lock poisoned"))?;
            let mut rel = match slot.take() {
                Some(rel) => rel,
                None => vault.open_relationships()?,
            };
            let out = work(&vault, &mut rel).map_err(PageError::from);
            *slot = Some(rel);
            out
        })
        .await
        .map_err(PageError::internal)?
    }

    /// Every record's standing, on the records' connection only (not the owner's, so the
    /// navigation never waits for an owner action); `None` if they cannot be read.
    async fn standings(&self) -> Option<Vec<Standing>> {
        let dashboard = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut slot = dashboard.0.relationships.lock().ok()?;
            if slot.is_none() {
                *slot = Some(
                    Relationships::open(&dashboard.0.dir, &dashboard.0.unlocked)
                        .map_err(|err| tracing::warn!(%err, "relationships.db could not be opened"))
                        .ok()?,
                );
            }
            slot.as_ref()?
                .list()
                .map_err(|err| tracing::warn!(%err, "relationship records could not be read"))
                .ok()
        })
        .await;
        read.ok().flatten()
    }

    /// The overdue promises over every record, for the navigation of every page.
    pub(crate) async fn overdue_count(&self) -> Option<u64> {
        let today = today();
        let standings = self.standings().await?;
        Some(
            standings
                .iter()
                .map(|s| s.overdue(today).count() as u64)
                .sum(),
        )
    }

    /// The overdue promises, oldest first, with their business, for the overview.
    pub(crate) async fn overdue_promises(&self) -> Vec<(BusinessId, Promise)> {
        let today = today();
        let mut overdue: Vec<(BusinessId, Promise)> = self
            .standings()
            .await
            .unwrap_or_default()
            .iter()
            .flat_map(|s| {
                s.overdue(today)
                    .map(|p| (s.business.clone(), p.value.clone()))
            })
            .collect();
        overdue.sort_by(|a, b| (a.1.due_on, &a.0).cmp(&(b.1.due_on, &b.0)));
        overdue
    }
}

/// Today, UTC, as the relationship rules count days.
fn today() -> Date {
    day_of_ms(unix_now_ms())
}

/// An overdue promise in words, for the overview: `shop.example promised “Call back” by 28 Nov
/// 2026 — overdue`.
pub(crate) fn overdue_sentence(lang: Lang, business: &BusinessId, promise: &Promise) -> String {
    fill(
        texts(lang).overdue_line,
        &[
            ("business", business.as_str()),
            ("what", &promise.what),
            ("due", &day(lang, promise.due_on)),
        ],
    )
}

/// The page of `business`'s record. Its id goes in one path segment, every character
/// outside letters, digits and `-._` percent-encoded.
pub(crate) fn record_href(business: &BusinessId) -> String {
    let segment: String = form_urlencoded::byte_serialize(business.as_str().as_bytes()).collect();
    format!("/dashboard/relationships/{segment}")
}

/// The business in a path; a malformed one is a 404 like an unknown one.
fn business_of(text: &str, t: &Texts) -> Result<BusinessId, PageError> {
    BusinessId::parse(text).map_err(|_| PageError::NotFound(t.no_such_record.to_owned()))
}

/// The businesses the vault knows from grants and access requests.
fn known_businesses(
    vault: &Vault,
    grants: &GrantsCache,
) -> Result<BTreeSet<BusinessId>, StoreError> {
    Ok(kluis_store::known_businesses(
        &grants.get(vault)?,
        &vault.access_requests(unix_now())?,
    ))
}

/// A business as the list shows it.
struct Row {
    business: String,
    href: String,
    /// `None` without a record yet.
    entries: Option<u64>,
    open: usize,
    overdue: usize,
    overdue_text: String,
    notice: Option<String>,
    satisfaction: Option<String>,
}

fn row(lang: Lang, t: &Texts, business: &BusinessId, standing: Option<&Standing>) -> Row {
    let today = today();
    let overdue = standing.map_or(0, |s| s.overdue(today).count());
    Row {
        business: business.to_string(),
        href: record_href(business),
        entries: standing.map(|s| s.entries),
        open: standing.map_or(0, |s| {
            s.promises
                .iter()
                .filter(|p| p.value.status == kluis_core::relationship::PromiseStatus::Open)
                .count()
        }),
        overdue,
        overdue_text: fill(t.n_overdue, &[("n", &overdue.to_string())]),
        notice: standing
            .and_then(|s| s.next_notice(today))
            .map(|(last, end)| {
                fill(
                    t.notice_by,
                    &[("day", &day(lang, last)), ("end", &day(lang, end))],
                )
            }),
        satisfaction: standing.and_then(|s| s.satisfaction).map(|(score, on)| {
            fill(
                t.score_of,
                &[("score", &score.to_string()), ("day", &day(lang, on))],
            )
        }),
    }
}

#[derive(Template)]
#[template(path = "dashboard/relationships.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    rows: Vec<Row>,
    /// The start form's refusal and what was typed.
    start_error: Option<String>,
    start_value: String,
}

/// The list, with the start form's refusal if there is one.
async fn list_page(
    dashboard: &Dashboard,
    owner: &SignedIn,
    status: StatusCode,
    start_error: Option<String>,
    start_value: String,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let cache = GrantsCache::of(dashboard);
    let (standings, known) = dashboard
        .with_relationships(move |vault, rel| Ok((rel.list()?, known_businesses(vault, &cache)?)))
        .await?;
    let mut rows: Vec<Row> = standings
        .iter()
        .map(|s| row(lang, t, &s.business, Some(s)))
        .collect();
    rows.extend(
        known
            .iter()
            .filter(|b| !standings.iter().any(|s| s.business == **b))
            .map(|b| row(lang, t, b, None)),
    );
    rows.sort_by(|a, b| a.business.cmp(&b.business));
    page_with(
        status,
        &ListPage {
            chrome: Chrome::new(owner, "relationships", t.title, "/dashboard/relationships"),
            t,
            rows,
            start_error,
            start_value,
        },
    )
}

async fn list(State(dashboard): State<Dashboard>, owner: SignedIn) -> Result<Response, PageError> {
    list_page(&dashboard, &owner, StatusCode::OK, None, String::new()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_business_goes_in_one_path_segment() {
        let b = BusinessId::parse("https://shop.example/a@b").unwrap();
        assert_eq!(
            record_href(&b),
            "/dashboard/relationships/https%3A%2F%2Fshop.example%2Fa%40b"
        );
    }
}
