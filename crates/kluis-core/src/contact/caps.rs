//! Caps: "at most N contacts per day/week/month or per rolling window", how one is written in
//! `/preferences/caps` and when a violated one frees a slot.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp, ToSpan};
use serde_json::Value;

use super::history::{ContactHistory, Filter};
use super::policy::{channel, object, text, unknown_key};
use crate::error::{Error, Result};
use crate::grant::BusinessId;
use crate::pointer::Pointer;

/// The largest `max` a cap may have.
pub const MAX_CAP: u64 = 1000;

/// The longest rolling window, 366 days.
const LONGEST_WINDOW: SignedDuration = SignedDuration::from_hours(366 * 24);

const CAP_KEYS: [&str; 5] = ["max", "per", "channel", "topic", "scope"];

/// The period a cap counts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// A calendar day in the owner's time zone, from midnight.
    Day,
    /// An ISO week in the owner's time zone, from Monday midnight.
    Week,
    /// A calendar month in the owner's time zone, from the first at midnight.
    Month,
    /// The last so long, ending now.
    Rolling(SignedDuration),
}

/// Whose contacts a cap counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Only the contacts of the business asking.
    #[default]
    Business,
    /// The contacts of all businesses together.
    All,
}

/// One cap of `/preferences/caps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cap {
    pub max: u32,
    pub per: Period,
    /// Only contacts over this channel count (and only they are capped).
    pub channel: Option<String>,
    /// Only contacts about this topic count (and only they are capped).
    pub topic: Option<String>,
    pub scope: Scope,
}

impl Cap {
    /// Reads one cap object; `at` is its place, e.g. `/preferences/caps/0`.
    pub fn parse(value: &Value, at: &Pointer) -> Result<Cap> {
        let map = object(value, at, "a cap like {\"max\": 3, \"per\": \"week\"}")?;
        for key in map.keys() {
            if !CAP_KEYS.contains(&key.as_str()) {
                return Err(unknown_key(at, key, &CAP_KEYS));
            }
        }
        let max_at = at.child("max");
        let max = match map.get("max") {
            None => return Err(Error::invalid(format!("{max_at}: a cap needs a max"))),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=MAX_CAP).contains(n))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "{max_at}: must be a whole number from 1 to {MAX_CAP}, not {v}"
                    ))
                })?,
        };
        let per_at = at.child("per");
        let per = match map.get("per") {
            None => return Err(Error::invalid(format!("{per_at}: a cap needs a per"))),
            Some(v) => Period::parse(v, &per_at)?,
        };
        let channel = map
            .get("channel")
            .map(|v| channel(v, &at.child("channel")))
            .transpose()?;
        let topic = map
            .get("topic")
            .map(|v| text(v, &at.child("topic")))
            .transpose()?;
        let scope = match map.get("scope") {
            None => Scope::Business,
            Some(v) => Scope::parse(v, &at.child("scope"))?,
        };
        Ok(Cap {
            max,
            per,
            channel,
            topic,
            scope,
        })
    }

    /// Whether a contact over `channel` about `topic` counts against this cap.
    pub fn applies(&self, channel: &str, topic: &str) -> bool {
        self.channel.as_deref().is_none_or(|c| c == channel)
            && self.topic.as_deref().is_none_or(|t| t == topic)
    }

    /// Which past contacts this cap counts, for `business` asking.
    pub fn filter<'a>(&'a self, business: &'a BusinessId) -> Filter<'a> {
        Filter {
            business: (self.scope == Scope::Business).then_some(business),
            channel: self.channel.as_deref(),
            topic: self.topic.as_deref(),
        }
    }

    /// `None` while the cap has room for one more contact at `now`; once reached, `Some` of when
    /// a slot frees (inner `None` if the history cannot say). `zone` places calendar periods.
    pub(super) fn reached(
        &self,
        business: &BusinessId,
        history: &impl ContactHistory,
        now: Timestamp,
        zone: &TimeZone,
    ) -> Option<Option<Timestamp>> {
        let filter = self.filter(business);
        let max = usize::try_from(self.max).unwrap_or(usize::MAX);
        match self.per {
            Period::Rolling(window) => {
                // A contact counts while less than `window` ago: from `now - window`, exclusive.
                let since = shifted(now, SignedDuration::from_nanos(1) - window);
                let count = history.count(&filter, since);
                (count >= max).then(|| {
                    let frees = history
                        .nth_oldest_since(&filter, since, count - max)
                        .map(|t| shifted(t, window));
                    // Over all businesses, the slot frees when another business's contact
                    // leaves the window: said to the hour, so no business learns when another
                    // one reached the owner.
                    match self.scope {
                        Scope::Business => frees,
                        Scope::All => frees.map(next_hour),
                    }
                })
            }
            calendar => {
                // Should the zone's arithmetic fail (only near year 9999), count everything and
                // name no time: refusing is the safe side.
                let (start, next) = period_bounds(calendar, now, zone)
                    .map_or((Timestamp::MIN, None), |(s, n)| (s, Some(n)));
                (history.count(&filter, start) >= max).then_some(next)
            }
        }
    }
}

