//! Changing the vault's passphrase (`kluis passwd` on the dashboard): the current one first, then
//! a new one that the strength estimator accepts, typed twice. The data key is re-wrapped; no
//! data is re-encrypted, and the session stays.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use kluis_store::{KdfParams, Passphrase, Via};
use serde::Deserialize;

use super::Dashboard;
use super::error::PageError;
use super::render::{Chrome, page, page_with, see_other};
use super::session::{Posted, SignedIn};

pub fn router() -> Router<Dashboard> {
    Router::new().route("/dashboard/passphrase", get(show).post(change))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub current: &'static str,
    pub new: &'static str,
    pub new_hint: &'static str,
    pub repeat: &'static str,
    pub submit: &'static str,
    pub changed: &'static str,
    pub wrong_current: &'static str,
    pub mismatch: &'static str,
}

const EN: Texts = Texts {
    title: "Passphrase",
    intro: "The passphrase unlocks your vault and signs you in here. Changing it does not change your data or the grants you gave.",
    current: "Current passphrase",
    new: "New passphrase",
    new_hint: "Four or more unrelated words make a strong one.",
    repeat: "New passphrase again",
    submit: "Change the passphrase",
    changed: "The passphrase is changed. Use the new one from now on.",
    wrong_current: "This is not the current passphrase; nothing was changed.",
    mismatch: "The two new passphrases differ; nothing was changed.",
};

const NL: Texts = Texts {
    title: "Wachtzin",
    intro: "De wachtzin opent uw kluis en meldt u hier aan. Hem wijzigen verandert niets aan uw gegevens of aan de toegang die u gaf.",
    current: "Huidige wachtzin",
    new: "Nieuwe wachtzin",
    new_hint: "Vier of meer losse woorden maken een sterke wachtzin.",
    repeat: "Nieuwe wachtzin nogmaals",
    submit: "Wachtzin wijzigen",
    changed: "De wachtzin is gewijzigd. Gebruik voortaan de nieuwe.",
    wrong_current: "Dit is niet de huidige wachtzin; er is niets gewijzigd.",
    mismatch: "De twee nieuwe wachtzinnen verschillen; er is niets gewijzigd.",
};

#[derive(Template)]
#[template(path = "dashboard/passphrase.html")]
struct PassphrasePage {
    chrome: Chrome,
    t: &'static Texts,
    changed: bool,
    current_error: Option<String>,
    new_error: Option<String>,
}

#[derive(Deserialize)]
struct Shown {
    changed: Option<String>,
}

async fn show(owner: SignedIn, Query(q): Query<Shown>) -> Result<Response, PageError> {
    let t = owner.lang.pick(&EN, &NL);
    page(&PassphrasePage {
        chrome: Chrome::new(&owner, "passphrase", t.title, "/dashboard/passphrase"),
        t,
        changed: q.changed.is_some(),
        current_error: None,
        new_error: None,
    })
}

/// What went wrong, for the field it belongs to.
enum Refusal {
    Current,
    New(String),
}

async fn change(State(dashboard): State<Dashboard>, posted: Posted) -> Result<Response, PageError> {
    let owner = posted.owner;
    let t = owner.lang.pick(&EN, &NL);
    let form = posted.form;
    let current = Passphrase::new(form.one("current").unwrap_or_default());
    let new = Passphrase::new(form.one("new").unwrap_or_default());
    let refusal = if form.one("new") != form.one("repeat") {
        Some(Refusal::New(t.mismatch.to_owned()))
    } else if let Err(weak) = new.check_new() {
        Some(Refusal::New(weak.to_string()))
    } else {
        if dashboard.check_passphrase(current).await?.is_some() {
            dashboard
                .with_owner(move |v| {
                    v.owner(Via::Dashboard)
                        .change_passphrase(&new, KdfParams::OWASP_MINIMUM)
                })
                .await?;
            None
        } else {
            Some(Refusal::Current)
        }
    };
    let Some(refusal) = refusal else {
        return Ok(see_other("/dashboard/passphrase?changed=1"));
    };
    let (current_error, new_error) = match refusal {
        Refusal::Current => (Some(t.wrong_current.to_owned()), None),
        Refusal::New(why) => (None, Some(why)),
    };
    page_with(
        StatusCode::BAD_REQUEST,
        &PassphrasePage {
            chrome: Chrome::new(&owner, "passphrase", t.title, "/dashboard/passphrase"),
            t,
            changed: false,
            current_error,
            new_error,
        },
    )
}
