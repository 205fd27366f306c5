//! The access log: sealed records in a keyed hash chain, kept in its own append-only file
//! beside the database ([`crate::logfile`]). The database names the file (`log_file` in `meta`,
//! MAC'd), so a missing or swapped file is found by [`Vault::verify_log`].
//!
//! Vaults made before the log had its own file kept it in the `access_log` table, one row per
//! entry with a MAC'd head in `meta`. Reading such a log still works; the first append checks
//! its chain and moves it into the file (same entry numbers, same MACs' meaning), then empties
//! the table.

use std::path::PathBuf;

use kluis_core::access::{AccessRecord, Outcome};

use crate::error::{Result, StoreError};
use crate::logfile::{self, Checkpoint, GENESIS, LOG_FILE, LogFile, Pruned, SEAL_PLACE};
use crate::vault::{Unlocked, Vault};

/// Records as the JSON array a frame seals.
fn encode<R: serde::Serialize>(records: &[R]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    serde_json::to_vec(records)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| StoreError::Crypto("a log record could not be encoded"))
}

fn marker_mac(unlocked: &Unlocked, id: &[u8; 16]) -> [u8; 32] {
    unlocked.keys.chain_mac(&[b"log file", id])
}

/// Records moved per frame when an old log is moved out of the database.
const MOVE_PER_FRAME: usize = 1000;

/// One stored log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: i64,
    pub record: AccessRecord,
}

/// The result of checking the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogCheck {
    /// The last entry's number: the entries the log ever had, pruned ones included.
    pub entries: i64,
    /// The first entry (by sequence number) where the chain breaks, and why.
    pub first_broken: Option<(i64, String)>,
    /// Where the chain starts, when the owner pruned the log: the entries up to the
    /// checkpoint's `seq` were removed, and the rest is proven from it.
    pub pruned: Option<Checkpoint>,
}

/// Where this vault's log lives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// In the log file with this id.
    InFile([u8; 16]),
    /// In the database's `access_log` table (a vault from before the log file).
    InTable,
}

impl Vault {
    /// Appends `records` to the log as one frame and flushes it to the disk before returning.
    ///
    /// The log is not part of SQLite's transactions: inside [`Vault::in_transaction`] the
    /// records are written when this is called, so call it last, once the action it records
    /// can no longer fail but for the commit. If the append fails, the transaction is rolled
    /// back and nothing happened unrecorded; if the transaction does not commit after it, the
    /// record is retracted ([`Vault::in_transaction`], docs/storage.md). Inside a transaction the log's lock is
    /// kept until the transaction ends, so no other writer appends between the record and the
    /// commit of what it records (see [`Vault::with_log_lock`]).
    pub fn append_log<R: serde::Serialize>(&self, records: &[R]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let json = encode(records)?;
        let count = u32::try_from(records.len())
            .map_err(|_| kluis_core::Error::invalid("too many access records for one append"))?;
        self.ensure_log_open()?;
        let mut log = self.log.borrow_mut();
        let log = log.as_mut().expect("opened above");
        let in_transaction = !self.conn.is_autocommit();
        if in_transaction {
            log.lock()?;
        }
        log.append(&json, count, self.log_fsync.get())?;
        if in_transaction {
            self.appended.borrow_mut().push(json);
        }
        Ok(())
    }

    /// After a transaction (or a savepoint of one) that appended records ended without
    /// committing them (its work failed after the append, or the commit itself failed, as on a
    /// full disk): appends, still under the log's lock, a retraction of each record appended
    /// since `mark`, the same action refused with the reason "not saved", so the log does not
    /// tell of an action that did not happen. Best effort: if this append fails too, the log
    /// keeps the record alone (docs/storage.md).
    pub(crate) fn retract_appended_since(&self, mark: usize, why: &StoreError) {
        let appended = {
            let mut all = self.appended.borrow_mut();
            let from = mark.min(all.len());
            all.split_off(from)
        };
        if appended.is_empty() {
            return;
        }
        let reason = if why.is_disk_full() {
            "not saved: the disk holding the vault is full"
        } else {
            "not saved: the action did not complete"
        };
        let at_ms = crate::unix_now_ms();
        let mut retractions = Vec::new();
        for json in &appended {
            let Ok(records) = serde_json::from_slice::<Vec<AccessRecord>>(json) else {
                continue;
            };
            retractions.extend(records.into_iter().map(|record| AccessRecord {
                at_ms,
                outcome: Outcome::Refused,
                reason: Some(reason.into()),
                ..record
            }));
        }
        let _ = self.append_log(&retractions);
        // A retraction is not retracted again if an outer transaction fails.
        self.appended.borrow_mut().truncate(mark);
    }