impl Period {
    fn parse(value: &Value, at: &Pointer) -> Result<Period> {
        let wanted =
            "\"day\", \"week\", \"month\" or an ISO 8601 duration like \"P7D\" or \"PT12H\"";
        let Some(s) = value.as_str() else {
            return Err(Error::invalid(format!(
                "{at}: must be {wanted}, not {value}"
            )));
        };
        match s {
            "day" => return Ok(Period::Day),
            "week" => return Ok(Period::Week),
            "month" => return Ok(Period::Month),
            _ => {}
        }
        let span: Span = s
            .starts_with(['P', 'p'])
            .then(|| s.parse().ok())
            .flatten()
            .ok_or_else(|| Error::invalid(format!("{at}: must be {wanted}, not {s:?}")))?;
        if span.get_years() != 0 || span.get_months() != 0 {
            return Err(Error::invalid(format!(
                "{at}: {s:?} has years or months, which have no fixed length; \
                 use \"month\" for calendar months or days like \"P30D\""
            )));
        }
        let window = span
            .to_duration(SpanRelativeTo::days_are_24_hours())
            .ok()
            .filter(|d| d.is_positive() && *d <= LONGEST_WINDOW)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{at}: {s:?} must be longer than zero and at most P366D"
                ))
            })?;
        Ok(Period::Rolling(window))
    }
}

impl Scope {
    fn parse(value: &Value, at: &Pointer) -> Result<Scope> {
        match value.as_str() {
            Some("business") => Ok(Scope::Business),
            Some("all") => Ok(Scope::All),
            _ => Err(Error::invalid(format!(
                "{at}: must be \"business\" or \"all\", not {value}"
            ))),
        }
    }
}

