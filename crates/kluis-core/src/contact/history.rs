//! Past contacts, as the decision sees them: a few counting questions a store answers with an
//! index, and an in-memory answer over a list for tests and small callers.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;

use crate::grant::BusinessId;

/// One contact that happened (a delivered message or a reserved check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub at: Timestamp,
    pub business: BusinessId,
    pub channel: String,
    pub topic: String,
}

/// Which contacts a question is about; `None` matches any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filter<'a> {
    pub business: Option<&'a BusinessId>,
    pub channel: Option<&'a str>,
    pub topic: Option<&'a str>,
}

impl Filter<'_> {
    pub fn matches(&self, contact: &Contact) -> bool {
        self.business.is_none_or(|b| *b == contact.business)
            && self.channel.is_none_or(|c| c == contact.channel)
            && self.topic.is_none_or(|t| t == contact.topic)
    }
}

/// The questions the decision asks about past contacts.
pub trait ContactHistory {
    /// How many contacts matching `filter` happened at or after `since`.
    fn count(&self, filter: &Filter<'_>, since: Timestamp) -> usize;

    /// The time of the `n`-th oldest (0 = the oldest) contact matching `filter` at or after
    /// `since`: for a rolling window, when enough contacts have left it to free a slot.
    fn nth_oldest_since(
        &self,
        filter: &Filter<'_>,
        since: Timestamp,
        n: usize,
    ) -> Option<Timestamp>;
}

/// A history held in memory, in any order.
#[derive(Clone, Debug, Default)]
pub struct MemoryHistory {
    pub contacts: Vec<Contact>,
}

impl MemoryHistory {
    pub fn new(contacts: Vec<Contact>) -> Self {
        Self { contacts }
    }

    fn since<'a>(
        &'a self,
        filter: &'a Filter<'_>,
        since: Timestamp,
    ) -> impl Iterator<Item = &'a Contact> + 'a {
        self.contacts
            .iter()
            .filter(move |c| c.at >= since && filter.matches(c))
    }
}

impl ContactHistory for MemoryHistory {
    fn count(&self, filter: &Filter<'_>, since: Timestamp) -> usize {
        self.since(filter, since).count()
    }

    fn nth_oldest_since(
        &self,
        filter: &Filter<'_>,
        since: Timestamp,
        n: usize,
    ) -> Option<Timestamp> {
        let mut times: Vec<Timestamp> = self.since(filter, since).map(|c| c.at).collect();
        times.sort_unstable();
        times.get(n).copied()
    }
}

/// The most contacts kept per filter: no cap counts further back, since a cap's `max` is at
/// most [`super::caps::MAX_CAP`].
pub const KEPT_PER_KIND: usize = super::caps::MAX_CAP as usize;

/// A history indexed by every filter a cap can make: each contact is filed under its business,
/// channel and topic with each of them also left open (eight keys), each key's times in order.
/// A count is one look-up and a binary search, whatever the number of businesses.
///
/// Each key keeps its latest [`KEPT_PER_KIND`] contacts. That is all a cap can ask about: a cap
/// of `max` is reached when at least `max` of its window are kept, and the slot it waits for is
/// the `count - max`-th oldest of the window, which lies among the latest `max` ones.
#[derive(Clone, Debug, Default)]
pub struct IndexedHistory {
    /// Business ids, channels and topics by number (one namespace: a key's place tells them
    /// apart), so keys are small and a look-up allocates nothing.
    numbers: HashMap<String, u32>,
    keys: HashMap<Key, VecDeque<Timestamp>>,
}

/// A filter as a key: business, channel and topic by number, [`ANY`] where it is left open.
type Key = [u32; 3];

/// A place of a key left open.
const ANY: u32 = u32::MAX;

impl IndexedHistory {
    /// Counts `contact` in.
    pub fn record(&mut self, contact: Contact) {
        let full = [
            self.number(contact.business.as_str()),
            self.number(&contact.channel),
            self.number(&contact.topic),
        ];
        for open in 0..8usize {
            let mut key = full;
            for (place, part) in key.iter_mut().enumerate() {
                if open & (1 << place) != 0 {
                    *part = ANY;
                }
            }
            let times = self.keys.entry(key).or_default();
            // Nearly always the newest; a clock that stepped back is put in its place.
            let at = times.partition_point(|t| *t <= contact.at);
            times.insert(at, contact.at);
            if times.len() > KEPT_PER_KIND {
                times.pop_front();
            }
        }
    }

