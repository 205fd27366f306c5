//! The grants page: every grant the owner gave, live ones first, each with its reads; revoking
//! one (after a confirmation page) and narrowing a live one to fewer fields. Giving a new grant
//! is in [`create`]; helpers the requests and receipts pages share are in [`shared`].

mod create;
pub mod shared;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use kluis_core::Pointer;
use kluis_core::grant::{Grant, GrantId, Status};
use kluis_store::{StoreError, Via, unix_now};

use self::shared::{field_label, fill, query_value, status_word};
use super::error::PageError;
use super::i18n::Lang;
use super::logview::LogView;
use super::render::{Chrome, ago, date, date_time, page, page_with, see_other};
use super::session::{Posted, SignedIn};
use super::{Dashboard, words};

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/grants", get(list))
        .route(
            "/dashboard/grants/new",
            get(create::form).post(create::submit),
        )
        .route(
            "/dashboard/grants/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
        .route("/dashboard/grants/{id}/narrow", get(narrow_form).post(narrow))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub new_link: &'static str,
    pub active: &'static str,
    pub none_active: &'static str,
    pub ended: &'static str,
    pub none_ended: &'static str,
    pub fields: &'static str,
    pub purpose: &'static str,
    pub status: &'static str,
    pub expiry: &'static str,
    pub reads: &'static str,
    pub last_read: &'static str,
    pub never: &'static str,
    pub bound: &'static str,
    pub revoke_link: &'static str,
    pub narrow_link: &'static str,
    pub until: &'static str,
    pub expired_on: &'static str,
    pub revoked_on: &'static str,
    pub times: &'static str,
    pub once: &'static str,
    pub revoked_notice: &'static str,
    pub already_revoked_notice: &'static str,
    pub narrowed_notice: &'static str,
    pub revoke_title: &'static str,
    pub revoke_sentence: &'static str,
    pub revoke_already: &'static str,
    pub revoke_button: &'static str,
    pub cancel: &'static str,
    pub narrow_title: &'static str,
    pub narrow_intro: &'static str,
    pub keep_legend: &'static str,
    pub narrow_button: &'static str,
}

const EN: Texts = Texts {
    title: "Grants",
    intro: "Each grant lets one business read some fields of your vault, for one purpose, until it expires or you revoke it.",
    new_link: "Give a business access…",
    active: "Active",
    none_active: "No business can read anything from your vault right now.",
    ended: "Revoked and expired",
    none_ended: "None.",
    fields: "Fields",
    purpose: "Purpose",
    status: "Status",
    expiry: "Expiry",
    reads: "Reads",
    last_read: "Last read",
    never: "not read yet",
    bound: "Bound to the business's key (from its access request).",
    revoke_link: "Revoke…",
    narrow_link: "Narrow…",
    until: "until {date}",
    expired_on: "expired on {date}",
    revoked_on: "revoked on {date}",
    times: "{n} times",
    once: "once",
    revoked_notice: "Revoked: {business} can no longer read your {fields}.",
    already_revoked_notice: "This grant was already revoked; nothing changed.",
    narrowed_notice: "Narrowed: {business} can now read only your {fields}, with the token it has.",
    revoke_title: "Revoke access",
    revoke_sentence: "{business} will no longer be able to read your {fields} (for {purpose}). Its token stops working at once; what it read before, it keeps.",
    revoke_already: "This grant was already revoked on {date}.",
    revoke_button: "Revoke access",
    cancel: "Cancel",
    narrow_title: "Narrow a grant",
    narrow_intro: "Untick the fields {business} should no longer read. Its token stays the same; its next read returns only the fields you keep.",
    keep_legend: "Fields it keeps",
    narrow_button: "Keep only these fields",
};

