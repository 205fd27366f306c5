//! The contact-right part of the dashboard's forms (giving access, approving a request): a
//! checkbox per channel and the topics as a comma-separated text, read back into a checked
//! [`ContactRight`], and a right put in words.

use std::collections::HashSet;

use kluis_core::contact::ContactRight;
use kluis_core::document::CHANNELS;

use super::form::Form;
use super::i18n::Lang;
use super::words;

pub struct Texts {
    pub legend: &'static str,
    pub hint: &'static str,
    pub channels: &'static str,
    /// One channel's checkbox: `{channel}` in words (not the bare word, which a field shares).
    pub channel: &'static str,
    pub topics: &'static str,
    pub topics_hint: &'static str,
    /// `{channels}` and `{topics}` in words.
    pub right: &'static str,
    pub refuse: &'static str,
}

const EN: Texts = Texts {
    legend: "It may contact you (optional)",
    hint: "Tick the channels and name the topics it may use to reach you; your contact preferences still apply. Leave both empty for no contact right.",
    channels: "Channels",
    channel: "by {channel}",
    topics: "Topics",
    topics_hint: "Comma-separated, e.g. orders, news",
    right: "may contact you by {channels} about {topics}",
    refuse: "Do not let it contact me",
};

const NL: Texts = Texts {
    legend: "Het mag contact met u opnemen (optioneel)",
    hint: "Vink de kanalen aan en noem de onderwerpen waarover het u mag benaderen; uw contactvoorkeuren blijven gelden. Laat beide leeg voor geen contactrecht.",
    channels: "Kanalen",
    channel: "via {channel}",
    topics: "Onderwerpen",
    topics_hint: "Gescheiden door komma's, bijv. orders, nieuws",
    right: "mag u benaderen via {channels} over {topics}",
    refuse: "Laat het mij niet benaderen",
};

pub fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

/// What the owner ticked and typed, to show again.
#[derive(Clone, Debug, Default)]
pub struct ContactInput {
    pub channels: HashSet<String>,
    pub topics: String,
}

impl ContactInput {
    /// The form's `contact_channel` checkboxes and `contact_topics` text.
    pub fn of(form: &Form) -> Self {
        Self {
            channels: form
                .all("contact_channel")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            topics: form.text("contact_topics").unwrap_or_default().to_owned(),
        }
    }

    fn topics(&self) -> Vec<String> {
        self.topics
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The right asked for, checked; `None` when no channel is ticked and no topic typed.
    pub fn right(&self) -> Result<Option<ContactRight>, String> {
        let topics = self.topics();
        if self.channels.is_empty() && topics.is_empty() {
            return Ok(None);
        }
        let mut channels: Vec<String> = self.channels.iter().cloned().collect();
        channels.sort();
        ContactRight { channels, topics }
            .validated()
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// One channel's checkbox.
pub struct ChannelCheck {
    pub id: String,
    pub value: &'static str,
    pub label: String,
    pub checked: bool,
}

/// A checkbox for each of `offered` (every contact channel when `None`), ids prefixed by
/// `prefix` so several forms on a page stay apart.
pub fn channel_checks(
    lang: Lang,
    prefix: &str,
    input: &ContactInput,
    offered: Option<&[String]>,
) -> Vec<ChannelCheck> {
    CHANNELS
        .into_iter()
        .filter(|c| *c != "none" && offered.is_none_or(|o| o.iter().any(|x| x == c)))
        .map(|c| ChannelCheck {
            id: format!("{prefix}contact-{c}"),
            value: c,
            label: super::grants::shared::fill(
                texts(lang).channel,
                &[("channel", &words::channel(lang, c))],
            ),
            checked: input.channels.contains(c),
        })
        .collect()
}

/// A right in words: `may contact you by e-mail and Kluis inbox about orders and news`.
pub fn right_words(lang: Lang, right: &ContactRight) -> String {
    let channels: Vec<String> = right
        .channels
        .iter()
        .map(|c| words::channel(lang, c))
        .collect();
    super::grants::shared::fill(
        texts(lang).right,
        &[
            ("channels", &words::list(lang, &channels)),
            ("topics", &words::list(lang, &right.topics)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(channels: &[&str], topics: &str) -> ContactInput {
        ContactInput {
            channels: channels.iter().map(|c| c.to_string()).collect(),
            topics: topics.into(),
        }
    }

    #[test]
    fn the_form_reads_as_a_checked_right() {
        assert_eq!(input(&[], " , ").right(), Ok(None));
        let right = input(&["inbox", "email"], "orders, news,orders").right();
        assert_eq!(
            right,
            Ok(Some(ContactRight {
                channels: vec!["email".into(), "inbox".into()],
                topics: vec!["news".into(), "orders".into()],
            }))
        );
        assert!(input(&["inbox"], "").right().unwrap_err().contains("topic"));
        assert!(
            input(&["fax"], "orders")
                .right()
                .unwrap_err()
                .contains("not a contact channel")
        );
        let right = input(&["inbox", "sms"], "orders").right().unwrap().unwrap();
        assert_eq!(
            right_words(Lang::En, &right),
            "may contact you by Kluis inbox and text message about orders"
        );
    }
}
