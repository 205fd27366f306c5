//! Reaching the customer on their terms: `POST /v1/contact/check` with a grant that carries a
//! contact right (authenticated as reads are). With `reserve`, an allowed answer also counts
//! the contact against the customer's caps: use it right before a mail or a call the vault
//! cannot see.

use kluis_core::contact::{ContactAnswer, ContactCheck};
use reqwest::Method;

use crate::client::{Client, json};
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
