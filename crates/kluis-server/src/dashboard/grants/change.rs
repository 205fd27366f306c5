//! Changing a grant: revoking it (a confirmation page first, then the POST) and narrowing a
//! live one to fewer of its fields. Both through the store's owner layer, so each is one
//! transaction with its log record, as `kluis grant revoke/narrow` are.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::Pointer;
use kluis_core::grant::{Grant, GrantId, Status};
use kluis_store::{StoreError, Via, unix_now};

use super::shared::{field_label, fill};
use super::{Texts, grant_sentence, texts};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::render::{Chrome, date, page, page_with, see_other};
use crate::dashboard::session::{Posted, SignedIn};

/// A grant id from a path; one that cannot be a grant's is simply not there.
pub(super) fn grant_id(text: &str) -> Result<GrantId, PageError> {
    GrantId::parse(text).map_err(|_| PageError::NotFound(format!("there is no grant {text:?}")))
}

#[derive(Template)]
#[template(path = "dashboard/grants_revoke.html")]
struct RevokePage {
    chrome: Chrome,
    t: &'static Texts,
    id: String,
    sentence: String,
    already: Option<String>,
}

pub async fn confirm_revoke(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let id = grant_id(&id)?;
    let grant = {
        let id = id.clone();
        dashboard.with_owner(move |v| v.grant(&id)).await?
    };
    let here = format!("/dashboard/grants/{id}/revoke");
    page(&RevokePage {
        chrome: Chrome::new(&owner, "grants", t.revoke_title, &here),
        t,
        id: id.to_string(),
        sentence: grant_sentence(lang, t.revoke_sentence, &grant),
        already: grant
            .revoked_at
            .map(|at| fill(t.revoke_already, &[("date", &date(lang, at))])),
    })
}

#[tracing::instrument(skip_all, fields(grant.id = %id))]
pub async fn revoke(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    _posted: Posted,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let (grant, revoked_now) = dashboard
        .with_owner(move |v| v.owner(Via::Dashboard).revoke_grant(&id))
        .await?;
    let already = if revoked_now { "" } else { "&already=1" };
    Ok(see_other(&format!(
        "/dashboard/grants?revoked={}{already}#{}",
        grant.id, grant.id
    )))
}

/// A field's checkbox.
struct Check {
    id: String,
    pointer: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "dashboard/grants_narrow.html")]
struct NarrowPage {
    chrome: Chrome,
    t: &'static Texts,
    id: String,
    intro: String,
    /// The store's refusal, next to the checkboxes.
    error: Option<String>,
    /// `None` when the grant can no longer be narrowed: the page then shows only the error.
    checks: Option<Vec<Check>>,
}

fn narrow_page(
    owner: &SignedIn,
    grant: &Grant,
    kept: Option<&[String]>,
    error: Option<String>,
    now: i64,
) -> NarrowPage {
    let lang = owner.lang;
    let t = texts(lang);
    let checks = (grant.status(now) == Status::Active).then(|| {
        grant
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let pointer = f.to_string();
                Check {
                    id: format!("keep-{i}"),
                    checked: kept.is_none_or(|k| k.contains(&pointer)),
                    label: field_label(lang, f),
                    pointer,
                }
            })
            .collect()
    });
    let here = format!("/dashboard/grants/{}/narrow", grant.id);
    NarrowPage {
        chrome: Chrome::new(owner, "grants", t.narrow_title, &here),
        t,
        id: grant.id.to_string(),
        intro: grant_sentence(lang, t.narrow_intro, grant),
        error,
        checks,
    }
}

pub async fn narrow_form(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let grant = dashboard.with_owner(move |v| v.grant(&id)).await?;
    let now = unix_now();
    if grant.status(now) != Status::Active {
        // The store's words for it, without trying.
        let message = format!(
            "grant {} is no longer active; only a live grant can be narrowed",
            grant.id
        );
        let narrow = narrow_page(&owner, &grant, None, Some(message), now);
        return page_with(StatusCode::CONFLICT, &narrow);
    }
    page(&narrow_page(&owner, &grant, None, None, now))
}

#[tracing::instrument(skip_all, fields(grant.id = %id))]
pub async fn narrow(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = grant_id(&id)?;
    let kept: Vec<String> = posted
        .form
        .all("keep")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let keep: Result<Vec<Pointer>, _> = kept.iter().map(|k| Pointer::parse(k)).collect();
    let outcome = match keep {
        Err(e) => Err(StoreError::Invalid(e)),
        Ok(keep) => {
            let id = id.clone();
            dashboard
                .with_owner(move |v| Ok(v.owner(Via::Dashboard).narrow_grant(&id, keep)))
                .await?
        }
    };
    let (status, message) = match outcome {
        Ok(grant) => {
            return Ok(see_other(&format!(
                "/dashboard/grants?narrowed={}#{}",
                grant.id, grant.id
            )));
        }
        Err(StoreError::Invalid(e)) => (StatusCode::BAD_REQUEST, e.to_string()),
        Err(StoreError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(other) => return Err(other.into()),
    };
    let grant = dashboard.with_owner(move |v| v.grant(&id)).await?;
    let narrow = narrow_page(
        &posted.owner,
        &grant,
        Some(&kept),
        Some(message),
        unix_now(),
    );
    page_with(status, &narrow)
}
