//! Backups of a vault while it is in use, and restoring one (docs/storage.md#backups).
//!
//! A backup is a directory with a copy of each of the vault's files, as they are on disk (sealed:
//! nothing is decrypted), and a manifest naming each with its size and SHA-256, written last.
//! The databases are copied with SQLite's online backup from one read snapshot each; the access
//! log up to the end of its last whole frame. The snapshots are taken, and the log's end fixed,
//! while the log's lock is held: no one appends meanwhile, and every transaction that appended a
//! record has committed (writers keep the lock until their transaction ends). So every record in
//! the copied log was decided on, and is backed by, the copied `vault.db`, and nothing in the
//! copied `vault.db` that is logged lacks its record.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto;
use crate::error::{Result, StoreError};
use crate::logfile::{FRAMES_START, LOG_FILE, PRUNE_FILE, copy_range};
use crate::vault::{DB_FILE, Vault, restrict_file, unix_now_ms};
use crate::{DELIVERIES_FILE, INBOX_FILE, RELATIONSHIPS_FILE};

/// The manifest's name inside a backup directory.
pub const MANIFEST_FILE: &str = "kluis-backup.json";
/// The manifest's `format`.
pub const BACKUP_FORMAT: &str = "kluis-backup/1";
/// The databases beside `vault.db` a backup holds when the vault has them.
const SIDE_FILES: [&str; 3] = [INBOX_FILE, RELATIONSHIPS_FILE, DELIVERIES_FILE];
/// A manifest longer than this is not one.
const MAX_MANIFEST: u64 = 64 << 10;

/// What `kluis-backup.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// When the backup was made, in milliseconds since 1970.
    pub created_ms: i64,
    /// The vault's id (hex), as in its token issuer.
    pub vault_id: String,
    pub log: LogPoint,
    pub files: Vec<BackedUp>,
}

/// Where the copied access log ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPoint {
    /// The last entry's number.
    pub last_seq: i64,
    /// The offset after the last whole frame: the copy's length.
    pub end: u64,
    /// The chain's MAC after the last frame (hex; opaque without the vault's keys).
    pub head_mac: String,
}

/// One copied file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackedUp {
    pub name: String,
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

impl Vault {
    /// Copies this vault into `dir`, which must not exist or be empty, while other connections
    /// and processes (a running server) go on reading and writing. See the module's doc for
    /// what the copy is consistent with.
    pub fn backup(&self, dir: &Path) -> Result<Manifest> {
        if !self.conn.is_autocommit() {
            return Err(StoreError::Conflict(
                "a backup cannot be made inside a transaction".into(),
            ));
        }
        prepare_dir(dir)?;
        let vault_dir = self.path().parent().unwrap_or(Path::new("."));
        let mut sides = Vec::new();
        for name in SIDE_FILES {
            let path = vault_dir.join(name);
            if path.is_file() {
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(&path, flags)?;
                crate::schema::configure(&conn)?;
                sides.push((name, conn));
            }
        }
        // The snapshots, the log's end and its header block, all while no one can append.
        // The frames before that end never change, so they are copied after the lock is let
        // go, from the file open now (a prune meanwhile renames another file into place, and
        // leaves this one's frames as they are).
        let mut snapshots = Vec::new();
        let (source, header, log) = self.with_log_lock(|v| {
            snapshots.push(Snapshot::begin(&self.conn)?);
            for (_, conn) in &sides {
                snapshots.push(Snapshot::begin(conn)?);
            }
            let head = v
                .log_mark()
                .ok_or_else(|| StoreError::Conflict("the access log could not be opened".into()))?
                .head;
            let source = File::open(v.log_path())?;
            let mut header = vec![0u8; FRAMES_START as usize];
            source.read_exact_at(&mut header, 0)?;
            Ok((source, header, head))
        })?;
        copy_log(&source, &header, &dir.join(LOG_FILE), log.end)?;
        copy_database(&self.conn, &dir.join(DB_FILE))?;
        for (name, conn) in &sides {
            copy_database(conn, &dir.join(name))?;
        }
        drop(snapshots);
        let mut files = Vec::new();
        for name in [DB_FILE, LOG_FILE]
            .into_iter()
            .chain(sides.iter().map(|s| s.0))
        {
            let (bytes, sha256) = digest(&mut File::open(dir.join(name))?)?;
            files.push(BackedUp {
                name: name.to_owned(),
                bytes,
                sha256,
            });
        }
        let manifest = Manifest {
            format: BACKUP_FORMAT.to_owned(),
            created_ms: unix_now_ms(),
            vault_id: self.unlocked.id_hex(),
            log: LogPoint {
                last_seq: log.seq,
                end: log.end,
                head_mac: crypto::hex(&log.mac),
            },
            files,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|_| StoreError::Crypto("the manifest could not be encoded"))?;
        write_private(&dir.join(MANIFEST_FILE), &json)?;
        File::open(dir)?.sync_all()?;
        Ok(manifest)
    }
}

