//! Promises a business made ("I'll call you next week"): what, by when, and how it went.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a promise stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromiseStatus {
    Open,
    Kept,
    Broken,
    Withdrawn,
}

/// Who recorded a promise: the owner, or the business itself (signed, through a write grant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordedBy {
    Owner,
    Business,
}

/// A promise as the customer's record keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    pub what: String,
    pub due_on: Date,
    pub status: PromiseStatus,
    pub recorded_by: RecordedBy,
}

impl Promise {
    /// Checks the promise: a description of 1 to 500 characters without control characters.
    pub fn validated(mut self) -> Result<Self> {
        self.what = super::description(&self.what, 500, "a promise")?;
        Ok(self)
    }

    /// Open and past its day: the business has not kept it in time.
    pub fn is_overdue(&self, today: Date) -> bool {
        self.status == PromiseStatus::Open && self.due_on < today
    }

    /// Moves the promise to `to`. An open promise may become anything; a settled one (kept,
    /// broken, withdrawn) may only be opened again, which undoes a mistake.
    pub fn settle(&mut self, to: PromiseStatus) -> Result<()> {
        if self.status == to {
            return Err(Error::invalid(format!(
                "the promise is {} already",
                match to {
                    PromiseStatus::Open => "open",
                    PromiseStatus::Kept => "kept",
                    PromiseStatus::Broken => "broken",
                    PromiseStatus::Withdrawn => "withdrawn",
                }
            )));
        }
        let allowed = self.status == PromiseStatus::Open || to == PromiseStatus::Open;
        if !allowed {
            return Err(Error::invalid(
                "a settled promise can only be opened again, not settled another way",
            ));
        }
        self.status = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn promise(due_on: Date) -> Promise {
        Promise {
            what: "We will call you back about the repair".into(),
            due_on,
            status: PromiseStatus::Open,
            recorded_by: RecordedBy::Business,
        }
    }

    #[test]
    fn an_open_promise_past_its_day_is_overdue() {
        let p = promise(date(2026, 12, 1));
        assert!(
            !p.is_overdue(date(2026, 12, 1)),
            "due today is not overdue yet"
        );
        assert!(p.is_overdue(date(2026, 12, 2)));
        let mut kept = p.clone();
        kept.settle(PromiseStatus::Kept).unwrap();
        assert!(!kept.is_overdue(date(2027, 1, 1)));
        assert!(kept.settle(PromiseStatus::Broken).is_err());
        kept.settle(PromiseStatus::Open).unwrap();
        assert!(kept.is_overdue(date(2027, 1, 1)));
    }

    #[test]
    fn a_promise_needs_words() {
        for what in ["", "   ", "a\u{0}b"] {
            let bad = Promise {
                what: what.into(),
                ..promise(date(2026, 1, 1))
            };
            assert!(bad.validated().is_err(), "{what:?}");
        }
        let long = Promise {
            what: "x".repeat(501),
            ..promise(date(2026, 1, 1))
        };
        assert!(long.validated().is_err());
    }
}
