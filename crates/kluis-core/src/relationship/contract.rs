//! Contracts and their notice periods: from the day a contract ends (or renews) and how much
//! notice it needs, the last day the customer can still give notice.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest notice period a contract may state, in any unit: about three years.
pub const MAX_NOTICE: u32 = 1100;

/// How a notice period is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeUnit {
    Days,
    Weeks,
    Months,
}

/// A notice period: "one month", "30 days", "2 weeks".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub amount: u32,
    pub unit: NoticeUnit,
}

/// A contract as the customer records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// What it is about, e.g. "Mobile subscription".
    pub what: String,
    pub starts_on: Date,
    /// The day it ends, or renews unless notice was given.
    pub ends_on: Option<Date>,
    /// Whether it renews on `ends_on` (for another term of the same length) unless notice
    /// was given.
    #[serde(default)]
    pub renews: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Notice>,
}

impl Contract {
    /// Checks the contract: a description, an end not before its start, a notice period of 1
    /// to [`MAX_NOTICE`] units.
    pub fn validated(mut self) -> Result<Self> {
        self.what = super::description(&self.what, 200, "a contract")?;
        if self.ends_on.is_some_and(|end| end < self.starts_on) {
            return Err(Error::invalid("a contract cannot end before it starts"));
        }
        if let Some(notice) = self.notice
            && !(1..=MAX_NOTICE).contains(&notice.amount)
        {
            return Err(Error::invalid(format!(
                "a notice period must be 1 to {MAX_NOTICE} days, weeks or months"
            )));
        }
        Ok(self)
    }

    /// The day the contract next ends or renews on or after `today`: `ends_on`, or for a
    /// renewing contract the first renewal date from `today` on (terms as long as the first).
    pub fn next_end(&self, today: Date) -> Option<Date> {
        let end = self.ends_on?;
        if end >= today || !self.renews {
            return Some(end);
        }
        // Terms of the first term's length, counted in whole months when it is whole months
        // (a year's contract renews on the same day each year), else in days. The number of
        // terms since the first end is estimated from the days, then stepped to the first
        // end on or after today.
        let term_days = i64::from(self.starts_on.until(end).ok()?.get_days()).max(1);
        let months = self
            .starts_on
            .until((jiff::Unit::Month, end))
            .ok()
            .map(|s| i64::from(s.get_months()))
            .filter(|m| *m > 0 && self.starts_on.checked_add(m.months()).ok() == Some(end));
        let late = i64::from(end.until(today).ok()?.get_days());
        // Later months may be up to 3 days longer than a first term of February: start a tenth
        // early, so the estimate never passes the first end on or after today.
        let mut step = (late / term_days * 9 / 10 - 1).max(0);
        loop {
            step += 1;
            let next = match months {
                Some(m) => end.checked_add(m.checked_mul(step)?.months()).ok()?,
                None => end.checked_add(term_days.checked_mul(step)?.days()).ok()?,
            };
            if next >= today {
                return Some(next);
            }
        }
    }

    /// The last day notice can be given to end the contract at `end`: `end` less the notice
    /// period, months counted by the calendar (31 May less a month is 30 April; 31 March less a
    /// month is the last day of February, in a leap year too). Without a notice period, `end`
    /// itself.
    pub fn last_notice_day(&self, end: Date) -> Option<Date> {
        let Some(notice) = self.notice else {
            return Some(end);
        };
        let amount = i64::from(notice.amount);
        let span = match notice.unit {
            NoticeUnit::Days => amount.days(),
            NoticeUnit::Weeks => amount.weeks(),
            NoticeUnit::Months => amount.months(),
        };
        end.checked_sub(span).ok()
    }
}

impl Contract {
    /// The next last day to give notice that is today or later, and the end it is for: for the
    /// next end, or, once that day has passed, for a renewing contract's later ends (a notice
    /// period longer than a term may pass several). `None` without a notice period, or when
    /// no end is left to give notice for.
    pub fn next_notice(&self, today: Date) -> Option<(Date, Date)> {
        self.notice?;
        let mut end = self.next_end(today)?;
        // Bounded: a notice period is at most MAX_NOTICE months, a term at least a day.
        for _ in 0..=MAX_NOTICE * 31 {
            let last = self.last_notice_day(end)?;
            if last >= today {
                return Some((last, end));
            }
            if !self.renews {
                return None;
            }
            end = self.next_end(end.tomorrow().ok()?)?;
        }
        None
    }
}

