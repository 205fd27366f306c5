//! Removing the access log's oldest entries (`kluis log prune` on the dashboard): a date, and the
//! passphrase to confirm, since what is removed cannot be brought back. The store keeps a
//! checkpoint so that the rest still verifies (docs/access-log.md#pruning).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use kluis_store::{Passphrase, Via, unix_now_ms};
use serde::Deserialize;

use super::Dashboard;
use super::error::PageError;
use super::log::filter::{DAY_MS, format_day, parse_day};
use super::render::{Chrome, page, page_with, see_other};
use super::session::{Posted, SignedIn};

const PATH: &str = "/dashboard/log/prune";

pub fn router() -> Router<Dashboard> {
    Router::new().route(PATH, get(show).post(prune))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub before: &'static str,
    pub before_hint: &'static str,
    pub passphrase: &'static str,
    pub submit: &'static str,
    pub removed: &'static str,
    pub nothing: &'static str,
    pub not_a_date: &'static str,
    pub future: &'static str,
    pub wrong: &'static str,
    pub back: &'static str,
}

const EN: Texts = Texts {
    title: "Remove older log entries",
    intro: "The access log keeps every call and every action of yours, and only grows. You can remove the entries before a date; they cannot be brought back. What is left can still be checked: a checkpoint in the log proves that nothing after it was changed. Make a backup first (kluis backup) if you may need them.",
    before: "Remove entries before",
    before_hint: "A date (UTC). Appends are removed whole: an entry before it can stay with newer ones written together with it.",
    passphrase: "Passphrase",
    submit: "Remove entries before this date",
    removed: "Older entries were removed. The log is checked from the checkpoint on.",
    nothing: "No entry is that old; nothing was removed.",
    not_a_date: "Give a date as YYYY-MM-DD; nothing was removed.",
    future: "This date is not in the past; nothing was removed.",
    wrong: "This is not the passphrase; nothing was removed.",
    back: "Back to the access log",
};

const NL: Texts = Texts {
    title: "Oudere logregels verwijderen",
    intro: "De inzagelog bewaart elke oproep en elke handeling van u, en groeit alleen. U kunt de regels van vóór een datum verwijderen; ze zijn daarna niet terug te halen. Wat overblijft is nog steeds te controleren: een controlepunt in de log bewijst dat daarna niets is veranderd. Maak eerst een reservekopie (kluis backup) als u ze nog nodig kunt hebben.",
    before: "Regels verwijderen van vóór",
    before_hint: "Een datum (UTC). Schrijfbeurten gaan in hun geheel: een oudere regel kan blijven staan met nieuwere die tegelijk zijn geschreven.",
    passphrase: "Wachtzin",
    submit: "Regels van vóór deze datum verwijderen",
    removed: "Oudere regels zijn verwijderd. De log wordt vanaf het controlepunt gecontroleerd.",
    nothing: "Geen regel is zo oud; er is niets verwijderd.",
    not_a_date: "Geef een datum als JJJJ-MM-DD; er is niets verwijderd.",
    future: "Deze datum ligt niet in het verleden; er is niets verwijderd.",
    wrong: "Dit is niet de wachtzin; er is niets verwijderd.",
    back: "Terug naar de inzagelog",
};

#[derive(Template)]
#[template(path = "dashboard/log_prune.html")]
struct PrunePage {
    chrome: Chrome,
    t: &'static Texts,
    /// What the last prune did, after the redirect.
    done: Option<&'static str>,
    before: String,
    before_error: Option<&'static str>,
    passphrase_error: Option<&'static str>,
}

#[derive(Deserialize)]
struct Shown {
    done: Option<String>,
}

async fn show(owner: SignedIn, Query(q): Query<Shown>) -> Result<Response, PageError> {
    let t = owner.lang.pick(&EN, &NL);
    page(&PrunePage {
        chrome: Chrome::new(&owner, "log", t.title, PATH),
        t,
        done: match q.done.as_deref() {
            Some("removed") => Some(t.removed),
            Some("nothing") => Some(t.nothing),
            _ => None,
        },
        before: String::new(),
        before_error: None,
        passphrase_error: None,
    })
}

async fn prune(State(dashboard): State<Dashboard>, posted: Posted) -> Result<Response, PageError> {
    let owner = posted.owner;
    let t = owner.lang.pick(&EN, &NL);
    let form = posted.form;
    let before = form.one("before").unwrap_or_default().trim().to_owned();
    let day = parse_day(&before);
    let before_error = match day {
        None => Some(t.not_a_date),
        Some(day) if day * DAY_MS > unix_now_ms() => Some(t.future),
        Some(_) => None,
    };
    let mut passphrase_error = None;
    if let (Some(day), None) = (day, before_error) {
        let passphrase = Passphrase::new(form.one("passphrase").unwrap_or_default());
        if dashboard.check_passphrase(passphrase).await?.is_none() {
            passphrase_error = Some(t.wrong);
        } else {
            let pruned = dashboard
                .with_owner(move |v| v.owner(Via::Dashboard).prune_log(day * DAY_MS))
                .await?;
            let done = if pruned.is_some() {
                "removed"
            } else {
                "nothing"
            };
            return Ok(see_other(&format!("{PATH}?done={done}")));
        }
    }
    page_with(
        StatusCode::BAD_REQUEST,
        &PrunePage {
            chrome: Chrome::new(&owner, "log", t.title, PATH),
            t,
            done: None,
            before: day.map(format_day).unwrap_or(before),
            before_error,
            passphrase_error,
        },
    )
}