/// `t + by`, held to the representable range.
fn shifted(t: Timestamp, by: SignedDuration) -> Timestamp {
    t.checked_add(by).unwrap_or(if by.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The calendar period holding `now` in `zone`: its first instant and the next period's.
fn period_bounds(
    period: Period,
    now: Timestamp,
    zone: &TimeZone,
) -> Option<(Timestamp, Timestamp)> {
    let today = zone.to_datetime(now).date();
    let (start, next) = match period {
        Period::Day => (today, today.tomorrow().ok()?),
        Period::Week => {
            let monday = today
                .checked_sub(i64::from(today.weekday().to_monday_zero_offset()).days())
                .ok()?;
            (monday, monday.checked_add(7.days()).ok()?)
        }
        Period::Month => {
            let first = today.first_of_month();
            (first, first.checked_add(1.month()).ok()?)
        }
        Period::Rolling(_) => return None,
    };
    Some((midnight(start, zone)?, midnight(next, zone)?))
}

/// The first instant of `date` in `zone` (not always 00:00 where a DST change skips midnight).
/// `at`, or the next full hour after it.
fn next_hour(at: Timestamp) -> Timestamp {
    let secs = at.as_second();
    let up = secs.div_euclid(3600) * 3600
        + if secs.rem_euclid(3600) == 0 && at.subsec_nanosecond() == 0 {
            0
        } else {
            3600
        };
    Timestamp::from_second(up).unwrap_or(at)
}

fn midnight(date: Date, zone: &TimeZone) -> Option<Timestamp> {
    let zoned = date.to_zoned_datetime(zone.clone()).ok()?;
    Some(zoned.start_of_day().ok()?.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Cap> {
        Cap::parse(&value, &Pointer::parse("/preferences/caps/0").unwrap())
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn caps_parse_with_defaults() {
        let cap = parse(json!({"max": 3, "per": "P7D"})).unwrap();
        assert_eq!(cap.per, Period::Rolling(SignedDuration::from_hours(7 * 24)));
        assert_eq!(cap.scope, Scope::Business);
        let cap = parse(
            json!({"max": 1, "per": "PT12H", "channel": "sms", "topic": "x", "scope": "all"}),
        )
        .unwrap();
        assert_eq!(cap.per, Period::Rolling(SignedDuration::from_hours(12)));
        assert_eq!(
            (cap.channel.as_deref(), cap.scope),
            (Some("sms"), Scope::All)
        );
        assert_eq!(
            parse(json!({"max": 1000, "per": "P366D"})).unwrap().max,
            1000
        );
        assert_eq!(
            parse(json!({"max": 2, "per": "P1W"})).unwrap().per,
            Period::Rolling(SignedDuration::from_hours(168))
        );
    }

    #[test]
    fn bad_caps_name_their_place() {
        let cases = [
            (json!({"per": "day"}), "/preferences/caps/0/max"),
            (json!({"max": 0, "per": "day"}), "/preferences/caps/0/max"),
            (
                json!({"max": 1001, "per": "day"}),
                "/preferences/caps/0/max",
            ),
            (json!({"max": 2.5, "per": "day"}), "/preferences/caps/0/max"),
            (json!({"max": "3", "per": "day"}), "/preferences/caps/0/max"),
            (json!({"max": 3}), "/preferences/caps/0/per"),
            (
                json!({"max": 3, "per": "fortnight"}),
                "/preferences/caps/0/per",
            ),
            (json!({"max": 3, "per": "P367D"}), "/preferences/caps/0/per"),
            (json!({"max": 3, "per": "PT0S"}), "/preferences/caps/0/per"),
            (json!({"max": 3, "per": "-P1D"}), "/preferences/caps/0/per"),
            (json!({"max": 3, "per": "P1M"}), "/preferences/caps/0/per"),
            (
                json!({"max": 3, "per": "7 days"}),
                "/preferences/caps/0/per",
            ),
            (
                json!({"max": 3, "per": "day", "channel": "pigeon"}),
                "/preferences/caps/0/channel",
            ),
            (
                json!({"max": 3, "per": "day", "topic": " "}),
                "/preferences/caps/0/topic",
            ),
            (
                json!({"max": 3, "per": "day", "scope": "world"}),
                "/preferences/caps/0/scope",
            ),
            (
                json!({"max": 3, "per": "day", "often": 1}),
                "/preferences/caps/0/often",
            ),
            (json!([3, "day"]), "/preferences/caps/0"),
        ];
        for (value, pointer) in cases {
            let err = parse(value.clone())
                .expect_err(&value.to_string())
                .to_string();
            assert!(err.starts_with(&format!("{pointer}:")), "{value}: {err}");
        }
    }

    #[test]
    fn calendar_periods_follow_the_zone() {
        let ams = crate::contact::time_zone("Europe/Amsterdam", &Pointer::root()).unwrap();
        // Wednesday 2026-12-02 00:30 in Amsterdam is still Tuesday in UTC.
        let now = ts("2026-12-01T23:30:00Z");
        let (start, next) = period_bounds(Period::Day, now, &ams).unwrap();
        assert_eq!(
            (start, next),
            (ts("2026-12-01T23:00:00Z"), ts("2026-12-02T23:00:00Z"))
        );
        let (start, next) = period_bounds(Period::Week, now, &ams).unwrap();
        assert_eq!(
            (start, next),
            (ts("2026-11-29T23:00:00Z"), ts("2026-12-06T23:00:00Z"))
        );
        let (start, next) = period_bounds(Period::Month, now, &ams).unwrap();
        assert_eq!(
            (start, next),
            (ts("2026-11-30T23:00:00Z"), ts("2026-12-31T23:00:00Z"))
        );
        // The day of the spring change has 23 hours.
        let (start, next) = period_bounds(Period::Day, ts("2026-03-29T12:00:00Z"), &ams).unwrap();
        assert_eq!(next.duration_since(start), SignedDuration::from_hours(23));
    }
}