impl Notice {
    /// Reads a notice period as people write it: `30d`, `2w`, `1m`, `30 days`, `2 weeks`,
    /// `1 month`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim().to_ascii_lowercase();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = match unit.trim() {
            "d" | "day" | "days" => Some(NoticeUnit::Days),
            "w" | "week" | "weeks" => Some(NoticeUnit::Weeks),
            "m" | "month" | "months" => Some(NoticeUnit::Months),
            _ => None,
        };
        match (number.parse::<u32>(), unit) {
            (Ok(amount), Some(unit)) if (1..=MAX_NOTICE).contains(&amount) => {
                Ok(Self { amount, unit })
            }
            _ => Err(Error::invalid(format!(
                "{text:?} is not a notice period; write e.g. 30d, 2w or 1m (1 to {MAX_NOTICE})"
            ))),
        }
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match (self.unit, self.amount) {
            (NoticeUnit::Days, 1) => "day",
            (NoticeUnit::Days, _) => "days",
            (NoticeUnit::Weeks, 1) => "week",
            (NoticeUnit::Weeks, _) => "weeks",
            (NoticeUnit::Months, 1) => "month",
            (NoticeUnit::Months, _) => "months",
        };
        write!(f, "{} {unit}", self.amount)
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    #[test]
    fn the_next_notice_day_moves_to_the_next_renewal_once_passed() {
        let monthly = Contract {
            what: "Gym".into(),
            starts_on: date(2026, 1, 1),
            ends_on: Some(date(2026, 2, 1)),
            renews: true,
            notice: Some(Notice {
                amount: 2,
                unit: NoticeUnit::Weeks,
            }),
        };
        // The end of 1 Mar needs notice by 15 Feb; on 20 Feb that passed: the 1 Apr end's.
        assert_eq!(
            monthly.next_notice(date(2026, 2, 10)),
            Some((date(2026, 2, 15), date(2026, 3, 1)))
        );
        assert_eq!(
            monthly.next_notice(date(2026, 2, 20)),
            Some((date(2026, 3, 18), date(2026, 4, 1)))
        );
        // Three months' notice on a monthly contract: three ends pass first.
        let long = Contract {
            notice: Some(Notice {
                amount: 3,
                unit: NoticeUnit::Months,
            }),
            ..monthly.clone()
        };
        assert_eq!(
            long.next_notice(date(2026, 2, 10)),
            Some((date(2026, 3, 1), date(2026, 6, 1)))
        );
        let once = Contract {
            renews: false,
            ends_on: Some(date(2026, 3, 1)),
            ..monthly.clone()
        };
        assert_eq!(once.next_notice(date(2026, 2, 20)), None);
        let without = Contract {
            notice: None,
            ..monthly
        };
        assert_eq!(without.next_notice(date(2026, 2, 10)), None);
    }

    #[test]
    fn notice_periods_read_as_people_write_them() {
        for (text, amount, unit) in [
            ("30d", 30, NoticeUnit::Days),
            ("2 weeks", 2, NoticeUnit::Weeks),
            (" 1 Month ", 1, NoticeUnit::Months),
            ("3m", 3, NoticeUnit::Months),
        ] {
            assert_eq!(
                Notice::parse(text).unwrap(),
                Notice { amount, unit },
                "{text}"
            );
        }
        for bad in ["", "m", "0d", "1y", "-1d", "1101d", "1.5m"] {
            assert!(Notice::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Notice::parse("1m").unwrap().to_string(), "1 month");
    }

    use super::*;

    fn contract(
        starts_on: Date,
        ends_on: Option<Date>,
        renews: bool,
        notice: Option<Notice>,
    ) -> Contract {
        Contract {
            what: "Mobile subscription".into(),
            starts_on,
            ends_on,
            renews,
            notice,
        }
    }

    fn months(amount: u32) -> Option<Notice> {
        Some(Notice {
            amount,
            unit: NoticeUnit::Months,
        })
    }

    #[test]
    fn notice_in_months_keeps_to_the_calendar() {
        let c = contract(date(2026, 1, 1), None, false, months(1));
        // Month ends: the day does not spill into the next month.
        assert_eq!(
            c.last_notice_day(date(2027, 3, 31)),
            Some(date(2027, 2, 28))
        );
        assert_eq!(
            c.last_notice_day(date(2028, 3, 31)),
            Some(date(2028, 2, 29)),
            "leap year"
        );
        assert_eq!(
            c.last_notice_day(date(2027, 5, 31)),
            Some(date(2027, 4, 30))
        );
        assert_eq!(
            c.last_notice_day(date(2027, 1, 15)),
            Some(date(2026, 12, 15))
        );
        let three = contract(date(2026, 1, 1), None, false, months(3));
        assert_eq!(
            three.last_notice_day(date(2028, 5, 31)),
            Some(date(2028, 2, 29))
        );
        let days = Contract {
            notice: Some(Notice {
                amount: 30,
                unit: NoticeUnit::Days,
            }),
            ..c.clone()
        };
        assert_eq!(
            days.last_notice_day(date(2028, 3, 1)),
            Some(date(2028, 1, 31))
        );
        let weeks = Contract {
            notice: Some(Notice {
                amount: 2,
                unit: NoticeUnit::Weeks,
            }),
            ..c.clone()
        };
        assert_eq!(
            weeks.last_notice_day(date(2027, 1, 1)),
            Some(date(2026, 12, 18))
        );
        let none = Contract { notice: None, ..c };
        assert_eq!(
            none.last_notice_day(date(2027, 1, 1)),
            Some(date(2027, 1, 1))
        );
    }

    #[test]
    fn a_renewing_contract_ends_next_on_its_next_renewal() {
        // A year's contract renews on the same day each year, counted in months from its
        // first end.
        let yearly = contract(date(2025, 3, 31), Some(date(2026, 3, 31)), true, months(1));
        assert_eq!(yearly.next_end(date(2026, 1, 1)), Some(date(2026, 3, 31)));
        assert_eq!(yearly.next_end(date(2026, 4, 1)), Some(date(2027, 3, 31)));
        assert_eq!(yearly.next_end(date(2029, 6, 1)), Some(date(2030, 3, 31)));
        // Its last notice day for the 2027 renewal.
        let end = yearly.next_end(date(2026, 4, 1)).unwrap();
        assert_eq!(yearly.last_notice_day(end), Some(date(2027, 2, 28)));
        // A term of three whole months renews every three months; a term of ten days, every
        // ten days.
        let quarterly = contract(date(2026, 1, 1), Some(date(2026, 4, 1)), true, None);
        assert_eq!(quarterly.next_end(date(2026, 4, 2)), Some(date(2026, 7, 1)));
        let short = contract(date(2026, 1, 1), Some(date(2026, 1, 11)), true, None);
        assert_eq!(short.next_end(date(2026, 1, 12)), Some(date(2026, 1, 21)));
        // One that does not renew keeps its end, past or not.
        let once = contract(date(2025, 1, 1), Some(date(2026, 1, 1)), false, None);
        assert_eq!(once.next_end(date(2026, 6, 1)), Some(date(2026, 1, 1)));
        assert_eq!(
            contract(date(2025, 1, 1), None, true, None).next_end(date(2026, 1, 1)),
            None
        );
    }

    #[test]
    fn bad_contracts_are_refused() {
        let ok = contract(date(2026, 1, 1), Some(date(2027, 1, 1)), false, months(1));
        assert!(ok.clone().validated().is_ok());
        for (bad, needle) in [
            (
                Contract {
                    what: "  ".into(),
                    ..ok.clone()
                },
                "description",
            ),
            (
                Contract {
                    ends_on: Some(date(2025, 1, 1)),
                    ..ok.clone()
                },
                "before it starts",
            ),
            (
                Contract {
                    notice: months(0),
                    ..ok.clone()
                },
                "notice period",
            ),
            (
                Contract {
                    notice: months(MAX_NOTICE + 1),
                    ..ok.clone()
                },
                "notice period",
            ),
        ] {
            let err = bad.validated().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
