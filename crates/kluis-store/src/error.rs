//! The store's error type. Messages are for the owner; none carries a key, a value or a name.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the passphrase is wrong (or the vault's key record was altered); nothing was changed")]
    WrongPassphrase,
    #[error("the vault has been tampered with: {0}")]
    Tampered(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A bound on waiting work is reached (e.g. pending access requests); try again later.
    #[error("{0}")]
    TooMany(String),
    #[error(transparent)]
    Invalid(#[from] kluis_core::Error),
    #[error("no vault at {0}; create one with `kluis init`")]
    NoVault(PathBuf),
    #[error("a vault already exists at {0}")]
    AlreadyExists(PathBuf),
    #[error(
        "the vault was written by a newer Kluis (schema {found}, this build knows up to {supported}); upgrade Kluis"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
