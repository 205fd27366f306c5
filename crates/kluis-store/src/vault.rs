//! Creating, unlocking and re-keying a vault file; one [`Vault`] is one SQLite connection.

use std::cell::{Cell, RefCell};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use crate::crypto::{self, KdfParams, Keys, Passphrase, Secret32};
use crate::error::{Result, StoreError};
use crate::logfile::{LOG_FILE, LogFile};
use crate::schema;

/// The database file inside a vault directory.
pub const DB_FILE: &str = "vault.db";

/// An unlocked vault's identity and keys, shareable between connections (threads, tasks).
#[derive(Clone)]
pub struct Unlocked {
    pub(crate) keys: Arc<Keys>,
    pub(crate) id: [u8; 16],
}

impl Unlocked {
    fn from_data_key(id: [u8; 16], data_key: &Secret32) -> Self {
        Self {
            keys: Arc::new(Keys::from_data_key(data_key)),
            id,
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The vault's random identifier, as hex (not secret; part of the token issuer).
    pub fn id_hex(&self) -> String {
        crypto::hex(&self.id)
    }

    /// The place a sealed value is bound to: table, vault and row key.
    pub(crate) fn place(&self, table: &str, key: &[u8]) -> Vec<u8> {
        let mut place = Vec::with_capacity(table.len() + 1 + 16 + key.len());
        place.extend_from_slice(table.as_bytes());
        place.push(0);
        place.extend_from_slice(&self.id);
        place.extend_from_slice(key);
        place
    }

    /// The `iss` of this vault's tokens.
    pub fn issuer(&self) -> String {
        format!("urn:kluis:vault:{}", self.id_hex())
    }

    /// The keyed hash under which a grant's token is remembered: the vault never stores the
    /// bearer token itself, yet recognizes exactly the token it issued.
    pub fn token_hash(&self, token: &str) -> [u8; 32] {
        self.keys.lookup("grant-token", token)
    }

    /// The owner's pseudonym for one business: stable for that business, unlinkable across
    /// businesses without the vault's key.
    pub fn pairwise_subject(&self, audience: &str) -> String {
        crypto::hex(&self.keys.lookup("pairwise-subject", audience)[..16])
    }
}

/// An open, unlocked vault.
pub struct Vault {
    pub(crate) conn: Connection,
    pub(crate) unlocked: Unlocked,
    path: PathBuf,
    /// The access log file, opened at the first append.
    pub(crate) log: RefCell<Option<LogFile>>,
    /// Whether appends to it are flushed to the disk before they return.
    pub(crate) log_fsync: Cell<bool>,
    /// The records appended inside the open transaction (each append's JSON array), retracted
    /// if it does not commit.
    pub(crate) appended: RefCell<Vec<zeroize::Zeroizing<Vec<u8>>>>,
}

impl Vault {
    /// Creates a new vault in `dir` (made if missing) under `passphrase`.
    pub fn create(dir: &Path, passphrase: &Passphrase, params: KdfParams) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(kluis_core::Error::invalid("the passphrase must not be empty").into());
        }
        let params = params.check()?;
        let path = dir.join(DB_FILE);
        if path.exists() {
            return Err(StoreError::AlreadyExists(path));
        }
        let log_path = dir.join(LOG_FILE);
        if log_path.exists() {
            return Err(StoreError::AlreadyExists(log_path));
        }
        // Everything that can fail for reasons other than the disk happens before the file exists.
        let mut id = [0u8; 16];
        crypto::fill_random(&mut id)?;
        let mut salt = [0u8; 16];
        crypto::fill_random(&mut salt)?;
        let data_key = Secret32::random()?;
        let kdf = params.to_json(&salt);
        let kek = crypto::derive_kek(passphrase, &salt, params)?;
        let wrapped = crypto::wrap(&kek, &key_binding(&id, &kdf), &data_key)?;

        let unlocked = Unlocked::from_data_key(id, &data_key);

        create_private_dir(dir)?;
        let mut conn = Connection::open(&path)?;
        restrict_file(&path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The log file first, named in the same transaction as the key record: a vault either
        // has both or is not a vault yet.
        let log_id = LogFile::create(&log_path, &unlocked)?;
        let insert = "INSERT INTO meta (name, value) VALUES (?1, ?2)";
        tx.execute(insert, ("vault_id", &id[..]))?;
        tx.execute(insert, ("kdf", kdf.as_bytes()))?;
        tx.execute(insert, ("wrapped_key", &wrapped))?;
        tx.execute(insert, ("log_file", Self::log_marker(&unlocked, &log_id)))?;
        tx.commit()?;

        Self::unlocked_with(conn, path, unlocked)
    }

    /// Unlocks the vault in `dir`. A wrong passphrase changes nothing on disk.
    pub fn open(dir: &Path, passphrase: &Passphrase) -> Result<Self> {
        let (mut conn, path) = connect_existing(dir)?;
        let (id, kdf, wrapped) = read_key_record(&conn)?;
        let (params, salt) = KdfParams::from_json(&kdf)?;
        let kek = crypto::derive_kek(passphrase, &salt, params)?;
        let data_key = crypto::unwrap(&kek, &key_binding(&id, &kdf), &wrapped)?;
        schema::migrate(&mut conn)?;
        Self::unlocked_with(conn, path, Unlocked::from_data_key(id, &data_key))
    }

    /// Checks `passphrase` against this vault's key record (Argon2id, slow by design: call it
    /// off any async runtime). `WrongPassphrase` if it does not unlock this vault's key.
    pub fn verify_passphrase(&self, passphrase: &Passphrase) -> Result<()> {
        let (id, kdf, wrapped) = read_key_record(&self.conn)?;
        let (params, salt) = KdfParams::from_json(&kdf)?;
        let kek = crypto::derive_kek(passphrase, &salt, params)?;
        let data_key = crypto::unwrap(&kek, &key_binding(&id, &kdf), &wrapped)?;
        if id != self.unlocked.id || data_key.bytes() != self.unlocked.keys.data_key_bytes() {
            return Err(StoreError::WrongPassphrase);
        }
        Ok(())
    }

    /// A vault over `conn` with `unlocked`'s keys, with a signing key made if it has none.
    fn unlocked_with(conn: Connection, path: PathBuf, unlocked: Unlocked) -> Result<Self> {
        let vault = Self::over(conn, path, unlocked);
        vault.ensure_signing_key(unix_now())?;
        Ok(vault)
    }

    fn over(conn: Connection, path: PathBuf, unlocked: Unlocked) -> Self {
        Self {
            conn,
            unlocked,
            path,
            log: RefCell::new(None),
            log_fsync: Cell::new(true),
            appended: RefCell::new(Vec::new()),
        }
    }

    /// Another connection to an already unlocked vault, without running the KDF again.
    pub fn connect(dir: &Path, unlocked: &Unlocked) -> Result<Self> {
        let (conn, path) = connect_existing(dir)?;
        let (id, _, _) = read_key_record(&conn)?;
        if id != unlocked.id {
            return Err(StoreError::Conflict(
                "these keys belong to another vault".into(),
            ));
        }
        Ok(Self::over(conn, path, unlocked.clone()))
    }

    /// Appends to the access log through this connection are written but not flushed to the
    /// disk (`fdatasync`) before they return: a record survives a crash of the process, but an
    /// operating-system crash or power loss may drop the last ones. For the grant API's access
    /// log, where the flush bounds the throughput (docs/performance.md).
    pub fn log_without_fsync(&self) {
        self.log_fsync.set(false);
    }

    pub fn unlocked(&self) -> &Unlocked {
        &self.unlocked
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-wraps the data key under a new passphrase; stored data is not re-encrypted.
    pub fn change_passphrase(&self, new: &Passphrase, params: KdfParams) -> Result<()> {
        if new.is_empty() {
            return Err(kluis_core::Error::invalid("the passphrase must not be empty").into());
        }
        let params = params.check()?;
        let mut salt = [0u8; 16];
        crypto::fill_random(&mut salt)?;
        let kdf = params.to_json(&salt);
        let kek = crypto::derive_kek(new, &salt, params)?;
        let data_key = Secret32::from_bytes(*self.unlocked.keys.data_key_bytes());
        let wrapped = crypto::wrap(&kek, &key_binding(&self.unlocked.id, &kdf), &data_key)?;
        self.in_transaction(|v| {
            let update = "UPDATE meta SET value = ?2 WHERE name = ?1";
            v.conn.execute(update, ("kdf", kdf.as_bytes()))?;
            v.conn.execute(update, ("wrapped_key", &wrapped))?;
            Ok(())
        })
    }

    /// Runs `work` in one IMMEDIATE transaction: committed if it returns `Ok`, rolled back if not.
    ///
    /// Inside another `in_transaction` (SQLite cannot nest BEGIN) `work` runs in a savepoint of
    /// the outer transaction instead: its writes are undone on its own error and otherwise
    /// commit with the outer one. So store operations built on this compose, e.g. an approval
    /// made of a new grant (itself a transaction), a receipt and the decision. (The access log
    /// is not part of the transaction: see [`Vault::append_log`]. Records appended in a
    /// transaction or savepoint that then does not commit are retracted when it ends.)
    pub fn in_transaction<T>(&self, work: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            let mark = self.appended.borrow().len();
            self.conn.execute_batch("SAVEPOINT nested")?;
            return match work(self) {
                Ok(out) => {
                    self.conn.execute_batch("RELEASE nested")?;
                    Ok(out)
                }
                Err(err) => {
                    self.conn
                        .execute_batch("ROLLBACK TO nested; RELEASE nested")?;
                    self.retract_appended_since(mark, &err);
                    Err(err)
                }
            };
        }
        let tx = self.immediate()?;
        // What a transaction not opened here appended is not this one's to retract.
        self.appended.borrow_mut().clear();
        let out = match work(self) {
            Ok(out) => tx.commit().map(|()| out).map_err(StoreError::from),
            Err(err) => {
                drop(tx);
                Err(err)
            }
        };
        if let Err(err) = &out {
            self.retract_appended_since(0, err);
        }
        self.end_log_transaction(out.is_ok());
        out
    }

    /// Runs `work` on one snapshot of the database (a read transaction): what it reads is
    /// consistent, and commits by other connections meanwhile are not seen.
    pub fn in_read_transaction<T>(&self, work: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let out = work(self)?;
        tx.commit()?;
        Ok(out)
    }

    /// Starts a write transaction that takes the write lock at once, so a concurrent writer
    /// waits (see `schema::configure`) instead of failing half-way.
    pub(crate) fn immediate(&self) -> Result<Transaction<'_>> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    /// The place a sealed value is bound to: table, vault and row key.
    pub(crate) fn place(&self, table: &str, key: &[u8]) -> Vec<u8> {
        self.unlocked.place(table, key)
    }

    /// A `meta` row's value, if the row is there.
    pub(crate) fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }
}

