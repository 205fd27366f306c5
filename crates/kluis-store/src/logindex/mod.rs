//! [`LogIndex`]: an in-memory index of the access log for paging through it with filters,
//! newest first, without holding the records (docs/access-log.md#the-log-index).
//!
//! The index reads the log file frame by frame with the chain checks of `kluis log verify`,
//! from where it stopped last time, and keeps per frame where it is and its MAC, and per entry
//! only what filters need (time, business, grant, outcome; ~17 bytes). A page is picked from
//! those, then only the frames holding its entries are read again, their links checked against
//! the MACs the index saw, and opened. A log still kept in the database by an old vault is
//! small and is simply walked again each time.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use kluis_core::access::{Action, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use serde::Deserialize;
use serde::de::IntoDeserializer;

use crate::error::{Result, StoreError};
use crate::log::{Kept, LogCheck, LogEntry};
use crate::logfile::{self, Checkpoint, Head, Reader, Seen, Walked};
use crate::vault::{Unlocked, Vault};

mod counts;
mod pages;

/// The page size a query gets by default.
pub const DEFAULT_PAGE: usize = 50;

/// Which entries a page holds: those matching every filter given, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogQuery {
    pub business: Option<BusinessId>,
    pub grant: Option<GrantId>,
    pub outcome: Option<Outcome>,
    /// Entries at or after this time (milliseconds since 1970).
    pub since_ms: Option<i64>,
    /// Entries before this time (exclusive).
    pub until_ms: Option<i64>,
    /// The cursor: entries with `seq < before` (a page's `next`).
    pub before: Option<i64>,
    /// At most this many entries.
    pub limit: usize,
}

impl Default for LogQuery {
    fn default() -> Self {
        Self {
            business: None,
            grant: None,
            outcome: None,
            since_ms: None,
            until_ms: None,
            before: None,
            limit: DEFAULT_PAGE,
        }
    }
}

/// One page of entries, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// The cursor for the next (older) page (`before`), if more entries match.
    pub next: Option<i64>,
}

/// The entry numbers of a page, newest first, before any record is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSelection {
    pub seqs: Vec<i64>,
    pub next: Option<i64>,
}

/// Where the index read the log from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Nothing,
    File([u8; 16]),
    Table,
}

/// An indexed frame: where it is and the MAC the chain had after it.
struct FrameMeta {
    offset: u64,
    /// Its length field (the bytes after it).
    len: u32,
    first: i64,
    count: u32,
    mac: [u8; 32],
}

impl FrameMeta {
    fn end(&self) -> u64 {
        self.offset + 4 + u64::from(self.len)
    }

    fn last(&self) -> i64 {
        self.first + i64::from(self.count) - 1
    }
}

/// The part of a record the index keeps, read without the rest.
#[derive(Deserialize)]
struct Summary<'a> {
    at_ms: i64,
    #[serde(borrow, default)]
    grant: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    business: Option<Cow<'a, str>>,
    outcome: Outcome,
    #[serde(default)]
    action: Option<Action>,
    /// Records from before typed actions name the call instead.
    #[serde(borrow, default)]
    endpoint: Option<Cow<'a, str>>,
}

impl Summary<'_> {
    /// Whether this is a business's read that was served.
    fn is_read(&self) -> bool {
        self.outcome == Outcome::Allowed
            && (self.action == Some(Action::Read)
                || self.endpoint.as_deref() == Some("GET /v1/data"))
    }

    /// Whether this is a business's attempt to reach the owner (what the contact report counts).
    fn is_contact(&self) -> bool {
        self.action.is_some_and(is_contact_action)
    }
}

/// A business's attempt to reach the owner: a contact check or an inbox delivery.
pub(crate) fn is_contact_action(action: Action) -> bool {
    matches!(action, Action::ContactCheck | Action::InboxDeliver)
}

/// Interned names: `n > 0` is `ids[n - 1]`, 0 is none.
struct Names<T> {
    ids: Vec<T>,
    by_name: HashMap<String, u32>,
}

