//! One relationship record: `/dashboard/relationships/{business}` shows its contracts (with the
//! last day to give notice for the next end), promises (how they stand, who recorded them:
//! the owner, or the business through its grant, with the key's thumbprint and the request's
//! hash), interactions, documents (the JSON body as a list of its values, the file to
//! download), satisfaction scores, notes, and the timeline; [`super::forms`] holds its forms.
//! Everything a business wrote is escaped by the template; nothing is marked safe.
//! A document's file is served by [`super::file`].

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::grant::BusinessId;
use kluis_core::relationship::{
    Author, Date, Entry, EntryId, Item, NoticeUnit, PromiseStatus, Standing,
};
use kluis_store::{TimelineItem, observed_in_log, unix_now};
use serde_json::Value;

use super::forms::Refused;
use super::texts::{Texts, texts};
use super::timeline::{self, Line};
use super::{business_of, known_businesses, record_href, today};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::grants::shared::{fill, query_value};
use crate::dashboard::i18n::Lang;
use crate::dashboard::logview::{GrantsCache, LogView};
use crate::dashboard::render::{Chrome, date_time, day, page_with};
use crate::dashboard::session::SignedIn;

/// The most values of a document's body the page lists.
const MAX_BODY_VALUES: usize = 200;

/// Who recorded an entry, in words.
pub struct By {
    pub owner: bool,
    /// `You`, or the business.
    pub who: String,
    pub grant: String,
    /// The key's RFC 7638 thumbprint, or words saying there was none.
    pub jkt: String,
    pub request: String,
}

pub struct ContractView {
    pub id: String,
    pub what: String,
    pub starts: String,
    pub ends: String,
    pub renews: &'static str,
    pub notice: String,
    /// The next end and the last day to give notice for it, in words.
    pub deadline: Option<String>,
    pub by: By,
}

pub struct PromiseView {
    pub id: String,
    pub what: String,
    pub due: String,
    pub status: &'static str,
    pub open: bool,
    pub overdue: bool,
    pub by: By,
}

pub struct InteractionView {
    pub id: String,
    pub on: String,
    pub channel: String,
    pub summary: String,
    pub by: By,
}

pub struct FileView {
    pub href: String,
    pub name: String,
    pub media_type: String,
    pub size: String,
}

pub struct DocumentView {
    pub id: String,
    pub title: String,
    pub when: String,
    pub values: Vec<(String, String)>,
    /// Values of the body not listed (past [`MAX_BODY_VALUES`]), in words.
    pub more: Option<String>,
    pub file: Option<FileView>,
    pub by: By,
}

pub struct ScoreView {
    pub id: String,
    pub text: String,
}

pub struct NoteView {
    pub id: String,
    pub when: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "dashboard/relationships_record.html")]
pub struct RecordPage {
    pub chrome: Chrome,
    pub t: &'static Texts,
    /// The record's path, which the forms post under.
    pub base: String,
    pub notice: Option<String>,
    /// When the record was made, or that there is none yet, in words.
    pub made: String,
    pub contracts: Vec<ContractView>,
    pub promises: Vec<PromiseView>,
    pub interactions: Vec<InteractionView>,
    pub documents: Vec<DocumentView>,
    pub satisfaction: Option<String>,
    pub scores: Vec<ScoreView>,
    pub notes: Vec<NoteView>,
    pub timeline: Vec<Line>,
    pub timeline_more: Option<String>,
    pub refused: Refused,
    /// Today as `YYYY-MM-DD`, the date fields' default.
    pub today: String,
}

impl RecordPage {
    /// A form field's value: what was typed into the refused form, else `default`.
    pub fn typed<'a>(&'a self, form: &str, name: &str, default: &'a str) -> &'a str {
        self.refused.value(form, name).unwrap_or(default)
    }
}

/// A record's entries and timeline, as read for its page.
struct Loaded {
    standing: Option<Standing>,
    timeline: Vec<TimelineItem>,
}

pub async fn show(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(business): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let t = texts(owner.lang);
    let business = business_of(&business, t)?;
    let notice = query_value(query.as_deref(), "done").and_then(|done| done_words(t, &done));
    render(
        &dashboard,
        &owner,
        &business,
        StatusCode::OK,
        notice,
        Refused::default(),
    )
    .await
}

/// What a redirect after a form (`done=…`) says.
fn done_words(t: &Texts, done: &str) -> Option<String> {
    let words = match done {
        "started" => t.done_started,
        "contract" => t.done_contract,
        "promise" => t.done_promise,
        "interaction" => t.done_interaction,
        "satisfaction" => t.done_satisfaction,
        "note" => t.done_note,
        "settled" => t.done_settled,
        "removed" => t.done_removed,
        _ => return None,
    };
    Some(words.to_owned())
}

