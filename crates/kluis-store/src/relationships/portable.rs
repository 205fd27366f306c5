//! Relationship records out of a vault and into another (`kluis export` / `kluis import`): every
//! record with its entries as stored, and the files of documents in base64
//! (docs/relationships.md#export-and-import).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kluis_core::grant::BusinessId;
use kluis_core::relationship::{Entry, Item};
use rusqlite::{Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Appended, NewEntry, Relationships};
use crate::error::{Result, StoreError};

/// The `format` of an export's relationships.
pub const RELATIONSHIPS_FORMAT: &str = "kluis-relationships/1";

/// The member that marks a whole export (`kluis export`) with relationships; a document has no
/// such section.
pub const EXPORT_MARK: &str = "kluis_export";

/// The export format this build writes and reads.
pub const EXPORT_VERSION: u64 = 2;

/// The document and the relationships of an export
/// (`{"kluis_export": 2, "document": {...}, "relationships": {...}}`), or a bare document (an
/// export written before relationships, or `kluis show`'s output) with no relationships. The
/// relationships are read here but not checked against a vault: [`Relationships::import`] does
/// that.
pub fn split_export(value: Value) -> Result<(Value, Option<RelationshipsExport>)> {
    let Value::Object(mut members) = value else {
        return Ok((value, None));
    };
    let Some(version) = members.remove(EXPORT_MARK) else {
        return Ok((Value::Object(members), None));
    };
    let invalid = |m: String| StoreError::Invalid(kluis_core::Error::invalid(m));
    if version != json!(EXPORT_VERSION) {
        return Err(invalid(format!(
            "{EXPORT_MARK} {version} is not an export this build reads (it reads {EXPORT_VERSION})"
        )));
    }
    let doc = members
        .remove("document")
        .ok_or_else(|| invalid("the export has no document".into()))?;
    let relationships = members
        .remove("relationships")
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| invalid(format!("relationships: {e}")))?;
    if let Some(extra) = members.keys().next() {
        return Err(invalid(format!(
            "the export has an unknown member {extra:?}"
        )));
    }
    Ok((doc, relationships))
}

/// The relationships part of an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipsExport {
    pub format: String,
    pub records: Vec<ExportedRecord>,
}

/// One record: the business, when it was made, and its entries in the order they came.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRecord {
    pub business: BusinessId,
    pub created_ms: i64,
    pub entries: Vec<ExportedEntry>,
}

/// An entry, and a document's file in standard base64.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedEntry {
    #[serde(flatten)]
    pub entry: Entry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub records: usize,
    /// Entries added.
    pub added: usize,
    /// Entries already there (same id), left as they are.
    pub kept: usize,
}

impl Relationships {
    /// Every record and entry, with the files.
    pub fn export(&self) -> Result<RelationshipsExport> {
        let mut records = Vec::new();
        for standing in self.list()? {
            let Some(row) = self.record_row(&self.conn, &standing.business)? else {
                continue;
            };
            let mut entries = Vec::new();
            for entry in self.entries_in(&self.conn, &row)? {
                let attachment = match &entry.item {
                    Item::Document {
                        attachment: Some(_),
                        ..
                    } => Some(STANDARD.encode(self.attachment(&entry.id)?.2)),
                    _ => None,
                };
                entries.push(ExportedEntry { entry, attachment });
            }
            records.push(ExportedRecord {
                business: standing.business,
                created_ms: standing.created_ms,
                entries,
            });
        }
        Ok(RelationshipsExport {
            format: RELATIONSHIPS_FORMAT.to_owned(),
            records,
        })
    }

    /// Adds what `export` holds, in one transaction: records missing here are made, entries
    /// missing here (by id) are appended in their order, entries already here are kept. If any
    /// entry is refused (not valid, a file that is not the one named, a settlement of an
    /// unknown promise), nothing changes and the error names it. Quotas do not apply: these
    /// are the owner's own records.
    pub fn import(&mut self, export: &RelationshipsExport) -> Result<Imported> {
        if export.format != RELATIONSHIPS_FORMAT {
            return Err(kluis_core::Error::invalid(format!(
                "relationships: format {:?} is not {RELATIONSHIPS_FORMAT:?}",
                export.format
            ))
            .into());
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let mut done = Imported::default();
        for record in &export.records {
            let row = self.record_in(&tx, &record.business, record.created_ms)?;
            done.records += 1;
            for exported in &record.entries {
                match self.entry_record(&tx, &exported.entry.id)? {
                    Some(seq) if seq == row.seq => {
                        done.kept += 1;
                        continue;
                    }
                    Some(_) => {
                        return Err(StoreError::Conflict(format!(
                            "entry {} of {} is in another relationship's record here",
                            exported.entry.id, record.business
                        )));
                    }
                    None => {}
                }
                let attachment = exported
                    .attachment
                    .as_deref()
                    .map(|data| STANDARD.decode(data))
                    .transpose()
                    .map_err(|_| {
                        StoreError::Invalid(kluis_core::Error::invalid(format!(
                            "entry {}: attachment is not standard base64",
                            exported.entry.id
                        )))
                    })?;
                let new = NewEntry {
                    entry: exported.entry.clone(),
                    bytes: 0,
                    attachment,
                };
                match self.append_in(&tx, &record.business, &new, false)? {
                    Appended::Stored => done.added += 1,
                    Appended::OverQuota(refusal) => {
                        return Err(StoreError::TooMany(refusal.to_string()));
                    }
                }
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Whether `business` has a record.
    pub fn has_record(&self, business: &BusinessId) -> Result<bool> {
        Ok(self.record_row(&self.conn, business)?.is_some())
    }
}