    /// Takes back one contact counted with [`IndexedHistory::record`] (one whose delivery
    /// failed); `false` if it is not kept.
    pub fn unrecord(&mut self, contact: &Contact) -> bool {
        let full = [
            self.numbers.get(contact.business.as_str()).copied(),
            self.numbers.get(contact.channel.as_str()).copied(),
            self.numbers.get(contact.topic.as_str()).copied(),
        ];
        let [Some(b), Some(c), Some(t)] = full else {
            return false;
        };
        let mut found = false;
        for open in 0..8usize {
            let mut key = [b, c, t];
            for (place, part) in key.iter_mut().enumerate() {
                if open & (1 << place) != 0 {
                    *part = ANY;
                }
            }
            if let Some(times) = self.keys.get_mut(&key)
                && let Some(at) = times.iter().rposition(|t| *t == contact.at)
            {
                times.remove(at);
                found = true;
            }
        }
        found
    }

    fn number(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.numbers.get(name) {
            return n;
        }
        let n = u32::try_from(self.numbers.len()).expect("fewer than 2^32 - 1 names");
        self.numbers.insert(name.to_owned(), n);
        n
    }

    /// Forgets contacts before `before` (older than any window can reach).
    pub fn forget_before(&mut self, before: Timestamp) {
        self.keys.retain(|_, times| {
            let old = times.partition_point(|t| *t < before);
            times.drain(..old);
            !times.is_empty()
        });
    }

