//! The access log page: who read what and what the owner did, as a timeline in words grouped
//! by day ([`timeline`]), filtered by a GET form ([`filter`]) and paged newest first with the
//! log index's cursor, so only the index's summaries are scanned and only the page's frames
//! read; above it, a chart of the last 30 days' reads per business ([`chart`]) and the chain's
//! state when it is broken.

mod chart;
pub(super) mod filter;
pub(super) mod timeline;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use kluis_core::access::Outcome;
use kluis_core::grant::BusinessId;
use kluis_store::{LogEntry, LogIndex, LogQuery, StoreError, unix_now_ms};

use self::chart::{Chart, DAYS};
use self::filter::{DAY_MS, Filters};
use self::timeline::Day;
use super::Dashboard;
use super::error::PageError;
use super::i18n::Lang;
use super::logview::LogView;
use super::render::{Chrome, page_with};
use super::session::SignedIn;

pub fn router() -> Router<Dashboard> {
    Router::new().route("/dashboard/log", get(log_page))
}

pub struct Texts {
    pub title: &'static str,
    pub chart: &'static str,
    pub no_reads: &'static str,
    pub numbers: &'static str,
    pub day: &'static str,
    pub entries: &'static str,
    pub filters: &'static str,
    pub business: &'static str,
    pub business_hint: &'static str,
    pub grant: &'static str,
    pub outcome: &'static str,
    pub all: &'static str,
    pub allowed: &'static str,
    pub refused: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub apply: &'static str,
    pub clear: &'static str,
    pub utc: &'static str,
    pub empty: &'static str,
    pub none_match: &'static str,
    pub entry: &'static str,
    pub pages: &'static str,
    pub newest: &'static str,
    pub older: &'static str,
    pub prune: &'static str,
    pub fix: &'static str,
    pub not_shown: &'static str,
}

const EN: Texts = Texts {
    title: "Access log",
    chart: "Reads in the last 30 days",
    no_reads: "No business read anything from your vault in the last 30 days.",
    numbers: "The numbers",
    day: "Day",
    entries: "What happened",
    filters: "Filters",
    business: "Business",
    business_hint: "As the business is named in its grant, e.g. webshop.example.",
    grant: "Grant",
    outcome: "Outcome",
    all: "all",
    allowed: "allowed",
    refused: "refused",
    from: "From",
    to: "To",
    apply: "Show",
    clear: "Clear the filters",
    utc: "Days and times are in UTC. Open a line to see its entries.",
    empty: "The access log is empty.",
    none_match: "No entries match these filters.",
    entry: "Entry",
    pages: "Pages of the log",
    newest: "Newest",
    older: "Older entries",
    prune: "Remove older entries…",
    fix: "Correct the filters marked below.",
    not_shown: "Its entries are not shown until the log is intact again; `kluis log verify` says more.",
};

const NL: Texts = Texts {
    title: "Inzagelog",
    chart: "Inzagen in de afgelopen 30 dagen",
    no_reads: "Geen bedrijf heeft de afgelopen 30 dagen iets uit uw kluis gelezen.",
    numbers: "De cijfers",
    day: "Dag",
    entries: "Wat er gebeurde",
    filters: "Filters",
    business: "Bedrijf",
    business_hint: "Zoals het bedrijf in zijn toegang heet, bijv. webshop.example.",
    grant: "Toegang",
    outcome: "Uitkomst",
    all: "alle",
    allowed: "toegestaan",
    refused: "geweigerd",
    from: "Van",
    to: "Tot en met",
    apply: "Tonen",
    clear: "Filters wissen",
    utc: "Dagen en tijden zijn in UTC. Open een regel om de afzonderlijke regels te zien.",
    empty: "De inzagelog is leeg.",
    none_match: "Geen regels passen bij deze filters.",
    entry: "Regel",
    pages: "Pagina's van de log",
    newest: "Nieuwste",
    older: "Oudere regels",
    prune: "Oudere regels verwijderen…",
    fix: "Verbeter de filters die hieronder gemarkeerd zijn.",
    not_shown: "De regels worden niet getoond tot de log weer heel is; `kluis log verify` zegt meer.",
};

#[derive(Template)]
#[template(path = "dashboard/log.html")]
struct LogPage {
    chrome: Chrome,
    t: &'static Texts,
    filters: Filters,
    /// "Correct the filters" when some did not parse.
    invalid: bool,
    broken: Option<String>,
    chart: Option<Chart>,
    summary: String,
    days: Vec<Day>,
    newest: Option<String>,
    older: Option<String>,
}

