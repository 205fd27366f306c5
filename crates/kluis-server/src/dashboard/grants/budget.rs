//! A grant's read budget: how many reads a day it is served before the grant API answers 429,
//! shown on its card, and a form to change it (a number, or back to the default). Through the
//! store's owner layer, so setting one is one transaction with its log record, as
//! `kluis grant budget` is.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::budget::{self, DEFAULT_READS_PER_DAY};
use kluis_core::grant::{Grant, GrantId, Status};
use kluis_store::{StoreError, Via, unix_now};

use super::change::grant_id;
use super::shared::fill;
use super::{grant_sentence, texts};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::i18n::Lang;
use crate::dashboard::logview::LogView;
use crate::dashboard::render::{Chrome, page_with, see_other};
use crate::dashboard::session::{Posted, SignedIn};

pub struct BudgetTexts {
    pub budget: &'static str,
    pub per_day: &'static str,
    pub per_day_default: &'static str,
    pub read_today: &'static str,
    pub link: &'static str,
    pub notice: &'static str,
    pub same_notice: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub button: &'static str,
    pub default_button: &'static str,
    pub cancel: &'static str,
}

const EN: BudgetTexts = BudgetTexts {
    budget: "Read budget",
    per_day: "{n} reads a day",
    per_day_default: "{n} reads a day (the default)",
    read_today: "{n} read today",
    link: "Read budget…",
    notice: "Read budget of {business} set to {budget}.",
    same_notice: "That already was the read budget; nothing changed.",
    title: "Read budget",
    intro: "{business} may read your {fields} (for {purpose}) up to {budget}; today it read them {today}. Past that, its reads are refused until midnight UTC, and your log keeps a count of them rather than each one. A business that wants to know when something changes can ask to be told, instead of reading again and again.",
    label: "Reads a day",
    hint: "A whole number from 1 to 10000000.",
    button: "Set read budget",
    default_button: "Back to the default ({n} a day)",
    cancel: "Cancel",
};

const NL: BudgetTexts = BudgetTexts {
    budget: "Leesbudget",
    per_day: "{n} keer per dag",
    per_day_default: "{n} keer per dag (standaard)",
    read_today: "vandaag {n} keer gelezen",
    link: "Leesbudget…",
    notice: "Leesbudget van {business} ingesteld op {budget}.",
    same_notice: "Dat was het leesbudget al; er is niets gewijzigd.",
    title: "Leesbudget",
    intro: "{business} mag uw {fields} (voor {purpose}) tot {budget} lezen; vandaag las het ze {today}. Daarboven wordt lezen geweigerd tot middernacht UTC, en uw logboek telt die weigeringen in plaats van ze elk te bewaren. Een bedrijf dat wil weten wanneer er iets verandert, kan om bericht vragen in plaats van steeds opnieuw te lezen.",
    label: "Keer lezen per dag",
    hint: "Een geheel getal van 1 tot 10000000.",
    button: "Leesbudget instellen",
    default_button: "Terug naar de standaard ({n} per dag)",
    cancel: "Annuleren",
};

pub fn budget_texts(lang: Lang) -> &'static BudgetTexts {
    lang.pick(&EN, &NL)
}

/// A budget in words: `500 reads a day`, or the default's.
pub fn per_day(lang: Lang, set: Option<u32>) -> String {
    let b = budget_texts(lang);
    let template = if set.is_some() {
        b.per_day
    } else {
        b.per_day_default
    };
    fill(template, &[("n", &budget::effective(set).to_string())])
}

/// What a card says of the budget: the budget and the day's reads so far.
pub fn card_line(lang: Lang, set: Option<u32>, today: u64) -> String {
    let b = budget_texts(lang);
    format!(
        "{} · {}",
        per_day(lang, set),
        fill(b.read_today, &[("n", &today.to_string())])
    )
}

/// The notice after a change, from the redirect's query.
pub fn notice(lang: Lang, grant: &Grant, set: Option<u32>, changed: bool) -> String {
    let b = budget_texts(lang);
    if !changed {
        return b.same_notice.to_owned();
    }
    fill(
        b.notice,
        &[
            ("business", grant.audience.as_str()),
            ("budget", &per_day(lang, set)),
        ],
    )
}