const NL: Texts = Texts {
    title: "Toegang",
    intro: "Elke toegang laat één bedrijf enkele velden uit uw kluis lezen, voor één doel, tot die verloopt of u hem intrekt.",
    new_link: "Een bedrijf toegang geven…",
    active: "Actief",
    none_active: "Op dit moment kan geen enkel bedrijf iets uit uw kluis lezen.",
    ended: "Ingetrokken en verlopen",
    none_ended: "Geen.",
    fields: "Velden",
    purpose: "Doel",
    status: "Status",
    expiry: "Looptijd",
    reads: "Gelezen",
    last_read: "Laatst gelezen",
    never: "nog niet gelezen",
    bound: "Gebonden aan de sleutel van het bedrijf (uit zijn verzoek).",
    revoke_link: "Intrekken…",
    narrow_link: "Beperken…",
    until: "tot {date}",
    expired_on: "verlopen op {date}",
    revoked_on: "ingetrokken op {date}",
    times: "{n} keer",
    once: "1 keer",
    revoked_notice: "Ingetrokken: {business} kan uw {fields} niet meer lezen.",
    already_revoked_notice: "Deze toegang was al ingetrokken; er is niets gewijzigd.",
    narrowed_notice: "Beperkt: {business} kan nu alleen uw {fields} lezen, met het token dat het heeft.",
    revoke_title: "Toegang intrekken",
    revoke_sentence: "{business} kan uw {fields} (voor {purpose}) dan niet meer lezen. Zijn token werkt meteen niet meer; wat het eerder las, houdt het.",
    revoke_already: "Deze toegang is al ingetrokken op {date}.",
    revoke_button: "Toegang intrekken",
    cancel: "Annuleren",
    narrow_title: "Toegang beperken",
    narrow_intro: "Vink de velden uit die {business} niet meer mag lezen. Het token blijft hetzelfde; de volgende keer krijgt het alleen de velden die u laat staan.",
    keep_legend: "Velden die het houdt",
    narrow_button: "Alleen deze velden",
};

fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

/// One grant as its card shows it.
struct Card {
    id: String,
    business: String,
    fields: String,
    pointers: String,
    purpose: String,
    category: Option<String>,
    status: &'static str,
    status_class: &'static str,
    expiry: String,
    reads: String,
    last_read: String,
    active: bool,
    bound: bool,
}

struct Group {
    id: &'static str,
    heading: &'static str,
    empty: &'static str,
    cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "dashboard/grants.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    notice: Option<String>,
    groups: Vec<Group>,
}

fn card(lang: Lang, grant: &Grant, reads: Option<(u64, i64)>, now: i64) -> Card {
    let t = texts(lang);
    let status = grant.status(now);
    let (word, class) = status_word(lang, status);
    let expiry = match status {
        Status::Active => fill(t.until, &[("date", &date(lang, grant.expires_at))]),
        Status::Expired => fill(t.expired_on, &[("date", &date(lang, grant.expires_at))]),
        Status::Revoked => fill(
            t.revoked_on,
            &[("date", &date(lang, grant.revoked_at.unwrap_or(grant.expires_at)))],
        ),
    };
    let (reads, last_read) = match reads {
        None | Some((0, _)) => (t.never.to_owned(), "—".to_owned()),
        Some((n, last_ms)) => (
            if n == 1 {
                t.once.to_owned()
            } else {
                fill(t.times, &[("n", &n.to_string())])
            },
            format!(
                "{} ({})",
                date_time(lang, last_ms / 1000),
                ago(lang, last_ms / 1000, now)
            ),
        ),
    };
    Card {
        id: grant.id.to_string(),
        business: grant.audience.to_string(),
        fields: words::fields(lang, &grant.fields),
        pointers: pointers_text(&grant.fields),
        purpose: grant.purpose.clone(),
        category: grant.purpose_category.clone(),
        status: word,
        status_class: class,
        expiry,
        reads,
        last_read,
        active: status == Status::Active,
        bound: grant.key_thumbprint.is_some(),
    }
}

fn pointers_text(fields: &[Pointer]) -> String {
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let now = unix_now();
    let view = LogView::of(&dashboard);
    let (grants, stats) = dashboard
        .with_owner(move |v| Ok((v.grants()?, view.stats(v)?)))
        .await?;
    let named = |key: &str| {
        let id = query_value(query.as_deref(), key)?;
        grants.iter().find(|g| g.id.as_str() == id)
    };
    let notice = if let Some(g) = named("revoked") {
        Some(if query_value(query.as_deref(), "already").is_some() {
            t.already_revoked_notice.to_owned()
        } else {
            grant_sentence(lang, t.revoked_notice, g)
        })
    } else {
        named("narrowed").map(|g| grant_sentence(lang, t.narrowed_notice, g))
    };
    let (mut active, mut ended) = (Vec::new(), Vec::new());
    for grant in &grants {
        let card = card(lang, grant, stats.reads.get(&grant.id).copied(), now);
        if card.active {
            active.push(card);
        } else {
            ended.push(card);
        }
    }
    let groups = vec![
        Group {
            id: "active",
            heading: t.active,
            empty: t.none_active,
            cards: active,
        },
        Group {
            id: "ended",
            heading: t.ended,
            empty: t.none_ended,
            cards: ended,
        },
    ];
    page(&ListPage {
        chrome: Chrome::new(&owner, "grants", t.title, "/dashboard/grants"),
        t,
        notice,
        groups,
    })
}

/// A sentence about a grant: `{business}`, `{fields}` and `{purpose}` filled in.
fn grant_sentence(lang: Lang, template: &str, grant: &Grant) -> String {
    fill(
        template,
        &[
            ("business", grant.audience.as_str()),
            ("fields", &words::fields(lang, &grant.fields)),
            ("purpose", &grant.purpose),
        ],
    )
}

