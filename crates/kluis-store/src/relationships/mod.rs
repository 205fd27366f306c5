//! The owner's relationship records, in a database of their own (`relationships.db` beside
//! `vault.db`): one record per business, its entries (contracts, promises, interactions,
//! documents, scores, notes, settlements) and the files attached to documents. Kept apart from
//! `vault.db` so that a business appending to its record never drops the grant API's caches.
//!
//! What is sealed and what is not: each record is a keyed hash of the business (its row key),
//! its sealed standing ([`Standing`]: promises, contracts, the latest score, what the
//! business wrote) and, sealed apart, the part of it that can come due
//! ([`kluis_core::relationship::Pending`]: open promises, contracts with a notice period), so
//! that what is due over every record opens only that; and, apart again, its latest settled
//! promises ([`kluis_core::relationship::Settled`]), which only calendar feeds read. Each entry is a keyed hash of its id, the record it belongs to (a row
//! number) and the sealed entry, bound to both keys, so an entry moved to another record does
//! not open. An attachment is sealed bytes bound to its entry. Someone with the file but not
//! the passphrase learns how many records and entries there are, which entries belong to one
//! record, in which order they came, and their sizes; not who, what or when.
//!
//! Reads are in [`view`]; the timeline with what the vault saw itself is in [`timeline`];
//! export and import in [`portable`].

mod portable;
mod timeline;
mod view;

use std::path::Path;

use kluis_core::grant::BusinessId;
use kluis_core::relationship::{Entry, EntryId, Limits, QuotaRefusal, Standing};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::schema;
use crate::vault::{Unlocked, Vault};

pub use portable::{
    EXPORT_MARK, EXPORT_VERSION, ExportedEntry, ExportedRecord, Imported, RELATIONSHIPS_FORMAT,
    RelationshipsExport, split_export,
};
pub use timeline::{MAX_LOGGED, Observed, TimelineItem, observed_in_log};
pub use view::known_businesses;

/// The file beside `vault.db`.
pub const RELATIONSHIPS_FILE: &str = "relationships.db";

const STANDING: &str = "rel_standing";
const PENDING: &str = "rel_pending";
const SETTLED: &str = "rel_settled";
const ENTRY: &str = "rel_entry";
const ATTACHMENT: &str = "rel_attachment";
const RECORD_LOOKUP: &str = "rel-record";
const ENTRY_LOOKUP: &str = "rel-entry";

/// Each entry is one migration; its number is its index + 1. Never edit a shipped one.
const MIGRATIONS: &[&str] = &["CREATE TABLE records (
         seq INTEGER PRIMARY KEY,
         key BLOB NOT NULL UNIQUE,
         standing BLOB NOT NULL,
         pending BLOB NOT NULL,
         settled BLOB NOT NULL
     );
     CREATE TABLE entries (
         seq INTEGER PRIMARY KEY,
         record INTEGER NOT NULL REFERENCES records(seq),
         key BLOB NOT NULL UNIQUE,
         body BLOB NOT NULL
     );
     CREATE INDEX entries_by_record ON entries(record, seq);
     CREATE TABLE attachments (
         entry INTEGER PRIMARY KEY REFERENCES entries(seq),
         data BLOB NOT NULL
     );"];

/// The newest schema of `relationships.db` this build understands.
pub const RELATIONSHIPS_LATEST: i64 = MIGRATIONS.len() as i64;

/// An entry to append: who wrote it, what it says, and for a business's entry the bytes it
/// counts against its quota and the file of a document.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub entry: Entry,
    pub attachment: Option<Vec<u8>>,
    /// The size of the request that brought it (a business's entries), for the quota.
    pub bytes: u64,
}

/// Why an append was not done: the business's quota.
#[derive(Debug)]
pub enum Appended {
    Stored,
    OverQuota(QuotaRefusal),
}

/// A connection to `relationships.db`, with the vault's keys.
pub struct Relationships {
    pub(crate) conn: Connection,
    unlocked: Unlocked,
    limits: Limits,
}

impl Vault {
    /// Opens (and creates, mode 0600) the relationship records beside this vault's database.
    pub fn open_relationships(&self) -> Result<Relationships> {
        let dir = self.path().parent().unwrap_or_else(|| Path::new("."));
        Relationships::open(dir, self.unlocked())
    }
}

