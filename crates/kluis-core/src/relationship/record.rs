//! A relationship record's standing state, folded from its entries as they are appended: the
//! promises and how they stand, the contracts, the latest satisfaction score, and how much the
//! business has written (for its quotas). The vault keeps this beside the entries so that what
//! is due, over every relationship, is read without opening every entry.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::contract::Contract;
use super::due::{DueKind, due_within};
use super::entry::{Author, Entry, EntryId, Item};
use super::promise::{Promise, PromiseStatus, RecordedBy};
use crate::error::{Error, Result};
use crate::grant::BusinessId;

/// How many settled promises a record keeps beside what can come due, for calendars.
pub const SETTLED_KEPT: usize = 20;

/// How long a settled promise stays in a calendar feed (as completed), in days.
pub const SETTLED_SHOWN_DAYS: i64 = 30;

/// How much a business may write into its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Entries per UTC day.
    pub entries_per_day: u32,
    /// Bytes of requests (bodies and attachments) in all.
    pub bytes_in_all: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            entries_per_day: 100,
            bytes_in_all: 64 * 1024 * 1024,
        }
    }
}

/// Why a business's entry was not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaRefusal {
    #[error("this business has added {limit} entries today, as many as a day allows")]
    Day { limit: u32 },
    #[error("this business's entries would take more than the {limit} bytes it may use in all")]
    Bytes { limit: u64 },
}

/// What the business wrote, for its quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<Date>,
    #[serde(default)]
    pub day_count: u32,
}

impl Usage {
    /// Whether an entry of `bytes` may come on `today`.
    pub fn admit(&self, today: Date, bytes: u64, limits: Limits) -> Result<(), QuotaRefusal> {
        let today_count = if self.day == Some(today) {
            self.day_count
        } else {
            0
        };
        if today_count >= limits.entries_per_day {
            return Err(QuotaRefusal::Day {
                limit: limits.entries_per_day,
            });
        }
        if self.bytes.saturating_add(bytes) > limits.bytes_in_all {
            return Err(QuotaRefusal::Bytes {
                limit: limits.bytes_in_all,
            });
        }
        Ok(())
    }

    fn count(&mut self, today: Date, bytes: u64) {
        if self.day != Some(today) {
            self.day = Some(today);
            self.day_count = 0;
        }
        self.day_count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// A promise with the entry that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked<T> {
    pub entry: EntryId,
    #[serde(flatten)]
    pub value: T,
    /// For a promise: the day it was last settled (kept, broken, withdrawn), if it stands so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_on: Option<Date>,
}

/// The standing state of one relationship.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub business: BusinessId,
    /// When the record was made, Unix milliseconds.
    pub created_ms: i64,
    #[serde(default)]
    pub entries: u64,
    #[serde(default)]
    pub promises: Vec<Tracked<Promise>>,
    #[serde(default)]
    pub contracts: Vec<Tracked<Contract>>,
    /// The latest satisfaction score and its day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<(u8, Date)>,
    #[serde(default)]
    pub usage: Usage,
}

impl Standing {
    pub fn new(business: BusinessId, created_ms: i64) -> Self {
        Self {
            business,
            created_ms,
            entries: 0,
            promises: Vec::new(),
            contracts: Vec::new(),
            satisfaction: None,
            usage: Usage::default(),
        }
    }

    /// Folds `entry` in. A business's entry of `bytes` is counted for its quotas (checked
    /// before with [`Usage::admit`]). A settlement must name a promise of this record.
    pub fn apply(&mut self, entry: &Entry, bytes: u64) -> Result<()> {
        match &entry.item {
            Item::Promise { what, due_on } => self.promises.push(Tracked {
                entry: entry.id.clone(),
                value: Promise {
                    what: what.clone(),
                    due_on: *due_on,
                    status: PromiseStatus::Open,
                    recorded_by: if entry.author.is_owner() {
                        RecordedBy::Owner
                    } else {
                        RecordedBy::Business
                    },
                },
                settled_on: None,
            }),
            Item::Contract { contract } => self.contracts.push(Tracked {
                entry: entry.id.clone(),
                value: contract.clone(),
                settled_on: None,
            }),
            Item::Satisfaction { score, on, .. } => {
                if self.satisfaction.is_none_or(|(_, day)| day <= *on) {
                    self.satisfaction = Some((*score, *on));
                }
            }
            Item::Settled { promise, status } => {
                let tracked = self
                    .promises
                    .iter_mut()
                    .find(|p| p.entry == *promise)
                    .ok_or_else(|| {
                        Error::invalid(format!("{promise} is not a promise of this relationship"))
                    })?;
                tracked.value.settle(*status)?;
                tracked.settled_on =
                    (*status != PromiseStatus::Open).then(|| super::entry::day_of_ms(entry.at_ms));
            }
            Item::Interaction { .. } | Item::Document { .. } | Item::Note { .. } => {}
        }
        if let Author::Business { .. } = entry.author {
            self.usage
                .count(super::entry::day_of_ms(entry.at_ms), bytes);
        }
        self.entries += 1;
        Ok(())
    }