impl<T: for<'de> Deserialize<'de>> Names<T> {
    fn new() -> Self {
        Self {
            ids: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    fn intern(&mut self, name: Option<&str>) -> Result<u32, &'static str> {
        let Some(name) = name else { return Ok(0) };
        if let Some(&n) = self.by_name.get(name) {
            return Ok(n);
        }
        // As the full record reads it (serde), so the index never names what a page would not.
        let id =
            T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(name))
                .map_err(|_| "entry is unreadable")?;
        self.ids.push(id);
        let n = u32::try_from(self.ids.len()).map_err(|_| "entry is unreadable")?;
        self.by_name.insert(name.to_owned(), n);
        Ok(n)
    }

    fn get(&self, n: u32) -> Option<&T> {
        self.ids.get((n as usize).checked_sub(1)?)
    }
}

/// The filters of a query, with names turned into interned ids.
struct Filter {
    business: Option<u32>,
    grant: Option<u32>,
    allowed: Option<bool>,
    since_ms: i64,
    until_ms: i64,
}

impl Filter {
    /// The first and last UTC day of the time filters (when they are whole days).
    fn days(&self) -> (i64, i64) {
        let first = self.since_ms.div_euclid(DAY_MS);
        // `until` is exclusive and on a day's start: the day before is the last.
        let last = self.until_ms.div_euclid(DAY_MS) - i64::from(self.until_ms != i64::MAX);
        (first, last)
    }
}

/// An incremental index of one vault's access log (see the module's doc). Not tied to a
/// connection: [`LogIndex::refresh`] and the queries take the vault they read.
pub struct LogIndex {
    source: Source,
    /// Where the log's chain starts, if it was pruned: entry `seq` is at `seq - base - 1`.
    checkpoint: Option<Checkpoint>,
    /// The chain as checked up to the last intact frame read.
    at: Head,
    check: LogCheck,
    frames: Vec<FrameMeta>,
    /// Per entry, entry `seq` at `seq - first_seq`: columns rather than structs, so nothing is padded.
    at_ms: Vec<i64>,
    business: Vec<u32>,
    grant: Vec<u32>,
    allowed: Vec<u64>,
    /// Served reads by businesses (bit per entry), what the counts and charts count.
    reads: Vec<u64>,
    /// Contact attempts (bit per entry), what the contact report reads.
    contacts: Vec<u64>,
    /// What a relationship's timeline shows (bit per entry): [`is_timeline_event`].
    events: Vec<u64>,
    /// Per interned grant (`n` at `n - 1`): its served reads and the last one's time, kept up
    /// as entries are indexed, so a page showing them does not scan the log.
    grant_reads: Vec<(u64, i64)>,
    /// Per interned grant: the latest UTC day it was read on and its served reads that day (what
    /// its read budget counts).
    grant_day: Vec<(i64, u64)>,
    /// Served reads per UTC day and interned business, kept up as entries are indexed: what a
    /// chart of whole days asks is read from here rather than from every entry.
    daily: BTreeMap<i64, HashMap<u32, u64>>,
    businesses: Names<BusinessId>,
    grants: Names<GrantId>,
}

impl Default for LogIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl LogIndex {
    /// An empty index; the first [`LogIndex::refresh`] reads the whole log.
    pub fn new() -> Self {
        Self {
            source: Source::Nothing,
            checkpoint: None,
            at: Head::START,
            check: LogCheck {
                entries: 0,
                first_broken: None,
                pruned: None,
            },
            frames: Vec::new(),
            at_ms: Vec::new(),
            business: Vec::new(),
            grant: Vec::new(),
            allowed: Vec::new(),
            reads: Vec::new(),
            contacts: Vec::new(),
            events: Vec::new(),
            grant_reads: Vec::new(),
            grant_day: Vec::new(),
            daily: BTreeMap::new(),
            businesses: Names::new(),
            grants: Names::new(),
        }
    }

