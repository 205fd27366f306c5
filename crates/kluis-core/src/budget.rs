//! Read budgets: how many reads (`GET /v1/data`) a grant is served per UTC day before the grant
//! API answers 429, the bounds the owner sets one within, and when the next day starts. A
//! business that wants to know of changes subscribes to notifications instead of polling; the
//! budget keeps one that polls anyway from filling the owner's disk with its access log.

use crate::error::{Error, Result};

/// Reads a grant is served per UTC day when the owner set no budget of its own.
pub const DEFAULT_READS_PER_DAY: u32 = 10_000;

/// The largest budget the owner may set: about 115 reads a second all day long.
pub const MAX_READS_PER_DAY: u32 = 10_000_000;

/// Seconds in a UTC day (Unix time has no leap seconds).
pub const DAY_SECS: i64 = 86_400;

/// The budget a grant has: the owner's (`Some`), or the default.
pub fn effective(set: Option<u32>) -> u32 {
    set.unwrap_or(DEFAULT_READS_PER_DAY)
}

/// Checks a budget the owner asks for: a whole number of reads from 1 to
/// [`MAX_READS_PER_DAY`].
pub fn check(reads_per_day: u32) -> Result<u32> {
    if (1..=MAX_READS_PER_DAY).contains(&reads_per_day) {
        Ok(reads_per_day)
    } else {
        Err(out_of_bounds(&reads_per_day.to_string()))
    }
}

/// Parses a budget as the owner types it: a number of reads a day (`500`, `10000`, `10_000`
/// or `10,000`), or `default` (`None`).
pub fn parse(text: &str) -> Result<Option<u32>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    let digits: String = text.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "{text:?} is not a read budget; give a number of reads a day from 1 to {MAX_READS_PER_DAY}, or \"default\" ({DEFAULT_READS_PER_DAY})"
        )));
    }
    let n = digits.parse::<u32>().map_err(|_| out_of_bounds(text))?;
    check(n).map(Some)
}

fn out_of_bounds(text: &str) -> Error {
    Error::invalid(format!(
        "a read budget of {text} reads a day is out of bounds; give 1 to {MAX_READS_PER_DAY}, or \"default\" ({DEFAULT_READS_PER_DAY})"
    ))
}

/// A budget in words, as the log and the `kluis` command say it.
pub fn describe(set: Option<u32>) -> String {
    match set {
        Some(n) => format!("{n} reads a day"),
        None => format!("{DEFAULT_READS_PER_DAY} reads a day (the default)"),
    }
}

/// The UTC day (days since 1970-01-01) of a Unix time in seconds.
pub fn day_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(DAY_SECS)
}

/// Seconds from `unix_secs` to the next UTC midnight, when a spent budget is whole again
/// (1 to 86,400): what a 429's `Retry-After` says.
pub fn secs_to_next_day(unix_secs: i64) -> u64 {
    (DAY_SECS - unix_secs.rem_euclid(DAY_SECS)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_within_bounds_or_are_refused() {
        assert_eq!(parse("500").unwrap(), Some(500));
        assert_eq!(parse(" 10_000 ").unwrap(), Some(10_000));
        assert_eq!(parse("10,000,000").unwrap(), Some(MAX_READS_PER_DAY));
        assert_eq!(parse("Default").unwrap(), None);
        for bad in [
            "0",
            "10000001",
            "99999999999",
            "-5",
            "",
            "1e3",
            "ten",
            "5 a day",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("1 to 10000000"), "{bad}: {err}");
        }
        assert!(check(0).is_err());
        assert_eq!(check(1).unwrap(), 1);
        assert_eq!(effective(None), DEFAULT_READS_PER_DAY);
        assert_eq!(effective(Some(3)), 3);
    }

    #[test]
    fn a_day_ends_at_utc_midnight() {
        let midnight = 20_000 * DAY_SECS;
        assert_eq!(day_of(midnight), 20_000);
        assert_eq!(day_of(midnight - 1), 19_999);
        assert_eq!(secs_to_next_day(midnight), 86_400);
        assert_eq!(secs_to_next_day(midnight - 1), 1);
        assert_eq!(secs_to_next_day(midnight + 3600), 82_800);
    }
}
