//! Served reads per grant per UTC day, for the grant API's read budgets. The server's ledger
//! counts them in memory and now and then saves its counts, sealed, in `meta` together with the
//! point of the log they are as of. Whoever needs them later (a restarted ledger, `kluis grant
//! list`) takes the saved counts and adds the reads the log holds past that point. So today's
//! counts never need the whole log read, and a crash loses none: every served read is in the
//! log before it is answered.

use std::borrow::Cow;
use std::collections::HashMap;

use kluis_core::access::{Action, Outcome};
use kluis_core::budget::DAY_SECS;
use kluis_core::grant::GrantId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::log::Kept;
use crate::logfile::{self, Head, Reader};
use crate::vault::Vault;

/// The `meta` row the counts are saved in (and the place they are sealed to).
const SAVED: &str = "day_reads";

/// A point of the log: where it ended after an append through one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogMark {
    pub(crate) file: [u8; 16],
    pub(crate) head: Head,
}

/// One grant's day, as far as budgets care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantDay {
    /// Reads served.
    pub reads: u64,
    /// Whether a read refused over the budget was recorded on its own (the day's first is;
    /// those after it are counted into summaries).
    pub refusal_recorded: bool,
}

/// Served reads per grant on one UTC day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayReads {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub grants: HashMap<GrantId, GrantDay>,
}

/// What is sealed in `meta`.
#[derive(Serialize, Deserialize)]
struct Saved {
    day: i64,
    file: [u8; 16],
    seq: i64,
    end: u64,
    mac: [u8; 32],
    grants: HashMap<GrantId, GrantDay>,
}

/// The part of a log record that is counted.
#[derive(Deserialize)]
struct Counted<'a> {
    at_ms: i64,
    #[serde(borrow, default)]
    grant: Option<Cow<'a, str>>,
    outcome: Outcome,
    #[serde(default)]
    action: Option<Action>,
    /// Records from before typed actions name the call instead.
    #[serde(borrow, default)]
    endpoint: Option<Cow<'a, str>>,
}

impl Counted<'_> {
    fn is_served_read(&self) -> bool {
        self.outcome == Outcome::Allowed
            && (self.action == Some(Action::Read)
                || self.endpoint.as_deref() == Some("GET /v1/data"))
    }
}

impl Vault {
    /// Where the log ends after this connection's last append; `None` before its first.
    pub fn log_mark(&self) -> Option<LogMark> {
        let log = self.log.borrow();
        let log = log.as_ref()?;
        Some(LogMark {
            file: *log.file_id(),
            head: log.head(),
        })
    }

    /// Saves `reads` as the counts up to `at`, in place of the last saved ones.
    pub fn save_day_reads(&self, reads: &DayReads, at: &LogMark) -> Result<()> {
        let saved = Saved {
            day: reads.day,
            file: at.file,
            seq: at.head.seq,
            end: at.head.end,
            mac: at.head.mac,
            grants: reads.grants.clone(),
        };
        self.save_sealed_meta(SAVED, &saved)?;
        Ok(())
    }

    /// The served reads per grant on UTC day `day`: the last saved counts (when they are of
    /// that day) and the reads the log holds past the point they were saved at. Costs one
    /// `meta` read and a walk of the log written since (nothing, after a clean stop of the
    /// server; about a minute of it after a crash).
    ///
    /// `None` when no counts were ever saved (the server never ran with read budgets) or they
    /// were saved with another log file: then nobody knows the day's reads without reading the
    /// whole log.
    pub fn day_reads(&self, day: i64) -> Result<Option<DayReads>> {
        let Some(saved) = self.sealed_meta::<Saved>(SAVED, "the saved read counts")? else {
            return Ok(None);
        };
        let today = day * DAY_SECS * 1000..(day + 1) * DAY_SECS * 1000;
        let mark = LogMark {
            file: saved.file,
            head: Head {
                seq: saved.seq,
                end: saved.end,
                mac: saved.mac,
            },
        };
        let mut reads = DayReads {
            day,
            grants: if saved.day == day {
                saved.grants
            } else {
                HashMap::new()
            },
        };
        let same_log = self.walk_log_past(&mark, |body, plain| {
            for record in logfile::parse_records::<Counted<'_>>(body, plain)? {
                if !record.is_served_read() || !today.contains(&record.at_ms) {
                    continue;
                }
                if let Some(grant) = record.grant.as_deref().and_then(|g| GrantId::parse(g).ok()) {
                    reads.grants.entry(grant).or_default().reads += 1;
                }
            }
            Ok(())
        })?;
        Ok(same_log.then_some(reads))
    }

    /// Writes `value` as JSON, sealed, into the `meta` row `name` (in place of what was there):
    /// what [`Vault::sealed_meta`] reads back.
    pub(crate) fn save_sealed_meta<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let plain = Zeroizing::new(
            serde_json::to_vec(value)
                .map_err(|_| StoreError::Crypto("a value could not be encoded"))?,
        );
        let sealed = self
            .unlocked
            .keys
            .seal(&self.place("meta", name.as_bytes()), &plain)?;
        self.conn
            .prepare_cached(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute((name, sealed))?;
        Ok(())
    }

    /// The sealed `meta` row `name` as JSON of `T`; `None` if there is none. One that does not
    /// open or parse is refused as tampered (`what` names it).
    pub(crate) fn sealed_meta<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>> {
        let Some(sealed) = self.meta(name)? else {
            return Ok(None);
        };
        let altered = || StoreError::Tampered(format!("{what} were altered"));
        let plain = self
            .unlocked
            .keys
            .open(&self.place("meta", name.as_bytes()), &sealed)
            .map_err(|_| altered())?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| altered())
    }

    /// Visits each frame of the log past `mark` (its body and opened plain text): what was
    /// logged since something was saved as of `mark`. `false` when the log is no longer the file
    /// `mark` is of (nothing visited). A log that cannot be read past the mark visits nothing;
    /// `kluis log verify` says why.
    pub(crate) fn walk_log_past(
        &self,
        mark: &LogMark,
        mut visit: impl FnMut(&[u8], &[u8]) -> std::result::Result<(), &'static str>,
    ) -> Result<bool> {
        let Kept::InFile(id) = self.log_kept()? else {
            return Ok(false);
        };
        if id != mark.file {
            return Ok(false);
        }
        let Ok(reader) = Reader::open(&self.log_path(), &self.unlocked, &id)? else {
            return Ok(true);
        };
        let mut open = |body: &[u8]| {
            let plain = logfile::open_frame(&self.unlocked, body)?;
            visit(body, &plain)
        };
        let walked = reader.walk(&self.unlocked, mark.head, |seen| open(seen.body))?;
        let at_head = (mark.head.seq, mark.head.mac) == (reader.head.seq, reader.head.mac);
        if reader.checkpoint.is_some() && walked.at == mark.head && !at_head {
            // The log was pruned since the mark: its frames moved. Find the mark on the chain
            // (or, if it was pruned away, take everything the log still holds).
            let base = reader.base();
            let mut past = mark.head.seq <= base.seq;
            reader.walk(&self.unlocked, base, |seen| {
                if past {
                    open(seen.body)?;
                } else if (seen.after.seq, seen.after.mac) == (mark.head.seq, mark.head.mac) {
                    past = true;
                }
                Ok(())
            })?;
        }
        Ok(true)
    }
}
