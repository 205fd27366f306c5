//! Quiet hours: a daily window in the owner's time zone (possibly across midnight) in which no
//! business may reach them, and when the window that holds a moment ends, across DST changes.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde_json::Value;

use super::policy::{object, unknown_key};
use super::time_zone;
use crate::error::{Error, Result};
use crate::pointer::Pointer;

const KEYS: [&str; 3] = ["start", "end", "time_zone"];

/// `/preferences/quiet_hours`: quiet from `start` up to (not including) `end`, local time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
    pub zone: TimeZone,
}

impl QuietHours {
    /// Reads the object at `at`; every key is required and `start` must differ from `end`.
    pub fn parse(value: &Value, at: &Pointer) -> Result<QuietHours> {
        let map = object(
            value,
            at,
            "an object like {\"start\": \"21:00\", \"end\": \"08:00\", \"time_zone\": \"Europe/Amsterdam\"}",
        )?;
        for key in map.keys() {
            if !KEYS.contains(&key.as_str()) {
                return Err(unknown_key(at, key, &KEYS));
            }
        }
        let required = |key: &str| {
            map.get(key).ok_or_else(|| {
                Error::invalid(format!("{}: quiet hours need a {key}", at.child(key)))
            })
        };
        let start = clock(required("start")?, &at.child("start"))?;
        let end = clock(required("end")?, &at.child("end"))?;
        let zone = zone(required("time_zone")?, &at.child("time_zone"))?;
        if start == end {
            return Err(Error::invalid(format!(
                "{at}: start and end are both {}; quiet hours need a window",
                start.strftime("%H:%M")
            )));
        }
        Ok(QuietHours { start, end, zone })
    }

    /// When the quiet window holding `now` ends, or `None` if `now` is outside quiet hours.
    ///
    /// Each night's window runs between real instants: a start or end that a DST change skips
    /// happens when the clock jumps past it, and one that comes twice happens the first time.
    pub fn window_end(&self, now: Timestamp) -> Option<Timestamp> {
        let today = self.zone.to_datetime(now).date();
        let yesterday = today.yesterday().ok();
        [yesterday, Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|night| self.window(night))
            .find(|(start, end)| *start <= now && now < *end)
            .map(|(_, end)| end)
    }

    /// The window that starts on `night` (and ends that day or, across midnight, the next).
    fn window(&self, night: Date) -> Option<(Timestamp, Timestamp)> {
        let end_day = if self.end > self.start {
            night
        } else {
            night.tomorrow().ok()?
        };
        Some((
            self.instant(night.to_datetime(self.start))?,
            self.instant(end_day.to_datetime(self.end))?,
        ))
    }

    /// The first instant at which the local clock shows `dt` or later.
    fn instant(&self, dt: DateTime) -> Option<Timestamp> {
        match self.zone.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            AmbiguousOffset::Gap { after, .. } => {
                // `dt` read with the later offset falls just before the jump; the jump is it.
                let before_jump = after.to_timestamp(dt).ok()?;
                self.zone
                    .following(before_jump)
                    .next()
                    .map(|t| t.timestamp())
            }
        }
    }
}

