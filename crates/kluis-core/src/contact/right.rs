//! Contact rights: the channels and topics a grant lets a business use to reach the owner, as
//! the owner gives them (checked and normalized) and as a token carries them (an
//! `authorization_details` entry of type `kluis_contact`).

use serde::{Deserialize, Serialize};

use crate::document::CHANNELS;
use crate::error::{Error, Result};

/// A right may list at most this many channels, and this many topics.
pub const MAX_TOPICS: usize = 32;
/// The longest topic name, in characters.
pub const MAX_TOPIC_CHARS: usize = 64;

/// What a grant lets a business use to reach the owner: its channels and topics.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRight {
    pub channels: Vec<String>,
    pub topics: Vec<String>,
}

impl ContactRight {
    /// Checks the right and normalizes it (sorted, no repeats): at least one channel of
    /// [`CHANNELS`] (not `none`) and at least one topic of 1 to [`MAX_TOPIC_CHARS`] characters.
    pub fn validated(mut self) -> Result<Self> {
        if self.channels.is_empty() || self.topics.is_empty() {
            return Err(Error::invalid(
                "a contact right needs at least one channel and at least one topic",
            ));
        }
        for channel in &self.channels {
            check_channel(channel)?;
        }
        for topic in &mut self.topics {
            *topic = check_topic(topic)?;
        }
        for list in [&mut self.channels, &mut self.topics] {
            list.sort();
            list.dedup();
        }
        if self.topics.len() > MAX_TOPICS {
            return Err(Error::invalid(format!(
                "a contact right may name at most {MAX_TOPICS} topics"
            )));
        }
        Ok(self)
    }

    /// This right with only the channels and topics also in `keep` (an owner approving part of
    /// what a business asked for); `None` when nothing of it is left.
    pub fn narrowed_to(&self, keep: &ContactRight) -> Option<ContactRight> {
        let channels: Vec<String> = self
            .channels
            .iter()
            .filter(|c| keep.channels.contains(c))
            .cloned()
            .collect();
        let topics: Vec<String> = self
            .topics
            .iter()
            .filter(|t| keep.topics.contains(t))
            .cloned()
            .collect();
        (!channels.is_empty() && !topics.is_empty()).then_some(ContactRight { channels, topics })
    }

    /// Whether the right covers `channel` and `topic`.
    pub fn covers(&self, channel: &str, topic: &str) -> bool {
        self.channels.iter().any(|c| c == channel) && self.topics.iter().any(|t| t == topic)
    }
}

/// A channel a business may be given or may name: one of [`CHANNELS`] but `none`.
pub fn check_channel(channel: &str) -> Result<()> {
    if channel != "none" && CHANNELS.contains(&channel) {
        return Ok(());
    }
    let known: Vec<&str> = CHANNELS.into_iter().filter(|c| *c != "none").collect();
    Err(Error::invalid(format!(
        "{:?} is not a contact channel; use one of {}",
        shorten(channel),
        known.join(", ")
    )))
}

/// A topic a business may be given or may name: trimmed, 1 to [`MAX_TOPIC_CHARS`] characters,
/// no control characters.
pub fn check_topic(topic: &str) -> Result<String> {
    let trimmed = topic.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_TOPIC_CHARS
        || trimmed.chars().any(char::is_control)
    {
        return Err(Error::invalid(format!(
            "{:?} is not a topic: use 1 to {MAX_TOPIC_CHARS} characters without control characters",
            shorten(topic)
        )));
    }
    Ok(trimmed.to_owned())
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn right(channels: &[&str], topics: &[&str]) -> ContactRight {
        ContactRight {
            channels: channels.iter().map(|s| s.to_string()).collect(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_right_is_normalized() {
        let r = right(
            &["inbox", "email", "inbox"],
            &[" orders ", "news", "orders"],
        )
        .validated()
        .unwrap();
        assert_eq!(r, right(&["email", "inbox"], &["news", "orders"]));
        assert!(r.covers("inbox", "orders"));
        assert!(!r.covers("sms", "orders"));
        assert!(!r.covers("inbox", "surveys"));
    }

    #[test]
    fn bad_rights_are_refused_with_their_reason() {
        for (r, needle) in [
            (right(&[], &["orders"]), "at least one channel"),
            (right(&["inbox"], &[]), "at least one topic"),
            (right(&["none"], &["orders"]), "not a contact channel"),
            (right(&["pigeon"], &["orders"]), "use one of email"),
            (right(&["inbox"], &["  "]), "not a topic"),
            (right(&["inbox"], &["a\u{7}b"]), "not a topic"),
            (right(&["inbox"], &[&"x".repeat(65)]), "not a topic"),
        ] {
            let err = r.clone().validated().unwrap_err().to_string();
            assert!(err.contains(needle), "{r:?}: {err}");
        }
        let many: Vec<String> = (0..=MAX_TOPICS).map(|i| format!("t{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(right(&["inbox"], &many).validated().is_err());
    }

    #[test]
    fn narrowing_keeps_only_what_is_in_both() {
        let asked = right(&["email", "inbox"], &["news", "orders"]);
        assert_eq!(
            asked.narrowed_to(&right(&["inbox", "sms"], &["orders"])),
            Some(right(&["inbox"], &["orders"]))
        );
        assert_eq!(asked.narrowed_to(&right(&["sms"], &["orders"])), None);
        assert_eq!(asked.narrowed_to(&right(&["inbox"], &[])), None);
    }
}
