//! The contact page: per business, how often it tried to reach the owner, how often that was
//! allowed, and how often it was refused against the owner's wishes, by reason, in words (the
//! store's contact report over the dashboard's log index).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use kluis_core::contact::Reason;
use kluis_store::BusinessContacts;

use super::error::PageError;
use super::i18n::Lang;
use super::logview::LogView;
use super::render::{Chrome, date_time, page};
use super::session::SignedIn;
use super::{Dashboard, grants::shared::fill};

pub fn router() -> Router<Dashboard> {
    Router::new().route("/dashboard/contact", get(report))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub none: &'static str,
    pub attempts: &'static str,
    pub against: &'static str,
    pub none_against: &'static str,
    pub other: &'static str,
    pub last: &'static str,
}

const EN: Texts = Texts {
    title: "Contact",
    intro: "How often each business tried to reach you, and how often your vault turned it away because it went against your wishes.",
    none: "No business has tried to contact you.",
    attempts: "Attempts to contact you: {n}, of which allowed: {allowed}.",
    against: "Against your wishes: {n}.",
    none_against: "Never against your wishes.",
    other: "{n} more refused because its grant did not hold (revoked, expired or a bad token).",
    last: "Last attempt: {when} (UTC).",
};

const NL: Texts = Texts {
    title: "Contact",
    intro: "Hoe vaak elk bedrijf u probeerde te bereiken, en hoe vaak uw kluis het tegenhield omdat het tegen uw wensen inging.",
    none: "Geen bedrijf heeft geprobeerd contact met u op te nemen.",
    attempts: "Pogingen om u te bereiken: {n}, waarvan toegestaan: {allowed}.",
    against: "Tegen uw wensen in: {n}.",
    none_against: "Nooit tegen uw wensen in.",
    other: "Nog {n} geweigerd omdat de toegang niet (meer) gold (ingetrokken, verlopen of een ongeldig token).",
    last: "Laatste poging: {when} (UTC).",
};

fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

/// A refusal reason in words.
pub fn reason_words(lang: Lang, reason: Reason) -> &'static str {
    let (en, nl) = match reason {
        Reason::NoContactRight => (
            "outside the contact right you gave",
            "buiten het contactrecht dat u gaf",
        ),
        Reason::DoNotContact => (
            "you asked not to be contacted",
            "u wilt niet benaderd worden",
        ),
        Reason::ChannelOff => ("a channel you turned off", "een kanaal dat u uitzette"),
        Reason::TopicBlocked => ("a topic you blocked", "een onderwerp dat u blokkeerde"),
        Reason::TopicNotChosen => (
            "a topic you did not choose",
            "een onderwerp dat u niet koos",
        ),
        Reason::CapReached => ("more often than you allow", "vaker dan u toestaat"),
        Reason::QuietHours => ("in your quiet hours", "in uw stille uren"),
    };
    lang.pick(en, nl)
}

/// One business's card, all text (escaped by the template).
struct Line {
    business: String,
    attempts: String,
    against: String,
    reasons: Vec<String>,
    other: Option<String>,
    last: String,
}

#[derive(Template)]
#[template(path = "dashboard/contact.html")]
struct ReportPage {
    chrome: Chrome,
    t: &'static Texts,
    lines: Vec<Line>,
}

fn line(lang: Lang, b: &BusinessContacts) -> Line {
    let t = texts(lang);
    let against = b.against_wishes();
    Line {
        business: b.business.to_string(),
        attempts: fill(
            t.attempts,
            &[
                ("n", &b.attempts().to_string()),
                ("allowed", &b.allowed.to_string()),
            ],
        ),
        against: if against == 0 {
            t.none_against.to_owned()
        } else {
            fill(t.against, &[("n", &against.to_string())])
        },
        reasons: b
            .refused_by_reason()
            .map(|(reason, n)| format!("{n} × {}", reason_words(lang, reason)))
            .collect(),
        other: (b.refused_other > 0).then(|| fill(t.other, &[("n", &b.refused_other.to_string())])),
        last: fill(
            t.last,
            &[("when", &date_time(lang, b.last_attempt_ms.div_euclid(1000)))],
        ),
    }
}

async fn report(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let view = LogView::of(&dashboard);
    let report = dashboard
        .with_owner(move |v| view.with(v, |index| index.contact_report(v, None)))
        .await?;
    page(&ReportPage {
        chrome: Chrome::new(&owner, "contact", t.title, "/dashboard/contact"),
        t,
        lines: report.businesses.iter().map(|b| line(lang, b)).collect(),
    })
}
