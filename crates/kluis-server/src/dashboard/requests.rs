//! The access requests page: what businesses asked for, waiting ones first, each with a form to
//! approve all or some of the fields asked (and for how long) and one to deny, with a reason.
//! Decided and lapsed requests follow with their outcome. The decisions themselves, and telling
//! the business at its callback URL, are in [`decide`].

mod decide;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kluis_core::wire::RequestStatus;
use kluis_store::{Decision, MAX_REASON_CHARS, StoredRequest, unix_now};

use super::error::PageError;
use super::grants::shared::{
    Choice, duration_words, expiry_choices, field_label, fill, query_value,
};
use super::i18n::Lang;
use super::render::{Chrome, date, date_time, page_with};
use super::session::SignedIn;
use super::{Dashboard, contactform, recordform, words};

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/requests", get(list))
        .route("/dashboard/requests/{id}/approve", post(decide::approve))
        .route("/dashboard/requests/{id}/deny", post(decide::deny))
}

pub struct Texts {
    pub title: &'static str,
    pub waiting: &'static str,
    pub none_waiting: &'static str,
    pub decided: &'static str,
    pub none_decided: &'static str,
    pub contact: &'static str,
    pub email: &'static str,
    pub address: &'static str,
    pub phone: &'static str,
    pub purpose: &'static str,
    pub category: &'static str,
    pub asks: &'static str,
    pub duration: &'static str,
    pub asked_on: &'static str,
    pub key: &'static str,
    pub callback: &'static str,
    pub lapses: &'static str,
    pub outcome: &'static str,
    pub share_legend: &'static str,
    pub expires: &'static str,
    pub approve: &'static str,
    pub reason: &'static str,
    pub reason_hint: &'static str,
    pub deny: &'static str,
    pub approved_outcome: &'static str,
    pub see_grant: &'static str,
    pub denied_outcome: &'static str,
    pub denied_because: &'static str,
    pub lapsed_outcome: &'static str,
    pub approved_notice: &'static str,
    pub denied_notice: &'static str,
    pub queued: &'static str,
    pub see_notifications: &'static str,
    pub no_fields: &'static str,
    pub reason_too_long: &'static str,
    pub not_saved: &'static str,
}

const EN: Texts = Texts {
    title: "Access requests",
    waiting: "Waiting for your decision",
    none_waiting: "No business is waiting for an answer.",
    decided: "Decided and lapsed",
    none_decided: "None yet.",
    contact: "Contact",
    email: "E-mail",
    address: "Postal address",
    phone: "Phone",
    purpose: "Purpose",
    category: "Purpose category",
    asks: "Asks to read",
    duration: "For",
    asked_on: "Asked on",
    key: "Its key (thumbprint)",
    callback: "Decision sent to",
    lapses: "Lapses",
    outcome: "Outcome",
    share_legend: "Fields to share",
    expires: "Expires after",
    approve: "Approve",
    reason: "Reason (optional)",
    reason_hint: "The business reads it. At most 500 characters.",
    deny: "Deny",
    approved_outcome: "Approved on {date}: it may read your {fields} until {until}.",
    see_grant: "See the grant",
    denied_outcome: "Denied on {date}.",
    denied_because: "Your reason: {reason}",
    lapsed_outcome: "Lapsed on {date} without a decision; the business can ask again.",
    approved_notice: "Approved: {business} may read your {fields} until {until}.",
    denied_notice: "Denied: {business} learns that you said no.",
    queued: "The decision is sent, signed, to the business's callback address {url}.",
    see_notifications: "The Notifications page shows when it arrives.",
    no_fields: "Tick at least one field to share, or deny the request.",
    reason_too_long: "A reason may be at most 500 characters.",
    not_saved: "Nothing was decided: correct the request marked below.",
};

const NL: Texts = Texts {
    title: "Verzoeken om toegang",
    waiting: "Wacht op uw besluit",
    none_waiting: "Geen bedrijf wacht op een antwoord.",
    decided: "Besloten en verlopen",
    none_decided: "Nog geen.",
    contact: "Contact",
    email: "E-mail",
    address: "Postadres",
    phone: "Telefoon",
    purpose: "Doel",
    category: "Soort doel",
    asks: "Vraagt te lezen",
    duration: "Voor",
    asked_on: "Gevraagd op",
    key: "Zijn sleutel (vingerafdruk)",
    callback: "Besluit gaat naar",
    lapses: "Vervalt",
    outcome: "Uitkomst",
    share_legend: "Velden om te delen",
    expires: "Verloopt na",
    approve: "Goedkeuren",
    reason: "Reden (optioneel)",
    reason_hint: "Het bedrijf leest hem. Hoogstens 500 tekens.",
    deny: "Weigeren",
    approved_outcome: "Goedgekeurd op {date}: het mag uw {fields} lezen tot {until}.",
    see_grant: "Naar de toegang",
    denied_outcome: "Geweigerd op {date}.",
    denied_because: "Uw reden: {reason}",
    lapsed_outcome: "Vervallen op {date} zonder besluit; het bedrijf kan opnieuw vragen.",
    approved_notice: "Goedgekeurd: {business} mag uw {fields} lezen tot {until}.",
    denied_notice: "Geweigerd: {business} hoort dat u nee zei.",
    queued: "Het besluit gaat, ondertekend, naar het terugmeldadres van het bedrijf: {url}.",
    see_notifications: "De pagina Meldingen toont wanneer het aankomt.",
    no_fields: "Vink ten minste één veld aan om te delen, of weiger het verzoek.",
    reason_too_long: "Een reden is hoogstens 500 tekens.",
    not_saved: "Er is niets besloten: verbeter het gemarkeerde verzoek hieronder.",
};

