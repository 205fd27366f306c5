//! Change notifications as background load for `loadgen --notify N`: N more grants, each
//! subscribed (`full`) to a receiver on 127.0.0.1 that answers 204, the dispatcher `kluis serve`
//! runs, and an owner who changes a field all N grants cover `--notify-rate` times a second, so
//! that N × rate deliveries a second flow while the grant API is measured.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kluis::core::Pointer;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::notify::{NewSubscription, Payload};
use kluis::server::notify::{Dispatcher, Options};
use kluis::store::{Unlocked, Vault, Via, unix_now};
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The field every notifying grant covers.
const FIELD: &str = "/custom/notify/counter";

pub struct NotifyLoad {
    runtime: tokio::runtime::Runtime,
    dispatcher: Dispatcher,
    stop: Arc<AtomicBool>,
    owner: std::thread::JoinHandle<Result<u64>>,
    delivered: Arc<AtomicU64>,
    started: Instant,
}

/// What the background load did.
pub struct Done {
    pub changes: u64,
    pub delivered: u64,
    pub secs: f64,
}

impl NotifyLoad {
    /// Makes `subscriptions` grants with subscriptions in the vault in `dir` and starts the
    /// receiver, the dispatcher and the owner's changes.
    pub fn start(dir: &Path, unlocked: &Unlocked, subscriptions: usize, rate: f64) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("notify")
            .enable_all()
            .build()?;
        let delivered = Arc::new(AtomicU64::new(0));
        let counter = delivered.clone();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let app = axum::Router::new().route(
            "/hooks/{n}",
            axum::routing::post(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                async { axum::http::StatusCode::NO_CONTENT }
            }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });

        let vault = Vault::connect(dir, unlocked)?;
        vault.set(&Pointer::parse(FIELD)?, json!(0))?;
        for i in 0..subscriptions {
            let (grant, _) = vault.create_grant(
                GrantRequest {
                    audience: BusinessId::parse(&format!("notified{i}.example"))?,
                    fields: vec![Pointer::parse(FIELD)?],
                    purpose: "change notifications under load".into(),
                    purpose_category: None,
                    lifetime_secs: 86_400,
                    key_thumbprint: None,
                    append_record: false,
                    contact: None,
                },
                unix_now(),
            )?;
            vault.create_subscription(
                &grant.id,
                NewSubscription {
                    url: format!("{url}/{i}"),
                    payload: Payload::Full,
                },
                unix_now(),
            )?;
        }
        let dispatcher = Dispatcher::start(
            dir,
            unlocked,
            Options {
                allow_local: true,
                ..Options::default()
            },
            runtime.handle().clone(),
        )?;
        let waker = dispatcher.waker();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let owner = std::thread::Builder::new()
            .name("notify-owner".into())
            .spawn(move || -> Result<u64> {
                let mut n = 0u64;
                let mut next = Instant::now();
                while !stopping.load(Ordering::Relaxed) {
                    n += 1;
                    vault
                        .owner(Via::Cli)
                        .set(vec![(Pointer::parse(FIELD)?, json!(n))])?;
                    waker.wake();
                    next += every;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                Ok(n)
            })?;
        Ok(Self {
            runtime,
            dispatcher,
            stop,
            owner,
            delivered,
            started: Instant::now(),
        })
    }

    /// Stops the changes and the dispatcher (which commits what it did).
    pub fn stop(self) -> Result<Done> {
        self.stop.store(true, Ordering::Relaxed);
        let changes = self
            .owner
            .join()
            .map_err(|_| "the owner thread panicked")??;
        let secs = self.started.elapsed().as_secs_f64();
        let delivered = self.delivered.load(Ordering::Relaxed);
        self.dispatcher.stop();
        drop(self.runtime);
        Ok(Done {
            changes,
            delivered,
            secs,
        })
    }
}