/// What the page needs from the index, read in one go on the owner's connection.
struct Found {
    entries: Vec<LogEntry>,
    next: Option<i64>,
    broken: Option<String>,
    counts: Vec<(BusinessId, i64, u64)>,
}

async fn log_page(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    uri: Uri,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = lang.pick(&EN, &NL);
    let filters = Filters::parse(lang, uri.query())?;
    let chrome = Chrome::new(&owner, "log", t.title, &filters.href(filters.before));
    if filters.errors.any() {
        let page = LogPage {
            chrome,
            t,
            filters,
            invalid: true,
            broken: None,
            chart: None,
            summary: String::new(),
            days: Vec::new(),
            newest: None,
            older: None,
        };
        return page_with(StatusCode::BAD_REQUEST, &page);
    }
    let now_ms = unix_now_ms();
    let first_day = now_ms.div_euclid(DAY_MS) - (DAYS - 1);
    // The chart follows the business and grant filters, over its own days.
    let chart_q = LogQuery {
        business: filters.query.business.clone(),
        grant: filters.query.grant.clone(),
        since_ms: Some(first_day * DAY_MS),
        ..LogQuery::default()
    };
    let q = filters.query.clone();
    let view = LogView::of(&dashboard);
    let found = dashboard
        .with_owner(move |v| {
            view.with(v, |index| {
                let counts = chart_counts(index, &chart_q);
                let mut found = Found {
                    entries: Vec::new(),
                    next: None,
                    broken: None,
                    counts,
                };
                if let Some((seq, why)) = &index.check().first_broken {
                    found.broken = Some(format!("the access log is broken at entry {seq}: {why}"));
                    return Ok(found);
                }
                match index.query(v, &q) {
                    Ok(page) => (found.entries, found.next) = (page.entries, page.next),
                    // A frame altered since it was indexed: said on the page, never shown.
                    Err(StoreError::Tampered(why)) => found.broken = Some(why),
                    Err(other) => return Err(other),
                }
                Ok(found)
            })
        })
        .await?;
    let summary = summary(lang, &filters, found.entries.len());
    let days = timeline::timeline(lang, &found.entries, now_ms);
    let empty = days.is_empty() && found.broken.is_none();
    let page = LogPage {
        chrome,
        t,
        invalid: false,
        broken: found
            .broken
            .map(|why| format!("{}. {}", capitalized(&why), t.not_shown)),
        chart: chart::chart(lang, &found.counts, first_day),
        summary: if empty {
            (if filters.narrowing() || filters.before.is_some() {
                t.none_match
            } else {
                t.empty
            })
            .to_owned()
        } else {
            summary
        },
        days,
        newest: filters.before.map(|_| filters.href(None)),
        older: found.next.map(|next| filters.href(Some(next))),
        filters,
    };
    page_with(StatusCode::OK, &page)
}

/// The chart's numbers: per day, the reads of the businesses that read most. With a business
/// or grant filter there is one business at most: its counts at once. Otherwise the totals
/// first, then each top business's days (both from the index's per-day counts).
fn chart_counts(index: &LogIndex, q: &LogQuery) -> Vec<(BusinessId, i64, u64)> {
    if q.business.is_some() || q.grant.is_some() {
        return index.counts_by_business_and_day(q, 0);
    }
    let top = index.reads_by_business(q).into_iter().take(chart::TOP);
    top.flat_map(|(business, _)| {
        let q = LogQuery {
            business: Some(business),
            ..q.clone()
        };
        index.counts_by_business_and_day(&q, 0)
    })
    .collect()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

/// Which entries the page shows, in words.
fn summary(lang: Lang, filters: &Filters, shown: usize) -> String {
    let outcome = match (filters.query.outcome, lang) {
        (Some(Outcome::Allowed), Lang::En) => " allowed",
        (Some(Outcome::Refused), Lang::En) => " refused",
        (Some(Outcome::Allowed), Lang::Nl) => " toegestane",
        (Some(Outcome::Refused), Lang::Nl) => " geweigerde",
        (None, _) => "",
    };
    let (entries, regels) = if shown == 1 {
        ("entry", "regel")
    } else {
        ("entries", "regels")
    };
    match (filters.before, lang) {
        (None, Lang::En) => format!("The {shown} newest{outcome} {entries}."),
        (None, Lang::Nl) => format!("De {shown} nieuwste{outcome} {regels}."),
        (Some(before), Lang::En) => {
            format!("{shown}{outcome} {entries} before entry {before}.")
        }
        (Some(before), Lang::Nl) => format!("{shown}{outcome} {regels} voor regel {before}."),
    }
}