/// The record page of `business` as `status`, with `refused` beside its form; a business
/// the vault knows nothing of is a 404.
pub(super) async fn render(
    dashboard: &Dashboard,
    owner: &SignedIn,
    business: &BusinessId,
    status: StatusCode,
    notice: Option<String>,
    refused: Refused,
) -> Result<Response, PageError> {
    let t = texts(owner.lang);
    let (cache, view, b) = (
        GrantsCache::of(dashboard),
        LogView::of(dashboard),
        business.clone(),
    );
    let loaded = dashboard
        .with_relationships(move |vault, rel| {
            let standing = rel.standing(&b)?;
            if standing.is_none() && !known_businesses(vault, &cache)?.contains(&b) {
                return Ok(None);
            }
            let requests = vault.access_requests(unix_now())?;
            let observed =
                view.with(vault, |index| observed_in_log(index, vault, &requests, &b))?;
            let timeline = rel.timeline(&b, observed)?;
            Ok(Some(Loaded { standing, timeline }))
        })
        .await?
        .ok_or_else(|| PageError::NotFound(t.no_such_record.to_owned()))?;
    page_with(
        status,
        &record_page(owner, business, &loaded, notice, refused),
    )
}

fn record_page(
    owner: &SignedIn,
    business: &BusinessId,
    loaded: &Loaded,
    notice: Option<String>,
    refused: Refused,
) -> RecordPage {
    let lang = owner.lang;
    let t = texts(lang);
    let today = today();
    let base = record_href(business);
    let entries: Vec<&Entry> = loaded
        .timeline
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Entry(e) => Some(e),
            TimelineItem::Observed(_) => None,
        })
        .collect();
    let by_id: HashMap<&EntryId, &Entry> = entries.iter().map(|e| (&e.id, *e)).collect();
    let by = |id: &EntryId| {
        by_id
            .get(id)
            .map_or_else(|| owner_by(t), |e| author(t, business, &e.author))
    };
    let standing = loaded.standing.as_ref();
    let mut contracts = Vec::new();
    let mut promises = Vec::new();
    if let Some(s) = standing {
        contracts = s
            .contracts
            .iter()
            .map(|c| contract_view(lang, t, &c.entry, &c.value, today, by(&c.entry)))
            .collect();
        let mut sorted: Vec<_> = s.promises.iter().collect();
        sorted.sort_by_key(|p| (p.value.status != PromiseStatus::Open, p.value.due_on));
        promises = sorted
            .into_iter()
            .map(|p| PromiseView {
                id: p.entry.to_string(),
                what: p.value.what.clone(),
                due: day(lang, p.value.due_on),
                status: status_word(t, p.value.status),
                open: p.value.status == PromiseStatus::Open,
                overdue: p.value.is_overdue(today),
                by: by(&p.entry),
            })
            .collect();
    }
    let mut page = RecordPage {
        chrome: Chrome::new(owner, "relationships", business.as_str(), &base),
        t,
        base: base.clone(),
        notice,
        made: standing.map_or_else(
            || t.no_record_yet.to_owned(),
            |s| {
                fill(
                    t.record_made,
                    &[("when", &date_time(lang, s.created_ms.div_euclid(1000)))],
                )
            },
        ),
        contracts,
        promises,
        interactions: Vec::new(),
        documents: Vec::new(),
        satisfaction: standing.and_then(|s| s.satisfaction).map(|(score, on)| {
            fill(
                t.score_of,
                &[("score", &score.to_string()), ("day", &day(lang, on))],
            )
        }),
        scores: Vec::new(),
        notes: Vec::new(),
        timeline: Vec::new(),
        timeline_more: None,
        refused,
        today: today.to_string(),
    };
    for e in &entries {
        add_entry(&mut page, lang, t, business, e);
    }
    let (lines, more) = timeline::lines(lang, business, &loaded.timeline, standing);
    page.timeline = lines;
    page.timeline_more = more.map(|n| fill(t.timeline_more, &[("n", &n.to_string())]));
    page
}

/// An entry into its section (contracts and promises come from the standing).
fn add_entry(
    page: &mut RecordPage,
    lang: Lang,
    t: &'static Texts,
    business: &BusinessId,
    e: &Entry,
) {
    let id = e.id.to_string();
    let by = author(t, business, &e.author);
    match &e.item {
        Item::Interaction {
            on,
            channel,
            summary,
        } => page.interactions.push(InteractionView {
            id,
            on: day(lang, *on),
            channel: channel.clone(),
            summary: summary.clone(),
            by,
        }),
        Item::Document {
            title,
            body,
            attachment,
        } => {
            let mut values = Vec::new();
            let total = flatten("", body, &mut values);
            page.documents.push(DocumentView {
                file: attachment.as_ref().map(|a| FileView {
                    href: format!("{}/files/{id}", page.base),
                    name: a.name.clone(),
                    media_type: a.media_type.clone(),
                    size: fill(t.bytes, &[("n", &a.size.to_string())]),
                }),
                id,
                title: title.clone(),
                when: date_time(lang, e.at_ms.div_euclid(1000)),
                more: (total > values.len())
                    .then(|| fill(t.more_values, &[("n", &(total - values.len()).to_string())])),
                values,
                by,
            });
        }
        Item::Satisfaction { score, on, comment } => {
            let mut text = fill(
                t.score_of,
                &[("score", &score.to_string()), ("day", &day(lang, *on))],
            );
            if let Some(c) = comment {
                text = format!("{text}: {c}");
            }
            page.scores.push(ScoreView { id, text });
        }
        Item::Note { text } => page.notes.push(NoteView {
            id,
            when: date_time(lang, e.at_ms.div_euclid(1000)),
            text: text.clone(),
        }),
        Item::Contract { .. } | Item::Promise { .. } | Item::Settled { .. } => {}
    }
}

