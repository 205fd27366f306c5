//! A relationship's timeline: what the owner and the business recorded, and what the vault saw
//! itself, so it is complete without typing: the access requests the business sent, the
//! grants given, narrowed and ended, requests decided, notifications delivered, subscriptions,
//! inbox messages and replies, entries added (from the access log through its index), and the
//! business's served reads summed per day.

use kluis_core::grant::BusinessId;
use kluis_core::relationship::entry::{date_of_day, day_number, day_of_ms};
use kluis_core::relationship::{Date, Entry};
use kluis_core::request::RequestId;

use super::Relationships;
use crate::error::Result;
use crate::log::LogEntry;
use crate::logindex::{LogIndex, LogQuery};
use crate::requests::StoredRequest;
use crate::vault::Vault;

/// Something the vault saw of a business.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// The business's served reads on a UTC day, and the time of the day's start.
    Reads { day: Date, count: u64 },
    /// An event of the access log ([`LogIndex::timeline_seqs`]).
    Logged(LogEntry),
    /// An access request the business sent.
    Asked {
        at_ms: i64,
        request: RequestId,
        purpose: String,
    },
}

impl Observed {
    pub fn day(&self) -> Date {
        match self {
            Self::Reads { day, .. } => *day,
            Self::Logged(entry) => day_of_ms(entry.record.at_ms),
            Self::Asked { at_ms, .. } => day_of_ms(*at_ms),
        }
    }

    /// When, for ordering within a day: a day's reads sort at its end.
    pub fn at_ms(&self) -> i64 {
        match self {
            Self::Reads { day, .. } => (day_number(*day) + 1) * 86_400_000 - 1,
            Self::Logged(entry) => entry.record.at_ms,
            Self::Asked { at_ms, .. } => *at_ms,
        }
    }
}

/// One item of a timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum TimelineItem {
    Entry(Entry),
    Observed(Observed),
}

impl TimelineItem {
    pub fn day(&self) -> Date {
        match self {
            Self::Entry(e) => e.day(),
            Self::Observed(o) => o.day(),
        }
    }

    pub fn at_ms(&self) -> i64 {
        match self {
            Self::Entry(e) => e.at_ms,
            Self::Observed(o) => o.at_ms(),
        }
    }
}

/// The most log events a timeline shows (the newest); reads are summed per day whatever
/// their number.
pub const MAX_LOGGED: usize = 500;

/// What the vault saw of `business`: its requests (from `requests`, all the vault's), its
/// newest [`MAX_LOGGED`] timeline events in the log and its reads per UTC day, from `index`
/// (refreshed by the caller).
pub fn observed_in_log(
    index: &LogIndex,
    vault: &Vault,
    requests: &[StoredRequest],
    business: &BusinessId,
) -> Result<Vec<Observed>> {
    let mut out: Vec<Observed> = requests
        .iter()
        .filter(|r| r.request.business.id == *business)
        .map(|r| Observed::Asked {
            at_ms: r.created_at.saturating_mul(1000),
            request: r.id.clone(),
            purpose: r.request.purpose.clone(),
        })
        .collect();
    let seqs = index.timeline_seqs(business, MAX_LOGGED);
    out.extend(index.read(vault, &seqs)?.into_iter().map(Observed::Logged));
    let q = LogQuery {
        business: Some(business.clone()),
        ..LogQuery::default()
    };
    out.extend(
        index
            .counts_by_business_and_day(&q, 0)
            .into_iter()
            .filter_map(|(_, day, count)| {
                Some(Observed::Reads {
                    day: date_of_day(day)?,
                    count,
                })
            }),
    );
    Ok(out)
}

impl Relationships {
    /// The timeline of `business`: its record's entries and `observed`, newest first (by day,
    /// then time).
    pub fn timeline(
        &self,
        business: &BusinessId,
        observed: Vec<Observed>,
    ) -> Result<Vec<TimelineItem>> {
        let mut items: Vec<TimelineItem> = self
            .entries(business)?
            .into_iter()
            .map(TimelineItem::Entry)
            .chain(observed.into_iter().map(TimelineItem::Observed))
            .collect();
        items.sort_by_key(|i| std::cmp::Reverse((i.day(), i.at_ms())));
        Ok(items)
    }
}
