//! Dashboard sessions: a random 256-bit id in an `HttpOnly`, `SameSite=Strict`, path-scoped
//! cookie; the server keeps only its SHA-256, with the session's CSRF token and times. A session
//! ends after 15 minutes without a request, after 12 hours in any case, and at sign-out.
//!
//! A session also has a calendar feed key ([`Sessions::feed_key`]): an HMAC-SHA256, under a key
//! the server drew at start and keeps in memory, of the session id's hash. It opens the due
//! page's iCalendar feed without the cookie (a calendar app has none), only while the session
//! lives, and tells nothing about the session id.
//!
//! Two extractors guard the pages: [`SignedIn`] for every page, and [`Posted`] for every
//! state-changing request, which also requires the session's CSRF token in the form and an
//! `Origin` (or `Referer`) of the vault's own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::error::PageError;
use super::form::Form;
use super::i18n::Lang;
use super::{BASE, Dashboard};

pub const COOKIE: &str = "kluis_session";
pub const IDLE: Duration = Duration::from_secs(15 * 60);
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; past it the oldest are dropped (one owner needs a handful).
const MAX_SESSIONS: usize = 64;
/// The largest form the dashboard takes (an imported document fits).
pub const FORM_LIMIT: usize = 256 * 1024;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

struct Session {
    created: Instant,
    last_seen: Instant,
    csrf: String,
    weak_passphrase: bool,
}

/// The server side of the sessions, by the hash of their ids.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

/// A live session, as a handler sees it.
#[derive(Clone)]
pub struct Current {
    id_hash: [u8; 32],
    pub csrf: String,
    /// The passphrase signed in with is weaker than new ones may be: the overview says so.
    pub weak_passphrase: bool,
}

impl Sessions {
    /// Starts a session; returns the cookie value (the id, never stored) and the session.
    pub fn start(
        &self,
        now: Instant,
        weak_passphrase: bool,
    ) -> Result<(String, Current), PageError> {
        let id = random_token()?;
        let csrf = random_token()?;
        let id_hash = hash(&id);
        let mut map = self.lock()?;
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            id_hash,
            Session {
                created: now,
                last_seen: now,
                csrf: csrf.clone(),
                weak_passphrase,
            },
        );
        Ok((
            id,
            Current {
                id_hash,
                csrf,
                weak_passphrase,
            },
        ))
    }

    /// The live session with this cookie value, its idle time reset; `None` if there is none
    /// (never was, timed out, signed out).
    pub fn touch(&self, id: &str, now: Instant) -> Option<Current> {
        let id_hash = hash(id);
        let mut map = self.lock().ok()?;
        let session = map.get_mut(&id_hash)?;
        if !alive(session, now) {
            map.remove(&id_hash);
            return None;
        }
        session.last_seen = now;
        Some(Current {
            id_hash,
            csrf: session.csrf.clone(),
            weak_passphrase: session.weak_passphrase,
        })
    }

    /// The calendar feed key of `current`, under the server's `secret`.
    pub fn feed_key(secret: &[u8], current: &Current) -> String {
        B64.encode(feed_mac(secret, &current.id_hash).finalize().into_bytes())
    }

    /// Whether `key` is the feed key of a live session. The session's idle time is not reset:
    /// a calendar app polling the feed does not keep a session alive.
    pub fn feed_is_live(&self, secret: &[u8], key: &str, now: Instant) -> bool {
        let Ok(tag) = B64.decode(key.as_bytes()) else {
            return false;
        };
        let Ok(map) = self.lock() else {
            return false;
        };
        map.iter().any(|(id_hash, session)| {
            alive(session, now) && feed_mac(secret, id_hash).verify_slice(&tag).is_ok()
        })
    }

    pub fn end(&self, current: &Current) {
        if let Ok(mut map) = self.lock() {
            map.remove(&current.id_hash);
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>>, PageError> {
        self.0
            .lock()
            .map_err(|_| PageError::internal("session lock poisoned"))
    }
}

fn alive(session: &Session, now: Instant) -> bool {
    now.duration_since(session.last_seen) < IDLE && now.duration_since(session.created) < LIFETIME
}

/// The feed key's MAC over a session id's hash (compared in constant time by `verify_slice`).
fn feed_mac(secret: &[u8], id_hash: &[u8; 32]) -> hmac::Hmac<Sha256> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes a key of any length");
    mac.update(b"kluis dashboard due feed\0");
    mac.update(id_hash);
    mac
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_token() -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| PageError::internal("no randomness"))?;
    Ok(B64.encode(bytes))
}

/// The `Set-Cookie` value that hands out a session id.
pub fn cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes it.
pub fn cookie_cleared(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The client's address, where the server knows it (`serve_with` passes it on); unknown
/// clients share one address, so they share one throttle.
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(Self(ip))
    }
}

/// A request from the signed-in owner.
pub struct SignedIn {
    pub session: Current,
    pub lang: Lang,
    /// Unread messages in the inbox, for the navigation; `None` if they could not be counted.
    pub unread: Option<u64>,
    /// Overdue promises over every relationship, for the navigation; `None` if they could not
    /// be counted.
    pub overdue: Option<u64>,
}

