//! The customer's own record of a relationship with a business (issue: relationships): the
//! rules of its contracts (the last day to give notice), its promises (open, kept, broken,
//! withdrawn; overdue), and what is due soon. Pure: the caller passes today's date.
//!
//! Groundwork: the store, the write grants, the CLI, the dashboard page and the served
//! iCalendar feed build on these rules and are not here yet.

mod contract;
mod due;
pub mod ics;
mod promise;

pub use contract::{Contract, Notice, NoticeUnit};
pub use due::{Due, DueKind, due_within};
pub use promise::{Promise, PromiseStatus, RecordedBy};

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
