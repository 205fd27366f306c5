//! Past contacts, as the decision sees them: a few counting questions a store answers with an
//! index, and an in-memory answer over a list for tests and small callers.

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
