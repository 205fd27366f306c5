//! The record page's forms (POST, with the session's CSRF token, as every dashboard form):
//! `…/{business}/contract`, `promise`, `interaction`, `satisfaction` and `note` add the owner's
//! entry; `settle` appends a settlement of a promise (kept, broken, withdrawn, or open again);
//! `remove` takes back one of the owner's own entries (a business's entry stays: it is its
//! signed record). And the list page's "Start a record" (`POST /dashboard/relationships`).
//!
//! Bad input comes back beside its form, with what was typed, as a 400 (a conflict as a 409),
//! and nothing is stored.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::grant::BusinessId;
use kluis_core::relationship::{
    Author, Contract, Date, Entry, EntryId, Item, Notice, NoticeUnit, PromiseStatus,
};
use kluis_store::{Appended, NewEntry, StoreError, unix_now_ms};

use super::texts::{Texts, texts};
use super::{business_of, list_page, record, record_href};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::form::Form;
use crate::dashboard::grants::shared::fill;
use crate::dashboard::render::see_other;
use crate::dashboard::session::Posted;

/// A refused form: which one, the field at fault, the reason, and what was typed.
#[derive(Default)]
pub struct Refused {
    /// `contract`, `promise`, …, or `entry` for a settlement or removal.
    pub form: &'static str,
    /// The id of the field at fault.
    pub field: &'static str,
    pub error: Option<String>,
    values: Vec<(String, String)>,
}

impl Refused {
    fn new(form: &'static str, field: &'static str, error: String, typed: &Form) -> Self {
        Self {
            form,
            field,
            error: Some(error),
            values: typed
                .pairs()
                .filter(|(name, _)| *name != "csrf")
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        }
    }

    /// The reason `form` was refused, if it was.
    pub fn error_of(&self, form: &str) -> Option<&str> {
        self.error.as_deref().filter(|_| self.form == form)
    }

    /// What was typed into `name` of the refused `form`.
    pub fn value(&self, form: &str, name: &str) -> Option<&str> {
        if self.form != form {
            return None;
        }
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the field with id `field` is the one at fault.
    pub fn invalid(&self, field: &str) -> bool {
        self.error.is_some() && self.field == field
    }
}

/// A form's fault: the field's id and the reason.
type Fault = (&'static str, String);

pub async fn submit(
    State(dashboard): State<Dashboard>,
    Path((business, form)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let t = texts(posted.owner.lang);
    let business = business_of(&business, t)?;
    let form: &'static str = match form.as_str() {
        "contract" => "contract",
        "promise" => "promise",
        "interaction" => "interaction",
        "satisfaction" => "satisfaction",
        "note" => "note",
        "settle" => return settle(&dashboard, &posted, business).await,
        "remove" => return remove(&dashboard, &posted, business).await,
        _ => return Err(PageError::NotFound(t.no_such_form.to_owned())),
    };
    let item = match item_of(t, form, &posted.form) {
        Ok(item) => item,
        Err((field, error)) => {
            let refused = Refused::new(form, field, error, &posted.form);
            return refused_page(
                &dashboard,
                &posted,
                &business,
                StatusCode::BAD_REQUEST,
                refused,
            )
            .await;
        }
    };
    let entry = Entry {
        id: new_entry_id()?,
        at_ms: unix_now_ms(),
        author: Author::Owner,
        item,
    };
    let b = business.clone();
    let stored = dashboard
        .with_relationships(move |_, rel| {
            rel.append(
                &b,
                &NewEntry {
                    entry,
                    attachment: None,
                    bytes: 0,
                },
            )
        })
        .await;
    match stored {
        Ok(Appended::Stored) => Ok(back_to(&business, form)),
        Ok(Appended::OverQuota(refusal)) => Err(PageError::Conflict(refusal.to_string())),
        Err(err) => {
            let (status, error) = refusal(err)?;
            let refused = Refused::new(form, main_field(form), error, &posted.form);
            refused_page(&dashboard, &posted, &business, status, refused).await
        }
    }
}

fn new_entry_id() -> Result<EntryId, PageError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| PageError::internal("no randomness"))?;
    Ok(EntryId::from_random(bytes))
}

/// Back to the record at the form's section, which says what was done.
fn back_to(business: &BusinessId, done: &str) -> Response {
    let section = match done {
        "contract" => "contracts",
        "promise" | "settled" => "promises",
        "interaction" => "interactions",
        "satisfaction" => "satisfaction",
        "note" => "notes",
        _ => "record",
    };
    see_other(&format!("{}?done={done}#{section}", record_href(business)))
}