    /// How many contacts are kept under full keys.
    pub fn len(&self) -> usize {
        self.keys
            .iter()
            .filter(|(key, _)| !key.contains(&ANY))
            .map(|(_, times)| times.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn times(&self, filter: &Filter<'_>) -> Option<&VecDeque<Timestamp>> {
        let part = |name: Option<&str>| match name {
            None => Some(ANY),
            Some(name) => self.numbers.get(name).copied(),
        };
        let key = [
            part(filter.business.map(BusinessId::as_str))?,
            part(filter.channel)?,
            part(filter.topic)?,
        ];
        self.keys.get(&key)
    }
}

impl ContactHistory for IndexedHistory {
    fn count(&self, filter: &Filter<'_>, since: Timestamp) -> usize {
        self.times(filter).map_or(0, |times| {
            times.len() - times.partition_point(|t| *t < since)
        })
    }

    fn nth_oldest_since(
        &self,
        filter: &Filter<'_>,
        since: Timestamp,
        n: usize,
    ) -> Option<Timestamp> {
        let times = self.times(filter)?;
        times
            .get(times.partition_point(|t| *t < since) + n)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(secs: i64, business: &str, channel: &str, topic: &str) -> Contact {
        Contact {
            at: Timestamp::from_second(secs).unwrap(),
            business: BusinessId::parse(business).unwrap(),
            channel: channel.into(),
            topic: topic.into(),
        }
    }

    /// The indexed history answers every question as the plain list does.
    #[test]
    fn the_index_answers_like_the_list() {
        let mut contacts = Vec::new();
        for i in 0..300_i64 {
            let business = ["a.example", "b.example", "c.example"][(i % 3) as usize];
            let channel = ["inbox", "email"][(i % 2) as usize];
            let topic = ["orders", "news", "surveys", "x"][(i % 4) as usize];
            // Out of order now and then, as a clock stepping back gives.
            let at = if i % 17 == 0 {
                1_000 + i - 30
            } else {
                1_000 + i
            };
            contacts.push(contact(at, business, channel, topic));
        }
        let list = MemoryHistory::new(contacts.clone());
        let mut index = IndexedHistory::default();
        contacts.into_iter().for_each(|c| index.record(c));
        assert_eq!(index.len(), 300);
        let a = BusinessId::parse("a.example").unwrap();
        let filters = [
            Filter::default(),
            Filter {
                business: Some(&a),
                ..Filter::default()
            },
            Filter {
                channel: Some("inbox"),
                ..Filter::default()
            },
            Filter {
                business: Some(&a),
                channel: Some("email"),
                topic: Some("news"),
            },
            Filter {
                topic: Some("surveys"),
                ..Filter::default()
            },
            Filter {
                topic: Some("none"),
                ..Filter::default()
            },
        ];
        for filter in &filters {
            for since in [0, 1_000, 1_100, 1_250, 1_299, 2_000] {
                let since = Timestamp::from_second(since).unwrap();
                assert_eq!(
                    index.count(filter, since),
                    list.count(filter, since),
                    "{filter:?}"
                );
                for n in [0, 1, 5, 40, 299, 300] {
                    assert_eq!(
                        index.nth_oldest_since(filter, since, n),
                        list.nth_oldest_since(filter, since, n),
                        "{filter:?} {n}"
                    );
                }
            }
        }
        let cut = Timestamp::from_second(1_200).unwrap();
        index.forget_before(cut);
        let left = list.count(&Filter::default(), cut);
        assert!(left < 300);
        assert_eq!(index.count(&Filter::default(), Timestamp::UNIX_EPOCH), left);
        assert_eq!(index.len(), left);
    }

    #[test]
    fn each_kind_keeps_as_many_as_a_cap_can_count() {
        let mut index = IndexedHistory::default();
        for i in 0..(KEPT_PER_KIND as i64 + 50) {
            index.record(contact(i, "a.example", "inbox", "orders"));
        }
        index.record(contact(5, "a.example", "inbox", "news"));
        assert_eq!(index.len(), KEPT_PER_KIND + 1);
        let all = Filter::default();
        // The oldest kept of the flooded kind is the 51st.
        assert_eq!(
            index.nth_oldest_since(
                &Filter {
                    topic: Some("orders"),
                    ..all
                },
                Timestamp::UNIX_EPOCH,
                0
            ),
            Some(Timestamp::from_second(50).unwrap())
        );
        assert_eq!(
            index.count(
                &Filter {
                    topic: Some("news"),
                    ..all
                },
                Timestamp::UNIX_EPOCH
            ),
            1
        );
    }

    /// Past the kept number, a cap still reads the same: reached exactly when the full history
    /// says so, and its slot frees at the same time.
    #[test]
    fn what_caps_ask_is_answered_past_the_kept_number() {
        let mut contacts = Vec::new();
        for i in 0..2_500_i64 {
            let business = ["a.example", "b.example"][(i % 7 == 0) as usize];
            contacts.push(contact(
                i,
                business,
                "inbox",
                ["orders", "news"][(i % 3 == 0) as usize],
            ));
        }
        let list = MemoryHistory::new(contacts.clone());
        let mut index = IndexedHistory::default();
        contacts.into_iter().for_each(|c| index.record(c));
        let a = BusinessId::parse("a.example").unwrap();
        for filter in [
            Filter::default(),
            Filter {
                business: Some(&a),
                ..Filter::default()
            },
            Filter {
                topic: Some("orders"),
                ..Filter::default()
            },
        ] {
            for since in [0, 700, 1_400, 2_000] {
                let since = Timestamp::from_second(since).unwrap();
                let (full, kept) = (list.count(&filter, since), index.count(&filter, since));
                assert_eq!(kept, full.min(KEPT_PER_KIND), "{filter:?}");
                for max in [1, 10, 999, 1_000] {
                    assert_eq!(kept >= max, full >= max);
                    if full >= max {
                        assert_eq!(
                            index.nth_oldest_since(&filter, since, kept - max),
                            list.nth_oldest_since(&filter, since, full - max),
                            "{filter:?} {max}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_contact_taken_back_counts_nowhere() {
        let mut index = IndexedHistory::default();
        let kept = contact(10, "a.example", "inbox", "orders");
        let failed = contact(11, "a.example", "inbox", "orders");
        index.record(kept.clone());
        index.record(failed.clone());
        assert!(index.unrecord(&failed));
        assert!(!index.unrecord(&contact(12, "b.example", "inbox", "orders")));
        let all = Filter::default();
        assert_eq!(index.count(&all, Timestamp::UNIX_EPOCH), 1);
        let a = BusinessId::parse("a.example").unwrap();
        let by_a = Filter {
            business: Some(&a),
            topic: Some("orders"),
            ..all
        };
        assert_eq!(
            index.nth_oldest_since(&by_a, Timestamp::UNIX_EPOCH, 0),
            Some(kept.at)
        );
        assert_eq!(index.count(&by_a, Timestamp::UNIX_EPOCH), 1);
    }
}
