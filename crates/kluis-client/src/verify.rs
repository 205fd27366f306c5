//! Offline checks against the vault's published keys: the JWKS cache, and consent receipts.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kluis_core::jose::Jwks;
use kluis_core::receipt::ConsentReceipt;
use tokio::sync::Mutex;

use crate::error::Result;

/// A cached JWKS is used this long before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(300);
/// A `kid` missing from the cache triggers a fetch, but not more often than this: a stream of
/// tokens with made-up `kid`s must not turn into a stream of requests to the vault.
const MIN_REFRESH: Duration = Duration::from_secs(10);

/// The vault's keys as last fetched. The lock is held across a fetch, so concurrent callers
/// that all miss wait for one fetch instead of each making their own.
#[derive(Debug, Default)]
pub(crate) struct JwksCache {
    cached: Mutex<Option<(Arc<Jwks>, Instant)>>,
}

impl JwksCache {
    /// The cached keys, fetched anew when stale or when they lack `kid`.
    pub(crate) async fn get<F, Fut>(&self, kid: Option<&str>, fetch: F) -> Result<Arc<Jwks>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Jwks>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some((jwks, fetched)) = cached.as_ref() {
            let age = fetched.elapsed();
            let knows_kid =
                kid.is_none_or(|kid| jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
            if age < JWKS_TTL && (knows_kid || age < MIN_REFRESH) {
                return Ok(Arc::clone(jwks));
            }
        }
        let jwks = Arc::new(fetch().await?);
        *cached = Some((Arc::clone(&jwks), Instant::now()));
        Ok(jwks)
    }

    /// Fetches the keys whatever the cache holds.
    pub(crate) async fn refresh<F, Fut>(&self, fetch: F) -> Result<Arc<Jwks>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Jwks>>,
    {
        let mut cached = self.cached.lock().await;
        let jwks = Arc::new(fetch().await?);
        *cached = Some((Arc::clone(&jwks), Instant::now()));
        Ok(jwks)
    }
}

/// Checks a receipt: signature by a key in `jwks`, type, CR 1.1 version and id (see
/// [`kluis_core::receipt::verify_receipt`]).
pub(crate) fn receipt(receipt: &str, jwks: &Jwks) -> Result<ConsentReceipt> {
    Ok(kluis_core::receipt::verify_receipt(receipt, |kid| {
        jwks.find(kid)
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use kluis_core::jose::Jwk;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn vault_key() -> (SigningKey, Jwks, String) {
        let key = SigningKey::from_bytes(&[5; 32]);
        let jwk = Jwk::from_verifying_key(&key.verifying_key());
        let kid = jwk.kid.clone().unwrap();
        (key, Jwks { keys: vec![jwk] }, kid)
    }

    #[tokio::test]
    async fn the_cache_fetches_once_and_again_for_an_unknown_kid_only_after_a_pause() {
        let (_, jwks, kid) = vault_key();
        let cache = JwksCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok(jwks.clone())
        };
        cache.get(Some(&kid), fetch).await.unwrap();
        cache.get(Some(&kid), fetch).await.unwrap();
        cache.get(None, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Just fetched: an unknown kid does not cause another fetch yet.
        cache.get(Some("rotated-in"), fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        cache.refresh(fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }
}
