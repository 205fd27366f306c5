//! The Kluis business SDK. A business asks a customer's vault for some of their data, for a
//! purpose; the customer (the vault's owner) approves or denies; an approved request yields a
//! grant token bound to the business's own key (DPoP, RFC 9449) and a signed consent receipt.
//! Every read then carries the token and a fresh proof made with that key, so a leaked token
//! alone reads nothing.
//!
//! ```no_run
//! use std::time::Duration;
//! use kluis_client::{AccessRequest, BusinessInfo, BusinessKey, Client, Decision, Error};
//!
//! # async fn run() -> Result<(), Error> {
//! // Made once, kept in a 0600 file outside the working directory: grants are bound to it.
//! let key = BusinessKey::load_or_generate("/var/lib/webshop/kluis-key.jwk")?;
//! let vault = Client::new("https://vault.example")?;
//!
//! // Who asks: the consent receipt names its contact, e-mail, postal address and phone.
//! let business = BusinessInfo::new("webshop.example", "De Webwinkel")
//!     .with_contact("Privacy Office")
//!     .with_email("privacy@webshop.example")
//!     .with_address("Keizersgracht 1, 1015 AA Amsterdam")
//!     .with_phone("+31 20 123 4567");
//! let ask = AccessRequest::new(business, ["/profile/email", "/profile/address"], "order delivery")
//!     .category("contract")
//!     .duration(Duration::from_secs(30 * 24 * 3600));
//! let pending = vault.request_access(&key, &ask).await?;
//! println!("ask the owner to run: kluis requests approve {}", pending.id);
//!
//! match vault
//!     .wait_for_decision(&pending.id, Duration::from_secs(1), Duration::from_secs(600))
//!     .await?
//! {
//!     Decision::Approved(grant) => {
//!         // Keep grant.token (secret) and grant.receipt (evidence of consent).
//!         let receipt = vault.verify_receipt(&grant.receipt).await?;
//!         let claims = vault.verify_token_offline(&grant.token, "webshop.example").await?;
//!         println!("customer {} granted {:?}", claims.sub, grant.fields);
//!         println!("consent receipt {} of {}", receipt.consent_receipt_id, receipt.consent_timestamp);
//!         let data = vault.fetch_data(&key, &grant.token, None).await?;
//!         println!("{data:#}");
//!         // Later reads may narrow to some of the granted fields.
//!         match vault.fetch_data(&key, &grant.token, Some(&["/profile/email"])).await {
//!             Ok(email) => println!("{email}"),
//!             Err(Error::Unauthorized { .. }) => println!("revoked or expired: ask again"),
//!             Err(Error::Forbidden { fields, .. }) => println!("not granted: {fields:?}"),
//!             Err(other) => return Err(other),
//!         }
//!     }
//!     Decision::Denied { reason } => println!("denied: {}", reason.unwrap_or_default()),
//!     Decision::Expired => println!("the owner did not decide in time"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Change notifications (Standard Webhooks deliveries from the vault) are checked and read by
//! [`WebhookVerifier`]; see the [`webhook`] module.
//!
//! TLS: the default `rustls` feature uses reqwest's rustls with aws-lc-rs; `rustls-ring` (with
//! `default-features = false`) uses ring instead. See `docs/sdk.md` for the whole integration.

mod client;
mod contact;
mod error;
mod key;
mod relationship;
mod request;
mod subscriptions;
mod tls;
mod verify;
pub mod webhook;

pub use client::{Client, ClientBuilder, DEFAULT_LEEWAY_SECS, DEFAULT_TIMEOUT};
pub use contact::Delivered;
pub use error::{Error, Result};
pub use key::BusinessKey;
pub use relationship::Recorded;
pub use request::{AccessRequest, Decision, Grant};
pub use subscriptions::{Rotated, Subscribed, Subscription};
pub use webhook::{Notification, VerifyError, WebhookVerifier};

pub use kluis_core::contact::{ContactAnswer, ContactRight, Reason as ContactReason};
pub use kluis_core::inbox::{DeliveryReceipt, InboxPost, MessageId};
pub use kluis_core::jose::{Jwk, Jwks};
pub use kluis_core::receipt::{ConsentReceipt, RECEIPT_TYP};
pub use kluis_core::relationship::{EntryPost, EntryReceipt, EntryStored};
pub use kluis_core::token::{GrantClaims, TokenError};
pub use kluis_core::wire::{
    AccessRequestStatus, BusinessInfo, Introspection, Problem, RequestStatus,
};
