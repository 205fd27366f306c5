//! The server the end-to-end tests share: a real server on 127.0.0.1:0 over a real vault file
//! that holds the sample document. Each test file adds its own helpers in an `impl Server`.
//! Not every test binary uses every helper. `python` checks webhook deliveries with the Standard
//! Webhooks reference library.
#![allow(dead_code)]

pub mod python;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kluis::core::document::sample;
use kluis::core::relationship::Limits;
use kluis::server::{AppState, ConnectionLimits, LogDurability, serve_with_limits};
use kluis::store::{KdfParams, Passphrase, Vault};

pub struct Server {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub vault: Vault,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Creates a vault holding `sample()`, serves it (with `public_url`, when given) and waits
    /// until `/healthz` answers.
    pub async fn start_with(public_url: Option<&str>) -> Self {
        Self::start_limited(public_url, Limits::default()).await
    }

    /// Like [`Server::start_with`], holding relationship entries to `limits`.
    pub async fn start_limited(public_url: Option<&str>, limits: Limits) -> Self {
        Self::start_full(public_url, limits, ConnectionLimits::default()).await
    }

    /// A server that holds its connections to `connections`.
    pub async fn start_connections(connections: ConnectionLimits) -> Self {
        Self::start_full(None, Limits::default(), connections).await
    }

    async fn start_full(
        public_url: Option<&str>,
        limits: Limits,
        connections: ConnectionLimits,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Vault::create(dir.path(), &Passphrase::new("pw"), KdfParams::OWASP_MINIMUM).unwrap();
        vault.replace_document(sample()).unwrap();
        let state =
            AppState::open_limited(dir.path(), vault.unlocked(), LogDurability::Fsync, limits)
                .unwrap();
        state.set_public_url(public_url.map(str::to_owned)).unwrap();
        let Running {
            base, http, stop, ..
        } = serving(state, connections).await;
        Server {
            base,
            dir,
            vault,
            http,
            _stop: stop,
        }
    }

    /// `GET path` and its body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// A server over an existing vault in `dir` that can be stopped cleanly and waited for, and
/// started again over the same files (restarts).
pub struct Running {
    pub base: String,
    pub http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the vault in `dir` and waits until `/healthz` answers.
pub async fn start(dir: &Path, vault: &Vault) -> Running {
    start_limited(dir, vault, ConnectionLimits::default()).await
}

/// [`start`], holding connections to `connections`.
pub async fn start_limited(dir: &Path, vault: &Vault, connections: ConnectionLimits) -> Running {
    serving(AppState::open(dir, vault.unlocked()).unwrap(), connections).await
}

/// Serves `state` on 127.0.0.1:0 and waits until `/healthz` answers.
async fn serving(state: AppState, connections: ConnectionLimits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(serve_with_limits(
        listener,
        state,
        None,
        connections,
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Running {
        base,
        http,
        stop,
        done,
    }
}

impl Running {
    /// Stops the server as `kluis serve` does on Ctrl-C, and waits until it has.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.done.await.unwrap().unwrap();
    }
}