/// What the wrapped data key is bound to: the vault id and the exact KDF record, so a record
/// with lowered parameters or from another vault does not unwrap.
fn key_binding(id: &[u8; 16], kdf: &str) -> Vec<u8> {
    let mut binding = b"kluis/data-key/v1\0".to_vec();
    binding.extend_from_slice(id);
    binding.extend_from_slice(kdf.as_bytes());
    binding
}

/// Seconds since 1970 by the system clock.
pub fn unix_now() -> i64 {
    unix_now_ms() / 1000
}

/// Milliseconds since 1970 by the system clock (access-log times).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn connect_existing(dir: &Path) -> Result<(Connection, PathBuf)> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(StoreError::NoVault(dir.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > schema::LATEST {
        return Err(StoreError::TooNew {
            found,
            supported: schema::LATEST,
        });
    }
    schema::configure(&conn)?;
    Ok((conn, path))
}

fn read_key_record(conn: &Connection) -> Result<([u8; 16], String, Vec<u8>)> {
    let get = |name: &str| -> Result<Vec<u8>> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| StoreError::Tampered(format!("the vault's {name} record is missing")))
    };
    let id: [u8; 16] = get("vault_id")?
        .try_into()
        .map_err(|_| StoreError::Tampered("the vault id is malformed".into()))?;
    let kdf = String::from_utf8(get("kdf")?)
        .map_err(|_| StoreError::Tampered("the key record is unreadable".into()))?;
    Ok((id, kdf, get("wrapped_key")?))
}

/// Creates the vault directory readable by the owner only; an existing directory keeps its
/// permissions (it may be the user's home).
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

pub(crate) fn restrict_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
