//! The HTTP client for one vault's grant API: access requests, DPoP-bound reads, introspection
//! and the vault's keys.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kluis_core::dpop;
use kluis_core::jose::Jwks;
use kluis_core::receipt::ConsentReceipt;
use kluis_core::token::{Confirmation, GrantClaims, TokenError};
use kluis_core::wire::{AccessRequestStatus, Introspection, PROBLEM_JSON, Problem};
use reqwest::header::{self, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::key::BusinessKey;
use crate::request::{AccessRequest, Decision};
use crate::verify::JwksCache;

/// Clock skew tolerated when checking a token's times offline, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// How long one HTTP call may take before it fails with [`Error::Transport`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Polls closer together than this are spaced out to it.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A client for one vault. Cheap to clone: clones share connections and the cached JWKS.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// The vault's base URL, always ending in `/` so that joining keeps any path prefix.
    base: Url,
    issuer: Option<String>,
    leeway: i64,
    jwks: JwksCache,
}

/// Settings for a [`Client`] beyond the vault's URL.
#[derive(Debug)]
pub struct ClientBuilder {
    vault_url: String,
    issuer: Option<String>,
    leeway: i64,
    timeout: Duration,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The `iss` grant tokens must carry (`urn:kluis:vault:<id>`). Without it, offline
    /// verification accepts the token's own `iss`: the signature is still checked against the
    /// keys of the vault at the configured URL, which is what binds the token to that vault.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat` (default 30).
    pub fn leeway_secs(mut self, leeway: i64) -> Self {
        self.leeway = leeway.max(0);
        self
    }

    /// How long one HTTP call may take (default 30 s). Ignored with [`Self::http_client`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this reqwest client (proxies, extra roots, …) instead of the SDK's own. It should
    /// not follow redirects: a DPoP proof is made for one URL, and a token should not travel
    /// to another.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    pub fn build(self) -> Result<Client> {
        let mut base = Url::parse(&self.vault_url)
            .map_err(|e| Error::Invalid(format!("vault URL {:?}: {e}", self.vault_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Invalid(format!(
                "vault URL {:?} must be http or https",
                self.vault_url
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Invalid(format!(
                "vault URL {:?} must not have a query or fragment",
                self.vault_url
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if base.scheme() == "https" && self.http.is_none() && !crate::tls::HAS_TLS {
            return Err(Error::Invalid(
                "this build of kluis-client has no TLS: enable its `rustls` or `rustls-ring` feature"
                    .into(),
            ));
        }
        let http = match self.http {
            Some(http) => http,
            None => crate::tls::http_client(self.timeout)?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                issuer: self.issuer,
                leeway: self.leeway,
                jwks: JwksCache::default(),
            }),
        })
    }
}

impl Client {
    /// A client for the vault at `vault_url` (e.g. `https://vault.example` or
    /// `http://127.0.0.1:8080`), with default settings.
    pub fn new(vault_url: &str) -> Result<Self> {
        Self::builder(vault_url).build()
    }

    pub fn builder(vault_url: &str) -> ClientBuilder {
        ClientBuilder {
            vault_url: vault_url.to_owned(),
            issuer: None,
            leeway: DEFAULT_LEEWAY_SECS,
            timeout: DEFAULT_TIMEOUT,
            http: None,
        }
    }

    /// The vault's base URL, ending in `/`.
    pub fn vault_url(&self) -> &Url {
        &self.inner.base
    }

    /// Asks the owner for access (`POST /v1/requests`). The grant, if approved, is bound to
    /// `key`. The answer is pending; wait with [`Client::wait_for_decision`].
    pub async fn request_access(
        &self,
        key: &BusinessKey,
        request: &AccessRequest,
    ) -> Result<AccessRequestStatus> {
        let body = request.body(key)?;
        let response = self
            .inner
            .http
            .post(self.url("v1/requests"))
            .json(&body)
            .send()
            .await
            .map_err(Error::Transport)?;
        json(response).await
    }

    /// Where a request stands (`GET /v1/requests/{id}`).
    pub async fn request_status(&self, id: &str) -> Result<AccessRequestStatus> {
        let valid = (1..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(Error::Invalid(format!("{id:?} is not a request id")));
        }
        let response = self
            .inner
            .http
            .get(self.url(&format!("v1/requests/{id}")))
            .send()
            .await
            .map_err(Error::Transport)?;
        json(response).await
    }

    /// Polls a request every `poll_interval` until the owner decides or `timeout` passes
    /// ([`Error::Timeout`]). Transient failures (network, 429, 502-504) are retried until the
    /// deadline; any other error ends the wait.
    pub async fn wait_for_decision(
        &self,
        id: &str,
        poll_interval: Duration,
        timeout: Duration,
    ) -> Result<Decision> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pause = poll_interval.max(MIN_POLL_INTERVAL);
            match self.request_status(id).await {
                Ok(status) => {
                    if let Some(decision) = Decision::from_status(&status)? {
                        return Ok(decision);
                    }
                }
                Err(Error::TooManyRequests {
                    retry_after: Some(after),
                    ..
                }) => pause = pause.max(after),
                Err(err) if err.is_transient() => {}
                Err(err) => return Err(err),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(timeout));
            }
            tokio::time::sleep(pause.min(left)).await;
        }
    }