    /// Reads what was appended to `vault`'s log since the last refresh, checking the chain as
    /// it goes. When nothing was: one header read and one 4-byte read. A broken chain is not an
    /// error here: [`LogIndex::check`] says where, and the next refresh tries again from the
    /// last intact frame (the file may have been restored).
    pub fn refresh(&mut self, vault: &Vault) -> Result<()> {
        match vault.log_kept()? {
            Kept::InTable => self.rebuild_from_table(vault),
            Kept::InFile(id) => {
                if self.source != Source::File(id) {
                    // Another file (or the table's log moved into it): start over.
                    *self = Self::new();
                    self.source = Source::File(id);
                }
                self.read_new_frames(vault, &id)
            }
        }
    }

    /// The chain's state as of the last refresh: the entries checked, and where it broke.
    /// Frames indexed before are not read again; one altered since is found when a page needs
    /// it, or by [`Vault::verify_log`].
    pub fn check(&self) -> &LogCheck {
        &self.check
    }

    /// The number of entries indexed.
    pub fn len(&self) -> usize {
        self.at_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at_ms.is_empty()
    }

    /// The heap the index holds, roughly, in bytes (for the benchmark).
    pub fn memory_bytes(&self) -> usize {
        let names = |n: usize, avg: usize| n * (avg + 2 * 24 + 4 + 16);
        self.frames.capacity() * std::mem::size_of::<FrameMeta>()
            + self.at_ms.capacity() * 8
            + (self.business.capacity() + self.grant.capacity()) * 4
            + (self.allowed.capacity()
                + self.reads.capacity()
                + self.contacts.capacity()
                + self.events.capacity())
                * 8
            + (self.grant_reads.capacity() + self.grant_day.capacity()) * 16
            + self
                .daily
                .values()
                .map(|d| 48 + d.capacity() * 24)
                .sum::<usize>()
            + names(self.businesses.ids.len(), 20)
            + names(self.grants.ids.len(), 28)
    }

    fn read_new_frames(&mut self, vault: &Vault, id: &[u8; 16]) -> Result<()> {
        let unlocked = vault.unlocked();
        let reader = match Reader::open(&vault.log_path(), unlocked, id)? {
            Ok(reader) => reader,
            Err(why) => {
                self.check = LogCheck {
                    entries: 0,
                    first_broken: Some((1, why)),
                    pruned: None,
                };
                return Ok(());
            }
        };
        if reader.checkpoint != self.checkpoint {
            // The log was pruned since: what was indexed is elsewhere in the file now.
            *self = Self::new();
            self.source = Source::File(*id);
            self.checkpoint = reader.checkpoint;
            self.at = reader.base();
        }
        let from = self.at;
        let head = reader.head;
        // A head behind what was read must be where the chain was after one of its frames.
        if head.end < from.end && !self.passed(&head) {
            let why = "the log's head does not match its entries";
            self.check = LogCheck {
                entries: from.seq,
                first_broken: Some((from.seq.max(1), why.into())),
                pruned: self.checkpoint,
            };
            return Ok(());
        }
        let walked = reader.walk(unlocked, from, |seen| self.add_frame(unlocked, seen))?;
        self.at = walked.at;
        self.check = Walked {
            met_head: walked.met_head || head.end < from.end,
            ..walked
        }
        .check(self.checkpoint);
        Ok(())
    }

    /// The chain before the first indexed frame: the start, or the checkpoint of a pruned log.
    fn base(&self) -> Head {
        Checkpoint::base(self.checkpoint.as_ref())
    }

    /// The number of the first entry the log holds (1 unless it was pruned).
    pub fn first_seq(&self) -> i64 {
        self.base().seq + 1
    }

    /// The number of the last entry indexed (0 for an empty log).
    fn last_seq(&self) -> i64 {
        self.base().seq + self.len() as i64
    }

    /// The entry number of the entry at index `i`.
    fn seq_of(&self, i: usize) -> i64 {
        self.first_seq() + i as i64
    }

    /// Whether the chain was at `head` after one of the indexed frames (or at the start).
    fn passed(&self, head: &Head) -> bool {
        if *head == self.base() {
            return true;
        }
        let i = self.frames.partition_point(|f| f.end() < head.end);
        self.frames
            .get(i)
            .is_some_and(|f| (f.end(), f.last(), f.mac) == (head.end, head.seq, head.mac))
    }

