//! The access log: sealed records in a keyed hash chain. Entry n's MAC covers entry n-1's MAC,
//! its sequence number and its sealed bytes; a MAC'd head in `meta` marks the end, so an
//! altered, removed, reordered or truncated entry is found by [`Vault::verify_log`].

use rusqlite::OptionalExtension;

use kluis_core::access::AccessRecord;

use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "access_log";
const GENESIS: [u8; 32] = [0; 32];

/// One stored log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: i64,
    pub record: AccessRecord,
}

/// The result of checking the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogCheck {
    pub entries: i64,
    /// The first entry (by sequence number) where the chain breaks, and why.
    pub first_broken: Option<(i64, String)>,
}

impl Vault {
    /// Appends records to the chain. Call inside a transaction ([`Vault::in_transaction`]) so
    /// they commit together with whatever they describe.
    pub fn append_log<R: serde::Serialize>(&self, records: &[R]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let (mut seq, mut mac) = self.log_head()?.ok_or_else(|| {
            StoreError::Tampered("the access log's head record is missing".into())
        })?;
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO access_log (seq, sealed, mac) VALUES (?1, ?2, ?3)")?;
        for record in records {
            seq += 1;
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(record)
                    .map_err(|_| StoreError::Crypto("a log record could not be encoded"))?,
            );
            let sealed = self
                .unlocked
                .keys
                .seal(&self.place(TABLE, &seq.to_be_bytes()), &plain)?;
            mac = self.link(&mac, seq, &sealed);
            insert.execute((seq, &sealed, &mac[..]))?;
        }
        self.write_log_head(seq, &mac)
    }

    /// Records where the chain ends. A new vault gets a head at sequence 0, so a log that was
    /// emptied (rows and head deleted) is told apart from one that never had entries.
    pub(crate) fn write_log_head(&self, seq: i64, mac: &[u8; 32]) -> Result<()> {
        let mut head = Vec::with_capacity(72);
        head.extend_from_slice(&seq.to_be_bytes());
        head.extend_from_slice(mac);
        head.extend_from_slice(&self.unlocked.keys.chain_mac(&[b"head", &head]));
        self.conn
            .prepare_cached(
                "INSERT INTO meta (name, value) VALUES ('log_head', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute([&head])?;
        Ok(())
    }

    pub(crate) fn start_log(&self) -> Result<()> {
        self.write_log_head(0, &GENESIS)
    }

    /// All entries in order.
    pub fn log_entries(&self) -> Result<Vec<LogEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, sealed FROM access_log ORDER BY seq")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(seq, sealed)| {
                Ok(LogEntry {
                    seq,
                    record: self.open_record(seq, &sealed)?,
                })
            })
            .collect()
    }

    /// Walks the chain from the start and names the first entry that does not fit.
    pub fn verify_log(&self) -> Result<LogCheck> {
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
            } else if mac != self.link(&prev, seq, &sealed) {
                broken(seq, "entry was altered (its MAC does not match the chain)")
            } else if self.open_record(seq, &sealed).is_err() {
                broken(seq, "entry does not decrypt")
            } else {
                None
            };
            if first_broken.is_some() {
                return Ok(LogCheck {
                    entries,
                    first_broken,
                });
            }
            prev.copy_from_slice(&mac);
            expected_seq += 1;
        }
        let last = expected_seq - 1;
        let first_broken = match self.log_head()? {
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
        })
    }

    fn log_head(&self) -> Result<Option<(i64, [u8; 32])>> {
        let head: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE name = 'log_head'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        let Some(head) = head else {
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

    fn link(&self, prev: &[u8; 32], seq: i64, sealed: &[u8]) -> [u8; 32] {
        self.unlocked
            .keys
            .chain_mac(&[b"entry", prev, &seq.to_be_bytes(), sealed])
    }

    fn open_record(&self, seq: i64, sealed: &[u8]) -> Result<AccessRecord> {
        let plain = self
            .unlocked
            .keys
            .open(&self.place(TABLE, &seq.to_be_bytes()), sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered(format!("log entry {seq} is unreadable")))
    }
}
