//! The Kluis vault on disk: one SQLite file (WAL) where every name is a keyed hash and every value
//! is sealed with XChaCha20-Poly1305 under a data key that the owner's passphrase unlocks.

pub mod crypto;
pub mod error;
mod fields;
pub mod schema;
mod vault;

pub use crypto::{KdfParams, Keys, Passphrase};
pub use error::{Result, StoreError};
pub use vault::{DB_FILE, Unlocked, Vault};
