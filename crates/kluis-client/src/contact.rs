//! Reaching the customer on their terms: `POST /v1/contact/check` with a grant that carries a
//! contact right (authenticated as reads are). With `reserve`, an allowed answer also counts
//! the contact against the customer's caps: use it right before a mail or a call the vault
//! cannot see.

use kluis_core::contact::{ContactAnswer, ContactCheck};
use kluis_core::inbox::{self, DeliveryReceipt, InboxDelivered, InboxPost};
use reqwest::Method;
use serde::Deserialize;

use crate::client::{Client, json, unverified_payload};
use crate::error::{Error, Result};
use crate::key::BusinessKey;

impl Client {
    /// May the business reach the customer over `channel` about `topic` now? `reserve` counts
    /// an allowed contact against the customer's caps in the same step.
    pub async fn contact_check(
        &self,
        key: &BusinessKey,
        token: &str,
        channel: &str,
        topic: &str,
        reserve: bool,
    ) -> Result<ContactAnswer> {
        let body = ContactCheck {
            channel: channel.to_owned(),
            topic: topic.to_owned(),
            reserve,
        }
        .validated()
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let request = self.with_grant(key, token, Method::POST, "v1/contact/check")?;
        json(request.json(&body).send().await.map_err(Error::Transport)?).await
    }
}

/// A message delivered to the customer's inbox: its id and the vault's signed receipt, checked.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub id: String,
    /// The delivery receipt as the vault signed it (a compact JWS typed `kluis-delivery+jwt`):
    /// keep it as proof of what was delivered, and when.
    pub receipt: String,
    /// Its claims, verified: the vault's signature (JWKS), issuer, audience (this business),
    /// and that its hash is of the message sent.
    pub claims: DeliveryReceipt,
}

impl Client {
    /// Leaves `post` in the customer's inbox, within their contact policy. A refusal is
    /// [`Error::Forbidden`] (the problem's `reason` says why) or, for quiet hours and caps,
    /// [`Error::TooManyRequests`] with when to try again.
    pub async fn send_message(
        &self,
        key: &BusinessKey,
        token: &str,
        post: &InboxPost,
    ) -> Result<Delivered> {
        #[derive(Deserialize)]
        struct Grant {
            iss: String,
            aud: String,
        }
        post.check().map_err(|e| Error::Invalid(e.to_string()))?;
        let grant: Grant = unverified_payload(token)?;
        let request = self.with_grant(key, token, Method::POST, "v1/inbox")?;
        let delivered: InboxDelivered =
            json(request.json(post).send().await.map_err(Error::Transport)?).await?;
        let claims = self
            .verify_delivery_receipt(&delivered.receipt, &grant.iss, &grant.aud)
            .await?;
        if claims.jti != delivered.id || !claims.covers(post) {
            return Err(Error::Decode(
                "the delivery receipt is not of the message sent".into(),
            ));
        }
        Ok(Delivered {
            id: delivered.id.to_string(),
            receipt: delivered.receipt,
            claims,
        })
    }

    /// Checks a delivery receipt's signature against the vault's JWKS, its `typ`, issuer and
    /// audience (`business_id`), and returns its claims.
    pub async fn verify_delivery_receipt(
        &self,
        receipt: &str,
        issuer: &str,
        business_id: &str,
    ) -> Result<DeliveryReceipt> {
        let jwks = self.jwks_for(receipt).await?;
        let issuer = self.expected_issuer().unwrap_or(issuer);
        Ok(inbox::verify_receipt(
            receipt,
            |kid| jwks.find(kid),
            issuer,
            business_id,
        )?)
    }
}