/// Reads `HH:MM` (00:00 to 23:59).
pub(super) fn clock(value: &Value, at: &Pointer) -> Result<Time> {
    let bad = || {
        Error::invalid(format!(
            "{at}: must be a time as \"HH:MM\", like \"21:00\", not {value}"
        ))
    };
    let s = value.as_str().ok_or_else(bad)?;
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// Reads an IANA zone name.
pub(super) fn zone(value: &Value, at: &Pointer) -> Result<TimeZone> {
    match value.as_str() {
        Some(name) => time_zone(name, at),
        None => Err(Error::invalid(format!(
            "{at}: must be an IANA time zone name like \"Europe/Amsterdam\", not {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn quiet(start: &str, end: &str) -> QuietHours {
        QuietHours::parse(
            &json!({"start": start, "end": end, "time_zone": "Europe/Amsterdam"}),
            &Pointer::parse("/preferences/quiet_hours").unwrap(),
        )
        .unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_across_midnight() {
        let q = quiet("21:00", "08:00");
        // 22:30 and 07:59 local (CET, +01:00) are quiet, until 08:00 local.
        assert_eq!(
            q.window_end(ts("2026-12-01T21:30:00Z")),
            Some(ts("2026-12-02T07:00:00Z"))
        );
        assert_eq!(
            q.window_end(ts("2026-12-02T06:59:00Z")),
            Some(ts("2026-12-02T07:00:00Z"))
        );
        assert_eq!(q.window_end(ts("2026-12-02T07:00:00Z")), None);
        assert_eq!(q.window_end(ts("2026-12-02T19:59:59Z")), None);
        assert_eq!(
            q.window_end(ts("2026-12-02T20:00:00Z")),
            Some(ts("2026-12-03T07:00:00Z"))
        );
    }

    #[test]
    fn a_window_within_a_day() {
        let q = quiet("12:00", "13:30");
        assert_eq!(
            q.window_end(ts("2026-07-01T10:15:00Z")),
            Some(ts("2026-07-01T11:30:00Z"))
        );
        assert_eq!(q.window_end(ts("2026-07-01T11:30:00Z")), None);
        assert_eq!(q.window_end(ts("2026-07-01T09:59:00Z")), None);
    }

    #[test]
    fn dst_change_nights_end_at_the_real_local_end() {
        let q = quiet("21:00", "08:00");
        // Spring: the night of 28→29 March is an hour shorter; 08:00 CEST is 06:00 UTC.
        assert_eq!(
            q.window_end(ts("2026-03-28T21:00:00Z")),
            Some(ts("2026-03-29T06:00:00Z"))
        );
        // Autumn: the night of 24→25 October is an hour longer; 08:00 CET is 07:00 UTC.
        assert_eq!(
            q.window_end(ts("2026-10-24T20:00:00Z")),
            Some(ts("2026-10-25T07:00:00Z"))
        );
        assert_eq!(
            q.window_end(ts("2026-10-25T06:30:00Z")),
            Some(ts("2026-10-25T07:00:00Z"))
        );
        assert_eq!(q.window_end(ts("2026-10-25T07:00:00Z")), None);
    }

    #[test]
    fn ends_in_the_gap_or_the_fold_are_real_instants() {
        // 02:30 does not exist on 29 March (02:00 CET jumps to 03:00 CEST, at 01:00 UTC): the
        // window ends at the jump, not half an hour after it.
        let q = quiet("22:00", "02:30");
        assert_eq!(
            q.window_end(ts("2026-03-28T23:00:00Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(q.window_end(ts("2026-03-29T01:00:00Z")), None);
        // 02:30 comes twice on 25 October: the window ends the first time (00:30 UTC) and does
        // not open again when the clock shows 02:00–02:30 once more.
        assert_eq!(
            q.window_end(ts("2026-10-25T00:00:00Z")),
            Some(ts("2026-10-25T00:30:00Z"))
        );
        assert_eq!(q.window_end(ts("2026-10-25T01:15:00Z")), None);
        // A start in the gap begins when the clock jumps past it.
        let q = quiet("02:15", "06:00");
        assert_eq!(q.window_end(ts("2026-03-29T00:59:00Z")), None);
        assert_eq!(
            q.window_end(ts("2026-03-29T01:00:00Z")),
            Some(ts("2026-03-29T04:00:00Z"))
        );
    }

    #[test]
    fn bad_quiet_hours_name_their_place() {
        let at = Pointer::parse("/preferences/quiet_hours").unwrap();
        let cases = [
            (
                json!({"start": "21:00", "end": "08:00"}),
                "/preferences/quiet_hours/time_zone:",
            ),
            (
                json!({"start": "21:00", "end": "08:00", "time_zone": "Mars/Olympus"}),
                "/preferences/quiet_hours/time_zone:",
            ),
            (
                json!({"start": "21:00", "end": "08:00", "time_zone": 1}),
                "/preferences/quiet_hours/time_zone:",
            ),
            (
                json!({"start": "9:00", "end": "08:00", "time_zone": "UTC"}),
                "/preferences/quiet_hours/start:",
            ),
            (
                json!({"start": "24:00", "end": "08:00", "time_zone": "UTC"}),
                "/preferences/quiet_hours/start:",
            ),
            (
                json!({"start": "21:00", "end": "08:60", "time_zone": "UTC"}),
                "/preferences/quiet_hours/end:",
            ),
            (
                json!({"start": "21:00", "time_zone": "UTC"}),
                "/preferences/quiet_hours/end:",
            ),
            (
                json!({"start": "21:00", "end": "21:00", "time_zone": "UTC"}),
                "/preferences/quiet_hours:",
            ),
            (
                json!({"start": "21:00", "end": "08:00", "time_zone": "UTC", "days": []}),
                "/preferences/quiet_hours/days:",
            ),
            (json!("21:00-08:00"), "/preferences/quiet_hours:"),
        ];
        for (value, prefix) in cases {
            let err = QuietHours::parse(&value, &at)
                .expect_err(&value.to_string())
                .to_string();
            assert!(err.starts_with(prefix), "{value}: {err}");
        }
        let err = QuietHours::parse(
            &json!({"start": "21:00", "end": "08:00", "time_zone": "Mars/Olympus"}),
            &at,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    proptest! {
        /// Wherever the window ends, it ends after `now`, is over at that instant and was on
        /// just before it; and outside quiet hours the local clock is outside the window.
        #[test]
        fn window_ends_are_consistent(
            start in 0i8..24, start_m in 0i8..60, end in 0i8..24, end_m in 0i8..60,
            second in 1_767_225_600i64..1_798_761_600i64, // all of 2026
        ) {
            prop_assume!((start, start_m) != (end, end_m));
            let q = quiet(&format!("{start:02}:{start_m:02}"), &format!("{end:02}:{end_m:02}"));
            let now = Timestamp::from_second(second).unwrap();
            match q.window_end(now) {
                Some(until) => {
                    prop_assert!(until > now);
                    prop_assert!(q.window_end(until).is_none_or(|next| next > until));
                    let just_before = until - jiff::SignedDuration::from_secs(1);
                    prop_assert_eq!(q.window_end(just_before.max(now)), Some(until));
                }
                None => {
                    let local = q.zone.to_datetime(now).time();
                    let (s, e) = (q.start, q.end);
                    let inside = if s < e { s <= local && local < e } else { local >= s || local < e };
                    // Only a DST jump or fold may make a local time inside the window not quiet.
                    if inside {
                        let day = q.zone.to_datetime(now).date();
                        let change = [day.yesterday().unwrap(), day, day.tomorrow().unwrap()].iter().any(|d| {
                            let midnight = d.to_datetime(Time::midnight()).to_zoned_datetime(q.zone.clone()).unwrap();
                            midnight.offset() != midnight.tomorrow().unwrap().offset()
                        });
                        prop_assert!(change, "{now} at {local} should be quiet");
                    }
                }
            }
        }
    }
}
