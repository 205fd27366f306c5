//! Kluis domain rules: the vault document and its JSON Pointers, grants and their signed tokens.
//! No I/O lives here: storage, HTTP and the CLI build on these types.

pub mod access;
pub mod document;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod jose;
pub mod pointer;
pub mod token;
pub mod wire;

pub use error::{Error, Result};
pub use pointer::Pointer;