/// Restores the backup in `backup` into the vault directory `vault_dir`: checks the manifest
/// and every file's size and SHA-256, refuses an existing vault unless `force`, then puts each
/// file in place by writing it under a temporary name, flushing it and renaming it. With
/// `force`, the files of the vault that was there (its SQLite write-ahead logs, side databases
/// the backup does not have) are removed. Nothing is decrypted: open the vault and run
/// `verify_log` after.
pub fn restore(backup: &Path, vault_dir: &Path, force: bool) -> Result<Manifest> {
    let manifest = read_manifest(backup)?;
    for file in &manifest.files {
        let (bytes, sha256) = digest(&mut open_backed_up(backup, &file.name)?)?;
        check_file(file, bytes, &sha256)?;
    }
    let existing = [DB_FILE, LOG_FILE]
        .iter()
        .map(|name| vault_dir.join(name))
        .find(|path| path.exists());
    if let (Some(path), false) = (existing, force) {
        return Err(StoreError::AlreadyExists(path));
    }
    if !vault_dir.exists() {
        fs::create_dir_all(vault_dir)?;
        fs::set_permissions(
            vault_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
    }
    // Each file copied beside its place and checked again as it is copied.
    let mut staged = Vec::new();
    for file in &manifest.files {
        let temp = vault_dir.join(format!("{}.restore", file.name));
        let copied = stage(&mut open_backed_up(backup, &file.name)?, &temp)
            .and_then(|(bytes, sha256)| check_file(file, bytes, &sha256));
        if let Err(err) = copied {
            let _ = fs::remove_file(&temp);
            for (temp, _) in &staged {
                let _ = fs::remove_file(temp);
            }
            return Err(err);
        }
        staged.push((temp, vault_dir.join(&file.name)));
    }
    // What belonged to the vault that was there goes first: a write-ahead log left beside a
    // restored database would be applied to it.
    let mut leftovers = vec![PRUNE_FILE.to_owned(), format!("{LOG_FILE}.new")];
    for name in [DB_FILE].into_iter().chain(SIDE_FILES) {
        leftovers.push(format!("{name}-wal"));
        leftovers.push(format!("{name}-shm"));
        leftovers.push(format!("{name}-journal"));
        if !manifest.files.iter().any(|f| f.name == name) {
            leftovers.push(name.to_owned());
        }
    }
    for name in leftovers {
        match fs::remove_file(vault_dir.join(name)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
    }
    // The database last, so a vault is there only once its log is.
    staged.sort_by_key(|(_, path)| path.ends_with(DB_FILE));
    for (temp, path) in &staged {
        fs::rename(temp, path)?;
    }
    File::open(vault_dir)?.sync_all()?;
    Ok(manifest)
}

/// Reads and checks a backup's manifest.
pub fn read_manifest(backup: &Path) -> Result<Manifest> {
    let bad = |why: &str| -> StoreError {
        kluis_core::Error::invalid(format!("{} is not a Kluis backup: {why}", backup.display()))
            .into()
    };
    let mut json = Vec::new();
    File::open(backup.join(MANIFEST_FILE))
        .map_err(|_| bad(&format!("it has no {MANIFEST_FILE}")))?
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut json)?;
    if json.len() as u64 > MAX_MANIFEST {
        return Err(bad("its manifest is too long"));
    }
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|_| bad("its manifest is unreadable"))?;
    if manifest.format != BACKUP_FORMAT {
        return Err(bad("its manifest is of another format"));
    }
    let known = |name: &str| [DB_FILE, LOG_FILE].contains(&name) || SIDE_FILES.contains(&name);
    let mut names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    if let Some(name) = names.iter().find(|name| !known(name)) {
        return Err(bad(&format!("its manifest names an unknown file {name:?}")));
    }
    names.sort_unstable();
    names.dedup();
    if names.len() != manifest.files.len() {
        return Err(bad("its manifest names a file twice"));
    }
    if !names.contains(&DB_FILE) || !names.contains(&LOG_FILE) {
        return Err(bad("its manifest lacks vault.db or access.log"));
    }
    Ok(manifest)
}