/// A refusal's status and words; anything but a client's mistake or a conflict as its own
/// page.
fn refusal(err: PageError) -> Result<(StatusCode, String), PageError> {
    match err {
        PageError::BadRequest(m) => Ok((StatusCode::BAD_REQUEST, m)),
        PageError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        other => Err(other),
    }
}

async fn refused_page(
    dashboard: &Dashboard,
    posted: &Posted,
    business: &BusinessId,
    status: StatusCode,
    refused: Refused,
) -> Result<Response, PageError> {
    record::render(dashboard, &posted.owner, business, status, None, refused).await
}

/// The record page again with `error` beside the entry a settle or remove form named.
async fn refuse_entry(
    dashboard: &Dashboard,
    posted: &Posted,
    business: &BusinessId,
    status: StatusCode,
    error: String,
) -> Result<Response, PageError> {
    let refused = Refused::new("entry", "", error, &posted.form);
    refused_page(dashboard, posted, business, status, refused).await
}

/// The field a rule of the core refers to when it refuses a form's item.
fn main_field(form: &str) -> &'static str {
    match form {
        "contract" => "c-what",
        "promise" => "p-what",
        "interaction" => "i-summary",
        "satisfaction" => "s-score",
        _ => "n-text",
    }
}

/// A day as a date field sends it, `YYYY-MM-DD`; `None` when left empty.
fn date_field(
    t: &Texts,
    form: &Form,
    name: &str,
    field: &'static str,
) -> Result<Option<Date>, Fault> {
    let Some(text) = form.text(name) else {
        return Ok(None);
    };
    let shaped = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    match text.parse::<Date>() {
        Ok(day) if shaped => Ok(Some(day)),
        _ => Err((field, fill(t.bad_date, &[("value", text)]))),
    }
}

fn required_date(t: &Texts, form: &Form, name: &str, field: &'static str) -> Result<Date, Fault> {
    date_field(t, form, name, field)?.ok_or_else(|| (field, t.need_date.to_owned()))
}

fn required_text<'f>(
    form: &'f Form,
    name: &str,
    field: &'static str,
    message: &str,
) -> Result<&'f str, Fault> {
    form.text(name).ok_or_else(|| (field, message.to_owned()))
}

/// The item a form describes, checked by the core's rules.
fn item_of(t: &Texts, kind: &str, form: &Form) -> Result<Item, Fault> {
    let item = match kind {
        "contract" => {
            let what = required_text(form, "what", "c-what", t.need_contract_what)?;
            let starts_on = required_date(t, form, "starts_on", "c-start")?;
            let ends_on = date_field(t, form, "ends_on", "c-end")?;
            if ends_on.is_some_and(|end| end < starts_on) {
                return Err(("c-end", t.end_before_start.to_owned()));
            }
            let notice = match form.text("notice_amount") {
                None => None,
                Some(amount) => {
                    let amount = amount
                        .parse::<u32>()
                        .map_err(|_| ("c-notice", t.bad_notice.to_owned()))?;
                    let unit = match form.one("notice_unit") {
                        Some("days") => NoticeUnit::Days,
                        Some("weeks") => NoticeUnit::Weeks,
                        Some("months") | None => NoticeUnit::Months,
                        Some(_) => return Err(("c-unit", t.bad_unit.to_owned())),
                    };
                    Some(Notice { amount, unit })
                }
            };
            let contract = Contract {
                what: what.to_owned(),
                starts_on,
                ends_on,
                renews: form.one("renews") == Some("on"),
                notice,
            };
            return Item::Contract { contract }.validated().map_err(|e| {
                let e = e.to_string();
                (
                    if e.contains("notice") {
                        "c-notice"
                    } else {
                        "c-what"
                    },
                    e,
                )
            });
        }
        "promise" => Item::Promise {
            what: required_text(form, "what", "p-what", t.need_promise_what)?.to_owned(),
            due_on: required_date(t, form, "due_on", "p-due")?,
        },
        "interaction" => Item::Interaction {
            on: required_date(t, form, "on", "i-on")?,
            channel: required_text(form, "channel", "i-channel", t.need_channel)?.to_owned(),
            summary: required_text(form, "summary", "i-summary", t.need_summary)?.to_owned(),
        },
        "satisfaction" => {
            let score = form
                .text("score")
                .and_then(|s| s.parse::<u8>().ok())
                .filter(|s| (1..=5).contains(s))
                .ok_or_else(|| ("s-score", t.bad_score.to_owned()))?;
            Item::Satisfaction {
                score,
                on: required_date(t, form, "on", "s-on")?,
                comment: form.text("comment").map(str::to_owned),
            }
        }
        _ => Item::Note {
            text: required_text(form, "text", "n-text", t.need_note)?.to_owned(),
        },
    };
    item.validated()
        .map_err(|e| (main_field(kind), e.to_string()))
}