    /// The soonest last day to give notice over the record's contracts, and the end it is for.
    pub fn next_notice(&self, today: Date) -> Option<(Date, Date)> {
        self.contracts
            .iter()
            .filter_map(|c| c.value.next_notice(today))
            .min()
    }

    /// Open promises past their day.
    pub fn overdue(&self, today: Date) -> impl Iterator<Item = &Tracked<Promise>> {
        self.promises
            .iter()
            .filter(move |p| p.value.is_overdue(today))
    }

    /// What is due within `days` of `today`, soonest first.
    pub fn due(&self, today: Date, days: u32) -> Vec<DueItem> {
        self.pending().due(today, days)
    }

    /// The latest [`SETTLED_KEPT`] settled promises, which calendars show as completed.
    pub fn settled(&self) -> Settled {
        let mut settled: Vec<&Tracked<Promise>> = self
            .promises
            .iter()
            .filter(|p| p.settled_on.is_some())
            .collect();
        settled.sort_by_key(|p| std::cmp::Reverse(p.settled_on));
        settled.truncate(SETTLED_KEPT);
        Settled {
            business: self.business.clone(),
            promises: settled.into_iter().cloned().collect(),
        }
    }

    /// What can still come due: the open promises and the contracts with a notice period.
    pub fn pending(&self) -> Pending {
        Pending {
            business: self.business.clone(),
            promises: self
                .promises
                .iter()
                .filter(|p| p.value.status == PromiseStatus::Open)
                .cloned()
                .collect(),
            contracts: self
                .contracts
                .iter()
                .filter(|c| c.value.notice.is_some())
                .cloned()
                .collect(),
        }
    }
}

/// The part of a [`Standing`] that can come due, kept apart by the store so that what is due
/// over every record is read without the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub business: BusinessId,
    #[serde(default)]
    pub promises: Vec<Tracked<Promise>>,
    #[serde(default)]
    pub contracts: Vec<Tracked<Contract>>,
}

impl Pending {
    /// What is due within `days` of `today`, soonest first.
    pub fn due(&self, today: Date, days: u32) -> Vec<DueItem> {
        due_within(
            self.promises.iter().map(|p| &p.value),
            self.contracts.iter().map(|c| &c.value),
            today,
            days,
        )
        .into_iter()
        .map(|due| {
            let (entry, what) = match due.kind {
                DueKind::Promise { .. } => {
                    let p = &self.promises[due.index];
                    (p.entry.clone(), p.value.what.clone())
                }
                DueKind::NoticeDeadline { .. } => {
                    let c = &self.contracts[due.index];
                    (c.entry.clone(), c.value.what.clone())
                }
            };
            DueItem {
                business: self.business.clone(),
                entry,
                on: due.on,
                kind: due.kind,
                what,
                done: false,
            }
        })
        .collect()
    }
}

/// A record's latest settled promises, kept apart by the store: only a calendar feed reads
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub business: BusinessId,
    #[serde(default)]
    pub promises: Vec<Tracked<Promise>>,
}

impl Settled {
    /// The promises settled in the last [`SETTLED_SHOWN_DAYS`] days up to `today`, as done
    /// items (on their due day): what a calendar feed carries as completed, so that a calendar
    /// that imported the promise sees it done rather than keeping it open.
    pub fn recently_settled(&self, today: Date) -> Vec<DueItem> {
        let since = today
            .checked_sub(jiff::Span::new().days(SETTLED_SHOWN_DAYS))
            .unwrap_or(today);
        self.promises
            .iter()
            .filter(|p| p.settled_on.is_some_and(|on| on >= since))
            .map(|p| DueItem {
                business: self.business.clone(),
                entry: p.entry.clone(),
                on: p.value.due_on,
                kind: DueKind::Promise { overdue: false },
                what: p.value.what.clone(),
                done: true,
            })
            .collect()
    }
}

/// One thing due, of a relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueItem {
    pub business: BusinessId,
    /// The promise or contract entry.
    pub entry: EntryId,
    pub on: Date,
    pub kind: DueKind,
    pub what: String,
    /// A promise settled (kept, broken, withdrawn): a calendar shows it completed.
    pub done: bool,
}

