//! Pages of the log: the entry numbers a query picks from the index, then only their frames
//! read again, checked against the MACs the index saw, and opened.

use std::collections::HashMap;

use kluis_core::access::AccessRecord;
use serde_json::value::RawValue;

use super::*;
use crate::error::{Result, StoreError};
use crate::log::{Kept, LogEntry};
use crate::logfile::{self, Reader};
use crate::vault::Vault;

impl LogIndex {
    /// The entry numbers of the page `q` asks for, newest first, from the index alone.
    pub fn select(&self, q: &LogQuery) -> LogSelection {
        let mut selection = LogSelection {
            seqs: Vec::new(),
            next: None,
        };
        let Some(filter) = self.filter(q) else {
            return selection;
        };
        let end = self.end(q.before);
        selection.seqs.reserve(q.limit.min(end));
        for i in (0..end).rev() {
            if !self.matches(i, &filter) {
                continue;
            }
            if selection.seqs.len() == q.limit {
                selection.next = selection.seqs.last().copied();
                break;
            }
            selection.seqs.push(self.seq_of(i));
        }
        selection
    }

    /// The page `q` asks for, newest first. A log whose chain is broken is an error (as for
    /// [`Vault::log_entries`]); [`LogIndex::check`] says where.
    pub fn query(&self, vault: &Vault, q: &LogQuery) -> Result<LogPage> {
        let selection = self.select(q);
        Ok(LogPage {
            entries: self.read(vault, &selection.seqs)?,
            next: selection.next,
        })
    }

    /// The entries `seqs` (indexed ones, e.g. from [`LogIndex::select`]), in that order. Each
    /// frame holding them is read again and must still be the frame the index saw: one altered
    /// since is reported as tampered, never shown.
    pub fn read(&self, vault: &Vault, seqs: &[i64]) -> Result<Vec<LogEntry>> {
        if let Some((seq, why)) = &self.check.first_broken {
            return Err(broken(*seq, why));
        }
        if let Some(&seq) = seqs
            .iter()
            .find(|&&s| s < self.first_seq() || s > self.last_seq())
        {
            return Err(StoreError::not_found(format!(
                "the access log has no entry {seq}"
            )));
        }
        match self.source {
            Source::Nothing => Ok(Vec::new()),
            Source::Table => self.read_table(vault, seqs),
            Source::File(id) => self.read_file(vault, &id, seqs),
        }
    }

    fn read_file(&self, vault: &Vault, id: &[u8; 16], seqs: &[i64]) -> Result<Vec<LogEntry>> {
        let unlocked = vault.unlocked();
        let reader =
            Reader::open(&vault.log_path(), unlocked, id)?.map_err(|why| broken(1, &why))?;
        if reader.checkpoint != self.checkpoint {
            // Pruned since this index was built: its offsets belong to the old file. Not a
            // sign of tampering; the next refresh indexes the new file.
            return Err(StoreError::Conflict(
                "the access log was pruned since this page was indexed; load it again".into(),
            ));
        }
        let mut entries = Vec::with_capacity(seqs.len());
        let mut rest = seqs;
        while let Some(&seq) = rest.first() {
            let i = self.frames.partition_point(|f| f.first <= seq) - 1;
            let frame = &self.frames[i];
            let here = rest
                .iter()
                .take_while(|&&s| (frame.first..=frame.last()).contains(&s))
                .count();
            let (bytes, plain) = self.reread(&reader, unlocked, i)?;
            let altered = |why: &str| broken(frame.first, &format!("{why} (since it was indexed)"));
            let raws: Vec<&RawValue> =
                logfile::parse_records(&bytes[4..], &plain).map_err(altered)?;
            for &seq in &rest[..here] {
                let raw = raws[(seq - frame.first) as usize].get();
                let record: AccessRecord =
                    serde_json::from_str(raw).map_err(|_| broken(seq, "entry is unreadable"))?;
                entries.push(LogEntry { seq, record });
            }
            rest = &rest[here..];
        }
        Ok(entries)
    }

    /// Reads indexed frame `i` again and checks it is the one the index saw (same place, same
    /// link from the previous frame's MAC, same MAC); returns its bytes and opened records.
    #[allow(clippy::type_complexity)]
    fn reread(
        &self,
        reader: &Reader,
        unlocked: &Unlocked,
        i: usize,
    ) -> Result<(zeroize::Zeroizing<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>)> {
        let frame = &self.frames[i];
        let altered = |why: &str| broken(frame.first, &format!("{why} (since it was indexed)"));
        let cut = "entry is missing (the file was cut or overwritten here)";
        let mut bytes = zeroize::Zeroizing::new(vec![0u8; 4 + frame.len as usize]);
        match reader.read_at(&mut bytes, frame.offset) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(altered(cut));
            }
            Err(err) => return Err(err.into()),
        }
        if bytes[..4] != frame.len.to_be_bytes() {
            return Err(altered(cut));
        }
        let body = &bytes[4..];
        let before = Head {
            seq: frame.first - 1,
            end: frame.offset,
            mac: i
                .checked_sub(1)
                .map_or(self.base().mac, |p| self.frames[p].mac),
        };
        match logfile::next_head(unlocked, &before, body) {
            Ok(after) if (after.seq, after.mac) == (frame.last(), frame.mac) => {}
            Ok(_) => {
                return Err(altered(
                    "entry was altered (its MAC does not match the chain)",
                ));
            }
            Err(why) => return Err(altered(why)),
        }
        let plain = logfile::open_frame(unlocked, body).map_err(altered)?;
        Ok((bytes, plain))
    }

    fn read_table(&self, vault: &Vault, seqs: &[i64]) -> Result<Vec<LogEntry>> {
        if vault.log_kept()? != Kept::InTable {
            return Err(StoreError::Conflict(
                "the access log moved to its file since the index was read; refresh it".into(),
            ));
        }
        let wanted: std::collections::HashSet<i64> = seqs.iter().copied().collect();
        let mut found = HashMap::new();
        let check = vault.walk_table(|entry| {
            if wanted.contains(&entry.seq) {
                found.insert(entry.seq, entry.record);
            }
        })?;
        if let Some((seq, why)) = check.first_broken {
            return Err(broken(seq, &why));
        }
        seqs.iter()
            .map(|&seq| {
                let record = found.get(&seq).cloned();
                let record = record.ok_or_else(|| broken(seq, "entry is missing"))?;
                Ok(LogEntry { seq, record })
            })
            .collect()
    }
}