    /// Runs `work` holding the log file's lock: no other connection or process appends
    /// meanwhile, and a transaction that appended a record and holds the lock until it ends
    /// has committed (or rolled back) before `work` starts. So what `work` reads and then
    /// appends is ordered with the other writers' records and the actions they record: the
    /// server's ledger decides and records its calls this way, so a revocation recorded
    /// before a read was also committed before that read was decided.
    pub fn with_log_lock<T>(&self, work: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        self.ensure_log_open()?;
        self.log
            .borrow_mut()
            .as_mut()
            .expect("opened above")
            .lock()?;
        let out = work(self);
        if let Some(log) = self.log.borrow_mut().as_mut() {
            log.unlock();
        }
        out
    }

    /// The end of the outermost transaction: releases the log's lock if an append in it took
    /// it; after a rollback, forgets the log file too (it may have been moved there by the
    /// rolled-back transaction, whose database no longer names it).
    pub(crate) fn end_log_transaction(&self, committed: bool) {
        self.appended.borrow_mut().clear();
        if let Ok(mut log) = self.log.try_borrow_mut() {
            if committed {
                if let Some(log) = log.as_mut() {
                    log.unlock();
                }
            } else {
                *log = None;
            }
        }
    }

    fn ensure_log_open(&self) -> Result<()> {
        if self.log.borrow().is_none() {
            let log = self.open_log_file()?;
            *self.log.borrow_mut() = Some(log);
        }
        Ok(())
    }

    /// Rewrites the log's head if this connection's last appends left it behind (it is
    /// rewritten at most every 100 ms while appending, and when the connection closes).
    pub fn settle_log(&self) -> Result<()> {
        match &mut *self.log.borrow_mut() {
            Some(log) => log.settle(),
            None => Ok(()),
        }
    }

    /// Removes the log's oldest entries: the frames at its start whose records are all older
    /// than `before_ms`, up to the first frame with a record that is not (so at a frame
    /// boundary; entries a few milliseconds out of order keep their frame). The rest stays
    /// provable from a checkpoint in the file's header (docs/access-log.md#pruning). `None`
    /// when no frame is that old. Safe while a server appends: see [`LogFile::prune`].
    pub fn prune_log(&self, before_ms: i64) -> Result<Option<Pruned>> {
        #[derive(serde::Deserialize)]
        struct Dated {
            at_ms: i64,
        }
        self.ensure_log_open()?;
        let mut log = self.log.borrow_mut();
        let log = log.as_mut().expect("opened above");
        let unlocked = self.unlocked.clone();
        log.prune(before_ms, |body| {
            let plain = logfile::open_frame(&unlocked, body)?;
            let records: Vec<Dated> = logfile::parse_records(body, &plain)?;
            Ok(records.iter().all(|r| r.at_ms < before_ms))
        })
    }

    /// All entries in order. A log whose chain is broken is an error: `verify_log` says where.
    pub fn log_entries(&self) -> Result<Vec<LogEntry>> {
        let mut entries = Vec::new();
        match self.walk_log(|entry| entries.push(entry))?.first_broken {
            None => Ok(entries),
            Some((seq, why)) => Err(StoreError::Tampered(format!(
                "the access log is broken at entry {seq}: {why}"
            ))),
        }
    }

    /// Walks the chain from the start and names the first entry that does not fit.
    pub fn verify_log(&self) -> Result<LogCheck> {
        self.walk_log(|_| {})
    }

    /// Checks the chain wherever the log is kept, handing each entry that fits to `visit`.
    fn walk_log(&self, mut visit: impl FnMut(LogEntry)) -> Result<LogCheck> {
        match self.log_kept()? {
            Kept::InTable => self.walk_table(visit),
            Kept::InFile(id) => {
                logfile::scan(&self.log_path(), &self.unlocked, &id, |first, records| {
                    for (seq, record) in (first..).zip(records) {
                        visit(LogEntry { seq, record });
                    }
                })
            }
        }
    }

    /// The `meta` record that names a vault's log file: its id and a chain MAC over it.
    pub(crate) fn log_marker(unlocked: &Unlocked, id: &[u8; 16]) -> Vec<u8> {
        let mut marker = id.to_vec();
        marker.extend_from_slice(&marker_mac(unlocked, id));
        marker
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.path().with_file_name(LOG_FILE)
    }