/// An entry's row joined with its record's: the entry's number and sealed body, the record's
/// number, key and sealed standing.
type EntryRow = (i64, Vec<u8>, i64, Vec<u8>, Vec<u8>);

/// A record's row: its number, key and standing.
pub(crate) struct RecordRow {
    pub(crate) seq: i64,
    pub(crate) key: [u8; 32],
    pub(crate) standing: Standing,
}

impl Relationships {
    /// Opens (and creates, mode 0600) the records of the vault in `dir`, whose keys `unlocked`
    /// holds. Refuses a file written by a newer Kluis.
    pub fn open(dir: &Path, unlocked: &Unlocked) -> Result<Self> {
        let conn = schema::open_side(&dir.join(RELATIONSHIPS_FILE), MIGRATIONS)?;
        Ok(Self {
            conn,
            unlocked: unlocked.clone(),
            limits: Limits::default(),
        })
    }

    /// The quotas businesses' entries are held to from now on.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Makes the record of `business` if there is none yet (the first grant, request, message
    /// or entry does), as of `at_ms`.
    pub fn ensure(&mut self, business: &BusinessId, at_ms: i64) -> Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        self.record_in(&tx, business, at_ms)?;
        tx.commit()?;
        Ok(())
    }

    /// Appends `new` to the record of `business` (made if needed), in one transaction, durable
    /// when this returns. A business's entry is held to its quotas first: over them, nothing
    /// is stored and the refusal is returned. The item must be valid ([`Item::validated`]) and
    /// a settlement must name a promise of the same record.
    pub fn append(&mut self, business: &BusinessId, new: &NewEntry) -> Result<Appended> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let appended = self.append_in(&tx, business, new, true)?;
        if let Appended::Stored = appended {
            tx.commit()?;
        }
        Ok(appended)
    }

    /// [`Relationships::append`] in `tx`; `quota` holds a business's entry to its quotas.
    fn append_in(
        &self,
        tx: &Connection,
        business: &BusinessId,
        new: &NewEntry,
        quota: bool,
    ) -> Result<Appended> {
        let item = new.entry.item.clone().validated()?;
        if item != new.entry.item {
            return Err(kluis_core::Error::invalid(format!(
                "entry {}: not in its checked form (texts trimmed)",
                new.entry.id
            ))
            .into());
        }
        check_attachment(new)?;
        let mut record = self.record_in(tx, business, new.entry.at_ms)?;
        let by_business = !new.entry.author.is_owner();
        if by_business && quota {
            let today = kluis_core::relationship::entry::day_of_ms(new.entry.at_ms);
            if let Err(refusal) = record.standing.usage.admit(today, new.bytes, self.limits) {
                return Ok(Appended::OverQuota(refusal));
            }
        }
        record
            .standing
            .apply(&new.entry, if by_business { new.bytes } else { 0 })?;
        let key = self.entry_key(&new.entry.id);
        let body = self.seal(&entry_place(&record.key, &key), ENTRY, &new.entry)?;
        let seq = tx
            .prepare_cached("INSERT INTO entries (record, key, body) VALUES (?1, ?2, ?3)")?
            .execute((record.seq, &key[..], body))
            .map_err(|e| duplicate(e, &new.entry.id))
            .map(|_| tx.last_insert_rowid())?;
        if let Some(data) = &new.attachment {
            let sealed = self
                .unlocked
                .keys()
                .seal(&self.unlocked.place(ATTACHMENT, &key), data)?;
            tx.prepare_cached("INSERT INTO attachments (entry, data) VALUES (?1, ?2)")?
                .execute((seq, sealed))?;
        }
        self.save_standing(tx, &record)?;
        Ok(Appended::Stored)
    }

    /// Takes back an entry the owner made (a mistake). A business's entry stays: it is its
    /// signed record. So does an entry a later one stands on (a promise that was settled, a
    /// settlement a later one follows): that one goes first, so the entries left always fold
    /// again, here and in a vault they are imported into. The standing is folded again from
    /// what remains.
    pub fn remove(&mut self, id: &EntryId) -> Result<()> {
        self.remove_entry(id, None)
    }

    /// Takes back an entry whose append could not be logged (its caller was answered 503 and
    /// sends it again): a business's entry goes too, and what it counted against the
    /// business's quotas (one entry of its day, `bytes`) is given back.
    pub fn take_back(&mut self, id: &EntryId, bytes: u64) -> Result<()> {
        self.remove_entry(id, Some(bytes))
    }

    fn remove_entry(&mut self, id: &EntryId, taken_back: Option<u64>) -> Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let (mut record, seq, entry) = self.find_in(&tx, id)?;
        if !entry.author.is_owner() && taken_back.is_none() {
            return Err(StoreError::Conflict(format!(
                "{id} was recorded by {}; what a business recorded stays in its record",
                record.standing.business
            )));
        }
        tx.execute("DELETE FROM attachments WHERE entry = ?1", [seq])?;
        tx.execute("DELETE FROM entries WHERE seq = ?1", [seq])?;
        let usage = record.standing.usage;
        let mut standing =
            Standing::new(record.standing.business.clone(), record.standing.created_ms);
        for later in self.entries_in(&tx, &record)? {
            if let Err(err) = standing.apply(&later, 0)
                && taken_back.is_none()
            {
                return Err(StoreError::Conflict(format!(
                    "{id} cannot be removed: entry {} ({}) stands on it ({err}); remove that one first",
                    later.id,
                    later.item.kind()
                )));
            }
        }
        standing.usage = usage;
        if let Some(bytes) = taken_back
            && !entry.author.is_owner()
        {
            let day = kluis_core::relationship::entry::day_of_ms(entry.at_ms);
            if standing.usage.day == Some(day) {
                standing.usage.day_count = standing.usage.day_count.saturating_sub(1);
            }
            standing.usage.bytes = standing.usage.bytes.saturating_sub(bytes);
        }
        record.standing = standing;
        self.save_standing(&tx, &record)?;
        tx.commit()?;
        Ok(())
    }

    /// The record of `business` in `tx`, made if missing.
    fn record_in(&self, tx: &Connection, business: &BusinessId, at_ms: i64) -> Result<RecordRow> {
        if let Some(row) = self.record_row(tx, business)? {
            return Ok(row);
        }
        let key = self.record_key(business);
        let standing = Standing::new(business.clone(), at_ms);
        let sealed = self.seal(&key, STANDING, &standing)?;
        let pending = self.seal(&key, PENDING, &standing.pending())?;
        let settled = self.seal(&key, SETTLED, &standing.settled())?;
        tx.prepare_cached(
            "INSERT INTO records (key, standing, pending, settled) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute((&key[..], sealed, pending, settled))?;
        Ok(RecordRow {
            seq: tx.last_insert_rowid(),
            key,
            standing,
        })
    }

    pub(crate) fn record_row(
        &self,
        conn: &Connection,
        business: &BusinessId,
    ) -> Result<Option<RecordRow>> {
        let key = self.record_key(business);
        let found: Option<(i64, Vec<u8>)> = conn
            .prepare_cached("SELECT seq, standing FROM records WHERE key = ?1")?
            .query_row([&key[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        found
            .map(|(seq, sealed)| self.open_record(seq, &key, &sealed))
            .transpose()
    }

    pub(crate) fn open_record(&self, seq: i64, key: &[u8], sealed: &[u8]) -> Result<RecordRow> {
        let standing: Standing = self.unseal(key, STANDING, sealed, "a relationship record")?;
        if self.record_key(&standing.business)[..] != *key {
            return Err(StoreError::Tampered(
                "a relationship record disagrees with its row".into(),
            ));
        }
        Ok(RecordRow {
            seq,
            key: key.try_into().map_err(|_| {
                StoreError::Tampered("a relationship record's key is damaged".into())
            })?,
            standing,
        })
    }

    fn save_standing(&self, tx: &Connection, record: &RecordRow) -> Result<()> {
        let sealed = self.seal(&record.key, STANDING, &record.standing)?;
        let pending = self.seal(&record.key, PENDING, &record.standing.pending())?;
        let settled = self.seal(&record.key, SETTLED, &record.standing.settled())?;
        tx.prepare_cached(
            "UPDATE records SET standing = ?1, pending = ?2, settled = ?3 WHERE seq = ?4",
        )?
        .execute((sealed, pending, settled, record.seq))?;
        Ok(())
    }

    /// The record, row and entry of entry `id`.
    pub(crate) fn find_in(
        &self,
        conn: &Connection,
        id: &EntryId,
    ) -> Result<(RecordRow, i64, Entry)> {
        let key = self.entry_key(id);
        let found: Option<EntryRow> = conn
            .prepare_cached(
                "SELECT e.seq, e.body, r.seq, r.key, r.standing
                 FROM entries AS e JOIN records AS r ON r.seq = e.record WHERE e.key = ?1",
            )?
            .query_row([&key[..]], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let (seq, body, record_seq, record_key, standing) =
            found.ok_or_else(|| StoreError::not_found(format!("there is no entry {id}")))?;
        let record = self.open_record(record_seq, &record_key, &standing)?;
        let entry = self.open_entry(&record.key, &key, &body)?;
        if entry.id != *id {
            return Err(StoreError::Tampered(format!(
                "entry {id}'s record names another entry"
            )));
        }
        Ok((record, seq, entry))
    }

    /// The record (its row number) entry `id` is stored in, if it is.
    pub(crate) fn entry_record(&self, conn: &Connection, id: &EntryId) -> Result<Option<i64>> {
        let key = self.entry_key(id);
        Ok(conn
            .prepare_cached("SELECT record FROM entries WHERE key = ?1")?
            .query_row([&key[..]], |r| r.get(0))
            .optional()?)
    }

    /// Every entry of `record`, in the order they came.
    pub(crate) fn entries_in(&self, conn: &Connection, record: &RecordRow) -> Result<Vec<Entry>> {
        let mut stmt =
            conn.prepare_cached("SELECT key, body FROM entries WHERE record = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([record.seq], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, body) = row?;
            out.push(self.open_entry(&record.key, &key, &body)?);
        }
        Ok(out)
    }

    fn open_entry(&self, record_key: &[u8], key: &[u8], sealed: &[u8]) -> Result<Entry> {
        let entry: Entry = self.unseal(&entry_place(record_key, key), ENTRY, sealed, "an entry")?;
        if self.entry_key(&entry.id)[..] != *key {
            return Err(StoreError::Tampered(
                "an entry disagrees with its row".into(),
            ));
        }
        Ok(entry)
    }

    pub(crate) fn record_key(&self, business: &BusinessId) -> [u8; 32] {
        self.unlocked
            .keys()
            .lookup(RECORD_LOOKUP, business.as_str())
    }

    fn entry_key(&self, id: &EntryId) -> [u8; 32] {
        self.unlocked.keys().lookup(ENTRY_LOOKUP, id.as_str())
    }

    fn seal<T: Serialize>(&self, key: &[u8], table: &str, value: &T) -> Result<Vec<u8>> {
        let plain = Zeroizing::new(
            serde_json::to_vec(value)
                .map_err(|_| StoreError::Crypto("a relationship record could not be encoded"))?,
        );
        self.unlocked
            .keys()
            .seal(&self.unlocked.place(table, key), &plain)
    }

    pub(crate) fn unseal<T: DeserializeOwned>(
        &self,
        key: &[u8],
        table: &str,
        sealed: &[u8],
        what: &str,
    ) -> Result<T> {
        let plain = self
            .unlocked
            .keys()
            .open(&self.unlocked.place(table, key), sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered(format!("{what} is unreadable")))
    }
}

/// A document's file comes with it exactly when the entry says so, and is the file it names.
fn check_attachment(new: &NewEntry) -> Result<()> {
    let named = match &new.entry.item {
        kluis_core::relationship::Item::Document { attachment, .. } => attachment.as_ref(),
        _ => None,
    };
    let fits = match (named, &new.attachment) {
        (None, None) => true,
        (Some(info), Some(data)) => {
            info.size == data.len() as u64
                && info.sha256 == kluis_core::relationship::entry::sha256_hex(data)
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(kluis_core::Error::invalid(format!(
            "entry {}: its attached file is not the one it names",
            new.entry.id
        ))
        .into())
    }
}

/// An entry is bound to its record's key and its own.
fn entry_place(record_key: &[u8], key: &[u8]) -> Vec<u8> {
    [record_key, key].concat()
}

fn duplicate(err: rusqlite::Error, id: &EntryId) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            StoreError::Conflict(format!("an entry {id} is already recorded"))
        }
        _ => err.into(),
    }
}
