//! When a failed delivery is tried again: the Standard Webhooks schedule (immediately, then
//! 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after each failure) with ±10 %
//! jitter, or later when the receiver asked for that with `Retry-After` (429, 503).

use std::time::{Duration, SystemTime};

const MIN: u64 = 60;
const HOUR: u64 = 60 * MIN;

/// The wait before each attempt; the first is immediate.
pub const SCHEDULE: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * MIN),
    Duration::from_secs(30 * MIN),
    Duration::from_secs(2 * HOUR),
    Duration::from_secs(5 * HOUR),
    Duration::from_secs(10 * HOUR),
    Duration::from_secs(14 * HOUR),
    Duration::from_secs(20 * HOUR),
    Duration::from_secs(24 * HOUR),
];

/// The longest `Retry-After` honoured; a receiver asking for more gets the next attempt then.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * HOUR);

/// The wait before the next attempt after `attempts` attempts all failed, or `None` when the
/// schedule is through (the event is dead). `jitter` in `[0, 1)` moves the wait by up to ±10 %;
/// a `Retry-After` longer than the scheduled wait is waited instead.
pub fn next_delay(attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
    let scheduled = *SCHEDULE.get(attempts as usize)?;
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    let jittered = scheduled.mul_f64(factor);
    Some(match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// A `Retry-After` value: delay seconds, or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A number in `[0, 1)` for the jitter.
pub fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_runs_ten_attempts_then_ends() {
        assert_eq!(next_delay(1, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(next_delay(2, None, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(
            next_delay(9, None, 0.5),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(next_delay(10, None, 0.5), None, "ten attempts, then dead");
        let total: Duration = SCHEDULE.iter().sum();
        assert_eq!(total, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let low = next_delay(3, None, 0.0).unwrap();
        let high = next_delay(3, None, 0.999_999).unwrap();
        assert_eq!(low, Duration::from_secs(27 * 60));
        assert!(high > Duration::from_secs(32 * 60) && high <= Duration::from_secs(33 * 60));
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            next_delay(1, Some(Duration::from_secs(600)), 0.5),
            Some(Duration::from_secs(600)),
            "a longer Retry-After wins over 5 s"
        );
        assert_eq!(
            next_delay(1, Some(Duration::from_secs(1)), 0.5),
            Some(Duration::from_secs(5)),
            "a shorter one does not hurry the schedule"
        );
        assert_eq!(
            next_delay(1, Some(Duration::from_secs(10 * 24 * 3600)), 0.5),
            Some(MAX_RETRY_AFTER)
        );
    }
}
