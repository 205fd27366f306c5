//! The dispatcher: delivers the outbox's events (change notifications, access-request
//! decisions) as Standard Webhooks, in order per stream, at least once, across restarts.
//!
//! One thread owns a connection to the vault (reading the outbox, subscriptions and grants;
//! it writes there only the rare `grant.expired` events) and one to `deliveries.db`, where it
//! commits how each attempt went, in batches. The POSTs run on the tokio runtime, at most
//! [`Options::max_in_flight`] at once. It picks up events written by this process when woken
//! ([`Waker::wake`]) and those of other processes (the `kluis` command) within
//! [`Options::poll`], by asking SQLite whether anything committed (`PRAGMA data_version`).

mod dispatch;
mod schedule;
mod send;
pub(crate) mod ssrf;

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use kluis_store::{Deliveries, Unlocked, Vault};

pub use schedule::{SCHEDULE, next_delay, parse_retry_after};
pub use send::{Outcome, TIMEOUT};

/// How the dispatcher runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Deliver to http:// URLs and to loopback and private addresses (local set-ups, tests).
    pub allow_local: bool,
    /// Deliveries in flight at most.
    pub max_in_flight: usize,
    /// How often the vault is asked whether another process wrote events.
    pub poll: Duration,
    /// How often grants are checked for expiry (to send `grant.expired`).
    pub expiry_check: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_local: false,
            max_in_flight: 128,
            poll: Duration::from_millis(50),
            expiry_check: Duration::from_secs(1),
        }
    }
}

enum Msg {
    Wake,
    Done(dispatch::Attempted),
    Stop,
}

/// Wakes the dispatcher at once (after this process wrote events). Cheap to clone.
#[derive(Clone)]
pub struct Waker(mpsc::Sender<Msg>);

impl Waker {
    pub fn wake(&self) {
        let _ = self.0.send(Msg::Wake);
    }
}

/// A running dispatcher; [`Dispatcher::stop`] ends it (deliveries in flight are tried again
/// after the next start: at least once).
pub struct Dispatcher {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts the dispatcher of the vault in `dir` on its own thread, sending on `runtime`.
    pub fn start(
        dir: &Path,
        unlocked: &Unlocked,
        options: Options,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, kluis_store::StoreError> {
        let vault = Vault::connect(dir, unlocked)?;
        let deliveries = Deliveries::open(dir)?;
        let sender = send::Sender::new(options.allow_local)
            .map_err(|e| kluis_store::StoreError::Io(std::io::Error::other(e)))?;
        let (tx, rx) = mpsc::channel();
        let back = tx.clone();
        let thread = std::thread::Builder::new()
            .name("kluis-dispatch".into())
            .spawn(move || {
                dispatch::Loop::new(vault, deliveries, sender, options, runtime, back).run(&rx)
            })?;
        Ok(Self {
            tx,
            thread: Some(thread),
        })
    }

    pub fn waker(&self) -> Waker {
        Waker(self.tx.clone())
    }

    /// Stops the dispatcher and waits for its thread.
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}