fn check_file(file: &BackedUp, bytes: u64, sha256: &str) -> Result<()> {
    if bytes != file.bytes || sha256 != file.sha256 {
        return Err(StoreError::Tampered(format!(
            "the backup's {} does not match its manifest (size or SHA-256)",
            file.name
        )));
    }
    Ok(())
}

/// Opens a file of the backup, which must be a regular file: a link to a device or a FIFO
/// put there would be read for ever.
fn open_backed_up(backup: &Path, name: &str) -> Result<File> {
    let path = backup.join(name);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => {}
        Ok(_) => {
            return Err(StoreError::Tampered(format!(
                "the backup's {name} is not a regular file"
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::Tampered(format!(
                "the backup's {name} is missing"
            )));
        }
        Err(err) => return Err(err.into()),
    }
    Ok(File::open(path)?)
}

/// A read transaction held open on a connection: what it reads is one snapshot, also for an
/// online backup from it. Ended when dropped.
struct Snapshot<'c>(&'c Connection);

impl<'c> Snapshot<'c> {
    fn begin(conn: &'c Connection) -> Result<Self> {
        conn.execute_batch("BEGIN DEFERRED")?;
        let snapshot = Self(conn);
        // A read transaction starts at its first read.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(snapshot)
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("COMMIT");
    }
}

/// Copies the database `from` reads (in its open read transaction, if it has one) into a new
/// file at `to`, in one step, so the copy is of one snapshot.
fn copy_database(from: &Connection, to: &Path) -> Result<()> {
    create_private(to)?.sync_all()?;
    let mut dest = Connection::open(to)?;
    // One step of every page: anything but `Done` (a busy or locked source) is a partial copy.
    let step = rusqlite::backup::Backup::new(from, &mut dest)?.step(-1)?;
    if step != rusqlite::backup::StepResult::Done {
        return Err(StoreError::Conflict(format!(
            "the database could not be copied in one snapshot ({step:?}); try again"
        )));
    }
    dest.execute_batch("PRAGMA journal_mode = DELETE")?;
    drop(dest);
    File::open(to)?.sync_all()?;
    Ok(())
}

/// Copies the log into a new file at `to`, flushed: `header` (its header block, read under the
/// lock), then the frames of `source` up to `len`.
fn copy_log(source: &File, header: &[u8], to: &Path, len: u64) -> Result<()> {
    let dest = create_private(to)?;
    dest.write_all_at(header, 0)?;
    let frames = header.len() as u64..len;
    copy_range(
        |chunk, at| source.read_exact_at(chunk, at),
        &dest,
        frames,
        0,
    )?;
    dest.sync_all()?;
    Ok(())
}

/// Copies `from` to a new file at `temp`, flushed; returns its size and SHA-256.
fn stage(from: &mut File, temp: &Path) -> Result<(u64, String)> {
    match fs::remove_file(temp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
        _ => {}
    }
    let mut dest = create_private(temp)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut bytes = 0;
    loop {
        let n = from.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
        dest.write_all(&chunk[..n])?;
        bytes += n as u64;
    }
    dest.sync_all()?;
    Ok((bytes, crypto::hex(&hasher.finalize())))
}

fn digest(file: &mut File) -> Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut bytes = 0;
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok((bytes, crypto::hex(&hasher.finalize())));
        }
        hasher.update(&chunk[..n]);
        bytes += n as u64;
    }
}

/// A new file readable by the owner only.
fn create_private(path: &Path) -> Result<File> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = create_private(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    restrict_file(path)
}

/// The backup directory: made (readable by the owner only) if missing; an existing one must be
/// empty.
fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() || fs::read_dir(dir)?.next().is_some() {
            return Err(StoreError::Conflict(format!(
                "{} exists and is not an empty directory; a backup goes into a new one",
                dir.display()
            )));
        }
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}
