//! The grants page: every grant the owner gave, live ones first, each with its reads. Giving a
//! new grant is in [`create`] (its field checkboxes in [`tree`]), revoking and narrowing in
//! [`change`], the read budget in [`budget`]; helpers the requests and receipts pages share are
//! in [`shared`].

mod budget;
mod change;
mod create;
pub mod shared;
mod tree;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use kluis_core::grant::{Grant, Status};
use kluis_store::unix_now;

use self::budget::{BudgetTexts, budget_texts};
use self::shared::{fill, query_value, status_word};
use super::error::PageError;
use super::i18n::Lang;
use super::logview::{GrantsCache, LogView};
use super::render::{Chrome, ago, date, date_time, page};
use super::session::SignedIn;
use super::{Dashboard, recordform, words};

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/grants", get(list))
        .route(
            "/dashboard/grants/new",
            get(create::form).post(create::submit),
        )
        .route(
            "/dashboard/grants/{id}/revoke",
            get(change::confirm_revoke).post(change::revoke),
        )
        .route(
            "/dashboard/grants/{id}/narrow",
            get(change::narrow_form).post(change::narrow),
        )
        .route(
            "/dashboard/grants/{id}/budget",
            get(budget::form).post(budget::submit),
        )
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub new_link: &'static str,
    pub active: &'static str,
    pub none_active: &'static str,
    pub ended: &'static str,
    pub none_ended: &'static str,
    pub page_of: &'static str,
    pub newer: &'static str,
    pub older: &'static str,
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
    page_of: "Grants {from}–{to} of {total}",
    newer: "Newer grants",
    older: "Older grants",
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
    page_of: "Toegang {from}–{to} van {total}",
    newer: "Nieuwere",
    older: "Oudere",
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
    /// The read budget and the day's reads so far.
    budget: String,
    active: bool,
    bound: bool,
    /// What it may add to its record of the owner, when the grant lets it.
    record: Option<String>,
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
    b: &'static BudgetTexts,
    rt: &'static recordform::Texts,
    notice: Option<String>,
    groups: Vec<Group>,
    pager: Option<Pager>,
}

/// Where this page of the list is, when the list has more than one.
struct Pager {
    text: String,
    newer: Option<String>,
    older: Option<String>,
}

/// Grants on one page of the list: a vault with thousands stays a page of a few dozen KB.
pub const PER_PAGE: usize = 50;

/// What a card shows of the log and the budget: reads ever and the last one's time, the read
/// budget the owner set, reads today.
struct Seen {
    reads: Option<(u64, i64)>,
    read_budget: Option<u32>,
    today: u64,
}

fn card(lang: Lang, grant: &Grant, seen: Seen, now: i64) -> Card {
    let t = texts(lang);
    let status = grant.status(now);
    let (word, class) = status_word(lang, status);
    let expiry = match status {
        Status::Active => fill(t.until, &[("date", &date(lang, grant.expires_at))]),
        Status::Expired => fill(t.expired_on, &[("date", &date(lang, grant.expires_at))]),
        Status::Revoked => fill(
            t.revoked_on,
            &[(
                "date",
                &date(lang, grant.revoked_at.unwrap_or(grant.expires_at)),
            )],
        ),
    };
    let (reads, last_read) = match seen.reads {
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
        pointers: kluis_core::pointer::join(&grant.fields, ", "),
        purpose: grant.purpose.clone(),
        category: grant.purpose_category.clone(),
        status: word,
        status_class: class,
        expiry,
        reads,
        last_read,
        budget: budget::card_line(lang, seen.read_budget, seen.today),
        active: status == Status::Active,
        bound: grant.key_thumbprint.is_some(),
        record: grant
            .append_record
            .then(|| words::capitalized(recordform::texts(lang).may)),
    }
}

async fn list(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let now = unix_now();
    let (view, cache) = (LogView::of(&dashboard), GrantsCache::of(&dashboard));
    let (grants, stats, budgets) = dashboard
        .with_owner(move |v| Ok((cache.get(v)?, view.stats(v)?, v.read_budgets()?)))
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
    } else if let Some(g) = named("budget") {
        let changed = query_value(query.as_deref(), "same").is_none();
        Some(budget::notice(
            lang,
            g,
            budgets.get(&g.id).copied(),
            changed,
        ))
    } else {
        named("narrowed").map(|g| grant_sentence(lang, t.narrowed_notice, g))
    };
    // Live grants first, then ended ones, each newest first; a page of them. `?grant=` opens
    // the page that holds that grant (the overview links to it).
    let mut order: Vec<&Grant> = grants.iter().collect();
    order.sort_by_key(|g| g.status(now) != Status::Active);
    let total = order.len();
    let start = match query_value(query.as_deref(), "grant") {
        Some(id) => order
            .iter()
            .position(|g| g.id.as_str() == id)
            .map_or(0, |i| i / PER_PAGE * PER_PAGE),
        None => query_value(query.as_deref(), "from")
            .and_then(|f| f.parse::<usize>().ok())
            .filter(|f| *f < total)
            .map_or(0, |f| f / PER_PAGE * PER_PAGE),
    };
    let end = (start + PER_PAGE).min(total);
    let pager = (total > PER_PAGE).then(|| Pager {
        text: fill(
            t.page_of,
            &[
                ("from", &(start + 1).to_string()),
                ("to", &end.to_string()),
                ("total", &total.to_string()),
            ],
        ),
        newer: (start > 0).then(|| format!("/dashboard/grants?from={}", start - PER_PAGE)),
        older: (end < total).then(|| format!("/dashboard/grants?from={end}")),
    });
    let (mut active, mut ended) = (Vec::new(), Vec::new());
    for grant in &order[start..end] {
        let seen = Seen {
            reads: stats.reads.get(&grant.id).copied(),
            read_budget: budgets.get(&grant.id).copied(),
            today: stats.today.get(&grant.id).copied().unwrap_or(0),
        };
        let card = card(lang, grant, seen, now);
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
    // On one page of many, a group with nothing on this page is left out rather than "None".
    let groups = if pager.is_some() {
        groups.into_iter().filter(|g| !g.cards.is_empty()).collect()
    } else {
        groups
    };
    page(&ListPage {
        chrome: Chrome::new(&owner, "grants", t.title, "/dashboard/grants"),
        t,
        b: budget_texts(lang),
        rt: recordform::texts(lang),
        notice,
        groups,
        pager,
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
