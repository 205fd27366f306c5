//! What is due soon: promises due or overdue, and the last days to give notice, from today to
//! `days` ahead, soonest first.

use jiff::ToSpan;
use jiff::civil::Date;

use super::contract::Contract;
use super::promise::Promise;

/// What kind of day it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueKind {
    /// An open promise is due (or, if `overdue`, was).
    Promise { overdue: bool },
    /// The last day to give notice before a contract ends or renews on `ends_on`.
    NoticeDeadline { ends_on: Date },
}

/// One thing due, of the `index`-th promise or contract given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub on: Date,
    pub kind: DueKind,
    pub index: usize,
}

/// Open promises due by `today + days` (overdue ones too, however old), and notice deadlines
/// from `today` to `today + days`, soonest first.
pub fn due_within<'a>(
    promises: impl IntoIterator<Item = &'a Promise>,
    contracts: impl IntoIterator<Item = &'a Contract>,
    today: Date,
    days: u32,
) -> Vec<Due> {
    let Ok(until) = today.checked_add(i64::from(days).days()) else {
        return Vec::new();
    };
    let promised = promises.into_iter().enumerate().filter_map(|(index, p)| {
        (p.status == super::PromiseStatus::Open && p.due_on <= until).then_some(Due {
            on: p.due_on,
            kind: DueKind::Promise {
                overdue: p.is_overdue(today),
            },
            index,
        })
    });
    let deadlines = contracts.into_iter().enumerate().filter_map(|(index, c)| {
        let (on, ends_on) = c.next_notice(today)?;
        (on <= until).then_some(Due {
            on,
            kind: DueKind::NoticeDeadline { ends_on },
            index,
        })
    });
    let mut due: Vec<Due> = promised.chain(deadlines).collect();
    due.sort_by_key(|d| (d.on, d.index));
    due
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::super::{Notice, NoticeUnit, PromiseStatus, RecordedBy};
    use super::*;

    #[test]
    fn promises_and_notice_deadlines_soonest_first() {
        let p = |due_on, status| Promise {
            what: "call back".into(),
            due_on,
            status,
            recorded_by: RecordedBy::Owner,
        };
        let promises = [
            p(date(2026, 11, 20), PromiseStatus::Open),
            p(date(2026, 12, 5), PromiseStatus::Open),
            p(date(2026, 12, 3), PromiseStatus::Kept),
            p(date(2027, 2, 1), PromiseStatus::Open),
        ];
        let contracts = [
            Contract {
                what: "Energy".into(),
                starts_on: date(2026, 1, 31),
                ends_on: Some(date(2027, 1, 31)),
                renews: true,
                notice: Some(Notice {
                    amount: 1,
                    unit: NoticeUnit::Months,
                }),
            },
            Contract {
                what: "Gym".into(),
                starts_on: date(2026, 1, 1),
                ends_on: Some(date(2027, 6, 1)),
                renews: false,
                notice: Some(Notice {
                    amount: 1,
                    unit: NoticeUnit::Months,
                }),
            },
        ];
        let due = due_within(&promises, &contracts, date(2026, 12, 1), 31);
        assert_eq!(
            due,
            [
                Due {
                    on: date(2026, 11, 20),
                    kind: DueKind::Promise { overdue: true },
                    index: 0
                },
                Due {
                    on: date(2026, 12, 5),
                    kind: DueKind::Promise { overdue: false },
                    index: 1
                },
                Due {
                    on: date(2026, 12, 31),
                    kind: DueKind::NoticeDeadline {
                        ends_on: date(2027, 1, 31)
                    },
                    index: 0
                },
            ]
        );
        assert_eq!(
            due_within(&promises, &contracts, date(2026, 12, 1), 0).len(),
            1
        );
    }
}
