//! The customer's own record of a relationship with a business (issue: relationships): the
//! rules of its contracts (the last day to give notice), its promises (open, kept, broken,
//! withdrawn; overdue), and what is due soon. Pure: the caller passes today's date.
//!
//! The entries of a record ([`entry`]), what a business may post and the receipt it gets
//! ([`post`]), and the standing state folded from the entries ([`record`]) are here too; the
//! store keeps them sealed (`relationships.db`).

mod contract;
mod due;
pub mod entry;
pub mod ics;
pub mod post;
mod promise;
pub mod record;

pub use contract::{Contract, Notice, NoticeUnit};
pub use due::{Due, DueKind, due_within};
pub use entry::{Attachment, Author, Entry, EntryId, Item};
pub use post::{EntryPost, EntryReceipt, EntryStored, PostError};
pub use promise::{Promise, PromiseStatus, RecordedBy};
pub use record::{DueItem, Limits, Pending, QuotaRefusal, Settled, Standing, Tracked, Usage};

/// A description of 1 to `max` characters without control characters, trimmed; `what` names
/// the record in the message ("a contract").
fn description(text: &str, max: usize, what: &str) -> crate::error::Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(crate::error::Error::invalid(format!(
            "{what} needs a description of 1 to {max} characters without control characters"
        )));
    }
    Ok(text.to_owned())
}

/// Dates as the relationship rules take them (re-exported so callers need not name `jiff`).
pub use jiff::civil::Date;
