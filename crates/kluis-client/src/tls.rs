//! The SDK's own HTTP client: TLS as the crate's features choose, no redirects, bounded time.

use std::time::Duration;

use reqwest::redirect::Policy;

use crate::error::{Error, Result};

/// Whether this build can speak `https` with its own client.
pub(crate) const HAS_TLS: bool = cfg!(any(feature = "rustls", feature = "rustls-ring"));

/// How long an idle pooled connection is kept: under the vault's default header timeout.
const POOL_IDLE: Duration = Duration::from_secs(4);

pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("kluis-client/", env!("CARGO_PKG_VERSION")))
        // A DPoP proof names one URL, and a grant token must not follow a redirect elsewhere.
        .redirect(Policy::none())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        // A vault closes a connection idle for its header timeout (5 s by default): a pooled
        // one kept longer could be reused just as the vault closes it, failing the request.
        .pool_idle_timeout(POOL_IDLE)
        .timeout(timeout);
    #[cfg(feature = "rustls-ring")]
    let builder = builder.tls_backend_preconfigured(ring_config()?);
    builder
        .build()
        .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {e}")))
}

/// rustls with ring and the platform's certificate verifier, for this client only: a library
/// should not pick the process-wide provider for its host program.
#[cfg(feature = "rustls-ring")]
fn ring_config() -> Result<rustls::ClientConfig> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    use std::sync::Arc;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| Error::Invalid(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth();
    Ok(config)
}
