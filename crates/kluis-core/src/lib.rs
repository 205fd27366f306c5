//! Kluis domain rules: the vault document and its JSON Pointers, grants and their signed tokens,
//! access requests and the consent receipts their approval yields, the contact policy and the
//! decision on each contact attempt, and the owner's inbox with its delivery receipts.
//! No I/O lives here: storage, HTTP and the CLI build on these types.

pub mod access;
pub mod budget;
pub mod contact;
pub mod document;
pub mod dpop;
pub mod error;
pub mod grant;
mod id;
pub mod inbox;
pub mod jose;
pub mod notify;
pub mod passphrase;
pub mod pointer;
pub mod receipt;
pub mod relationship;
pub mod request;
pub mod token;
pub mod webhook;
pub mod wire;

pub use error::{Error, Result};
pub use pointer::Pointer;