    /// Reads the granted data (`GET /v1/data`), or the `fields` of it named (each inside the
    /// grant). A token bound to a key is sent with a fresh DPoP proof made with `key`; a token
    /// bound to another key fails with [`Error::KeyMismatch`] before anything is sent. An
    /// unbound token is sent as a bearer token.
    pub async fn fetch_data(
        &self,
        key: &BusinessKey,
        token: &str,
        fields: Option<&[&str]>,
    ) -> Result<Value> {
        #[derive(Deserialize)]
        struct Binding {
            cnf: Option<Confirmation>,
        }
        let binding: Binding = unverified_payload(token)?;
        let mut url = self.url("v1/data");
        // RFC 9449 §4.2: `htu` is the target URI without query and fragment.
        let htu = url.as_str().to_owned();
        if let Some(fields) = fields {
            if fields.is_empty() {
                return Err(Error::Invalid(
                    "name at least one field, or pass None".into(),
                ));
            }
            for field in fields {
                kluis_core::Pointer::parse(field)
                    .map_err(|e| Error::Invalid(format!("field {field:?}: {e}")))?;
            }
            url.query_pairs_mut()
                .append_pair("fields", &fields.join(","));
        }
        let request = self.inner.http.get(url);
        let request = match binding.cnf {
            Some(Confirmation { jkt }) => {
                let actual = key.thumbprint();
                if jkt != actual {
                    return Err(Error::KeyMismatch {
                        expected: jkt,
                        actual,
                    });
                }
                let proof = dpop::make_proof(
                    key.signing_key(),
                    "GET",
                    &htu,
                    Some(token),
                    &random_jti()?,
                    unix_now(),
                );
                request
                    .header(header::AUTHORIZATION, format!("DPoP {token}"))
                    .header("DPoP", proof)
            }
            None => request.bearer_auth(token),
        };
        let response = request.send().await.map_err(Error::Transport)?;
        json(response).await
    }