#[derive(Template)]
#[template(path = "dashboard/grants_budget.html")]
struct BudgetPage {
    chrome: Chrome,
    b: &'static BudgetTexts,
    id: String,
    intro: String,
    default_button: String,
    /// What the field holds: the budget set, or what was typed.
    value: String,
    /// The store's refusal, next to the field.
    error: Option<String>,
    /// Whether the form is shown (a live grant).
    live: bool,
}

/// The grant, its budget as set and its reads today.
async fn load(dashboard: &Dashboard, id: GrantId) -> Result<(Grant, Option<u32>, u64), PageError> {
    let view = LogView::of(dashboard);
    dashboard
        .with_owner(move |v| {
            let grant = v.grant(&id)?;
            let set = v.grant_state(id.as_str())?.and_then(|s| s.read_budget);
            let day = budget::day_of(unix_now());
            let today = view.with(v, |index| {
                Ok(index.reads_per_grant_on(day).get(&id).copied().unwrap_or(0))
            })?;
            Ok((grant, set, today))
        })
        .await
}

fn budget_page(
    owner: &SignedIn,
    (grant, set, today): &(Grant, Option<u32>, u64),
    value: Option<String>,
    error: Option<String>,
) -> BudgetPage {
    let lang = owner.lang;
    let (t, b) = (texts(lang), budget_texts(lang));
    let today = match today {
        0 => lang.pick("not yet", "nog niet").to_owned(),
        1 => t.once.to_owned(),
        n => fill(t.times, &[("n", &n.to_string())]),
    };
    let intro = fill(
        &grant_sentence(lang, b.intro, grant),
        &[("budget", &per_day(lang, *set)), ("today", &today)],
    );
    let here = format!("/dashboard/grants/{}/budget", grant.id);
    BudgetPage {
        chrome: Chrome::new(owner, "grants", b.title, &here),
        b,
        id: grant.id.to_string(),
        intro,
        default_button: fill(
            b.default_button,
            &[("n", &DEFAULT_READS_PER_DAY.to_string())],
        ),
        value: value.unwrap_or_else(|| set.map(|n| n.to_string()).unwrap_or_default()),
        error,
        live: grant.status(unix_now()) == Status::Active,
    }
}

pub async fn form(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let loaded = load(&dashboard, grant_id(&id)?).await?;
    if loaded.0.status(unix_now()) != Status::Active {
        // The store's words for it, without trying.
        let message = format!(
            "grant {} is no longer active; only a live grant's read budget can be set",
            loaded.0.id
        );
        let shown = budget_page(&owner, &loaded, None, Some(message));
        return page_with(StatusCode::CONFLICT, &shown);
    }
    page_with(StatusCode::OK, &budget_page(&owner, &loaded, None, None))
}

#[tracing::instrument(skip_all, fields(grant.id = %id))]
pub async fn submit(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let typed = posted
        .form
        .one("reads_per_day")
        .unwrap_or_default()
        .to_owned();
    let asked = if posted.form.one("default").is_some() {
        Ok(None)
    } else {
        budget::parse(&typed).map_err(StoreError::from)
    };
    let outcome = match asked {
        Err(e) => Err(e),
        Ok(set) => {
            let id = id.clone();
            dashboard
                .with_owner(move |v| {
                    Ok(v.owner(Via::Dashboard)
                        .set_read_budget(&id, set)
                        .map(|(_, changed)| changed))
                })
                .await?
        }
    };
    let (status, message) = match outcome {
        Ok(changed) => {
            let same = if changed { "" } else { "&same=1" };
            return Ok(see_other(&format!(
                "/dashboard/grants?budget={id}{same}#{id}"
            )));
        }
        Err(StoreError::Invalid(e)) => (StatusCode::BAD_REQUEST, e.to_string()),
        Err(StoreError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(other) => return Err(other.into()),
    };
    let loaded = load(&dashboard, id).await?;
    let shown = budget_page(&posted.owner, &loaded, Some(typed), Some(message));
    page_with(status, &shown)
}
