//! Contacts that count against the owner's caps (delivered inbox messages, reserved checks),
//! kept across restarts much as read counts are (see [`crate::readcounts`]): every counted
//! contact is in the access log before it is answered; the server's ledger now and then saves
//! the contacts counted since its last save as one sealed batch (`contact_batches`), and in
//! the same transaction the point of the log they are as of (sealed, in `meta`); a restarted
//! ledger takes the batches and adds the counted contacts the log holds past that point.
//! Batches whose newest contact is older than any cap's window are dropped as saves go on.

use std::borrow::Cow;

use kluis_core::access::{Action, ContactNote, Outcome};
use kluis_core::contact::{Contact, Timestamp};
use kluis_core::grant::BusinessId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::logfile::{self, Head};
use crate::readcounts::LogMark;
use crate::vault::Vault;

/// The `meta` row the contacts are saved in (and the place they are sealed to).
const SAVED: &str = "contacts";

/// The log point the saved batches are as of, sealed in `meta`.
#[derive(Serialize, Deserialize)]
struct Saved {
    file: [u8; 16],
    seq: i64,
    end: u64,
    mac: [u8; 32],
}

/// One batch: `(at_ms, business, channel, topic)` per contact.
type Batch = Vec<(i64, BusinessId, String, String)>;

/// The table batches are sealed to.
const BATCHES: &str = "contact_batches";

/// The part of a log record a contact is read from.
#[derive(Deserialize)]
struct Logged<'a> {
    at_ms: i64,
    outcome: Outcome,
    #[serde(default)]
    action: Option<Action>,
    #[serde(borrow, default)]
    business: Option<Cow<'a, str>>,
    #[serde(default)]
    contact: Option<ContactNote>,
}

impl Logged<'_> {
    fn counted(self) -> Option<Contact> {
        let counts = self.outcome == Outcome::Allowed
            && matches!(
                self.action,
                Some(Action::ContactCheck | Action::InboxDeliver)
            );
        let note = self.contact.filter(|n| counts && n.counted)?;
        Some(Contact {
            at: Timestamp::from_millisecond(self.at_ms).ok()?,
            business: BusinessId::parse(self.business.as_deref()?).ok()?,
            channel: note.channel,
            topic: note.topic,
        })
    }
}

impl Vault {
    /// Saves `new` (the contacts counted since the last save) as one batch, as of `at`, and
    /// drops batches whose newest contact is before `forget_before_ms`; with `replace`, every
    /// batch saved before (`new` is then all there is: a history rebuilt from the log). One
    /// transaction.
    pub fn save_contacts(
        &self,
        new: &[Contact],
        at: &LogMark,
        forget_before_ms: i64,
        replace: bool,
    ) -> Result<()> {
        let saved = Saved {
            file: at.file,
            seq: at.head.seq,
            end: at.head.end,
            mac: at.head.mac,
        };
        let batch: Batch = new
            .iter()
            .map(|c| {
                let c = c.clone();
                (c.at.as_millisecond(), c.business, c.channel, c.topic)
            })
            .collect();
        let newest_ms = batch.iter().map(|c| c.0).max();
        let plain_batch = Zeroizing::new(
            serde_json::to_vec(&batch)
                .map_err(|_| StoreError::Crypto("contacts could not be encoded"))?,
        );
        self.in_transaction(|v| {
            if replace {
                v.conn.execute("DELETE FROM contact_batches", [])?;
            }
            if let Some(newest_ms) = newest_ms {
                let sealed = v
                    .unlocked
                    .keys
                    .seal(&v.place(BATCHES, &newest_ms.to_be_bytes()), &plain_batch)?;
                v.conn
                    .prepare_cached(
                        "INSERT INTO contact_batches (newest_ms, sealed) VALUES (?1, ?2)",
                    )?
                    .execute((newest_ms, sealed))?;
            }
            v.conn
                .prepare_cached("DELETE FROM contact_batches WHERE newest_ms < ?1")?
                .execute([forget_before_ms])?;
            v.save_sealed_meta(SAVED, &saved)?;
            Ok(())
        })
    }

    /// The counted contacts: those of the saved batches and those the log holds past the
    /// point they were saved as of (nothing after a clean stop; the last seconds after a
    /// crash), the latter also returned on their own (they are not in any batch yet).
    ///
    /// `None` when nothing was ever saved (the server never ran with contact rights) or it was
    /// saved with another log file.
    pub fn saved_contacts(&self) -> Result<Option<SavedContacts>> {
        let Some(saved) = self.sealed_meta::<Saved>(SAVED, "the saved contacts")? else {
            return Ok(None);
        };
        let altered = || StoreError::Tampered("the saved contacts were altered".into());
        let mut found = SavedContacts::default();
        let rows: Vec<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT newest_ms, sealed FROM contact_batches ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (newest_ms, sealed) in rows {
            let plain = self
                .unlocked
                .keys
                .open(&self.place(BATCHES, &newest_ms.to_be_bytes()), &sealed)
                .map_err(|_| altered())?;
            let batch: Batch = serde_json::from_slice(&plain).map_err(|_| altered())?;
            for (at_ms, business, channel, topic) in batch {
                let at = Timestamp::from_millisecond(at_ms).map_err(|_| altered())?;
                found.saved.push(Contact {
                    at,
                    business,
                    channel,
                    topic,
                });
            }
        }
        let mark = LogMark {
            file: saved.file,
            head: Head {
                seq: saved.seq,
                end: saved.end,
                mac: saved.mac,
            },
        };
        let same_log = self.walk_log_past(&mark, |body, plain| {
            for record in logfile::parse_records::<Logged<'_>>(body, plain)? {
                found.unsaved.extend(record.counted());
            }
            Ok(())
        })?;
        Ok(same_log.then_some(found))
    }
}

impl Vault {
    /// Every counted contact the whole log holds from `since_ms` on: the history rebuilt when
    /// nothing usable was saved (a first start, another log file, a batch that does not open).
    /// Reads the whole log.
    pub fn counted_contacts_in_log(&self, since_ms: i64) -> Result<Vec<Contact>> {
        let mut contacts = Vec::new();
        for entry in self.log_entries()? {
            let r = entry.record;
            if r.at_ms < since_ms {
                continue;
            }
            let logged = Logged {
                at_ms: r.at_ms,
                outcome: r.outcome,
                action: Some(r.action),
                business: r.business.as_ref().map(|b| Cow::Owned(b.to_string())),
                contact: r.contact,
            };
            contacts.extend(logged.counted());
        }
        Ok(contacts)
    }
}

/// What [`Vault::saved_contacts`] finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedContacts {
    /// In the saved batches.
    pub saved: Vec<Contact>,
    /// In the log past the last save only: to be saved with the next batch.
    pub unsaved: Vec<Contact>,
}