const _: () = assert!(MAX_REASON_CHARS == 500, "the texts name the bound");

fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

/// A field asked for, as a checkbox.
struct Check {
    id: String,
    pointer: String,
    label: String,
    checked: bool,
}

/// One request as its card shows it.
struct Card {
    id: String,
    name: String,
    business_id: String,
    contact: Option<String>,
    email: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    purpose: String,
    category: Option<String>,
    fields: String,
    pointers: String,
    duration: String,
    asked_on: String,
    key: String,
    callback: Option<String>,
    lapses: String,
    pending: bool,
    checks: Vec<Check>,
    /// The contact right asked for, in words, and a checkbox per channel and topic of it.
    contact_right: Option<String>,
    contact_checks: Vec<Check>,
    ct: &'static contactform::Texts,
    /// Whether it asks to add to its relationship record, and whether that box is ticked.
    append_asked: bool,
    append_checked: bool,
    rt: &'static recordform::Texts,
    expiry: Vec<Choice>,
    reason: String,
    /// Decided or lapsed: what happened, the owner's reason, and the grant it made.
    outcome: Option<String>,
    because: Option<String>,
    grant: Option<String>,
    errors: Problem,
}

/// What was wrong with a decision posted on one request, and what was posted, to show again.
#[derive(Default)]
pub struct Problem {
    pub fields: Option<String>,
    pub expires: Option<String>,
    pub reason: Option<String>,
    pub ticked: Option<Vec<String>>,
    /// The contact channels and topics left ticked (`None`: as asked), and whether the whole
    /// right was refused.
    pub contact_ticked: Option<Vec<String>>,
    pub no_contact: bool,
    /// Whether the right to add to its record was left ticked (`None`: as asked).
    pub append_ticked: Option<bool>,
    pub chosen: Option<String>,
    pub reason_text: Option<String>,
}

/// A status message; `notifications` is the text of a link to the Notifications page.
pub struct Notice {
    pub text: String,
    pub notifications: Option<&'static str>,
}

struct Group {
    id: &'static str,
    heading: &'static str,
    empty: &'static str,
    cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "dashboard/requests.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    /// Status messages after a decision.
    notices: Vec<Notice>,
    error: Option<String>,
    groups: Vec<Group>,
}

