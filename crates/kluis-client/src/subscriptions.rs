//! Subscribing to change notifications with a grant: `POST /v1/subscriptions`, listing,
//! deleting and rotating the secret, each authenticated as reads are (Bearer, or DPoP with a
//! fresh proof for a key-bound grant). What arrives is checked with
//! [`crate::WebhookVerifier`].

use kluis_core::dpop;
use kluis_core::token::Confirmation;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::{Client, json, random_jti, refusal, unix_now, unverified_payload};
use crate::error::{Error, Result};
use crate::key::BusinessKey;

/// A new subscription, with the secret the vault shows only once: keep it as secret as the key.
#[derive(Clone, Deserialize)]
pub struct Subscribed {
    pub id: String,
    pub url: String,
    pub payload: String,
    /// `whsec_…`: the `v1` signatures' secret.
    pub secret: Zeroizing<String>,
    /// `whpk_…`: the vault's key of the `v1a` signatures.
    pub public_key: String,
}

impl std::fmt::Debug for Subscribed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribed")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("payload", &self.payload)
            .field("secret", &"<redacted>")
            .field("public_key", &self.public_key)
            .finish()
    }
}

/// A subscription as listed.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    pub payload: String,
    pub created_at: i64,
    /// `active`, `paused` or `ended`.
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A rotated secret; the previous one also signs until `previous_valid_until`.
#[derive(Clone, Deserialize)]
pub struct Rotated {
    pub id: String,
    pub secret: Zeroizing<String>,
    pub previous_valid_until: i64,
}

impl Client {
    /// Subscribes the grant of `token` to its changes at `url`, `full` with the new values or
    /// thin (the changed pointers only).
    pub async fn subscribe(
        &self,
        key: &BusinessKey,
        token: &str,
        url: &str,
        full: bool,
    ) -> Result<Subscribed> {
        #[derive(Serialize)]
        struct Body<'a> {
            url: &'a str,
            payload: &'a str,
        }
        let body = Body {
            url,
            payload: if full { "full" } else { "thin" },
        };
        let request = self.with_grant(key, token, Method::POST, "v1/subscriptions")?;
        json(request.json(&body).send().await.map_err(Error::Transport)?).await
    }

    /// The subscriptions of the grant of `token`.
    pub async fn subscriptions(&self, key: &BusinessKey, token: &str) -> Result<Vec<Subscription>> {
        let request = self.with_grant(key, token, Method::GET, "v1/subscriptions")?;
        json(request.send().await.map_err(Error::Transport)?).await
    }

    /// Ends a subscription of the grant of `token`.
    pub async fn unsubscribe(&self, key: &BusinessKey, token: &str, id: &str) -> Result<()> {
        let path = format!("v1/subscriptions/{}", checked_id(id)?);
        let request = self.with_grant(key, token, Method::DELETE, &path)?;
        let response = request.send().await.map_err(Error::Transport)?;
        if response.status() == StatusCode::NO_CONTENT {
            Ok(())
        } else {
            Err(refusal(response).await)
        }
    }

    /// Gives a subscription a new secret; the old one keeps signing for 24 hours.
    pub async fn rotate_subscription_secret(
        &self,
        key: &BusinessKey,
        token: &str,
        id: &str,
    ) -> Result<Rotated> {
        let path = format!("v1/subscriptions/{}/rotate-secret", checked_id(id)?);
        let request = self.with_grant(key, token, Method::POST, &path)?;
        json(request.send().await.map_err(Error::Transport)?).await
    }

    /// A request to `path` carrying the grant: Bearer, or DPoP with a proof for this method
    /// and URL when the token is bound to a key (which must be `key`).
    pub(crate) fn with_grant(
        &self,
        key: &BusinessKey,
        token: &str,
        method: Method,
        path: &str,
    ) -> Result<RequestBuilder> {
        #[derive(Deserialize)]
        struct Binding {
            cnf: Option<Confirmation>,
        }
        let binding: Binding = unverified_payload(token)?;
        let url = self.url(path);
        let htu = url.as_str().to_owned();
        let request = self.http().request(method.clone(), url);
        Ok(match binding.cnf {
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
                    method.as_str(),
                    &htu,
                    Some(token),
                    &random_jti()?,
                    unix_now(),
                );
                request
                    .header(reqwest::header::AUTHORIZATION, format!("DPoP {token}"))
                    .header("DPoP", proof)
            }
            None => request.bearer_auth(token),
        })
    }
}

/// A subscription id has the vault's shape; anything else is not sent.
fn checked_id(id: &str) -> Result<&str> {
    if kluis_core::notify::is_subscription_id(id) {
        Ok(id)
    } else {
        Err(Error::Invalid(format!("{id:?} is not a subscription id")))
    }
}
