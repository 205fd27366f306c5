//! Shared server state: the issuer, the ledger, a read connection for rare look-ups, and caches
//! of the vault's public keys and of tokens whose signature has already been checked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ed25519_dalek::{SigningKey, VerifyingKey};
use kluis_core::Pointer;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::jose::{Jwk, thumbprint};
use kluis_core::relationship::Limits;
use kluis_core::token::{Expectations, GrantClaims, TokenError, verify_grant};
use kluis_store::{StoreError, Unlocked, Vault, unix_now};

use crate::api::ApiError;
use crate::ledger::{Access, Ledger};

/// Tolerated clock skew for `exp`/`iat` checks, in seconds.
const LEEWAY_SECS: i64 = 30;
/// Verified tokens kept in memory (about 1.5 KiB each). When full, expired entries and then
/// half of the rest are dropped, so a working set larger than the cache still mostly hits.
const TOKEN_CACHE: usize = 50_000;

/// Decoded business keys kept in memory (a few hundred bytes each).
const BUSINESS_KEY_CACHE: usize = 50_000;

/// How the ledger's access-log records reach the disk before a response is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogDurability {
    /// Every batch is flushed (`fdatasync`): a record survives power loss.
    #[default]
    Fsync,
    /// Every batch is written to the log file but not flushed: a record survives a crash of
    /// the server, an OS crash or power loss may drop the last batches.
    NoFsync,
}

/// A token whose signature, issuer, type and times checked out.
#[derive(Debug)]
pub struct Verified {
    pub claims: GrantClaims,
    pub access: Arc<Access>,
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    unlocked: Unlocked,
    issuer: String,
    ledger: Ledger,
    reader: Mutex<Vault>,
    keys: RwLock<HashMap<String, VerifyingKey>>,
    tokens: RwLock<HashMap<String, Arc<Verified>>>,
    /// Businesses' DPoP keys already decoded and checked, by their 32 bytes.
    business_keys: RwLock<HashMap<[u8; 32], VerifyingKey>>,
    public_url: RwLock<Option<String>>,
    /// Whether webhooks may go to http:// URLs and local or private addresses.
    allow_local_webhooks: std::sync::atomic::AtomicBool,
    /// Wakes the dispatcher after this process wrote events.
    waker: RwLock<Option<crate::notify::Waker>>,
    /// The vault's current signing key (for delivery receipts), and when it was read.
    signer: RwLock<Option<(Instant, Arc<Signer>)>>,
}

/// The vault's current signing key and its `kid`.
pub struct Signer {
    pub kid: String,
    pub key: SigningKey,
}

/// How long the signing key is used before it is read again (a rotation by `kluis key rotate`
/// in another process applies within this time; the old key stays published meanwhile).
const SIGNER_FOR: Duration = Duration::from_secs(60);

impl AppState {
    /// Opens two more connections to an unlocked vault (the ledger's and one for everything
    /// else) and starts the ledger.
    pub fn open(dir: &Path, unlocked: &Unlocked) -> Result<Self, StoreError> {
        Self::open_with(dir, unlocked, LogDurability::Fsync)
    }

    /// Like [`AppState::open`], choosing how the access log's commits reach the disk.
    pub fn open_with(
        dir: &Path,
        unlocked: &Unlocked,
        durability: LogDurability,
    ) -> Result<Self, StoreError> {
        Self::open_limited(dir, unlocked, durability, Limits::default())
    }

