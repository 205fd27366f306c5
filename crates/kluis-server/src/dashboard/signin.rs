//! Signing in with the vault's passphrase and out again, and the language switch.
//!
//! The Argon2id check runs on a blocking thread, at most two at once ([`super::Inner`]'s
//! `sign_in_slots`), so a flood of sign-ins cannot starve the grant API; failures make later
//! tries wait longer ([`super::throttle`]). Every failure gets the same words, and every
//! sign-in, failure and sign-out is an owner event in the access log.

use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kluis_core::access::{Action, Outcome};
use kluis_store::{Event, Passphrase, Via};
use serde::Deserialize;

use super::error::PageError;
use super::i18n::Lang;
use super::render::{page_with, see_other};
use super::session::{self, ClientAddr, Posted, SameOrigin};
use super::{BASE, Dashboard};

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard", get(|| async { see_other("/dashboard/") }))
        .route("/dashboard/sign-in", get(sign_in_page).post(sign_in))
        .route("/dashboard/sign-out", axum::routing::post(sign_out))
        .route("/dashboard/lang/{code}", get(switch_language))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub passphrase: &'static str,
    pub submit: &'static str,
    pub failed: &'static str,
    pub signed_out: &'static str,
    pub other_language: &'static str,
}

const EN: Texts = Texts {
    title: "Sign in to your vault",
    intro: "Your vault holds your profile and decides who may read it. Sign in with the passphrase that unlocks it.",
    passphrase: "Passphrase",
    submit: "Sign in",
    failed: "Sign-in failed. Check the passphrase and try again; after several failed tries you must wait a little longer before each new try.",
    signed_out: "You are signed out.",
    other_language: "Nederlands",
};

const NL: Texts = Texts {
    title: "Aanmelden bij uw kluis",
    intro: "Uw kluis bewaart uw profiel en bepaalt wie het mag lezen. Meld u aan met de wachtzin die haar opent.",
    passphrase: "Wachtzin",
    submit: "Aanmelden",
    failed: "Aanmelden is mislukt. Controleer de wachtzin en probeer het opnieuw; na enkele mislukte pogingen moet u telkens iets langer wachten.",
    signed_out: "U bent afgemeld.",
    other_language: "English",
};

#[derive(Template)]
#[template(path = "dashboard/signin.html")]
struct SignInPage {
    t: &'static Texts,
    lang: Lang,
    error: Option<&'static str>,
    signed_out: bool,
    switch_href: String,
}

impl SignInPage {
    fn new(lang: Lang, error: bool, signed_out: bool) -> Self {
        let t = lang.pick(&EN, &NL);
        Self {
            t,
            lang,
            error: error.then_some(t.failed),
            signed_out,
            switch_href: format!(
                "{BASE}/lang/{}?back=/dashboard/sign-in",
                lang.other().code()
            ),
        }
    }
}

#[derive(Deserialize)]
struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

async fn sign_in_page(
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, PageError> {
    let page = SignInPage::new(Lang::of(&headers), false, q.signed_out.is_some());
    page_with(StatusCode::OK, &page)
}

async fn sign_in(
    State(dashboard): State<Dashboard>,
    ClientAddr(client): ClientAddr,
    posted: SameOrigin,
) -> Result<Response, PageError> {
    let lang = posted.lang;
    let failed = || {
        page_with(
            StatusCode::UNAUTHORIZED,
            &SignInPage::new(lang, true, false),
        )
    };
    let taken = dashboard
        .0
        .throttle
        .lock()
        .map_err(|_| PageError::internal("throttle lock poisoned"))?
        .attempt(client, Instant::now());
    if taken.is_err() {
        return failed();
    }
    let passphrase = Passphrase::new(posted.form.one("passphrase").unwrap_or_default());
    let checked = dashboard.check_passphrase(passphrase).await?;
    let right = checked.is_some();
    let from = format!("from {client}");
    dashboard
        .with_owner(move |v| {
            let (action, event) = if right {
                (
                    Action::SignIn,
                    Event {
                        reason: Some(from),
                        ..Event::default()
                    },
                )
            } else {
                (
                    Action::SignInFailed,
                    Event {
                        reason: Some(format!("wrong passphrase {from}")),
                        outcome: Some(Outcome::Refused),
                        ..Event::default()
                    },
                )
            };
            v.owner(Via::Dashboard).record(action, event)
        })
        .await?;
    // A wrong one was counted when its try was taken.
    let Some(weakness) = checked else {
        return failed();
    };
    dashboard
        .0
        .throttle
        .lock()
        .map_err(|_| PageError::internal("throttle lock poisoned"))?
        .succeeded(client);
    let (id, _) = dashboard
        .0
        .sessions
        .start(Instant::now(), weakness.is_some())?;
    let mut response = see_other("/dashboard/");
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::cookie(&id, dashboard.0.secure_cookies)
            .parse()
            .map_err(PageError::internal)?,
    );
    Ok(response)
}

async fn sign_out(
    State(dashboard): State<Dashboard>,
    posted: Posted,
) -> Result<Response, PageError> {
    dashboard.0.sessions.end(&posted.owner.session);
    dashboard
        .with_owner(|v| {
            v.owner(Via::Dashboard)
                .record(Action::SignOut, Event::default())
        })
        .await?;
    let mut response = see_other("/dashboard/sign-in?signed_out=1");
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::cookie_cleared(dashboard.0.secure_cookies)
            .parse()
            .map_err(PageError::internal)?,
    );
    Ok(response)
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// Remembers the language and goes back to the page it was chosen on (only a dashboard page).
async fn switch_language(
    Path(code): Path<String>,
    Query(q): Query<Back>,
) -> Result<Response, PageError> {
    let lang = Lang::parse(&code).ok_or_else(|| PageError::NotFound("no such language".into()))?;
    let back = q
        .back
        .filter(|b| {
            b.starts_with("/dashboard/") && !b.starts_with("//") && !b.contains(['\r', '\n'])
        })
        .unwrap_or_else(|| "/dashboard/".into());
    let mut response = see_other(&back).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        lang.cookie().parse().map_err(PageError::internal)?,
    );
    Ok(response)
}
