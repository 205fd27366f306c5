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

    fn renewing(starts_on: Date, ends_on: Date, amount: u32, unit: NoticeUnit) -> Contract {
        Contract {
            what: "Gym".into(),
            starts_on,
            ends_on: Some(ends_on),
            renews: true,
            notice: Some(Notice { amount, unit }),
        }
    }

    #[test]
    fn a_passed_notice_day_gives_way_to_a_later_renewals() {
        // A monthly contract with two months' notice: the next end's notice day has always
        // passed; the one to give notice for is two renewals on.
        let monthly = renewing(date(2026, 1, 1), date(2026, 2, 1), 2, NoticeUnit::Months);
        assert_eq!(
            monthly.next_notice(date(2026, 3, 15)),
            Some((date(2026, 4, 1), date(2026, 6, 1)))
        );
        let due = due_within([], [&monthly], date(2026, 3, 15), 31);
        assert_eq!(
            due,
            [Due {
                on: date(2026, 4, 1),
                kind: DueKind::NoticeDeadline {
                    ends_on: date(2026, 6, 1)
                },
                index: 0
            }]
        );
        // A yearly one whose notice day for this end passed yesterday: next year's, within a
        // year's look ahead.
        let yearly = renewing(date(2026, 3, 31), date(2027, 3, 31), 1, NoticeUnit::Months);
        assert_eq!(
            yearly.next_notice(date(2027, 3, 1)),
            Some((date(2028, 2, 29), date(2028, 3, 31)))
        );
        assert_eq!(due_within([], [&yearly], date(2027, 3, 1), 365).len(), 1);
        // Ten-day terms with 45 days' notice, and a notice period in months counted from a
        // month's end (31 Jan + 1 month is 28 Feb, whose notice day is 28 Jan).
        let short = renewing(date(2026, 1, 1), date(2026, 1, 11), 45, NoticeUnit::Days);
        let (last, end) = short.next_notice(date(2026, 1, 12)).unwrap();
        assert_eq!((last, end), (date(2026, 1, 16), date(2026, 3, 2)));
        let daily = renewing(date(2026, 1, 1), date(2026, 1, 2), 1, NoticeUnit::Months);
        let (last, end) = daily.next_notice(date(2026, 1, 31)).unwrap();
        assert!(last >= date(2026, 1, 31), "{last}");
        assert_eq!(daily.last_notice_day(end), Some(last));
        assert!(
            daily.last_notice_day(end.yesterday().unwrap()).unwrap() < date(2026, 1, 31),
            "the first end still reachable"
        );
        // Daily terms with the longest notice: found without walking 1,100 terms.
        let longest = renewing(date(2026, 1, 1), date(2026, 1, 2), 1100, NoticeUnit::Days);
        let today = date(2026, 1, 10);
        assert_eq!(
            longest.next_notice(today),
            Some((today, today.checked_add(1100.days()).unwrap()))
        );
        // One that does not renew has nothing more once its day passed.
        let once = Contract {
            renews: false,
            ..monthly
        };
        assert_eq!(once.next_notice(date(2026, 1, 15)), None);
    }
}