fn status_of(text: Option<&str>) -> Option<PromiseStatus> {
    match text? {
        "open" => Some(PromiseStatus::Open),
        "kept" => Some(PromiseStatus::Kept),
        "broken" => Some(PromiseStatus::Broken),
        "withdrawn" => Some(PromiseStatus::Withdrawn),
        _ => None,
    }
}

/// Settles a promise of this record (or opens it again): one `settled` entry.
async fn settle(
    dashboard: &Dashboard,
    posted: &Posted,
    business: BusinessId,
) -> Result<Response, PageError> {
    let t = texts(posted.owner.lang);
    let promise = posted
        .form
        .text("promise")
        .and_then(|p| EntryId::parse(p).ok());
    let (Some(promise), Some(status)) = (promise, status_of(posted.form.one("status"))) else {
        return refuse_entry(
            dashboard,
            posted,
            &business,
            StatusCode::BAD_REQUEST,
            t.bad_settle.to_owned(),
        )
        .await;
    };
    let b = business.clone();
    let settled = dashboard
        .with_relationships(move |_, rel| {
            let standing = rel.standing(&b)?;
            let current = standing
                .iter()
                .flat_map(|s| s.promises.iter())
                .find(|p| p.entry == promise)
                .map(|p| p.value.status)
                .ok_or_else(|| StoreError::not_found(t.no_such_promise))?;
            if current == status {
                return Err(StoreError::Conflict(t.settled_already.to_owned()));
            }
            let entry = Entry {
                id: EntryId::from_random(random16()?),
                at_ms: unix_now_ms(),
                author: Author::Owner,
                item: Item::Settled { promise, status },
            };
            rel.append(
                &b,
                &NewEntry {
                    entry,
                    attachment: None,
                    bytes: 0,
                },
            )
        })
        .await;
    match settled {
        Ok(Appended::Stored) => Ok(back_to(&business, "settled")),
        Ok(Appended::OverQuota(refusal)) => Err(PageError::Conflict(refusal.to_string())),
        Err(err) => {
            let (status, error) = refusal(err)?;
            refuse_entry(dashboard, posted, &business, status, error).await
        }
    }
}

fn random16() -> Result<[u8; 16], StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| StoreError::Crypto("no randomness"))?;
    Ok(bytes)
}

/// Takes back one of the owner's own entries of this record.
async fn remove(
    dashboard: &Dashboard,
    posted: &Posted,
    business: BusinessId,
) -> Result<Response, PageError> {
    let t = texts(posted.owner.lang);
    let Some(id) = posted
        .form
        .text("entry")
        .and_then(|e| EntryId::parse(e).ok())
    else {
        return refuse_entry(
            dashboard,
            posted,
            &business,
            StatusCode::BAD_REQUEST,
            t.bad_entry.to_owned(),
        )
        .await;
    };
    let b = business.clone();
    let removed = dashboard
        .with_relationships(move |_, rel| {
            let (holder, entry) = rel.entry(&id)?;
            if holder != b {
                return Err(StoreError::not_found(t.no_such_entry));
            }
            if !entry.author.is_owner() {
                return Err(StoreError::Conflict(fill(
                    t.business_entry_stays,
                    &[("business", b.as_str())],
                )));
            }
            rel.remove(&id)
        })
        .await;
    match removed {
        Ok(()) => Ok(back_to(&business, "removed")),
        Err(err) => {
            let (status, error) = refusal(err)?;
            refuse_entry(dashboard, posted, &business, status, error).await
        }
    }
}

/// "Start a record" on the list page: makes the record of the business named, as of now.
pub async fn start(
    State(dashboard): State<Dashboard>,
    posted: Posted,
) -> Result<Response, PageError> {
    let t = texts(posted.owner.lang);
    let typed = posted
        .form
        .one("business")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let business = match BusinessId::parse(&typed) {
        Ok(b) => b,
        Err(e) => {
            let error = if typed.is_empty() {
                t.need_business.to_owned()
            } else {
                e.to_string()
            };
            return list_page(
                &dashboard,
                &posted.owner,
                StatusCode::BAD_REQUEST,
                Some(error),
                typed,
            )
            .await;
        }
    };
    let b = business.clone();
    dashboard
        .with_relationships(move |_, rel| rel.ensure(&b, unix_now_ms()))
        .await?;
    Ok(see_other(&format!(
        "{}?done=started",
        record_href(&business)
    )))
}