fn card(lang: Lang, r: &StoredRequest, problem: Option<Problem>) -> Card {
    let t = texts(lang);
    let asked = &r.request;
    let id = r.id.to_string();
    let problem = problem.unwrap_or_default();
    let checks = asked
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let pointer = f.to_string();
            Check {
                id: format!("{id}-field-{i}"),
                checked: problem
                    .ticked
                    .as_ref()
                    .is_none_or(|ticked| ticked.contains(&pointer)),
                label: field_label(lang, f),
                pointer,
            }
        })
        .collect();
    let ticked = |value: &str| {
        !problem.no_contact
            && problem
                .contact_ticked
                .as_ref()
                .is_none_or(|t| t.iter().any(|v| v == value))
    };
    let contact_checks: Vec<Check> = asked
        .contact
        .iter()
        .flat_map(|right| {
            let channels = right.channels.iter().map(|c| {
                (
                    format!("{id}-contact-channel-{c}"),
                    format!("channel:{c}"),
                    words::channel(lang, c),
                )
            });
            let topics = right.topics.iter().enumerate().map(|(i, topic)| {
                (
                    format!("{id}-contact-topic-{i}"),
                    format!("topic:{topic}"),
                    topic.clone(),
                )
            });
            channels.chain(topics).collect::<Vec<_>>()
        })
        .map(|(check_id, value, label)| Check {
            id: check_id,
            checked: ticked(&value),
            pointer: value,
            label,
        })
        .collect();
    let chosen = problem
        .chosen
        .clone()
        .unwrap_or_else(|| format!("{}s", asked.duration_secs));
    let (outcome, because, grant) = match (&r.decision, r.status) {
        (
            Some(Decision::Approved {
                grant_id,
                fields,
                expires_at,
                ..
            }),
            _,
        ) => (
            Some(fill(
                t.approved_outcome,
                &[
                    ("date", &date(lang, r.decided_at.unwrap_or(r.created_at))),
                    ("fields", &words::fields(lang, fields)),
                    ("until", &date(lang, *expires_at)),
                ],
            )),
            None,
            Some(grant_id.to_string()),
        ),
        (Some(Decision::Denied { reason }), _) => (
            Some(fill(
                t.denied_outcome,
                &[("date", &date(lang, r.decided_at.unwrap_or(r.created_at)))],
            )),
            reason
                .as_deref()
                .map(|reason| fill(t.denied_because, &[("reason", reason)])),
            None,
        ),
        (None, RequestStatus::Expired) => (
            Some(fill(
                t.lapsed_outcome,
                &[("date", &date(lang, r.expires_at))],
            )),
            None,
            None,
        ),
        (None, _) => (None, None, None),
    };
    Card {
        name: asked.business.name.clone(),
        business_id: asked.business.id.to_string(),
        contact: asked.business.contact.clone(),
        email: asked.business.email.clone(),
        address: asked.business.address.clone(),
        phone: asked.business.phone.clone(),
        purpose: asked.purpose.clone(),
        category: asked.purpose_category.clone(),
        fields: words::fields(lang, &asked.fields),
        pointers: asked.fields_text().join(", "),
        duration: duration_words(lang, asked.duration_secs),
        asked_on: date_time(lang, r.created_at),
        key: asked.key_thumbprint.clone(),
        callback: asked.callback_url.clone(),
        lapses: date_time(lang, r.expires_at),
        pending: r.status == RequestStatus::Pending,
        checks,
        contact_right: asked
            .contact
            .as_ref()
            .map(|right| contactform::right_words(lang, right)),
        contact_checks,
        ct: contactform::texts(lang),
        append_asked: asked.append_record,
        append_checked: problem.append_ticked.unwrap_or(true),
        rt: recordform::texts(lang),
        expiry: expiry_choices(lang, &chosen, Some(asked.duration_secs)),
        reason: problem.reason_text.clone().unwrap_or_default(),
        outcome,
        because,
        grant,
        errors: problem,
        id,
    }
}

async fn list(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let mut notices = Vec::new();
    let decided = query_value(query.as_deref(), "approved")
        .map(|id| (id, t.approved_notice))
        .or_else(|| query_value(query.as_deref(), "denied").map(|id| (id, t.denied_notice)));
    let requests = dashboard
        .with_owner(move |v| v.access_requests(unix_now()))
        .await?;
    if let Some((id, template)) = decided
        && let Some(r) = requests.iter().find(|r| r.id.as_str() == id)
    {
        let (fields, until) = match &r.decision {
            Some(Decision::Approved {
                fields, expires_at, ..
            }) => (words::fields(lang, fields), date(lang, *expires_at)),
            _ => (String::new(), String::new()),
        };
        let business = format!("{} ({})", r.request.business.name, r.request.business.id);
        let decided = fill(
            template,
            &[
                ("business", &business),
                ("fields", &fields),
                ("until", &until),
            ],
        );
        notices.push(Notice {
            text: decided,
            notifications: None,
        });
        // The decision is in the outbox: this server's dispatcher sends it, signed.
        if let Some(url) = &r.request.callback_url {
            notices.push(Notice {
                text: fill(t.queued, &[("url", url)]),
                notifications: Some(t.see_notifications),
            });
        }
    }
    render(owner, StatusCode::OK, requests, notices, None, None)
}

/// The page over `requests`, `problem` shown on the card of the request it concerns.
fn render(
    owner: SignedIn,
    status: StatusCode,
    requests: Vec<StoredRequest>,
    notices: Vec<Notice>,
    error: Option<String>,
    mut problem: Option<(String, Problem)>,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let (mut waiting, mut done) = (Vec::new(), Vec::new());
    for r in &requests {
        let mine = problem
            .take_if(|(id, _)| id == r.id.as_str())
            .map(|(_, p)| p);
        let card = card(lang, r, mine);
        if card.pending {
            waiting.push(card);
        } else {
            done.push(card);
        }
    }
    let groups = vec![
        Group {
            id: "waiting",
            heading: t.waiting,
            empty: t.none_waiting,
            cards: waiting,
        },
        Group {
            id: "decided",
            heading: t.decided,
            empty: t.none_decided,
            cards: done,
        },
    ];
    page_with(
        status,
        &ListPage {
            chrome: Chrome::new(&owner, "requests", t.title, "/dashboard/requests"),
            t,
            notices,
            error,
            groups,
        },
    )
}
