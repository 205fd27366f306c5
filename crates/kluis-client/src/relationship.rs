//! Adding to the business's own record in the customer's vault: `POST
//! /v1/relationship/entries` with a grant that carries the append right (authenticated as reads
//! are). The vault answers with a signed entry receipt naming the SHA-256 of the exact body
//! sent, which this client checks before handing it back.

use kluis_core::relationship::post::verify_entry_receipt;
use kluis_core::relationship::{EntryPost, EntryReceipt, EntryStored};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use crate::client::{Client, json, unverified_payload};
use crate::error::{Error, Result};
use crate::key::BusinessKey;

/// An entry the vault stored: its id and the vault's signed receipt, checked.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub id: String,
    /// The entry receipt as the vault signed it (a compact JWS typed `kluis-entry+jwt`): keep
    /// it as proof of what was recorded, and when.
    pub receipt: String,
    /// Its claims, verified: the vault's signature (JWKS), issuer, audience (this business),
    /// and that its hash is of the body sent.
    pub claims: EntryReceipt,
}

impl Client {
    /// Adds `post` (a document, a promise or an interaction) to this business's record in the
    /// customer's vault. Over a quota: [`Error::TooManyRequests`] (a day's entries) or
    /// [`Error::Http`] 413 (the bytes in all).
    pub async fn add_entry(
        &self,
        key: &BusinessKey,
        token: &str,
        post: &EntryPost,
    ) -> Result<Recorded> {
        #[derive(Deserialize)]
        struct Grant {
            iss: String,
            aud: String,
        }
        post.clone()
            .check()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let grant: Grant = unverified_payload(token)?;
        let body = serde_json::to_vec(post).map_err(|e| Error::Invalid(e.to_string()))?;
        let request = self.with_grant(key, token, Method::POST, "v1/relationship/entries")?;
        let request = request
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        let stored: EntryStored = json(request.send().await.map_err(Error::Transport)?).await?;
        let claims = self
            .verify_entry_receipt(&stored.receipt, &grant.iss, &grant.aud)
            .await?;
        if claims.jti != stored.id || !claims.covers(&body) {
            return Err(Error::Decode(
                "the entry receipt is not of the entry sent".into(),
            ));
        }
        Ok(Recorded {
            id: stored.id.to_string(),
            receipt: stored.receipt,
            claims,
        })
    }

    /// Checks an entry receipt's signature against the vault's JWKS, its `typ`, issuer and
    /// audience (`business_id`), and returns its claims.
    pub async fn verify_entry_receipt(
        &self,
        receipt: &str,
        issuer: &str,
        business_id: &str,
    ) -> Result<EntryReceipt> {
        let jwks = self.jwks_for(receipt).await?;
        let issuer = self.expected_issuer().unwrap_or(issuer);
        Ok(verify_entry_receipt(
            receipt,
            |kid| jwks.find(kid),
            issuer,
            business_id,
        )?)
    }
}
