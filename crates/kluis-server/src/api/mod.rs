//! The grant API: what businesses call with a grant token (reads, introspection, access
//! requests, keys, health, the spec). Errors are RFC 9457 problem+json ([`ApiError`]).

pub(crate) mod contact;
pub mod error;
pub(crate) mod inbox;
pub mod openapi;
pub(crate) mod relationship;
pub(crate) mod requests;
pub(crate) mod routes;
pub(crate) mod subscriptions;
pub(crate) mod webhook_key;

pub use error::ApiError;
pub use routes::router;
