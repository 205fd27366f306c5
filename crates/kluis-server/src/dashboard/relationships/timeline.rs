//! A record's timeline in words, newest first: what the owner and the business recorded, and
//! what the vault saw itself (the business's requests, the access log's events of it in the
//! log page's own words, its reads summed per day).

use kluis_core::access::{Actor, Outcome};
use kluis_core::grant::BusinessId;
use kluis_core::relationship::entry::day_of_ms;
use kluis_core::relationship::{Entry, Item, Standing};
use kluis_store::{Observed, TimelineItem};

use super::record::status_word;
use super::texts::{Texts, texts};
use crate::dashboard::grants::shared::fill;
use crate::dashboard::i18n::Lang;
use crate::dashboard::log::timeline::sentence;
use crate::dashboard::render::{date_time, day};

/// The most lines the page shows (the newest).
pub const MAX_LINES: usize = 300;

/// Longer texts (notes, summaries) are cut to this many characters in the timeline.
const CUT: usize = 160;

pub struct Line {
    /// The day it is about, in words, and as `YYYY-MM-DD` for `<time datetime>`.
    pub day: String,
    pub iso: String,
    /// The time of day, or when it was recorded if that was another day; empty for a day's
    /// reads.
    pub when: String,
    pub text: String,
    /// `owner`, `business`, `seen` or `refused`: the line's mark, said in `by` too.
    pub kind: &'static str,
    /// Who: you, the business, or the vault.
    pub by: String,
    pub href: Option<String>,
}

/// The lines of `items` (newest first, as the store orders them), at most [`MAX_LINES`], and
/// how many more there are.
pub fn lines(
    lang: Lang,
    business: &BusinessId,
    items: &[TimelineItem],
    standing: Option<&Standing>,
) -> (Vec<Line>, Option<usize>) {
    let t = texts(lang);
    let shown = items
        .iter()
        .take(MAX_LINES)
        .map(|item| match item {
            TimelineItem::Entry(e) => entry_line(lang, t, business, e, standing),
            TimelineItem::Observed(o) => observed_line(lang, t, business, o),
        })
        .collect();
    let more = items.len().saturating_sub(MAX_LINES);
    (shown, (more > 0).then_some(more))
}

fn clock(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02} UTC", secs / 3600, secs / 60 % 60)
}

fn cut(text: &str) -> String {
    if text.chars().count() <= CUT {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(CUT).collect::<String>())
    }
}

fn entry_line(
    lang: Lang,
    t: &Texts,
    business: &BusinessId,
    e: &Entry,
    standing: Option<&Standing>,
) -> Line {
    let owner = e.author.is_owner();
    let text = match &e.item {
        Item::Contract { contract } => fill(t.tl_contract, &[("what", &contract.what)]),
        Item::Promise { what, due_on } => fill(
            t.tl_promise,
            &[("what", what), ("due", &day(lang, *due_on))],
        ),
        Item::Interaction {
            channel, summary, ..
        } => fill(
            t.tl_interaction,
            &[("channel", channel), ("summary", &cut(summary))],
        ),
        Item::Document { title, .. } => fill(t.tl_document, &[("title", title)]),
        Item::Satisfaction { score, .. } => {
            fill(t.tl_satisfaction, &[("score", &score.to_string())])
        }
        Item::Note { text } => fill(t.tl_note, &[("text", &cut(text))]),
        Item::Settled { promise, status } => {
            let what = standing
                .and_then(|s| s.promises.iter().find(|p| p.entry == *promise))
                .map_or_else(|| t.removed_promise.to_owned(), |p| p.value.what.clone());
            fill(
                t.tl_settled,
                &[("what", &what), ("status", status_word(t, *status))],
            )
        }
    };
    let when = if day_of_ms(e.at_ms) == e.day() {
        clock(e.at_ms)
    } else {
        fill(
            t.recorded_at,
            &[("when", &date_time(lang, e.at_ms.div_euclid(1000)))],
        )
    };
    Line {
        day: day(lang, e.day()),
        iso: e.day().to_string(),
        when,
        text,
        kind: if owner { "owner" } else { "business" },
        by: if owner {
            t.by_you.to_owned()
        } else {
            business.to_string()
        },
        href: None,
    }
}

fn observed_line(lang: Lang, t: &Texts, business: &BusinessId, o: &Observed) -> Line {
    let (when, text, kind, href) = match o {
        Observed::Reads { count, .. } => (
            String::new(),
            fill(
                if *count == 1 {
                    t.tl_read_once
                } else {
                    t.tl_reads
                },
                &[("who", business.as_str()), ("n", &count.to_string())],
            ),
            "seen",
            None,
        ),
        Observed::Logged(entry) => {
            let r = &entry.record;
            let kind = match (r.outcome, r.actor) {
                (Outcome::Refused, _) => "refused",
                (_, Actor::Business) => "seen",
                _ => "owner",
            };
            (clock(r.at_ms), sentence(lang, r, 1), kind, None)
        }
        Observed::Asked {
            at_ms,
            request,
            purpose,
        } => (
            clock(*at_ms),
            fill(
                t.tl_asked,
                &[("who", business.as_str()), ("purpose", purpose)],
            ),
            "seen",
            Some(format!("/dashboard/requests#{request}")),
        ),
    };
    Line {
        day: day(lang, o.day()),
        iso: o.day().to_string(),
        when,
        text,
        kind,
        by: match kind {
            "owner" => t.by_you,
            "refused" => t.by_refused,
            _ => t.by_vault,
        }
        .to_owned(),
        href,
    }
}
