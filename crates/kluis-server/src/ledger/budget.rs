//! The ledger's two budgets on what reaches the access log: refusals of calls without a valid
//! token per second ([`AnonymousBudget`]), and each grant's reads per UTC day
//! ([`ReadBudgets`]). Past either, refusals are counted and recorded as summary entries rather
//! than one by one, so a caller cannot fill the owner's disk with the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kluis_core::access::{AccessRecord, Action};
use kluis_core::budget;
use kluis_core::grant::GrantId;
use kluis_store::{DayReads, GrantDay, LogMark, Vault};

use super::Access;

/// Calls refused before any grant was known (no token, garbage) cost nothing to send, so they
/// are recorded one by one only up to a rate; beyond it they are counted and recorded as one
/// summary entry per second, and the log cannot be used to fill the owner's disk.
#[derive(Default)]
pub(super) struct AnonymousBudget {
    second: i64,
    recorded: u32,
    suppressed: u64,
}

/// Anonymous refusals recorded one by one per second.
const ANONYMOUS_PER_SECOND: u32 = 50;

impl AnonymousBudget {
    /// Starts a new second if `now` is one; returns the summary of the last one, if any.
    pub(super) fn next_second(&mut self, now: i64) -> Option<AccessRecord> {
        if now == self.second {
            return None;
        }
        self.second = now;
        self.recorded = 0;
        let suppressed = std::mem::take(&mut self.suppressed);
        (suppressed > 0).then(|| {
            AccessRecord::refused_anonymously(
                now * 1000,
                Action::RefusedCalls,
                format!(
                    "{suppressed} more calls without a valid token were refused (over {ANONYMOUS_PER_SECOND}/s, counted, not listed one by one)"
                ),
            )
        })
    }

