//! The error type of the domain rules.

/// What went wrong in a domain rule. `Invalid` is the caller's mistake; the message is meant for
/// the person who made it and never contains secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Token(#[from] crate::token::TokenError),
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
