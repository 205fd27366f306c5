//! Entries businesses add to their relationship records (`POST /v1/relationship/entries`), in
//! the ledger: the grant checked live (and its DPoP proof unused) as for every call, the entry
//! stored in `relationships.db` (held to the business's quotas there, one after another, so
//! concurrent entries are counted exactly) before its record is logged in the same frame as the
//! answer, and taken back if that frame cannot be written.

use kluis_core::relationship::{Entry, QuotaRefusal};
use kluis_store::{Appended, NewEntry, Relationships};

use super::Job;
use super::caches::Answer;

/// An entry as its handler hands it to the ledger: checked, with its author, id and time set.
#[derive(Debug)]
pub struct AppendAsk {
    pub entry: Entry,
    pub attachment: Option<Vec<u8>>,
    /// The size of the request body, counted against the business's quota of bytes.
    pub bytes: u64,
}

/// The ledger's answer to an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendVerdict {
    /// The grant is not live (or its DPoP proof failed); for the log, not the client.
    Inactive(&'static str),
    /// Live; not stored yet (the ledger's own state between deciding and storing).
    Pending,
    Stored,
    /// Over one of the business's quotas: nothing stored.
    OverQuota(QuotaRefusal),
    /// Allowed, but `relationships.db` could not store it.
    Failed,
}

impl AppendVerdict {
    /// The log's note: the entry's kind and id when stored, else why not.
    pub(super) fn note(&self, ask: &AppendAsk) -> String {
        match self {
            AppendVerdict::Stored | AppendVerdict::Pending => {
                format!("{} {}", ask.entry.item.kind(), ask.entry.id)
            }
            AppendVerdict::Inactive(reason) => (*reason).to_owned(),
            AppendVerdict::OverQuota(refusal) => refusal.to_string(),
            AppendVerdict::Failed => "the relationship records could not store the entry".into(),
        }
    }

    pub(super) fn allowed(&self) -> bool {
        matches!(self, AppendVerdict::Stored | AppendVerdict::Pending)
    }
}

/// Stores the entries of `batch` its answers let through, one transaction each, turning their
/// answers into what happened. Whether one failed for a full disk.
pub(super) fn store(
    rel: Option<&mut Relationships>,
    batch: &[Job],
    answers: &mut [Answer],
) -> bool {
    let mut rel = rel;
    let mut full = false;
    for (job, answer) in batch.iter().zip(answers.iter_mut()) {
        let (Job::Append { access, ask, .. }, Answer::Append(verdict, note)) = (job, answer) else {
            continue;
        };
        if *verdict != AppendVerdict::Pending {
            continue;
        }
        let new = NewEntry {
            entry: ask.entry.clone(),
            attachment: ask.attachment.clone(),
            bytes: ask.bytes,
        };
        *verdict = match rel.as_deref_mut().map(|r| r.append(&access.business, &new)) {
            Some(Ok(Appended::Stored)) => AppendVerdict::Stored,
            Some(Ok(Appended::OverQuota(refusal))) => AppendVerdict::OverQuota(refusal),
            Some(Err(err)) => {
                tracing::error!(error = %err, "could not store a relationship entry");
                full |= err.is_disk_full();
                AppendVerdict::Failed
            }
            None => AppendVerdict::Failed,
        };
        *note = verdict.note(ask);
    }
    full
}

/// Takes back the entries of a batch whose records could not be logged: those callers were
/// answered 503 and will send them again.
pub(super) fn take_back(rel: Option<&mut Relationships>, batch: &[Job], answers: &[Answer]) {
    let Some(rel) = rel else { return };
    for (job, answer) in batch.iter().zip(answers) {
        if let (Job::Append { ask, .. }, Answer::Append(AppendVerdict::Stored, _)) = (job, answer)
            && let Err(err) = rel.take_back(&ask.entry.id, ask.bytes)
        {
            tracing::error!(error = %err, "could not take back an entry whose record was not logged");
        }
    }
}
