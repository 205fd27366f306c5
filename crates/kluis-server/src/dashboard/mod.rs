//! The owner's dashboard: server-rendered pages on the same listener as the grant API, under
//! `/dashboard/`. Its own session (cookie, server-side, CSRF-bound), its own HTML errors and
//! templates; every action goes through the store's owner layer ([`kluis_store::Owner`]), as
//! the `kluis` command's do, so both leave the same records.
//!
//! Pages are in one module each (overview, profile, grants, requests, log, notifications,
//! receipts, contact, inbox, relationships, passphrase); each has its `router()`, merged in [`router`].

mod assets;
mod contact;
mod contactform;
mod error;
mod form;
mod grants;
mod i18n;
mod inbox;
mod log;
mod logprune;
mod logview;
mod notifications;
mod overview;
mod passphrase;
mod profile;
mod receipts;
mod recordform;
mod relationships;
mod render;
mod requests;
mod session;
mod signin;
mod throttle;
mod words;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use kluis_store::{StoreError, Unlocked, Vault};

use crate::state::AppState;

pub use error::PageError;

/// Where the dashboard lives; its cookies are scoped to it.
pub const BASE: &str = "/dashboard";

/// Everything the dashboard's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct Dashboard(Arc<Inner>);

struct Inner {
    app: AppState,
    /// For connections of their own: a passphrase check (Argon2id, slow by design) must not
    /// hold the owner's connection meanwhile.
    dir: PathBuf,
    unlocked: Unlocked,
    /// The owner's connection: every dashboard action and read runs on it, on a blocking
    /// thread, one at a time (the grant API has its own connections).
    owner: Mutex<Vault>,
    /// The owner's connection to `inbox.db`, opened on first use ([`inbox`]); taken after
    /// `owner` when both are needed, never before.
    inbox: Mutex<Option<kluis_store::Inbox>>,
    /// The owner's connection to `relationships.db`, opened on first use ([`relationships`]);
    /// taken after `owner` when both are needed, never before.
    relationships: Mutex<Option<kluis_store::Relationships>>,
    /// The key of the calendar feeds' keys ([`session::Sessions::feed_key`]), drawn at start.
    feed_secret: zeroize::Zeroizing<[u8; 32]>,
    sessions: session::Sessions,
    log: logview::LogView,
    grants: logview::GrantsCache,
    throttle: Mutex<throttle::Throttle>,
    /// Argon2id checks at once: two, so a flood of sign-ins cannot starve the grant API.
    sign_in_slots: tokio::sync::Semaphore,
    /// Cookies carry `Secure` (the dashboard is reached over https, through a proxy).
    secure_cookies: bool,
}

/// Why the dashboard is not served on a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotServed(pub String);

impl Dashboard {
    /// The dashboard for the vault in `dir`, over the grant API's `app` state.
    pub fn open(dir: &Path, unlocked: &Unlocked, app: AppState) -> Result<Self, StoreError> {
        let owner = Vault::connect(dir, unlocked)?;
        let secure_cookies = app
            .public_url()
            .is_some_and(|url| url.starts_with("https://"));
        let mut feed_secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut feed_secret[..])
            .map_err(|_| StoreError::Crypto("no randomness for the calendar feed's key"))?;
        Ok(Self(Arc::new(Inner {
            app,
            dir: dir.to_path_buf(),
            unlocked: unlocked.clone(),
            owner: Mutex::new(owner),
            inbox: Mutex::new(None),
            relationships: Mutex::new(None),
            feed_secret,
            sessions: session::Sessions::default(),
            log: logview::LogView::default(),
            grants: logview::GrantsCache::default(),
            throttle: Mutex::default(),
            sign_in_slots: tokio::sync::Semaphore::new(2),
            secure_cookies,
        })))
    }

    /// Whether the dashboard may be served on `listen`: the passphrase must never cross a
    /// network in the clear, so off loopback only behind https (`public_url`).
    pub fn may_serve(listen: SocketAddr, public_url: Option<&str>) -> Result<(), NotServed> {
        if listen.ip().is_loopback() || public_url.is_some_and(|u| u.starts_with("https://")) {
            return Ok(());
        }
        Err(NotServed(format!(
            "the dashboard is not served on {listen}: its sign-in would send the passphrase over the network in the clear; \
             put a TLS proxy in front and pass --public-url https://…, or listen on 127.0.0.1"
        )))
    }

    pub(crate) fn app(&self) -> &AppState {
        &self.0.app
    }

    /// Checks `passphrase` against the vault's key record on a connection of its own, on a
    /// blocking thread, at most two at once (so a flood of sign-ins cannot starve the grant
    /// API's threads, nor hold up the dashboard's pages). `Ok(None)`: it is not the
    /// passphrase; `Ok(Some(weakness))`: it is, and why it would be too weak for a new key, if
    /// it would (estimated only once it proved right, on the same blocking thread).
    pub(crate) async fn check_passphrase(
        &self,
        passphrase: kluis_store::Passphrase,
    ) -> Result<Option<Option<String>>, PageError> {
        let _slot = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.0.sign_in_slots.acquire(),
        )
        .await
        .map_err(|_| PageError::Conflict("too many sign-ins at once; try again".into()))?
        .map_err(PageError::internal)?;
        let (dir, unlocked) = (self.0.dir.clone(), self.0.unlocked.clone());
        tokio::task::spawn_blocking(move || {
            match Vault::connect(&dir, &unlocked)?.verify_passphrase(&passphrase) {
                Ok(()) => Ok(Some(passphrase.weakness())),
                Err(StoreError::WrongPassphrase) => Ok(None),
                Err(other) => Err(PageError::from(other)),
            }
        })
        .await
        .map_err(PageError::internal)?
    }

    /// Runs `work` on the owner's connection on a blocking thread.
    pub(crate) async fn with_owner<T, F>(&self, work: F) -> Result<T, PageError>
    where
        T: Send + 'static,
        F: FnOnce(&Vault) -> Result<T, StoreError> + Send + 'static,
    {
        let dashboard = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            let vault = dashboard
                .0
                .owner
                .lock()
                .map_err(|_| PageError::internal("owner connection lock poisoned"))?;
            work(&vault).map_err(PageError::from)
        })
        .await
        .map_err(PageError::internal)?;
        // An owner action may have written events: the dispatcher sends them at once.
        self.0.app.wake_dispatcher();
        out
    }
}

/// The dashboard's routes, with its security headers on every response.
pub fn router(dashboard: Dashboard) -> Router {
    Router::new()
        .merge(signin::router())
        .merge(overview::router())
        .merge(profile::router())
        .merge(grants::router())
        .merge(requests::router())
        .merge(log::router())
        .merge(logprune::router())
        .merge(notifications::router())
        .merge(receipts::router())
        .merge(contact::router())
        .merge(inbox::router())
        .merge(relationships::router())
        .merge(passphrase::router())
        .merge(assets::router())
        // Anything else under the dashboard is an HTML 404, not the API's problem+json.
        .route(
            "/dashboard/{*rest}",
            axum::routing::any(|| async { PageError::NotFound("There is no such page.".into()) }),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(dashboard)
}

/// No script or style from anywhere but the vault, no framing, no referrer to other origins,
/// nothing cached. The referrer policy is `same-origin`, not `no-referrer`: under
/// `no-referrer` browsers send `Origin: null` with every form post, and the origin check
/// ([`session`]) then refuses the dashboard's own forms.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}
