//! Reading relationship records: the list, one record's standing and entries, an attachment,
//! and what is due over all of them.

use kluis_core::grant::BusinessId;
use kluis_core::relationship::{
    Attachment, DueItem, Entry, EntryId, Item, Pending, Settled, Standing,
};
use rusqlite::OptionalExtension;

use super::{ATTACHMENT, PENDING, Relationships, SETTLED};
use crate::error::{Result, StoreError};

impl Relationships {
    /// Every record's standing, by business name.
    pub fn list(&self) -> Result<Vec<Standing>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, key, standing FROM records")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, key, sealed) = row?;
            out.push(self.open_record(seq, &key, &sealed)?.standing);
        }
        out.sort_by(|a, b| a.business.cmp(&b.business));
        Ok(out)
    }

    /// The standing of `business`'s record, if it has one.
    pub fn standing(&self, business: &BusinessId) -> Result<Option<Standing>> {
        Ok(self.record_row(&self.conn, business)?.map(|r| r.standing))
    }

    /// The entries of `business`'s record, newest first by the day they are about
    /// ([`Entry::day`]), then by when they were recorded. Empty when it has no record.
    pub fn entries(&self, business: &BusinessId) -> Result<Vec<Entry>> {
        let Some(record) = self.record_row(&self.conn, business)? else {
            return Ok(Vec::new());
        };
        let mut entries = self.entries_in(&self.conn, &record)?;
        entries.sort_by_key(|e| std::cmp::Reverse((e.day(), e.at_ms)));
        Ok(entries)
    }

    /// Entry `id` and the business whose record holds it.
    pub fn entry(&self, id: &EntryId) -> Result<(BusinessId, Entry)> {
        let (record, _, entry) = self.find_in(&self.conn, id)?;
        Ok((record.standing.business, entry))
    }

    /// The file of document `id`: what the entry says of it and its bytes, checked against
    /// the SHA-256 the entry holds.
    pub fn attachment(&self, id: &EntryId) -> Result<(BusinessId, Attachment, Vec<u8>)> {
        let (record, seq, entry) = self.find_in(&self.conn, id)?;
        let Item::Document {
            attachment: Some(info),
            ..
        } = entry.item
        else {
            return Err(StoreError::not_found(format!("{id} has no attached file")));
        };
        let sealed: Vec<u8> = self
            .conn
            .prepare_cached("SELECT data FROM attachments WHERE entry = ?1")?
            .query_row([seq], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Tampered(format!("{id}'s attached file is missing")))?;
        let key = self.entry_key(id);
        let bytes = self
            .unlocked
            .keys()
            .open(&self.unlocked.place(ATTACHMENT, &key), &sealed)?
            .to_vec();
        if kluis_core::relationship::entry::sha256_hex(&bytes) != info.sha256 {
            return Err(StoreError::Tampered(format!(
                "{id}'s attached file is not the one recorded"
            )));
        }
        Ok((record.standing.business, info, bytes))
    }

    /// What is due within `days` of `today` over every record, soonest first (then by
    /// business): open promises due by then or overdue, and notice deadlines. Opens only each
    /// record's pending part.
    pub fn due(&self, today: kluis_core::relationship::Date, days: u32) -> Result<Vec<DueItem>> {
        let mut due = Vec::new();
        self.each_part(PENDING, |pending: Pending| {
            due.extend(pending.due(today, days));
            pending.business
        })?;
        sort_due(&mut due);
        Ok(due)
    }

    /// What a calendar feed carries: what is due ([`Relationships::due`]) and the promises
    /// settled lately, as done, so that a calendar that imported one sees it completed.
    pub fn calendar(
        &self,
        today: kluis_core::relationship::Date,
        days: u32,
    ) -> Result<Vec<DueItem>> {
        let mut due = self.due(today, days)?;
        self.each_part(SETTLED, |settled: Settled| {
            due.extend(settled.recently_settled(today));
            settled.business
        })?;
        sort_due(&mut due);
        Ok(due)
    }

    /// Opens the sealed part `column` (also its place) of every record and hands it to `each`,
    /// which returns the business it names: that must be the row's.
    fn each_part<T: serde::de::DeserializeOwned>(
        &self,
        column: &str,
        mut each: impl FnMut(T) -> BusinessId,
    ) -> Result<()> {
        let sql = match column {
            PENDING => "SELECT key, pending FROM records",
            _ => "SELECT key, settled FROM records",
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (key, sealed) = row?;
            let part: T = self.unseal(&key, column, &sealed, "a relationship record")?;
            if self.record_key(&each(part))[..] != *key {
                return Err(StoreError::Tampered(
                    "a relationship record disagrees with its row".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Soonest first, then by business.
fn sort_due(due: &mut [DueItem]) {
    due.sort_by(|a, b| (a.on, &a.business).cmp(&(b.on, &b.business)));
}
/// The businesses the vault knows from `grants` (every inbox message comes with one, and
/// grants are kept once ended) and access `requests`: each has a relationship from then on,
/// with or without a record of entries.
pub fn known_businesses(
    grants: &[kluis_core::grant::Grant],
    requests: &[crate::requests::StoredRequest],
) -> std::collections::BTreeSet<BusinessId> {
    grants
        .iter()
        .map(|g| g.audience.clone())
        .chain(requests.iter().map(|r| r.request.business.id.clone()))
        .collect()
}
