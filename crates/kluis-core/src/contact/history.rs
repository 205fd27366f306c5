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

/// The most contacts kept per business, channel and topic: no cap counts further back, since a
/// cap's `max` is at most [`super::caps::MAX_CAP`].
pub const KEPT_PER_KIND: usize = super::caps::MAX_CAP as usize;

/// A history indexed by business, channel and topic, each kind's times in order: a count costs
/// a binary search per kind the filter matches, not a walk over every contact. Each kind keeps
/// its latest [`KEPT_PER_KIND`] contacts, which is all a cap can ask about.
#[derive(Clone, Debug, Default)]
pub struct IndexedHistory {
    kinds: HashMap<Kind, VecDeque<Timestamp>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Kind {
    business: BusinessId,
    channel: String,
    topic: String,
}

impl IndexedHistory {
    /// Counts `contact` in.
    pub fn record(&mut self, contact: Contact) {
        let times = self
            .kinds
            .entry(Kind {
                business: contact.business,
                channel: contact.channel,
                topic: contact.topic,
            })
            .or_default();
        // Nearly always the newest; a clock that stepped back is put in its place.
        let at = times.partition_point(|t| *t <= contact.at);
        times.insert(at, contact.at);
        if times.len() > KEPT_PER_KIND {
            times.pop_front();
        }
    }

    /// Forgets contacts before `before` (older than any window can reach).
    pub fn forget_before(&mut self, before: Timestamp) {
        self.kinds.retain(|_, times| {
            let old = times.partition_point(|t| *t < before);
            times.drain(..old);
            !times.is_empty()
        });
    }

    /// Every contact kept, oldest first within each kind.
    pub fn contacts(&self) -> impl Iterator<Item = Contact> + '_ {
        self.kinds.iter().flat_map(|(kind, times)| {
            times.iter().map(|at| Contact {
                at: *at,
                business: kind.business.clone(),
                channel: kind.channel.clone(),
                topic: kind.topic.clone(),
            })
        })
    }

    /// How many contacts are kept.
    pub fn len(&self) -> usize {
        self.kinds.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    fn matching<'a>(
        &'a self,
        filter: &'a Filter<'_>,
    ) -> impl Iterator<Item = &'a VecDeque<Timestamp>> + 'a {
        self.kinds
            .iter()
            .filter(move |(kind, _)| {
                filter.business.is_none_or(|b| *b == kind.business)
                    && filter.channel.is_none_or(|c| c == kind.channel)
                    && filter.topic.is_none_or(|t| t == kind.topic)
            })
            .map(|(_, times)| times)
    }
}

impl ContactHistory for IndexedHistory {
    fn count(&self, filter: &Filter<'_>, since: Timestamp) -> usize {
        self.matching(filter)
            .map(|times| times.len() - times.partition_point(|t| *t < since))
            .sum()
    }

    fn nth_oldest_since(
        &self,
        filter: &Filter<'_>,
        since: Timestamp,
        n: usize,
    ) -> Option<Timestamp> {
        let mut times: Vec<Timestamp> = self
            .matching(filter)
            .flat_map(|times| times.range(times.partition_point(|t| *t < since)..))
            .copied()
            .collect();
        if n >= times.len() {
            return None;
        }
        let (_, nth, _) = times.select_nth_unstable(n);
        Some(*nth)
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
}
