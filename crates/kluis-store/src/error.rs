//! The store's error type. Messages are for the owner; none carries a key, a value or a name.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the passphrase is wrong (or the vault's key record was altered); nothing was changed")]
    WrongPassphrase,
    /// `kluis restore` put the backup in place, and the passphrase given does not unlock it.
    #[error(
        "the backup was restored into {0}, but this passphrase does not unlock it: the vault now \
         takes the passphrase it had when the backup was made"
    )]
    RestoredWrongPassphrase(PathBuf),
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

    /// Whether this failed because the disk holding the vault is full (or over its quota):
    /// `ENOSPC`/`EDQUOT` from a file, `SQLITE_FULL` from SQLite, or SQLite failing to grow a
    /// `-shm` index, which on a full disk is how opening a database fails.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Io(e) => is_full_io(e),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
                    || e.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE
            }
            _ => false,
        }
    }
}

fn is_full_io(e: &std::io::Error) -> bool {
    // ENOSPC and EDQUOT on Linux and the BSDs alike (28; 122 on Linux, 69 on the BSDs).
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28))
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_from_other_failures() {
        let full = StoreError::Io(std::io::Error::from_raw_os_error(28));
        assert!(full.is_disk_full());
        let denied = StoreError::Io(std::io::Error::from_raw_os_error(13));
        assert!(!denied.is_disk_full());
        let sqlite = |code| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        assert!(sqlite(rusqlite::ffi::SQLITE_FULL).is_disk_full());
        assert!(sqlite(rusqlite::ffi::SQLITE_IOERR_SHMSIZE).is_disk_full());
        assert!(!sqlite(rusqlite::ffi::SQLITE_BUSY).is_disk_full());
        assert!(!StoreError::Tampered("x".into()).is_disk_full());
    }
}
