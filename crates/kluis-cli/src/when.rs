//! Times given on the command line (`kluis log --since/--until`): an RFC 3339 timestamp, a date
//! (midnight UTC), or a duration meaning that long ago.

use kluis_core::Error;
use kluis_core::grant::parse_lifetime;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

/// `text` as milliseconds since 1970, durations counted back from `now_ms`.
pub fn parse_time(flag: &str, text: &str, now_ms: i64) -> Result<i64, Error> {
    let bad = || {
        Error::invalid(format!(
            "{flag} {text:?} is not a time: use RFC 3339 (2026-12-01T09:30:00Z), a date \
             (2026-12-01, midnight UTC) or a time ago (24h, 7d)"
        ))
    };
    let text = text.trim();
    // A duration has no date in it; anything with a dash is taken for a date and must be one.
    if !text.contains('-') {
        let secs = parse_lifetime(text).map_err(|_| bad())?;
        return secs
            .checked_mul(1000)
            .and_then(|ms| now_ms.checked_sub(ms))
            .ok_or_else(bad);
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad());
    }
    let mut parts = text.splitn(3, '-');
    let mut number = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (number(4), number(2), number(2)) else {
        return Err(bad());
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    let date = month
        .and_then(|m| Date::from_calendar_date(year, m, u8::try_from(day).ok()?).ok())
        .ok_or_else(bad)?;
    Ok(date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn times_parse_in_each_form() {
        let t = |text| parse_time("--since", text, NOW);
        assert_eq!(t("2025-06-15T15:06:41Z").unwrap(), 1_750_000_001_000);
        assert_eq!(t("2025-06-15T17:06:41.5+02:00").unwrap(), 1_750_000_001_500);
        assert_eq!(t("2025-06-15").unwrap(), 1_749_945_600_000);
        assert_eq!(t("24h").unwrap(), NOW - 86_400_000);
        assert_eq!(t("7d").unwrap(), NOW - 7 * 86_400_000);
        assert_eq!(t(" 90m ").unwrap(), NOW - 5_400_000);
        for bad in [
            "",
            "yesterday",
            "24",
            "-3d",
            "0h",
            "2025-13-01",
            "2025-02-30",
            "2025-6-15",
            "15-06-2025",
            "2025-06-15T25:00:00Z",
            "2025-06-15 12:00",
        ] {
            let err = t(bad).unwrap_err().to_string();
            assert!(
                err.contains("--since") && err.contains("not a time"),
                "{bad}: {err}"
            );
        }
    }
}
