//! Receiving the vault's change notifications: [`WebhookVerifier`] checks a Standard Webhooks
//! delivery (<https://www.standardwebhooks.com/>) and turns its body into a typed
//! [`Notification`].
//!
//! The vault signs `{webhook-id}.{webhook-timestamp}.{body}` with each live `whsec_` secret of
//! the subscription (`v1`, HMAC-SHA256; two while a secret is being rotated) and with its webhook
//! key (`v1a`, Ed25519, whose public half is the `whpk_` key). A verifier trusts the keys it is
//! given and accepts a delivery when any signature was made by one of them, its timestamp is
//! within five minutes of the receiver's clock and its id has not been accepted before.
//!
//! ```no_run
//! use kluis_client::webhook::{Event, VerifyError, WebhookError, WebhookVerifier};
//! use reqwest::header::HeaderMap;
//!
//! // Once, at start-up, from the keys the vault gave when the subscription was made.
//! # fn keys() -> Result<WebhookVerifier, WebhookError> {
//! let verifier = WebhookVerifier::new(["whsec_…", "whpk_…"])?;
//! # Ok(verifier) }
//!
//! // For each POST: the headers and the body's bytes exactly as received.
//! fn receive(verifier: &WebhookVerifier, headers: &HeaderMap, body: &[u8]) -> u16 {
//!     match verifier.verify(headers, body) {
//!         Ok(notification) => {
//!             match &notification.event {
//!                 Event::FieldChanged(change) => println!("read again: {:?}", change.changed),
//!                 event if !event.fields_to_delete().is_empty() => {
//!                     println!("delete your copies of {:?}", event.fields_to_delete())
//!                 }
//!                 other => println!("{}", other.kind()),
//!             }
//!             204
//!         }
//!         // Authentic, already handled: say so, or the vault keeps retrying it.
//!         Err(err) if err.is_replay() => 204,
//!         // Not from the vault, or altered, or too old: it will never pass.
//!         Err(_) => 400,
//!     }
//! }
//! ```

mod event;
mod replay;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::VerifyingKey;
use kluis_core::webhook::{self as core, TrustedKey};
use reqwest::header::HeaderMap;

pub use event::{Event, Notification};
pub use kluis_core::Pointer;
pub use kluis_core::grant::GrantId;
pub use kluis_core::notify::{FieldChanged, GrantChanged};
pub use kluis_core::webhook::{Secret, TOLERANCE_SECS, WebhookError};

use replay::{Admit, ReplayCache};

/// How many accepted ids a verifier remembers at most, unless told otherwise
/// ([`WebhookVerifier::with_replay_capacity`]).
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header is missing or malformed, the timestamp is more than five minutes off, no
    /// signature matches a trusted key, or ([`WebhookError::Replayed`]) the id was accepted
    /// before. Only a replay is authentic; see [`VerifyError::is_replay`].
    #[error(transparent)]
    Rejected(#[from] WebhookError),
    /// Authentic, but the verifier already remembers as many ids as it may, all still fresh. It
    /// refuses rather than forget one that could then be replayed; answer 503 and the vault
    /// tries again later.
    #[error("too many deliveries within five minutes to remember another (at most {0})")]
    Busy(usize),
    /// Authentic, but the body is not an event of the shape its type says.
    #[error("{0}")]
    Body(String),
}

impl VerifyError {
    /// Whether this delivery was authentic and had been accepted already: a retry of one the
    /// receiver handled (its answer may have been lost), or a replay. Handle nothing, but answer
    /// 2xx so that the vault stops retrying.
    pub fn is_replay(&self) -> bool {
        matches!(self, VerifyError::Rejected(WebhookError::Replayed))
    }
}

/// Checks deliveries against a business's webhook keys, and remembers the ids it accepted.
///
/// Thread-safe: share one verifier (in an `Arc`, or your server's state) between all requests,
/// because the replay cache only works if every delivery goes through the same one. The cache
/// lives in memory: each id is remembered until five minutes after its timestamp (after that a
/// replay would be refused as too old anyway), at most [`DEFAULT_REPLAY_CAPACITY`] ids at once.
/// Several receiver processes each have their own; to refuse replays across them, or to
/// de-duplicate retries that come later, keep [`Notification::id`] in your own storage.
pub struct WebhookVerifier {
    secrets: Vec<Secret>,
    public_keys: Vec<VerifyingKey>,
    seen: ReplayCache,
}

