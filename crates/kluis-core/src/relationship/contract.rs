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
    /// The next last day to give notice of this contract from `today` on, and the end it is for:
    /// the first end (or renewal) whose notice can still be given. Once the day for the next end
    /// has passed, that is a later renewal's: a notice period longer than what is left of a term
    /// (or longer than a term) skips ends. `None` without a notice period, or when no end to come
    /// can still be reached.
    pub fn next_notice(&self, today: Date) -> Option<(Date, Date)> {
        let notice = self.notice?;
        let mut end = self.next_end(today)?;
        let mut last = self.last_notice_day(end)?;
        if last < today && self.renews {
            // No end before `today` plus the notice period can still be reached (the notice day
            // only moves later with the end): start from there.
            let amount = i64::from(notice.amount);
            let span = match notice.unit {
                NoticeUnit::Days => amount.days(),
                NoticeUnit::Weeks => amount.weeks(),
                NoticeUnit::Months => amount.months(),
            };
            end = self.next_end(today.checked_add(span).ok()?)?;
            last = self.last_notice_day(end)?;
            // Months counted from a month's end can land a few days short: a step or two more.
            for _ in 0..4 {
                if last >= today {
                    break;
                }
                end = self.next_end(end.tomorrow().ok()?)?;
                last = self.last_notice_day(end)?;
            }
        }
        (last >= today).then_some((last, end))
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