    /// Whether one more anonymous refusal may be recorded on its own.
    pub(super) fn admit(&mut self) -> bool {
        if self.recorded < ANONYMOUS_PER_SECOND {
            self.recorded += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// How often the day's counts are saved while they change (and at a clean stop, and with each
/// hour's summaries): after a crash, a restarted ledger reads the log written since the last
/// save to count what it missed, so this bounds that walk.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// Refused reads over a grant's budget are summed up at most once per UTC hour.
const SUMMARY_SECS: i64 = 3600;

/// Today's served reads per grant, each against the grant's read budget.
///
/// Per UTC day and grant the log gets at most: the reads served (up to the budget), the first
/// read refused over it (on its own), and one summary of the reads refused after it per UTC
/// hour in which any were, written with the first batch of the next hour (or while idle), and
/// at a clean stop. So at most 1 + 24 refusal entries a day, and one more per restart.
pub(super) struct ReadBudgets {
    day: i64,
    hour: i64,
    /// Per grant seen today; [`ReadBudgets::slot`] gives the index, which the grant's cache
    /// entry keeps, so a read costs no look-up here.
    tallies: Vec<Tally>,
    slots: HashMap<GrantId, usize>,
    /// Whether the counts changed since they were last saved, and when that was.
    changed: bool,
    saved_at: Instant,
}

struct Tally {
    grant: GrantId,
    day: GrantDay,
    /// Reads refused and not recorded since the last summary, the budget they were refused at
    /// and the call they came with (for the summary's grant, business and purpose).
    unrecorded: u64,
    budget: u32,
    access: Option<Arc<Access>>,
}

/// Whether a read is served, or why it is refused over the budget.
pub(super) enum Verdict {
    Serve,
    /// Refused; with the reason to record if this refusal is recorded on its own (the day's
    /// first), `None` if it is counted into a summary.
    OverBudget(Option<String>),
}

impl ReadBudgets {
    /// The day's counts as saved and logged since ([`Vault::day_reads`]); from nothing if none
    /// were ever saved (the first start with read budgets) or they cannot be read.
    pub(super) fn load(vault: &Vault, now: i64) -> Self {
        let found = match vault.day_reads(budget::day_of(now)) {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(error = %err, "could not read the saved read counts; counting today's reads from now");
                None
            }
        };
        let mut budgets = Self::empty(now);
        for (grant, counted) in found.map(|f| f.grants).unwrap_or_default() {
            let slot = budgets.slot(&grant);
            budgets.tallies[slot].day = counted;
        }
        // Saved at once as of the log's end: should this ledger crash before it saves again,
        // the next one reads the log from here, not from the last save before (or, on the
        // first start with read budgets, knows nothing).
        budgets.changed = true;
        match vault.with_log_lock(|v| Ok(v.log_mark())) {
            Ok(at) => budgets.save_if_due(vault, at.as_ref(), true),
            Err(err) => tracing::warn!(error = %err, "could not open the access log"),
        }
        budgets
    }

    /// No reads counted yet on the day of `now`.
    fn empty(now: i64) -> Self {
        Self {
            day: budget::day_of(now),
            hour: now.div_euclid(SUMMARY_SECS),
            tallies: Vec::new(),
            slots: HashMap::new(),
            changed: false,
            saved_at: Instant::now(),
        }
    }

    /// The index of `grant`'s tally, made on its first read of the day. Valid until
    /// [`ReadBudgets::next_period`] says the day changed.
    pub(super) fn slot(&mut self, grant: &GrantId) -> usize {
        if let Some(&slot) = self.slots.get(grant) {
            return slot;
        }
        self.tallies.push(Tally {
            grant: grant.clone(),
            day: GrantDay::default(),
            unrecorded: 0,
            budget: 0,
            access: None,
        });
        self.slots.insert(grant.clone(), self.tallies.len() - 1);
        self.tallies.len() - 1
    }

    /// Counts a read with the grant in `slot` against `budget`: served while under it.
    pub(super) fn admit(&mut self, slot: usize, budget: u32, access: &Arc<Access>) -> Verdict {
        let tally = &mut self.tallies[slot];
        if tally.day.reads < u64::from(budget) {
            tally.day.reads += 1;
            self.changed = true;
            return Verdict::Serve;
        }
        if !tally.day.refusal_recorded {
            tally.day.refusal_recorded = true;
            self.changed = true;
            return Verdict::OverBudget(Some(format!("read budget of {budget} a day reached")));
        }
        tally.unrecorded += 1;
        tally.budget = budget;
        tally.access.get_or_insert_with(|| access.clone());
        Verdict::OverBudget(None)
    }

    /// Called before each batch and while idle. When `now` is in another UTC hour than the last
    /// call: the summaries of the reads refused meanwhile; when in another day too, the counts
    /// start over and `true` says the slots handed out are void.
    pub(super) fn next_period(&mut self, now: i64) -> (Vec<AccessRecord>, bool) {
        let hour = now.div_euclid(SUMMARY_SECS);
        if hour == self.hour {
            return (Vec::new(), false);
        }
        self.hour = hour;
        let summaries = self.summaries(now);
        let day = budget::day_of(now);
        if day == self.day {
            return (summaries, false);
        }
        self.day = day;
        self.tallies.clear();
        self.slots.clear();
        self.changed = true;
        (summaries, true)
    }

    /// One summary entry per grant with reads refused and not recorded since the last: how
    /// many, and over which budget.
    pub(super) fn summaries(&mut self, now: i64) -> Vec<AccessRecord> {
        let mut summaries = Vec::new();
        for tally in &mut self.tallies {
            let unrecorded = std::mem::take(&mut tally.unrecorded);
            if let (true, Some(access)) = (unrecorded > 0, tally.access.take()) {
                summaries.push(access.refusal(
                    now * 1000,
                    Action::Read,
                    &format!(
                        "{unrecorded} more reads were refused over the read budget of {} a day (counted, not listed one by one)",
                        tally.budget
                    ),
                ));
            }
        }
        summaries
    }

    /// Saves the counts as of `at` (the log's end after the last batch) if they changed and
    /// the last save is [`SAVE_EVERY`] ago, or at once with `force`.
    pub(super) fn save_if_due(&mut self, vault: &Vault, at: Option<&LogMark>, force: bool) {
        let (true, Some(at)) = (self.changed, at) else {
            return;
        };
        if !force && self.saved_at.elapsed() < SAVE_EVERY {
            return;
        }
        let reads = DayReads {
            day: self.day,
            grants: self
                .tallies
                .iter()
                .map(|t| (t.grant.clone(), t.day))
                .collect(),
        };
        // On failure the counts are saved with a later batch; only a crash before that would
        // make a restart read more of the log.
        match vault.save_day_reads(&reads, at) {
            Ok(()) => {
                self.changed = false;
                self.saved_at = Instant::now();
            }
            Err(err) => tracing::warn!(error = %err, "could not save the day's read counts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use kluis_core::access::Outcome;
    use kluis_core::grant::BusinessId;
    use kluis_core::pointer::Pointer;

    use super::*;

    fn access(n: u8) -> Arc<Access> {
        Arc::new(Access {
            grant: GrantId::from_random([n; 16]),
            business: BusinessId::parse("shop.example").unwrap(),
            purpose: "test".into(),
            fields: vec![Pointer::parse("/profile/email").unwrap()],
            token_hash: [0; 32],
            contact: None,
            append_record: false,
        })
    }

    /// `n` reads with `access` against `budget`: how many were served, and the reasons of the
    /// refusals recorded on their own.
    fn reads(
        budgets: &mut ReadBudgets,
        access: &Arc<Access>,
        budget: u32,
        n: usize,
    ) -> (usize, Vec<String>) {
        let slot = budgets.slot(&access.grant);
        let mut served = 0;
        let mut recorded = Vec::new();
        for _ in 0..n {
            match budgets.admit(slot, budget, access) {
                Verdict::Serve => served += 1,
                Verdict::OverBudget(Some(reason)) => recorded.push(reason),
                Verdict::OverBudget(None) => {}
            }
        }
        (served, recorded)
    }

    #[test]
    fn reads_past_a_budget_are_refused_and_summed_up_once_an_hour() {
        let midnight = 20_000 * 86_400;
        let mut budgets = ReadBudgets::empty(midnight);
        let (a, b) = (access(1), access(2));
        let (served, recorded) = reads(&mut budgets, &a, 3, 10);
        assert_eq!(served, 3);
        assert_eq!(recorded, ["read budget of 3 a day reached"]);
        assert_eq!(reads(&mut budgets, &b, 100, 10), (10, vec![]));
        assert!(
            budgets.next_period(midnight + 3599).0.is_empty(),
            "same hour"
        );

        let (summaries, new_day) = budgets.next_period(midnight + 3600);
        assert!(!new_day);
        assert_eq!(summaries.len(), 1, "only the grant with refusals");
        let summary = &summaries[0];
        assert_eq!(summary.grant.as_ref(), Some(&a.grant));
        assert_eq!(summary.outcome, Outcome::Refused);
        assert_eq!(summary.at_ms, (midnight + 3600) * 1000);
        assert_eq!(
            summary.reason.as_deref(),
            Some(
                "6 more reads were refused over the read budget of 3 a day (counted, not listed one by one)"
            )
        );
        assert!(
            budgets.next_period(midnight + 7200).0.is_empty(),
            "none since"
        );

        // A raised budget serves again; past it the day's first refusal was recorded already.
        assert_eq!(reads(&mut budgets, &a, 5, 4), (2, vec![]));
        assert_eq!(budgets.summaries(midnight + 7300).len(), 1, "a clean stop");
        assert!(budgets.summaries(midnight + 7301).is_empty());
    }

    #[test]
    fn a_day_of_refusals_makes_at_most_one_entry_an_hour_and_the_next_day_starts_over() {
        let midnight = 20_000 * 86_400;
        let mut budgets = ReadBudgets::empty(midnight);
        let a = access(1);
        let mut entries = 0;
        for hour in 0..24 {
            let (summaries, new_day) = budgets.next_period(midnight + hour * 3600 + 5);
            assert!(!new_day);
            entries += summaries.len();
            let (served, recorded) = reads(&mut budgets, &a, 2, 1000);
            assert_eq!(served, if hour == 0 { 2 } else { 0 });
            entries += served + recorded.len();
        }
        let (summaries, new_day) = budgets.next_period(midnight + 86_400);
        assert!(new_day, "the slots handed out are void");
        entries += summaries.len();
        assert_eq!(
            entries,
            2 + 1 + 24,
            "2 reads, the first refusal, a summary an hour"
        );
        assert_eq!(
            reads(&mut budgets, &a, 2, 3).0,
            2,
            "a new day, a new budget"
        );
    }

    #[test]
    fn anonymous_refusals_past_the_budget_are_counted_into_one_summary() {
        let mut budget = AnonymousBudget::default();
        assert!(budget.next_second(100).is_none());
        let admitted = (0..80).filter(|_| budget.admit()).count();
        assert_eq!(admitted, ANONYMOUS_PER_SECOND as usize);
        assert!(
            budget.next_second(100).is_none(),
            "same second: nothing to flush yet"
        );
        let summary = budget
            .next_second(101)
            .expect("a summary of the last second");
        assert!(summary.reason.unwrap().starts_with("30 more calls"));
        assert!(budget.admit(), "a new second has a fresh budget");
        assert!(budget.next_second(102).is_none(), "nothing was suppressed");
    }
}