impl WebhookVerifier {
    /// A verifier trusting these keys, each a `whsec_…` secret or a `whpk_…` public key: at
    /// least one, and as many as you like (both secrets during a rotation, say).
    pub fn new<I, S>(keys: I) -> Result<Self, WebhookError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut secrets = Vec::new();
        let mut public_keys = Vec::new();
        for key in keys {
            let key = key.as_ref().trim();
            if key.starts_with("whpk_") {
                public_keys.push(core::parse_public_key(key)?);
            } else if key.starts_with("whsec_") {
                secrets.push(Secret::parse(key)?);
            } else {
                return Err(WebhookError::BadKey(
                    "a webhook key starts with whsec_ (a secret) or whpk_ (a public key)",
                ));
            }
        }
        Self::from_keys(secrets, public_keys)
    }

    /// A verifier trusting already parsed keys; at least one.
    pub fn from_keys(
        secrets: Vec<Secret>,
        public_keys: Vec<VerifyingKey>,
    ) -> Result<Self, WebhookError> {
        if secrets.is_empty() && public_keys.is_empty() {
            return Err(WebhookError::BadKey(
                "give at least one whsec_ secret or whpk_ public key",
            ));
        }
        Ok(Self {
            secrets,
            public_keys,
            seen: ReplayCache::new(DEFAULT_REPLAY_CAPACITY),
        })
    }

    /// Remembers at most `capacity` accepted ids (at least 1) instead of
    /// [`DEFAULT_REPLAY_CAPACITY`]: more than the deliveries you expect in ten minutes.
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.seen = ReplayCache::new(capacity);
        self
    }

    /// Verifies a delivery by its headers and body, at the system clock. `body` must be the
    /// bytes received, never JSON parsed and written again.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Notification, VerifyError> {
        self.verify_at(headers, body, unix_now())
    }

    /// [`WebhookVerifier::verify`] at `now` (Unix seconds).
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Notification, VerifyError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .ok_or(WebhookError::MissingHeader(name))
        };
        self.verify_parts_at(
            header(ID)?,
            header(TIMESTAMP)?,
            header(SIGNATURE)?,
            body,
            now,
        )
    }

    /// Verifies a delivery given the values of `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature`, at the system clock.
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<Notification, VerifyError> {
        self.verify_parts_at(id, timestamp, signature, body, unix_now())
    }

    /// [`WebhookVerifier::verify_parts`] at `now` (Unix seconds).
    pub fn verify_parts_at(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Notification, VerifyError> {
        for (name, value) in [(ID, id), (TIMESTAMP, timestamp), (SIGNATURE, signature)] {
            if value.is_empty() {
                return Err(WebhookError::MissingHeader(name).into());
            }
        }
        let trusted: Vec<TrustedKey<'_>> = self
            .secrets
            .iter()
            .map(TrustedKey::Secret)
            .chain(self.public_keys.iter().map(TrustedKey::Public))
            .collect();
        core::verify(&trusted, id, timestamp, signature, body, now)?;
        let signed_at: i64 = timestamp.parse().map_err(|_| WebhookError::BadTimestamp)?;
        // Parsed before the id is remembered: a body this SDK cannot read does not use it up.
        let (occurred_at, event) = event::parse(body).map_err(VerifyError::Body)?;
        match self.seen.admit(id, signed_at + TOLERANCE_SECS, now) {
            Admit::New => Ok(Notification {
                id: id.to_owned(),
                timestamp: signed_at,
                occurred_at,
                event,
            }),
            Admit::Seen => Err(WebhookError::Replayed.into()),
            Admit::Full => Err(VerifyError::Busy(self.seen.capacity())),
        }
    }

    /// Forgets that `id` was accepted, so that the vault's retry of it is accepted again. Call
    /// it when handling an accepted notification failed and you answer with an error (5xx) so
    /// that the vault tries again.
    pub fn forget(&self, id: &str) {
        self.seen.forget(id);
    }
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public: Vec<String> = self.public_keys.iter().map(core::public_key_text).collect();
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.secrets.len())
            .field("public_keys", &public)
            .field("remembered_ids", &self.seen.len())
            .finish()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
