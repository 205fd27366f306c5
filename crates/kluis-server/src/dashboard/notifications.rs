//! The notifications page: for each recent change, which businesses were told of it, of what
//! (the fields named, never a value) and whether it arrived, in words ([`told`]); above it the
//! subscriptions that stopped, with a button to send their failed notifications again (the
//! store's [`kluis_store::Owner::replay_dead`], as `kluis notifications replay` does).

mod told;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::{get, post};
use kluis_core::notify::is_subscription_id;
use kluis_core::request::RequestId;
use kluis_store::{Deliveries, NotificationsView, StreamState, Via};

use self::told::{ChangeCard, StoppedCard, change_card, stopped_card};
use super::Dashboard;
use super::error::PageError;
use super::grants::shared::{fill, query_value};
use super::i18n::Lang;
use super::render::{Chrome, page, see_other};
use super::session::{Posted, SignedIn};

/// Changes shown at most; `kluis notifications --limit` lists more.
const CHANGES: usize = 50;

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/notifications", get(list))
        .route("/dashboard/notifications/replay", post(replay))
        .route("/dashboard/notifications/replay-all", post(replay_all))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub stopped: &'static str,
    pub stopped_intro: &'static str,
    pub send_again: &'static str,
    pub send_all_again: &'static str,
    pub changes: &'static str,
    pub none: &'static str,
    pub more: &'static str,
    pub replayed_none: &'static str,
    pub replayed_one: &'static str,
    pub replayed_many: &'static str,
    pub not_a_stream: &'static str,
}

const EN: Texts = Texts {
    title: "Notifications",
    intro: "A business with a grant can ask to be told when the fields it may read change; one that asked for access with a callback address is sent your decision. Here is what each business was told, and whether it arrived. A notification names only fields its grant covers.",
    stopped: "Stopped",
    stopped_intro: "Nothing more is sent to these until you send their failed notifications again.",
    send_again: "Send again",
    send_all_again: "Send all failed notifications again",
    changes: "What businesses were told",
    none: "No business has been sent a notification yet.",
    more: "Older changes are not shown here; `kluis notifications --limit N` lists more.",
    replayed_none: "There were no failed notifications to send again.",
    replayed_one: "1 notification will be sent again.",
    replayed_many: "{n} notifications will be sent again.",
    not_a_stream: "There is no such subscription.",
};

const NL: Texts = Texts {
    title: "Meldingen",
    intro: "Een bedrijf met toegang kan vragen om bericht als de velden die het mag lezen veranderen; een bedrijf dat toegang vroeg met een terugmeldadres krijgt uw besluit. Hier ziet u wat elk bedrijf is gemeld, en of het aankwam. Een melding noemt alleen velden waartoe het bedrijf toegang heeft.",
    stopped: "Gestopt",
    stopped_intro: "Hierheen gaat niets meer tot u de mislukte meldingen opnieuw verzendt.",
    send_again: "Opnieuw verzenden",
    send_all_again: "Alle mislukte meldingen opnieuw verzenden",
    changes: "Wat bedrijven is gemeld",
    none: "Er is nog geen melding naar een bedrijf gestuurd.",
    more: "Oudere wijzigingen staan hier niet; `kluis notifications --limit N` toont er meer.",
    replayed_none: "Er waren geen mislukte meldingen om opnieuw te verzenden.",
    replayed_one: "1 melding wordt opnieuw verzonden.",
    replayed_many: "{n} meldingen worden opnieuw verzonden.",
    not_a_stream: "Dat abonnement bestaat niet.",
};

fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

#[derive(Template)]
#[template(path = "dashboard/notifications.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    notice: Option<String>,
    stopped: Vec<StoppedCard>,
    any_paused: bool,
    changes: Vec<ChangeCard>,
    more: bool,
}

/// The owner's view, read on the owner's connection with a connection to `deliveries.db`.
async fn view(dashboard: &Dashboard) -> Result<NotificationsView, PageError> {
    let dir = dashboard.0.dir.clone();
    dashboard
        .with_owner(move |v| v.notifications(&Deliveries::open(&dir)?, CHANGES))
        .await
}

async fn list(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let notice = query_value(query.as_deref(), "replayed")
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| match n {
            0 => t.replayed_none.to_owned(),
            1 => t.replayed_one.to_owned(),
            n => fill(t.replayed_many, &[("n", &n.to_string())]),
        });
    let view = view(&dashboard).await?;
    page(&ListPage {
        chrome: Chrome::new(&owner, "notifications", t.title, "/dashboard/notifications"),
        t,
        notice,
        any_paused: view
            .halted
            .iter()
            .any(|h| h.status.state == StreamState::Paused),
        stopped: view.halted.iter().map(|h| stopped_card(lang, h)).collect(),
        changes: view.changes.iter().map(|c| change_card(lang, c)).collect(),
        more: view.more,
    })
}

/// Sends the dead notifications of `stream` (all with `None`) again; the dispatcher of this
/// server picks them up (woken by [`Dashboard::with_owner`]).
async fn send_again(dashboard: &Dashboard, stream: Option<String>) -> Result<Response, PageError> {
    let dir = dashboard.0.dir.clone();
    let replayed = dashboard
        .with_owner(move |v| {
            let mut deliveries = Deliveries::open(&dir)?;
            v.owner(Via::Dashboard)
                .replay_dead(&mut deliveries, stream.as_deref())
        })
        .await?;
    Ok(see_other(&format!(
        "/dashboard/notifications?replayed={replayed}"
    )))
}

#[tracing::instrument(skip_all)]
async fn replay(State(dashboard): State<Dashboard>, posted: Posted) -> Result<Response, PageError> {
    let stream = posted
        .form
        .text("stream")
        .filter(|s| is_subscription_id(s) || RequestId::parse(s).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| PageError::NotFound(texts(posted.owner.lang).not_a_stream.to_owned()))?;
    send_again(&dashboard, Some(stream)).await
}

#[tracing::instrument(skip_all)]
async fn replay_all(
    State(dashboard): State<Dashboard>,
    _posted: Posted,
) -> Result<Response, PageError> {
    send_again(&dashboard, None).await
}