    /// Like [`AppState::open_with`], holding businesses' relationship entries to `limits`.
    pub fn open_limited(
        dir: &Path,
        unlocked: &Unlocked,
        durability: LogDurability,
        limits: Limits,
    ) -> Result<Self, StoreError> {
        let reader = Vault::connect(dir, unlocked)?;
        let ledger_vault = Vault::connect(dir, unlocked)?;
        if durability == LogDurability::NoFsync {
            ledger_vault.log_without_fsync();
        }
        let ledger = Ledger::start_with(ledger_vault, limits)?;
        Ok(Self(Arc::new(Inner {
            unlocked: unlocked.clone(),
            issuer: unlocked.issuer(),
            ledger,
            reader: Mutex::new(reader),
            keys: RwLock::default(),
            tokens: RwLock::default(),
            business_keys: RwLock::default(),
            public_url: RwLock::default(),
            allow_local_webhooks: std::sync::atomic::AtomicBool::new(false),
            waker: RwLock::default(),
            signer: RwLock::default(),
        })))
    }

    /// The URL businesses use to reach this server (e.g. `https://vault.example`), against
    /// which DPoP proofs' `htu` is checked. Without it, `http://` and the `Host` header are used.
    ///
    /// A URL that is not http(s), or has a query or fragment, is refused and nothing changes.
    pub fn set_public_url(&self, url: Option<String>) -> Result<(), kluis_core::Error> {
        if let Some(url) = &url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.contains(['?', '#', ' ']);
            if !ok {
                return Err(kluis_core::Error::invalid(format!(
                    "--public-url {url:?} must be an http(s) URL without query or fragment"
                )));
            }
        }
        if let Ok(mut public) = self.0.public_url.write() {
            *public = url.map(|u| u.trim_end_matches('/').to_owned());
        }
        Ok(())
    }

    /// Lets subscriptions use http:// and local or private addresses (tests, local set-ups).
    pub fn set_allow_local_webhooks(&self, allow: bool) {
        self.0
            .allow_local_webhooks
            .store(allow, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn allow_local_webhooks(&self) -> bool {
        self.0
            .allow_local_webhooks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The dispatcher to wake when this process writes events (set by whoever starts it).
    pub fn set_waker(&self, waker: Option<crate::notify::Waker>) {
        if let Ok(mut slot) = self.0.waker.write() {
            *slot = waker;
        }
    }

    /// Wakes the dispatcher, if one runs in this process.
    pub fn wake_dispatcher(&self) {
        if let Ok(slot) = self.0.waker.read()
            && let Some(waker) = slot.as_ref()
        {
            waker.wake();
        }
    }

    /// The public URL, if one was set.
    pub fn public_url(&self) -> Option<String> {
        self.0.public_url.read().ok().and_then(|p| p.clone())
    }

    /// The URL a request was made to, without query: what a DPoP proof's `htu` must name.
    pub fn request_url(&self, host: Option<&str>, path: &str) -> String {
        match self.public_url() {
            Some(base) => format!("{base}{path}"),
            None => format!("http://{}{path}", host.unwrap_or("localhost")),
        }
    }

    /// The key in a DPoP proof's `jwk`, decoded once per business key rather than per proof
    /// (point decompression and the small-order check are a tenth of a proof's cost). Only the
    /// key a grant is bound to (`expected_jkt`) is kept, so proofs with made-up keys cannot
    /// crowd the cache.
    pub fn business_key(&self, jwk: &Jwk, expected_jkt: Option<&str>) -> Option<VerifyingKey> {
        let bytes = jwk.ed25519_bytes().ok()?;
        if let Some(key) = self.0.business_keys.read().ok()?.get(&bytes) {
            return Some(*key);
        }
        let key = jwk.verifying_key().ok()?;
        if expected_jkt != Some(thumbprint(jwk).as_str()) {
            return Some(key);
        }
        if let Ok(mut keys) = self.0.business_keys.write() {
            if keys.len() >= BUSINESS_KEY_CACHE {
                keys.clear();
            }
            keys.insert(bytes, key);
        }
        Some(key)
    }

    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    pub fn ledger(&self) -> &Ledger {
        &self.0.ledger
    }

    /// Runs `work` with the second connection on a blocking thread; store errors become API
    /// errors (a client's mistake stays a 4xx).
    pub async fn with_vault<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Vault) -> kluis_store::Result<T> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let vault = state
                .0
                .reader
                .lock()
                .map_err(|_| ApiError::internal("reader lock poisoned"))?;
            work(&vault).map_err(ApiError::from)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// The vault's current signing key, read at most once a minute.
    pub async fn signer(&self) -> Result<Arc<Signer>, ApiError> {
        let cached = self.0.signer.read().ok().and_then(|s| s.clone());
        if let Some((read_at, signer)) = cached
            && read_at.elapsed() < SIGNER_FOR
        {
            return Ok(signer);
        }
        let (kid, key) = self.with_vault(|v| v.signing_key()).await?;
        let signer = Arc::new(Signer { kid, key });
        if let Ok(mut cached) = self.0.signer.write() {
            *cached = Some((Instant::now(), signer.clone()));
        }
        Ok(signer)
    }

    /// Checks a grant token: signature against the vault's keys, type, issuer and times.
    /// Revocation is not checked here: the ledger does that on every call.
    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, TokenError> {
        let now = unix_now();
        let cached = self
            .0
            .tokens
            .read()
            .ok()
            .and_then(|t| t.get(token).cloned());
        if let Some(verified) = cached {
            if verified.claims.exp + LEEWAY_SECS <= now {
                return Err(TokenError::Expired);
            }
            return Ok(verified);
        }
        let claims = match self.check(token, now) {
            Err(TokenError::UnknownKey) => {
                self.load_key(token).await;
                self.check(token, now)?
            }
            other => other?,
        };
        let contact = claims.contact_right();
        let append_record = claims.may_append_record();
        let access = Arc::new(Access {
            grant: GrantId::parse(&claims.jti).map_err(|_| TokenError::Malformed)?,
            business: BusinessId::parse(&claims.aud).map_err(|_| TokenError::Malformed)?,
            purpose: claims.purpose.clone(),
            fields: claims
                .fields()
                .iter()
                .map(|f| Pointer::parse(f))
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|fields| {
                    // A grant of nothing is no grant; a read grant never covers the root.
                    (!fields.is_empty() || contact.is_some() || append_record)
                        && fields.iter().all(|f| !f.is_root())
                })
                .ok_or(TokenError::Malformed)?,
            token_hash: self.0.unlocked.token_hash(token),
            contact,
            append_record,
        });
        let verified = Arc::new(Verified { claims, access });
        if let Ok(mut tokens) = self.0.tokens.write() {
            if tokens.len() >= TOKEN_CACHE {
                tokens.retain(|_, v| v.claims.exp + LEEWAY_SECS > now);
                if tokens.len() >= TOKEN_CACHE / 2 {
                    // Every other entry, in the map's (random) order.
                    let mut keep = false;
                    tokens.retain(|_, _| {
                        keep = !keep;
                        keep
                    });
                }
            }
            tokens.insert(token.to_owned(), verified.clone());
        }
        Ok(verified)
    }

    fn check(&self, token: &str, now: i64) -> Result<GrantClaims, TokenError> {
        let keys = self.0.keys.read().map_err(|_| TokenError::UnknownKey)?;
        verify_grant(
            token,
            |kid| keys.get(kid).copied(),
            &Expectations {
                issuer: &self.0.issuer,
                audience: None,
                now,
                leeway: LEEWAY_SECS,
            },
        )
    }

    /// Fetches the key a token names from the vault (a key made or rotated after start-up).
    async fn load_key(&self, token: &str) {
        let Some(kid) = kid_of(token) else {
            return;
        };
        let lookup = kid.clone();
        if let Ok(Some(key)) = self.with_vault(move |v| v.verifying_key(&lookup)).await
            && let Ok(mut keys) = self.0.keys.write()
        {
            keys.insert(kid, key);
        }
    }
}

/// The `kid` in a compact JWS header, if it is shaped like one of ours (an RFC 7638 thumbprint).
fn kid_of(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    if header.len() > 1024 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let kid = value.get("kid")?.as_str()?;
    (kid.len() == 43
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| kid.to_owned())
}