/// A grant id from a path; one that cannot be a grant's is simply not there.
fn grant_id(text: &str) -> Result<GrantId, PageError> {
    GrantId::parse(text).map_err(|_| PageError::NotFound(format!("there is no grant {text:?}")))
}

#[derive(Template)]
#[template(path = "dashboard/grants_revoke.html")]
struct RevokePage {
    chrome: Chrome,
    t: &'static Texts,
    id: String,
    sentence: String,
    already: Option<String>,
}

async fn confirm_revoke(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let id = grant_id(&id)?;
    let grant = {
        let id = id.clone();
        dashboard.with_owner(move |v| v.grant(&id)).await?
    };
    let here = format!("/dashboard/grants/{id}/revoke");
    page(&RevokePage {
        chrome: Chrome::new(&owner, "grants", t.revoke_title, &here),
        t,
        id: id.to_string(),
        sentence: grant_sentence(lang, t.revoke_sentence, &grant),
        already: grant
            .revoked_at
            .map(|at| fill(t.revoke_already, &[("date", &date(lang, at))])),
    })
}

#[tracing::instrument(skip_all, fields(grant.id = %id))]
async fn revoke(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    _posted: Posted,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let (grant, revoked_now) = dashboard
        .with_owner(move |v| v.owner(Via::Dashboard).revoke_grant(&id))
        .await?;
    let already = if revoked_now { "" } else { "&already=1" };
    Ok(see_other(&format!(
        "/dashboard/grants?revoked={}{already}#{}",
        grant.id, grant.id
    )))
}

/// A field's checkbox.
struct Check {
    id: String,
    pointer: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "dashboard/grants_narrow.html")]
struct NarrowPage {
    chrome: Chrome,
    t: &'static Texts,
    id: String,
    intro: String,
    /// The store's refusal, next to the checkboxes.
    error: Option<String>,
    /// `None` when the grant can no longer be narrowed: the page then shows only the error.
    checks: Option<Vec<Check>>,
}

fn narrow_page(
    owner: &SignedIn,
    grant: &Grant,
    kept: Option<&[String]>,
    error: Option<String>,
    now: i64,
) -> NarrowPage {
    let lang = owner.lang;
    let t = texts(lang);
    let checks = (grant.status(now) == Status::Active).then(|| {
        grant
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let pointer = f.to_string();
                Check {
                    id: format!("keep-{i}"),
                    checked: kept.is_none_or(|k| k.contains(&pointer)),
                    label: field_label(lang, f),
                    pointer,
                }
            })
            .collect()
    });
    let here = format!("/dashboard/grants/{}/narrow", grant.id);
    NarrowPage {
        chrome: Chrome::new(owner, "grants", t.narrow_title, &here),
        t,
        id: grant.id.to_string(),
        intro: grant_sentence(lang, t.narrow_intro, grant),
        error,
        checks,
    }
}

async fn narrow_form(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let grant = dashboard.with_owner(move |v| v.grant(&id)).await?;
    let now = unix_now();
    if grant.status(now) != Status::Active {
        // The store's words for it, without trying.
        let message = format!(
            "grant {} is no longer active; only a live grant can be narrowed",
            grant.id
        );
        let narrow = narrow_page(&owner, &grant, None, Some(message), now);
        return page_with(StatusCode::CONFLICT, &narrow);
    }
    page(&narrow_page(&owner, &grant, None, None, now))
}

#[tracing::instrument(skip_all, fields(grant.id = %id))]
async fn narrow(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let kept: Vec<String> = posted
        .form
        .all("keep")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let keep: Result<Vec<Pointer>, _> = kept.iter().map(|k| Pointer::parse(k)).collect();
    let outcome = match keep {
        Err(e) => Err(StoreError::Invalid(e)),
        Ok(keep) => {
            let id = id.clone();
            dashboard
                .with_owner(move |v| Ok(v.owner(Via::Dashboard).narrow_grant(&id, keep)))
                .await?
        }
    };
    let (status, message) = match outcome {
        Ok(grant) => {
            return Ok(see_other(&format!(
                "/dashboard/grants?narrowed={}#{}",
                grant.id, grant.id
            )));
        }
        Err(StoreError::Invalid(e)) => (StatusCode::BAD_REQUEST, e.to_string()),
        Err(StoreError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(other) => return Err(other.into()),
    };
    let grant = dashboard.with_owner(move |v| v.grant(&id)).await?;
    let narrow = narrow_page(&posted.owner, &grant, Some(&kept), Some(message), unix_now());
    page_with(status, &narrow)
}