    /// Asks the vault whether a token is active (`POST /v1/introspect`, RFC 7662). Unlike
    /// [`Client::verify_token_offline`], this sees revocation.
    pub async fn introspect(&self, key: &BusinessKey, token: &str) -> Result<Introspection> {
        #[derive(Deserialize)]
        struct Binding {
            cnf: Option<Confirmation>,
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let url = self.url("v1/introspect");
        let htu = url.as_str().to_owned();
        let mut request = self.inner.http.post(url).header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        // A key-bound token is only described to the holder of its key (RFC 9449 proof).
        if unverified_payload::<Binding>(token).is_ok_and(|b| b.cnf.is_some()) {
            let proof = dpop::make_proof(
                key.signing_key(),
                "POST",
                &htu,
                Some(token),
                &random_jti()?,
                unix_now(),
            );
            request = request.header("DPoP", proof);
        }
        let response = request.body(body).send().await.map_err(Error::Transport)?;
        json(response).await
    }

    /// Fetches the vault's public keys (`GET /.well-known/jwks.json`) and refreshes the cache
    /// that offline verification uses.
    pub async fn jwks(&self) -> Result<Arc<Jwks>> {
        self.inner.jwks.refresh(|| self.fetch_jwks()).await
    }

    /// Verifies a grant token without asking the vault about it: signature against the vault's
    /// JWKS (fetched once and cached; fetched again for a `kid` it does not know), type,
    /// issuer, `aud == business_id` and times. It cannot see revocation: use
    /// [`Client::introspect`] or just read with the token for that.
    pub async fn verify_token_offline(
        &self,
        token: &str,
        business_id: &str,
    ) -> Result<GrantClaims> {
        #[derive(Deserialize)]
        struct Issuer {
            iss: String,
        }
        let jwks = self.jwks_for(token).await?;
        let issuer = match &self.inner.issuer {
            Some(issuer) => issuer.clone(),
            None => unverified_payload::<Issuer>(token)?.iss,
        };
        let expect = kluis_core::token::Expectations {
            issuer: &issuer,
            audience: Some(business_id),
            now: unix_now(),
            leeway: self.inner.leeway,
        };
        Ok(kluis_core::token::verify_grant(
            token,
            |kid| jwks.find(kid),
            &expect,
        )?)
    }

    /// Checks a consent receipt's signature against the vault's JWKS (and its CR 1.1 shape) and
    /// returns it. Compare its `aud`, `pii_principal_id` and purposes' `pii_category` with the
    /// grant you got it with.
    pub async fn verify_receipt(&self, receipt: &str) -> Result<ConsentReceipt> {
        let jwks = self.jwks_for(receipt).await?;
        crate::verify::receipt(receipt, &jwks)
    }

    /// The vault's JWKS, cached, fetched again if it lacks the key the JWS names.
    pub(crate) async fn jwks_for(&self, jws: &str) -> Result<Arc<Jwks>> {
        let kid = unverified_kid(jws)?;
        self.inner
            .jwks
            .get(kid.as_deref(), || self.fetch_jwks())
            .await
    }

    async fn fetch_jwks(&self) -> Result<Jwks> {
        let response = self
            .inner
            .http
            .get(self.url(".well-known/jwks.json"))
            .send()
            .await
            .map_err(Error::Transport)?;
        json(response).await
    }

    /// The issuer set with [`ClientBuilder::issuer`], if any.
    pub(crate) fn expected_issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn url(&self, path: &str) -> Url {
        self.inner
            .base
            .join(path)
            .expect("a relative path joins onto an http(s) base")
    }
}

/// The body of a success answer as `T`, or the refusal as a typed error.
pub(crate) async fn json<T: DeserializeOwned>(response: Response) -> Result<T> {
    let status = response.status();
    if !status.is_success() {
        return Err(refusal(response).await);
    }
    let bytes = response.bytes().await.map_err(Error::Transport)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{status} answer: {e}")))
}

pub(crate) async fn refusal(response: Response) -> Error {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"));
    let body = response.bytes().await.ok();
    let parsed = body
        .filter(|_| is_problem)
        .and_then(|bytes| serde_json::from_slice::<Problem>(&bytes).ok());
    let mut problem = parsed.unwrap_or_else(|| Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: None,
        fields: Vec::new(),
        reason: None,
        retry_after: None,
    });
    // The HTTP status is authoritative; the member is advisory (RFC 9457 §3.1.2).
    problem.status = status.as_u16();
    let problem = Box::new(problem);
    match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized { problem },
        StatusCode::FORBIDDEN => Error::Forbidden {
            fields: problem.fields.clone(),
            problem,
        },
        StatusCode::NOT_FOUND => Error::NotFound { problem },
        StatusCode::TOO_MANY_REQUESTS => Error::TooManyRequests {
            retry_after,
            problem,
        },
        _ => Error::Http {
            status: status.as_u16(),
            problem,
        },
    }
}

/// A JWS's payload, read without checking anything: only to choose how to send or check it.
pub(crate) fn unverified_payload<T: DeserializeOwned>(token: &str) -> Result<T> {
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    Ok(serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?)
}

/// A JWS's `kid`, read without checking anything: only to pick the key to check it with.
fn unverified_kid(token: &str) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Kid {
        kid: Option<String>,
    }
    let header = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: Kid = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    Ok(header.kid)
}

/// 128 random bits: a DPoP `jti` that will not repeat.
pub(crate) fn random_jti() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_prefix() {
        let client = Client::new("http://vault.example/kluis").unwrap();
        assert_eq!(
            client.url("v1/data").as_str(),
            "http://vault.example/kluis/v1/data"
        );
        let https = Client::new("https://vault.example/");
        if crate::tls::HAS_TLS {
            assert_eq!(
                https.unwrap().url("v1/data").as_str(),
                "https://vault.example/v1/data"
            );
        } else {
            assert!(matches!(https, Err(Error::Invalid(_))));
        }
        let client = Client::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            client.url(".well-known/jwks.json").as_str(),
            "http://127.0.0.1:8080/.well-known/jwks.json"
        );
        for bad in [
            "vault.example",
            "ftp://vault.example",
            "https://v.example/?a=b",
        ] {
            assert!(matches!(Client::new(bad), Err(Error::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn jtis_differ() {
        assert_ne!(random_jti().unwrap(), random_jti().unwrap());
        assert_eq!(random_jti().unwrap().len(), 22);
    }

    #[test]
    fn unverified_parts_refuse_junk() {
        assert!(matches!(
            unverified_kid("%%%.x.y"),
            Err(Error::Token(TokenError::Malformed))
        ));
        #[derive(Deserialize)]
        struct Any {}
        assert!(matches!(
            unverified_payload::<Any>("onlyone"),
            Err(Error::Token(TokenError::Malformed))
        ));
    }
}