impl FromRequestParts<Dashboard> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        dashboard: &Dashboard,
    ) -> Result<Self, PageError> {
        let lang = Lang::of(&parts.headers);
        let session = cookie_value(&parts.headers, COOKIE)
            .and_then(|id| dashboard.0.sessions.touch(id, Instant::now()))
            .ok_or(PageError::SignIn)?;
        let unread = dashboard.unread_count().await;
        let overdue = dashboard.overdue_count().await;
        Ok(Self {
            session,
            lang,
            unread,
            overdue,
        })
    }
}

/// A state-changing request from the signed-in owner, from a page of the vault's own, with
/// the session's CSRF token: the only way a handler gets a form.
pub struct Posted {
    pub owner: SignedIn,
    pub form: Form,
}

impl FromRequest<Dashboard> for Posted {
    type Rejection = PageError;

    async fn from_request(request: Request, dashboard: &Dashboard) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let owner = SignedIn::from_request_parts(&mut parts, dashboard).await?;
        check_origin(&parts.headers, dashboard)?;
        let form = Form::read(&parts.headers, body).await?;
        let csrf = form.one("csrf").unwrap_or_default();
        // Equal length and every byte compared: no early exit to time.
        let expected = owner.session.csrf.as_bytes();
        let matches = csrf.len() == expected.len()
            && csrf
                .bytes()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !matches {
            return Err(PageError::Forbidden);
        }
        Ok(Self { owner, form })
    }
}

/// A form posted without a session (the sign-in form): only the origin is checked.
pub struct SameOrigin {
    pub lang: Lang,
    pub form: Form,
}

impl FromRequest<Dashboard> for SameOrigin {
    type Rejection = PageError;

    async fn from_request(request: Request, dashboard: &Dashboard) -> Result<Self, PageError> {
        let (parts, body) = request.into_parts();
        check_origin(&parts.headers, dashboard)?;
        Ok(Self {
            lang: Lang::of(&parts.headers),
            form: Form::read(&parts.headers, body).await?,
        })
    }
}

/// The request must come from a page of this vault: its `Origin`, or without one its
/// `Referer`, is the vault's own origin (the public URL's, or `http://` and the `Host`).
fn check_origin(headers: &HeaderMap, dashboard: &Dashboard) -> Result<(), PageError> {
    let expected = match dashboard.app().public_url() {
        Some(url) => origin_of(&url).to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .ok_or(PageError::Forbidden)?;
            format!("http://{host}")
        }
    };
    let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let ok = match (header_text(header::ORIGIN), header_text(header::REFERER)) {
        (Some(origin), _) => origin == expected,
        (None, Some(referer)) => origin_of(referer) == expected,
        (None, None) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_when_old_and_when_ended() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (id, current) = sessions.start(t0, false).unwrap();
        assert!(sessions.touch(&id, t0 + IDLE / 2).is_some());
        // Touched at IDLE/2, so alive until 1.5 IDLE.
        assert!(sessions.touch(&id, t0 + IDLE).is_some());
        assert!(
            sessions.touch(&id, t0 + IDLE * 3).is_none(),
            "idle too long"
        );
        assert!(sessions.touch(&id, t0).is_none(), "removed once timed out");

        let (id, _) = sessions.start(t0, false).unwrap();
        let mut t = t0;
        while t < t0 + LIFETIME - IDLE {
            t += IDLE / 2;
            assert!(sessions.touch(&id, t).is_some());
        }
        assert!(
            sessions.touch(&id, t0 + LIFETIME).is_none(),
            "past its lifetime"
        );

        let (id, again) = sessions.start(t0, false).unwrap();
        sessions.end(&again);
        assert!(sessions.touch(&id, t0).is_none(), "signed out");
        assert_ne!(current.csrf, again.csrf);
        assert!(sessions.touch("made-up", t0).is_none());
    }

    #[test]
    fn a_feed_key_opens_only_its_live_session() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (_, current) = sessions.start(t0, false).unwrap();
        let (_, other) = sessions.start(t0, false).unwrap();
        let key = Sessions::feed_key(b"secret one", &current);
        assert!(sessions.feed_is_live(b"secret one", &key, t0));
        assert!(
            !sessions.feed_is_live(b"secret two", &key, t0),
            "another server's key"
        );
        assert_ne!(key, Sessions::feed_key(b"secret one", &other));
        assert!(!sessions.feed_is_live(b"secret one", "not base64!", t0));
        assert!(
            !sessions.feed_is_live(b"secret one", &key, t0 + IDLE * 2),
            "timed out"
        );
        sessions.end(&current);
        assert!(
            !sessions.feed_is_live(b"secret one", &key, t0),
            "signed out"
        );
    }

    #[test]
    fn only_a_hash_of_the_id_is_kept() {
        let sessions = Sessions::default();
        let (id, _) = sessions.start(Instant::now(), false).unwrap();
        let map = sessions.0.lock().unwrap();
        assert_eq!(B64.decode(&id).unwrap().len(), 32);
        assert!(map.contains_key(&hash(&id)));
        assert!(map.keys().all(|k| k[..] != B64.decode(&id).unwrap()[..]));
    }

    #[test]
    fn cookies_are_scoped_and_flagged() {
        let c = cookie("abc", true);
        for part in ["Path=/dashboard", "HttpOnly", "SameSite=Strict", "Secure"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!cookie("abc", false).contains("Secure"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; kluis_session=xyz".parse().unwrap());
        assert_eq!(cookie_value(&headers, COOKIE), Some("xyz"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://vault.example/dashboard/x"),
            "https://vault.example"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
