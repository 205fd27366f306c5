//! One delivery attempt: the signed POST of an event's exact body, and what its answer means.
//! Outgoing connections reach public addresses only (unless local ones are allowed): names are
//! resolved by [`PublicOnly`], which refuses a name with any non-public address, and the
//! connection goes to an address it returned, so a name cannot pass the check with one address
//! and connect to another. No redirects, no proxy.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use ed25519_dalek::SigningKey;
use kluis_core::webhook::{self, Secret, SigningKeys};
use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::schedule::parse_retry_after;
use super::ssrf::{Refusal, is_public, public_addresses};

/// How long one attempt may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered 2xx.
    Delivered(u16),
    /// Answered 410 Gone: the receiver wants nothing more.
    Gone,
    /// Anything else; `retry_after` when the receiver said when (429, 503).
    Failed {
        detail: String,
        retry_after: Option<Duration>,
    },
}

/// Sends deliveries; one client (and its connection pool) for all of them.
pub struct Sender {
    client: reqwest::Client,
    allow_local: bool,
}

impl Sender {
    pub fn new(allow_local: bool) -> reqwest::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kluis-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(64)
            // No proxy: a proxy would look the name up again, past the check.
            .no_proxy();
        if !allow_local {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            allow_local,
        })
    }

    /// POSTs `body` to `url` as event `id`, signed now with every key in `keys`.
    pub async fn send(
        &self,
        url: &str,
        id: &str,
        body: Bytes,
        secrets: &[Secret],
        ed25519: &SigningKey,
    ) -> Outcome {
        if let Err(refusal) = self.check_literal(url) {
            return failed(refusal);
        }
        let timestamp = kluis_store::unix_now();
        let signature = webhook::sign(
            &SigningKeys {
                secrets,
                ed25519: Some(ed25519),
            },
            id,
            timestamp,
            &body,
        );
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => judge(response.status(), response.headers()),
            Err(err) => failed(describe(&err)),
        }
    }

    /// A URL naming an IP address is not resolved, so the check happens here.
    fn check_literal(&self, url: &str) -> Result<(), String> {
        if self.allow_local {
            return Ok(());
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a usable URL: {e}"))?;
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) if !is_public(ip.into()) => Err(not_contacted(ip.into())),
            Some(url::Host::Ipv6(ip)) if !is_public(ip.into()) => Err(not_contacted(ip.into())),
            _ => Ok(()),
        }
    }
}

fn failed(detail: String) -> Outcome {
    Outcome::Failed {
        detail,
        retry_after: None,
    }
}

fn not_contacted(ip: IpAddr) -> String {
    format!(
        "not contacted: it leads to {ip}, an address on this machine or a private network \
         (kluis serve --allow-local-webhooks allows that)"
    )
}

/// What an answer means: 2xx delivered, 410 gone, anything else a failure (with the time the
/// receiver asked for on 429 and 503).
pub fn judge(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered(status.as_u16());
    }
    if status == StatusCode::GONE {
        return Outcome::Gone;
    }
    let retry_after = if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    } else {
        None
    };
    Outcome::Failed {
        detail: format!("answered {status}"),
        retry_after,
    }
}

/// Why an attempt failed, in a few words: the innermost cause (the outer ones repeat the URL).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = std::error::Error::source(cause) {
        cause = next;
    }
    let text = cause.to_string();
    if err.is_connect() {
        format!("could not connect: {text}")
    } else {
        text
    }
}

/// Resolves names and refuses those with any address that is not public.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match public_addresses(&host, 0).await {
                Ok(found) => Ok(Box::new(found.into_iter()) as Addrs),
                Err(Refusal::Private(ip)) => Err(not_contacted(ip).into()),
                Err(Refusal::Unusable(why)) => Err(why.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn answers_are_judged_as_the_scheme_says() {
        let none = HeaderMap::new();
        assert_eq!(
            judge(StatusCode::NO_CONTENT, &none),
            Outcome::Delivered(204)
        );
        assert_eq!(judge(StatusCode::GONE, &none), Outcome::Gone);
        let mut later = HeaderMap::new();
        later.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(
            judge(StatusCode::SERVICE_UNAVAILABLE, &later),
            Outcome::Failed {
                detail: "answered 503 Service Unavailable".into(),
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert!(matches!(
            judge(StatusCode::INTERNAL_SERVER_ERROR, &later),
            Outcome::Failed {
                retry_after: None,
                ..
            }
        ));
        assert!(matches!(
            judge(StatusCode::MOVED_PERMANENTLY, &none),
            Outcome::Failed { .. }
        ));
    }

    #[tokio::test]
    async fn local_destinations_are_not_contacted_unless_allowed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sender = Sender::new(false).unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        for url in [
            format!("http://127.0.0.1:{port}/h"),
            format!("http://localhost:{port}/h"),
            format!("http://[::1]:{port}/h"),
            format!("http://[::ffff:127.0.0.1]:{port}/h"),
        ] {
            let outcome = sender
                .send(&url, "msg_1", Bytes::from_static(b"{}"), &[], &key)
                .await;
            let Outcome::Failed { detail, .. } = outcome else {
                panic!("{url} was contacted");
            };
            assert!(detail.contains("not contacted"), "{url}: {detail}");
        }
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "nothing may have connected");
    }
}
