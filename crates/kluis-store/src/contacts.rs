//! Contacts that count against the owner's caps (delivered inbox messages, reserved checks),
//! kept across restarts the way read counts are (see [`crate::readcounts`]): every counted
//! contact is in the access log before it is answered; the server's ledger now and then saves
//! the contacts it holds, sealed, in `meta` with the point of the log they are as of; a
//! restarted ledger takes them and adds the counted contacts the log holds past that point.

use std::borrow::Cow;

use kluis_core::access::{Action, ContactNote, Outcome};
use kluis_core::contact::{Contact, Timestamp};
use kluis_core::grant::BusinessId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::log::Kept;
use crate::logfile::{self, Head, Reader};
use crate::readcounts::LogMark;
use crate::vault::Vault;

/// The `meta` row the contacts are saved in (and the place they are sealed to).
const SAVED: &str = "contacts";

/// What is sealed in `meta`.
#[derive(Serialize, Deserialize)]
struct Saved {
    file: [u8; 16],
    seq: i64,
    end: u64,
    mac: [u8; 32],
    /// `(at_ms, business, channel, topic)`.
    contacts: Vec<(i64, BusinessId, String, String)>,
}

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
    /// Saves `contacts` as those counted up to `at`, in place of the last saved ones.
    pub fn save_contacts(
        &self,
        contacts: impl IntoIterator<Item = Contact>,
        at: &LogMark,
    ) -> Result<()> {
        let saved = Saved {
            file: at.file,
            seq: at.head.seq,
            end: at.head.end,
            mac: at.head.mac,
            contacts: contacts
                .into_iter()
                .map(|c| (c.at.as_millisecond(), c.business, c.channel, c.topic))
                .collect(),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&saved)
                .map_err(|_| StoreError::Crypto("contacts could not be encoded"))?,
        );
        let sealed = self
            .unlocked
            .keys
            .seal(&self.place("meta", SAVED.as_bytes()), &plain)?;
        self.conn
            .prepare_cached(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute((SAVED, sealed))?;
        Ok(())
    }

    /// The counted contacts: the last saved ones and those the log holds past the point they
    /// were saved at (nothing after a clean stop; about the last seconds after a crash).
    ///
    /// `None` when none were ever saved (the server never ran with contact rights) or they were
    /// saved with another log file.
    pub fn saved_contacts(&self) -> Result<Option<Vec<Contact>>> {
        let Some(sealed) = self.meta(SAVED)? else {
            return Ok(None);
        };
        let altered = || StoreError::Tampered("the saved contacts were altered".into());
        let plain = self
            .unlocked
            .keys
            .open(&self.place("meta", SAVED.as_bytes()), &sealed)
            .map_err(|_| altered())?;
        let saved: Saved = serde_json::from_slice(&plain).map_err(|_| altered())?;
        let Kept::InFile(id) = self.log_kept()? else {
            return Ok(None);
        };
        if id != saved.file {
            return Ok(None);
        }
        let mut contacts = Vec::with_capacity(saved.contacts.len());
        for (at_ms, business, channel, topic) in saved.contacts {
            let at = Timestamp::from_millisecond(at_ms).map_err(|_| altered())?;
            contacts.push(Contact {
                at,
                business,
                channel,
                topic,
            });
        }
        // A log that cannot be read past the mark adds nothing; `kluis log verify` says why.
        let Ok(reader) = Reader::open(&self.log_path(), &self.unlocked, &id)? else {
            return Ok(Some(contacts));
        };
        let from = Head {
            seq: saved.seq,
            end: saved.end,
            mac: saved.mac,
        };
        reader.walk(&self.unlocked, from, |seen| {
            let plain = logfile::open_frame(&self.unlocked, seen.body)?;
            for record in logfile::parse_records::<Logged<'_>>(seen.body, &plain)? {
                contacts.extend(record.counted());
            }
            Ok(())
        })?;
        Ok(Some(contacts))
    }
}