impl DueItem {
    /// A stable iCalendar UID: the same promise or deadline (of the same term) gets the same
    /// UID in every export.
    pub fn uid(&self, vault: &str) -> String {
        match self.kind {
            DueKind::Promise { .. } => format!("{}@{vault}", self.entry),
            DueKind::NoticeDeadline { ends_on } => {
                format!("{}-{}@{vault}", self.entry, ends_on.strftime("%Y%m%d"))
            }
        }
    }

    /// The calendar entry of this item.
    pub fn to_ics(&self, vault: &str) -> super::ics::Entry {
        let (kind, summary, description) = match self.kind {
            DueKind::Promise { .. } => (
                super::ics::EntryKind::Todo { done: self.done },
                format!("{} promised: {}", self.business, self.what),
                None,
            ),
            DueKind::NoticeDeadline { ends_on } => (
                super::ics::EntryKind::Event,
                format!("Last day to give notice: {} ({})", self.what, self.business),
                Some(format!(
                    "Unless you give notice by today, it renews or ends on {ends_on}."
                )),
            ),
        };
        super::ics::Entry {
            uid: self.uid(vault),
            on: self.on,
            kind,
            summary,
            description,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn entry(n: u8, at_ms: i64, author: Author, item: Item) -> Entry {
        Entry {
            id: EntryId::from_random([n; 16]),
            at_ms,
            author,
            item,
        }
    }

    fn business() -> Author {
        Author::Business {
            grant: crate::grant::GrantId::parse("g_aaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
            request_sha256: "x".into(),
            jkt: None,
        }
    }

    #[test]
    fn promises_are_tracked_settled_and_due() {
        let mut s = Standing::new(BusinessId::parse("shop.example").unwrap(), 0);
        // 2026-12-01T00:00Z
        let day = 1_796_083_200_000;
        let p = entry(
            1,
            day,
            business(),
            Item::Promise {
                what: "Call back".into(),
                due_on: date(2026, 11, 28),
            },
        );
        s.apply(&p, 60).unwrap();
        assert_eq!(s.promises[0].value.recorded_by, RecordedBy::Business);
        assert_eq!(s.overdue(date(2026, 12, 1)).count(), 1);
        let due = s.due(date(2026, 12, 1), 7);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, DueKind::Promise { overdue: true });
        assert_eq!(due[0].uid("v1"), format!("{}@v1", p.id));
        let settle = |status| {
            entry(
                2,
                day,
                Author::Owner,
                Item::Settled {
                    promise: p.id.clone(),
                    status,
                },
            )
        };
        s.apply(&settle(PromiseStatus::Kept), 0).unwrap();
        assert!(s.due(date(2026, 12, 1), 7).is_empty());
        // Calendars still see it, done, for 30 days after it was settled (on 1 Dec).
        let done = s.settled().recently_settled(date(2026, 12, 31));
        assert_eq!(done.len(), 1);
        assert!(done[0].done && done[0].uid("v1") == format!("{}@v1", p.id));
        assert!(s.settled().recently_settled(date(2027, 1, 1)).is_empty());
        assert!(s.apply(&settle(PromiseStatus::Broken), 0).is_err());
        let unknown = entry(
            3,
            day,
            Author::Owner,
            Item::Settled {
                promise: EntryId::from_random([9; 16]),
                status: PromiseStatus::Kept,
            },
        );
        assert!(s.apply(&unknown, 0).is_err());
        assert_eq!(s.entries, 2);
        assert_eq!(s.usage.bytes, 60);
        assert_eq!(s.usage.day, Some(date(2026, 12, 1)));
    }

    #[test]
    fn quotas_count_per_day_and_in_all() {
        let limits = Limits {
            entries_per_day: 2,
            bytes_in_all: 100,
        };
        let mut u = Usage::default();
        let today = date(2026, 12, 1);
        u.admit(today, 40, limits).unwrap();
        u.count(today, 40);
        u.count(today, 40);
        assert_eq!(
            u.admit(today, 1, limits),
            Err(QuotaRefusal::Day { limit: 2 })
        );
        let tomorrow = date(2026, 12, 2);
        u.admit(tomorrow, 20, limits).unwrap();
        assert_eq!(
            u.admit(tomorrow, 21, limits),
            Err(QuotaRefusal::Bytes { limit: 100 })
        );
    }

    #[test]
    fn the_latest_score_by_day_stands() {
        let mut s = Standing::new(BusinessId::parse("shop.example").unwrap(), 0);
        for (n, (score, on)) in [(4, date(2026, 11, 1)), (2, date(2026, 10, 1))]
            .into_iter()
            .enumerate()
        {
            let item = Item::Satisfaction {
                score,
                on,
                comment: None,
            };
            s.apply(&entry(n as u8, 0, Author::Owner, item), 0).unwrap();
        }
        assert_eq!(s.satisfaction, Some((4, date(2026, 11, 1))));
    }
}
