//! Counts over the index for the dashboard: served reads per business and day (the chart),
//! per business, per grant; from the summaries alone, and from the per-day counts kept while
//! indexing where a query covers whole days.

use std::collections::HashMap;

use kluis_core::access::Outcome;
use kluis_core::grant::{BusinessId, GrantId};

use super::*;

impl LogIndex {
    /// Served reads per business and day, matching `q`'s other filters (its `outcome` and
    /// `limit` are not used): `(business, day, count)` sorted, `day` counted from 1970-01-01 in
    /// the time zone `utc_offset_secs` east of UTC. The owner's own events are not reads.
    pub fn counts_by_business_and_day(
        &self,
        q: &LogQuery,
        utc_offset_secs: i32,
    ) -> Vec<(BusinessId, i64, u64)> {
        let allowed = LogQuery {
            outcome: Some(Outcome::Allowed),
            ..q.clone()
        };
        let Some(filter) = self.filter(&allowed) else {
            return Vec::new();
        };
        if utc_offset_secs == 0 && self.in_whole_days(q, &filter) {
            return self.daily_counts(&filter);
        }
        let offset_ms = i64::from(utc_offset_secs) * 1000;
        let mut counts: HashMap<(u32, i64), u64> = HashMap::new();
        // Entries come mostly in time order, so one day's reads are counted in a plain array
        // by business and added to the map when the day changes: a hash per business and day,
        // not per read (a million entries cost ~2 ms rather than ~10).
        let mut day = DayCounts {
            day: i64::MIN,
            start_ms: i64::MAX,
            end_ms: i64::MIN,
            per_business: vec![0; self.businesses.ids.len() + 1],
            touched: Vec::new(),
        };
        for i in 0..self.end(q.before) {
            let business = self.business[i];
            if business == 0 || !self.is_read(i) || !self.matches(i, &filter) {
                continue;
            }
            let at_ms = self.at_ms[i].saturating_add(offset_ms);
            if !(day.start_ms..day.end_ms).contains(&at_ms) {
                day.flush(&mut counts);
                day.day = at_ms.div_euclid(DAY_MS);
                day.start_ms = day.day.saturating_mul(DAY_MS);
                day.end_ms = day.start_ms.saturating_add(DAY_MS);
            }
            let n = &mut day.per_business[business as usize];
            if *n == 0 {
                day.touched.push(business);
            }
            *n += 1;
        }
        day.flush(&mut counts);
        self.named_counts(
            counts
                .into_iter()
                .map(|((b, day), n)| (b, day, n))
                .collect(),
        )
    }

    /// Interned counts as `(business, day, count)` sorted: sorted on the businesses' ranks by
    /// name (a few thousand names compared, not every count's).
    fn named_counts(&self, mut counts: Vec<(u32, i64, u64)>) -> Vec<(BusinessId, i64, u64)> {
        let mut named: Vec<u32> = counts.iter().map(|c| c.0).collect();
        named.sort_unstable();
        named.dedup();
        named.sort_by(|a, b| self.businesses.get(*a).cmp(&self.businesses.get(*b)));
        let mut rank = vec![0u32; self.businesses.ids.len() + 1];
        for (r, &b) in named.iter().enumerate() {
            rank[b as usize] = r as u32;
        }
        counts.sort_unstable_by_key(|&(b, day, _)| (rank[b as usize], day));
        counts
            .into_iter()
            .filter_map(|(b, day, n)| Some((self.businesses.get(b)?.clone(), day, n)))
            .collect()
    }

    /// Served reads per business matching `q`'s other filters (as for
    /// [`LogIndex::counts_by_business_and_day`] in UTC), most first, then by name: e.g. the
    /// businesses a chart shows. Over whole UTC days it costs a step per business and day.
    pub fn reads_by_business(&self, q: &LogQuery) -> Vec<(BusinessId, u64)> {
        let allowed = LogQuery {
            outcome: Some(Outcome::Allowed),
            ..q.clone()
        };
        let Some(filter) = self.filter(&allowed) else {
            return Vec::new();
        };
        let mut out: Vec<(BusinessId, u64)> = if self.in_whole_days(q, &filter) {
            let mut totals = vec![0u64; self.businesses.ids.len() + 1];
            let (first, last) = filter.days();
            if first <= last {
                for per in self.daily.range(first..=last).map(|(_, per)| per) {
                    for (&b, &n) in per {
                        if filter.business.is_none_or(|want| want == b) {
                            totals[b as usize] += n;
                        }
                    }
                }
            }
            totals
                .iter()
                .enumerate()
                .filter(|&(_, &n)| n > 0)
                .filter_map(|(b, &n)| Some((self.businesses.get(b as u32)?.clone(), n)))
                .collect()
        } else {
            let mut totals: HashMap<BusinessId, u64> = HashMap::new();
            for (b, _, n) in self.counts_by_business_and_day(q, 0) {
                *totals.entry(b).or_default() += n;
            }
            totals.into_iter().collect()
        };
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Whether the per-day counts answer `q` (whole UTC days, no grant, no cursor).
    fn in_whole_days(&self, q: &LogQuery, filter: &Filter) -> bool {
        let whole_days = |ms: Option<i64>| ms.is_none_or(|ms| ms.rem_euclid(DAY_MS) == 0);
        filter.grant.is_none()
            && self.end(q.before) == self.len()
            && whole_days(q.since_ms)
            && whole_days(q.until_ms)
    }

    /// [`LogIndex::counts_by_business_and_day`] from the per-day counts, for whole UTC days.
    fn daily_counts(&self, f: &Filter) -> Vec<(BusinessId, i64, u64)> {
        let (first, last) = f.days();
        if last < first {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (&day, per) in self.daily.range(first..=last) {
            match f.business {
                Some(b) => out.extend(per.get(&b).map(|&n| (b, day, n))),
                None => out.extend(per.iter().map(|(&b, &n)| (b, day, n))),
            }
        }
        self.named_counts(out)
    }

    /// Per grant, its served reads: how many, and the time of the last (the greatest `at_ms`).
    /// Kept up while indexing: this costs one step per grant, not per entry.
    pub fn reads_per_grant(&self) -> HashMap<GrantId, (u64, i64)> {
        self.grant_reads
            .iter()
            .enumerate()
            .filter(|(_, seen)| seen.0 > 0)
            .filter_map(|(g, &seen)| Some((self.grants.ids.get(g)?.clone(), seen)))
            .collect()
    }

    /// Per grant read on UTC day `day` (days since 1970), its served reads that day: what its
    /// read budget has counted. Only the latest day a grant was read on is kept, so an earlier
    /// `day` finds nothing. Kept up while indexing: one step per grant.
    pub fn reads_per_grant_on(&self, day: i64) -> HashMap<GrantId, u64> {
        self.grant_day
            .iter()
            .enumerate()
            .filter(|(_, on)| on.0 == day)
            .filter_map(|(g, on)| Some((self.grants.ids.get(g)?.clone(), on.1)))
            .collect()
    }
}

/// One day's reads per interned business, while [`LogIndex::counts_by_business_and_day`] scans.
struct DayCounts {
    day: i64,
    start_ms: i64,
    end_ms: i64,
    per_business: Vec<u64>,
    touched: Vec<u32>,
}

impl DayCounts {
    fn flush(&mut self, counts: &mut HashMap<(u32, i64), u64>) {
        for b in self.touched.drain(..) {
            let n = std::mem::take(&mut self.per_business[b as usize]);
            *counts.entry((b, self.day)).or_default() += n;
        }
    }
}