    fn add_frame(&mut self, unlocked: &Unlocked, seen: &Seen<'_>) -> Result<(), &'static str> {
        let plain = logfile::open_frame(unlocked, seen.body)?;
        let summaries: Vec<Summary<'_>> = logfile::parse_records(seen.body, &plain)?;
        let mut interned = Vec::with_capacity(summaries.len());
        for s in &summaries {
            let business = self.businesses.intern(s.business.as_deref())?;
            let grant = self.grants.intern(s.grant.as_deref())?;
            let kind = Kind {
                read: s.is_read(),
                contact: s.is_contact(),
                event: s.action.is_some_and(|a| is_timeline_event(a, s.outcome)),
            };
            interned.push((s.at_ms, business, grant, s.outcome, kind));
        }
        for (at_ms, business, grant, outcome, kind) in interned {
            self.push(at_ms, business, grant, outcome, kind);
        }
        let frame = logfile::frame(seen.body);
        self.frames.push(FrameMeta {
            offset: seen.offset,
            len: seen.body.len() as u32,
            first: frame.first,
            count: frame.count,
            mac: seen.after.mac,
        });
        Ok(())
    }

    fn push(&mut self, at_ms: i64, business: u32, grant: u32, outcome: Outcome, kind: Kind) {
        let i = self.at_ms.len();
        self.at_ms.push(at_ms);
        self.business.push(business);
        self.grant.push(grant);
        if i.is_multiple_of(64) {
            self.allowed.push(0);
            self.reads.push(0);
            self.contacts.push(0);
            self.events.push(0);
        }
        if outcome == Outcome::Allowed {
            self.allowed[i / 64] |= 1 << (i % 64);
        }
        if kind.contact {
            self.contacts[i / 64] |= 1 << (i % 64);
        }
        if kind.event {
            self.events[i / 64] |= 1 << (i % 64);
        }
        if kind.read {
            self.reads[i / 64] |= 1 << (i % 64);
            if business != 0 {
                let day = self.daily.entry(at_ms.div_euclid(DAY_MS)).or_default();
                *day.entry(business).or_default() += 1;
            }
            if let Some(g) = (grant as usize).checked_sub(1) {
                if self.grant_reads.len() <= g {
                    self.grant_reads.resize(g + 1, (0, i64::MIN));
                }
                let seen = &mut self.grant_reads[g];
                *seen = (seen.0 + 1, seen.1.max(at_ms));
                if self.grant_day.len() <= g {
                    self.grant_day.resize(g + 1, (i64::MIN, 0));
                }
                let day = at_ms.div_euclid(DAY_MS);
                let on = &mut self.grant_day[g];
                if day == on.0 {
                    on.1 += 1;
                } else if day > on.0 {
                    *on = (day, 1);
                }
            }
        }
    }

    fn is_allowed(&self, i: usize) -> bool {
        self.allowed[i / 64] & (1 << (i % 64)) != 0
    }

    fn is_read(&self, i: usize) -> bool {
        self.reads[i / 64] & (1 << (i % 64)) != 0
    }

    /// The entry numbers of contact attempts at or after `since_ms`, oldest first: what the
    /// contact report reads instead of the whole log.
    pub fn contact_seqs(&self, since_ms: Option<i64>) -> Vec<i64> {
        let since_ms = since_ms.unwrap_or(i64::MIN);
        (0..self.len())
            .filter(|&i| self.contacts[i / 64] & (1 << (i % 64)) != 0 && self.at_ms[i] >= since_ms)
            .map(|i| self.seq_of(i))
            .collect()
    }

    /// The newest `limit` entry numbers of `business`'s timeline events
    /// ([`is_timeline_event`]), newest first.
    pub fn timeline_seqs(&self, business: &BusinessId, limit: usize) -> Vec<i64> {
        let Some(&b) = self.businesses.by_name.get(business.as_str()) else {
            return Vec::new();
        };
        (0..self.len())
            .rev()
            .filter(|&i| self.business[i] == b && self.events[i / 64] & (1 << (i % 64)) != 0)
            .take(limit)
            .map(|i| self.seq_of(i))
            .collect()
    }

    /// An old vault's log in the database: walked whole (such logs are small, and are moved to
    /// the file at the first append).
    fn rebuild_from_table(&mut self, vault: &Vault) -> Result<()> {
        let mut fresh = Self::new();
        fresh.source = Source::Table;
        let mut unreadable = None;
        let mut check = vault.walk_table(|entry| {
            let r = &entry.record;
            let business = fresh
                .businesses
                .intern(r.business.as_ref().map(|b| b.as_str()));
            let grant = fresh.grants.intern(r.grant.as_ref().map(|g| g.as_str()));
            match (business, grant) {
                (Ok(business), Ok(grant)) if unreadable.is_none() => fresh.push(
                    r.at_ms,
                    business,
                    grant,
                    r.outcome,
                    Kind {
                        read: r.action == Action::Read && r.outcome == Outcome::Allowed,
                        contact: is_contact_action(r.action),
                        event: is_timeline_event(r.action, r.outcome),
                    },
                ),
                (Err(why), _) | (_, Err(why)) => unreadable = unreadable.or(Some((entry.seq, why))),
                _ => {}
            }
        })?;
        if let Some((seq, why)) = unreadable {
            check.first_broken = check.first_broken.or(Some((seq, why.into())));
        }
        fresh.check = check;
        *self = fresh;
        Ok(())
    }

    /// The entries before the cursor, as an end index.
    fn end(&self, before: Option<i64>) -> usize {
        match before {
            Some(before) => usize::try_from(before.saturating_sub(self.first_seq()))
                .unwrap_or(0)
                .min(self.len()),
            None => self.len(),
        }
    }

    /// The query's filters on interned ids; `None` if a name it asks for never occurs.
    fn filter(&self, q: &LogQuery) -> Option<Filter> {
        let business = match &q.business {
            Some(b) => Some(*self.businesses.by_name.get(b.as_str())?),
            None => None,
        };
        let grant = match &q.grant {
            Some(g) => Some(*self.grants.by_name.get(g.as_str())?),
            None => None,
        };
        Some(Filter {
            business,
            grant,
            allowed: q.outcome.map(|o| o == Outcome::Allowed),
            since_ms: q.since_ms.unwrap_or(i64::MIN),
            until_ms: q.until_ms.unwrap_or(i64::MAX),
        })
    }

    #[inline]
    fn matches(&self, i: usize, f: &Filter) -> bool {
        f.business.is_none_or(|b| self.business[i] == b)
            && f.grant.is_none_or(|g| self.grant[i] == g)
            && f.allowed.is_none_or(|a| self.is_allowed(i) == a)
            && (f.since_ms..f.until_ms).contains(&self.at_ms[i])
    }
}

const DAY_MS: i64 = 86_400_000;

/// What an entry is, for the index's bit columns.
#[derive(Clone, Copy)]
struct Kind {
    /// A business's served read.
    read: bool,
    /// A business's contact attempt.
    contact: bool,
    /// An event of a relationship's timeline.
    event: bool,
}

/// What a relationship's timeline shows of the log: grants given, narrowed and ended, requests
/// decided, notifications delivered, subscriptions, messages delivered and answered, topics
/// blocked, entries a business added. Reads are summarized per day instead; contact checks are
/// in the contact report.
pub(crate) fn is_timeline_event(action: Action, outcome: Outcome) -> bool {
    use Action::*;
    match action {
        GrantCreate | GrantRevoke | GrantNarrow | GrantBudget | RequestApprove | RequestDeny
        | Notified | SubscriptionCreate | SubscriptionDelete | InboxReply | TopicBlock
        | TopicUnblock => true,
        InboxDeliver | RelationshipAppend => outcome == Outcome::Allowed,
        _ => false,
    }
}

fn broken(seq: i64, why: &str) -> StoreError {
    StoreError::Tampered(format!("the access log is broken at entry {seq}: {why}"))
}