fn owner_by(t: &Texts) -> By {
    By {
        owner: true,
        who: t.you.to_owned(),
        grant: String::new(),
        jkt: String::new(),
        request: String::new(),
    }
}

/// Who recorded an entry: the owner, or the business with what proves it.
pub fn author(t: &Texts, business: &BusinessId, author: &Author) -> By {
    match author {
        Author::Owner => owner_by(t),
        Author::Business {
            grant,
            request_sha256,
            jkt,
        } => By {
            owner: false,
            who: business.to_string(),
            grant: grant.to_string(),
            jkt: jkt.clone().unwrap_or_else(|| t.no_key.to_owned()),
            request: request_sha256.clone(),
        },
    }
}

fn contract_view(
    lang: Lang,
    t: &Texts,
    id: &EntryId,
    c: &kluis_core::relationship::Contract,
    today: Date,
    by: By,
) -> ContractView {
    let notice = c.notice.map_or_else(
        || t.no_notice.to_owned(),
        |n| {
            let one = n.amount == 1;
            let unit = match n.unit {
                NoticeUnit::Days if one => t.unit_day,
                NoticeUnit::Days => t.unit_days,
                NoticeUnit::Weeks if one => t.unit_week,
                NoticeUnit::Weeks => t.unit_weeks,
                NoticeUnit::Months if one => t.unit_month,
                NoticeUnit::Months => t.unit_months,
            };
            format!("{} {unit}", n.amount)
        },
    );
    let deadline = match (c.next_notice(today), c.next_end(today)) {
        (Some((last, end)), _) => Some(fill(
            t.deadline,
            &[("day", &day(lang, last)), ("end", &day(lang, end))],
        )),
        (None, Some(end)) if end >= today => {
            Some(fill(t.next_end_only, &[("end", &day(lang, end))]))
        }
        _ => None,
    };
    ContractView {
        id: id.to_string(),
        what: c.what.clone(),
        starts: day(lang, c.starts_on),
        ends: c
            .ends_on
            .map_or_else(|| t.no_end.to_owned(), |d| day(lang, d)),
        renews: if c.renews { t.yes } else { t.no },
        notice,
        deadline,
        by,
    }
}

pub fn status_word(t: &Texts, status: PromiseStatus) -> &'static str {
    match status {
        PromiseStatus::Open => t.status_open,
        PromiseStatus::Kept => t.status_kept,
        PromiseStatus::Broken => t.status_broken,
        PromiseStatus::Withdrawn => t.status_withdrawn,
    }
}

/// A JSON body as (path, value) pairs, at most [`MAX_BODY_VALUES`] of them: `address.city`,
/// `items[0].name`. Returns how many values it holds in all.
fn flatten(path: &str, value: &Value, out: &mut Vec<(String, String)>) -> usize {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            map.iter().map(|(k, v)| flatten(&child(k), v, out)).sum()
        }
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| flatten(&format!("{path}[{i}]"), v, out))
            .sum(),
        _ if path.is_empty() => 0,
        other => {
            if out.len() < MAX_BODY_VALUES {
                let text = match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                out.push((path.to_owned(), text));
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_listed_by_path() {
        let body = serde_json::json!({
            "total": "12.50",
            "lines": [{"item": "<b>Bread</b>", "n": 2}],
            "paid": true,
            "empty": {}
        });
        let mut out = Vec::new();
        assert_eq!(flatten("", &body, &mut out), 5);
        assert!(out.contains(&("lines[0].item".into(), "<b>Bread</b>".into())));
        assert!(out.contains(&("lines[0].n".into(), "2".into())));
        assert!(out.contains(&("paid".into(), "true".into())));
        assert!(out.contains(&("empty".into(), "{}".into())));
        let many = Value::Array((0..300).map(Value::from).collect());
        let mut out = Vec::new();
        assert_eq!(
            flatten("", &serde_json::json!({ "a": many }), &mut out),
            300
        );
        assert_eq!(out.len(), MAX_BODY_VALUES);
    }
}
