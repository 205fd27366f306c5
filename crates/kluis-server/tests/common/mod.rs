//! A real `kluis` server with the dashboard on 127.0.0.1:0 over a temporary vault holding the
//! sample document, and an owner's browser-like HTTP client: a cookie jar, the session's CSRF
//! token, and the `Origin` a page of the vault would send. Not every test uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kluis_core::document::sample;
use kluis_server::notify::{self, Dispatcher};
use kluis_server::{AppState, Dashboard, serve_with};
use kluis_store::{KdfParams, Passphrase, Vault};
use reqwest::StatusCode;

pub const PASS: &str = "correct horse battery staple";

pub struct Dash {
    pub base: String,
    pub dir: tempfile::TempDir,
    /// A connection of the test's own, to arrange and to check what the pages did.
    pub vault: Vault,
    /// Follows no redirects, keeps cookies.
    pub http: reqwest::Client,
    /// The session's CSRF token, once signed in.
    pub csrf: Option<String>,
    /// Delivers the outbox's events, when started with [`Dash::serve_notifying`].
    _dispatcher: Option<Dispatcher>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Dash {
    /// Serves a new vault (the sample document) with the dashboard, not signed in.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Vault::create(dir.path(), &Passphrase::new(PASS), KdfParams::OWASP_MINIMUM).unwrap();
        vault.replace_document(sample()).unwrap();
        Self::serve(dir, vault).await
    }

    pub async fn serve(dir: tempfile::TempDir, vault: Vault) -> Self {
        Self::serve_configured(dir, vault, |dashboard| dashboard).await
    }

    /// As [`Dash::serve`], with the dispatcher running as in `kluis serve` (deliveries to
    /// local addresses only if `allow_local`), woken by the dashboard's actions.
    pub async fn serve_notifying(dir: tempfile::TempDir, vault: Vault, allow_local: bool) -> Self {
        let dispatcher = Dispatcher::start(
            dir.path(),
            vault.unlocked(),
            notify::Options {
                allow_local,
                ..notify::Options::default()
            },
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let waker = dispatcher.waker();
        let set_up = |state: &AppState| {
            state.set_allow_local_webhooks(allow_local);
            state.set_waker(Some(waker));
        };
        let mut dash = Self::serve_with(dir, vault, set_up, |dashboard| dashboard).await;
        dash._dispatcher = Some(dispatcher);
        dash
    }

    /// As [`Dash::serve`], the dashboard set up by `configure` first.
    pub async fn serve_configured(
        dir: tempfile::TempDir,
        vault: Vault,
        configure: impl FnOnce(Dashboard) -> Dashboard,
    ) -> Self {
        Self::serve_with(dir, vault, |_| {}, configure).await
    }

    async fn serve_with(
        dir: tempfile::TempDir,
        vault: Vault,
        set_up: impl FnOnce(&AppState),
        configure: impl FnOnce(Dashboard) -> Dashboard,
    ) -> Self {
        let state = AppState::open(dir.path(), vault.unlocked()).unwrap();
        set_up(&state);
        let dashboard =
            configure(Dashboard::open(dir.path(), vault.unlocked(), state.clone()).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_with(listener, state, Some(dashboard), async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Dash {
            base,
            dir,
            vault,
            http,
            csrf: None,
            _dispatcher: None,
            _stop: stop,
        }
    }

    /// Started and signed in.
    pub async fn signed_in() -> Self {
        let mut dash = Self::start().await;
        dash.sign_in(PASS).await;
        dash
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Signs in with `passphrase`; on success remembers the CSRF token (read from the overview's
    /// sign-out form). Returns the sign-in response's status.
    pub async fn sign_in(&mut self, passphrase: &str) -> StatusCode {
        let response = self
            .http
            .post(format!("{}/dashboard/sign-in", self.base))
            .header("origin", &self.base)
            .form(&[("passphrase", passphrase)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::SEE_OTHER {
            let (_, page) = self.get("/dashboard/").await;
            self.csrf = Some(csrf_of(&page));
        }
        status
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// `GET path`: the whole response.
    pub async fn get_response(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Posts a form as the dashboard's own page would: with the session's CSRF token and the
    /// vault's origin. Returns status, `Location` (if any) and body.
    pub async fn post(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let mut form: Vec<(&str, &str)> = pairs.to_vec();
        let csrf = self.csrf.clone().unwrap_or_default();
        form.push(("csrf", &csrf));
        self.post_raw(path, &form, Some(&self.base)).await
    }

    /// Posts `pairs` exactly as given (no CSRF token added), with `origin` if given.
    pub async fn post_raw(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (StatusCode, Option<String>, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(pairs);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in {page}"));
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}