    fn open_log_file(&self) -> Result<LogFile> {
        let path = self.log_path();
        let id = match self.log_kept()? {
            Kept::InFile(id) => id,
            Kept::InTable => self.move_log_to_file()?,
        };
        let log = LogFile::open(&path, &self.unlocked).map_err(|err| match err {
            StoreError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StoreError::Tampered(format!("the access log file {LOG_FILE} is missing"))
            }
            other => other,
        })?;
        if *log.file_id() != id {
            return Err(StoreError::Tampered(format!(
                "the access log file {LOG_FILE} was replaced"
            )));
        }
        Ok(log)
    }

    pub(crate) fn log_kept(&self) -> Result<Kept> {
        let Some(marker) = self.meta("log_file")? else {
            return Ok(Kept::InTable);
        };
        let id: [u8; 16] = marker
            .get(..16)
            .and_then(|id| id.try_into().ok())
            .filter(|id: &[u8; 16]| marker[16..] == marker_mac(&self.unlocked, id))
            .ok_or_else(|| {
                StoreError::Tampered("the access log's file record was altered".into())
            })?;
        Ok(Kept::InFile(id))
    }

    fn write_log_marker(&self, id: &[u8; 16]) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO meta (name, value) VALUES ('log_file', ?1)")?
            .execute([&Self::log_marker(&self.unlocked, id)])?;
        Ok(())
    }

    /// Moves a log kept in the database (a vault from before the log file) into a new log
    /// file, if its chain is intact: written beside under another name, flushed, renamed into
    /// place, then named in the database while the table is emptied. All of it holds the
    /// database's write lock, so two processes do not move it at once (the second finds it
    /// moved). A crash before the commit leaves the table as it was, and the move starts over.
    fn move_log_to_file(&self) -> Result<[u8; 16]> {
        self.in_transaction(|v| {
            if let Kept::InFile(id) = v.log_kept()? {
                return Ok(id);
            }
            let mut entries = Vec::new();
            if let Some((seq, why)) = v.walk_table(|entry| entries.push(entry))?.first_broken {
                return Err(StoreError::Tampered(format!(
                    "the access log kept in the database is broken at entry {seq} ({why}); it was not moved to {LOG_FILE}"
                )));
            }
            let path = v.log_path();
            let new = path.with_extension("log.new");
            match std::fs::remove_file(&new) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
                _ => {}
            }
            let id = LogFile::create(&new, &v.unlocked)?;
            let mut log = LogFile::open(&new, &v.unlocked)?;
            for chunk in entries.chunks(MOVE_PER_FRAME) {
                let records: Vec<&AccessRecord> = chunk.iter().map(|e| &e.record).collect();
                log.append(&encode(&records)?, chunk.len() as u32, false)?;
            }
            // The frames flushed once, then the head over all of them, before the rename.
            log.settle()?;
            log.flush()?;
            drop(log);
            std::fs::rename(&new, &path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            v.write_log_marker(&id)?;
            v.conn.execute_batch(
                "DELETE FROM access_log; DELETE FROM meta WHERE name = 'log_head';",
            )?;
            Ok(id)
        })
    }

    /// Checks the chain of a log kept in the database, handing each entry that fits to `visit`
    /// (one pass: each row is read and opened once).
    pub(crate) fn walk_table(&self, mut visit: impl FnMut(LogEntry)) -> Result<LogCheck> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, sealed, mac FROM access_log ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut prev = GENESIS;
        let mut expected_seq = 1;
        let mut entries = 0;
        let broken = |seq: i64, why: &str| Some((seq, why.to_owned()));
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let sealed: Vec<u8> = row.get(1)?;
            let mac: Vec<u8> = row.get(2)?;
            entries += 1;
            let first_broken = if seq != expected_seq {
                broken(expected_seq, "entry is missing or out of order")
            } else if mac != self.table_link(&prev, seq, &sealed) {
                broken(seq, "entry was altered (its MAC does not match the chain)")
            } else {
                match self.open_table_record(seq, &sealed) {
                    Ok(record) => {
                        visit(LogEntry { seq, record });
                        None
                    }
                    Err(_) => broken(seq, "entry does not decrypt"),
                }
            };
            if first_broken.is_some() {
                return Ok(LogCheck {
                    entries,
                    first_broken,
                    pruned: None,
                });
            }
            prev.copy_from_slice(&mac);
            expected_seq += 1;
        }
        let last = expected_seq - 1;
        let first_broken = match self.table_head()? {
            None => broken(
                last + 1,
                "the log's head record is missing (the log was emptied or cut)",
            ),
            Some((seq, mac)) if seq == last && mac == prev => None,
            Some((seq, _)) if seq > last => broken(last + 1, "entries at the end were removed"),
            Some(_) => broken(last, "the log's head does not match its last entry"),
        };
        Ok(LogCheck {
            entries,
            first_broken,
            pruned: None,
        })
    }

    fn table_head(&self) -> Result<Option<(i64, [u8; 32])>> {
        let Some(head) = self.meta("log_head")? else {
            return Ok(None);
        };
        let bad = || StoreError::Tampered("the access log's head record was altered".into());
        if head.len() != 72
            || self.unlocked.keys.chain_mac(&[b"head", &head[..40]])[..] != head[40..]
        {
            return Err(bad());
        }
        let seq = i64::from_be_bytes(head[..8].try_into().map_err(|_| bad())?);
        let mac: [u8; 32] = head[8..40].try_into().map_err(|_| bad())?;
        Ok(Some((seq, mac)))
    }

    fn table_link(&self, prev: &[u8; 32], seq: i64, sealed: &[u8]) -> [u8; 32] {
        self.unlocked
            .keys
            .chain_mac(&[b"entry", prev, &seq.to_be_bytes(), sealed])
    }

    fn open_table_record(&self, seq: i64, sealed: &[u8]) -> Result<AccessRecord> {
        let plain = self
            .unlocked
            .keys
            .open(&self.place(SEAL_PLACE, &seq.to_be_bytes()), sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered(format!("log entry {seq} is unreadable")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use kluis_core::access::{Action, Actor};

    use super::*;
    use crate::{KdfParams, Passphrase};

    /// An allowed `document_set` by the owner at a fixed time plus `n` ms (also for the log
    /// file's own tests).
    pub(crate) fn owner_record(n: i64) -> AccessRecord {
        AccessRecord {
            at_ms: 1_800_000_000_000 + n,
            actor: Actor::OwnerCli,
            action: Action::DocumentSet,
            request: None,
            grant: None,
            business: None,
            purpose: None,
            fields: Vec::new(),
            outcome: Outcome::Allowed,
            reason: None,
            contact: None,
        }
    }

    fn outcomes(v: &Vault) -> Vec<(Outcome, Option<String>)> {
        v.log_entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.record.outcome, e.record.reason))
            .collect()
    }

    #[test]
    fn a_record_whose_action_does_not_commit_is_retracted() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::create(
            dir.path(),
            &Passphrase::new("pass phrase"),
            KdfParams::OWASP_MINIMUM,
        )
        .unwrap();
        // The commit itself fails after the record was appended, as on a full disk: here a
        // foreign key that SQLite checks only at COMMIT.
        let out = v.in_transaction(|v| {
            v.conn.execute_batch(
                "PRAGMA defer_foreign_keys = ON;
                 INSERT INTO receipts (id, grant_id, created_at, sealed)
                 VALUES ('r', 'g_no_such_grant', 0, x'00');",
            )?;
            v.append_log(&[owner_record(1)])
        });
        assert!(matches!(out, Err(StoreError::Sqlite(_))), "{out:?}");
        let not_saved = Some("not saved: the action did not complete".to_owned());
        assert_eq!(
            outcomes(&v),
            [
                (Outcome::Allowed, None),
                (Outcome::Refused, not_saved.clone())
            ]
        );
        let entries = v.log_entries().unwrap();
        assert_eq!(entries[1].record.action, Action::DocumentSet);
        assert_eq!(entries[1].record.actor, Actor::OwnerCli);

        // A savepoint that fails after its record, inside a transaction that commits: its
        // record is retracted, the outer one's stays.
        v.in_transaction(|v| {
            let inner: Result<()> = v.in_transaction(|v| {
                v.append_log(&[owner_record(2)])?;
                Err(StoreError::Conflict("give up".into()))
            });
            assert!(inner.is_err());
            v.append_log(&[owner_record(3)])
        })
        .unwrap();
        let after: Vec<_> = outcomes(&v).into_iter().skip(2).collect();
        assert_eq!(
            after,
            [
                (Outcome::Allowed, None),
                (Outcome::Refused, not_saved),
                (Outcome::Allowed, None)
            ]
        );
        // A transaction that commits retracts nothing.
        v.in_transaction(|v| v.append_log(&[owner_record(4)]))
            .unwrap();
        assert_eq!(v.log_entries().unwrap().len(), 6);
        assert!(v.verify_log().unwrap().first_broken.is_none());
    }
}
