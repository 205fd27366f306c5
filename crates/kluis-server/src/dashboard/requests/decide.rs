//! Deciding an access request from the dashboard: approve all or some of the fields asked, for
//! the chosen time, or deny with an optional reason; then, if the business gave a callback URL,
//! tell it (best effort, on a blocking thread, as `kluis requests approve/deny` does). How that
//! went is kept for the page the owner is sent to next.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::Pointer;
use kluis_core::grant::normalize;
use kluis_core::request::RequestId;
use kluis_core::wire::AccessRequestStatus;
use kluis_store::{MAX_REASON_CHARS, StoreError, StoredRequest, Via, unix_now};

use super::{Problem, render, texts};
use crate::callback;
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::grants::shared::parse_expiry;
use crate::dashboard::render::see_other;
use crate::dashboard::session::Posted;

/// Delivery outcomes remembered at most (one owner decides a handful at a time).
const REMEMBERED: usize = 32;

/// Decision callbacks: whether local addresses may be called, and the last outcomes.
#[derive(Default)]
pub struct Callbacks {
    allow_local: AtomicBool,
    told: Mutex<VecDeque<(RequestId, bool, String)>>,
}

impl Callbacks {
    pub fn set_allow_local(&self, allow: bool) {
        self.allow_local.store(allow, Ordering::Relaxed);
    }

    fn allow_local(&self) -> bool {
        self.allow_local.load(Ordering::Relaxed)
    }

    fn remember(&self, id: RequestId, delivery: &callback::Delivery) {
        if let Ok(mut told) = self.told.lock() {
            told.retain(|(r, _, _)| *r != id);
            if told.len() >= REMEMBERED {
                told.pop_front();
            }
            told.push_back((id, delivery.delivered, delivery.describe()));
        }
    }

    /// Whether telling the business of `id`'s decision worked, and how it went in words, if
    /// this server tried.
    pub fn outcome(&self, id: &RequestId) -> Option<(bool, String)> {
        let told = self.told.lock().ok()?;
        told.iter()
            .find(|(r, _, _)| r == id)
            .map(|(_, delivered, described)| (*delivered, described.clone()))
    }
}

fn request_id(text: &str) -> Result<RequestId, PageError> {
    RequestId::parse(text).map_err(|_| PageError::NotFound(format!("there is no request {text:?}")))
}

/// Tells the business at its callback URL, if it gave one: whether that worked.
async fn tell(
    dashboard: &Dashboard,
    asked: &StoredRequest,
    status: AccessRequestStatus,
) -> Option<bool> {
    let url = asked.request.callback_url.clone()?;
    let callbacks = &dashboard.0.callbacks;
    let allow_local = callbacks.allow_local();
    let delivery =
        tokio::task::spawn_blocking(move || callback::deliver(&url, &status, allow_local)).await;
    match delivery {
        Ok(delivery) => {
            tracing::info!(request.id = %asked.id, delivered = delivery.delivered, "decision callback");
            callbacks.remember(asked.id.clone(), &delivery);
            Some(delivery.delivered)
        }
        // The decision stands either way; the business can still poll.
        Err(err) => {
            tracing::error!(%err, "the decision callback's thread failed");
            Some(false)
        }
    }
}

fn told_param(told: Option<bool>) -> &'static str {
    match told {
        Some(true) => "&told=1",
        Some(false) => "&told=0",
        None => "",
    }
}

/// The page again, with `problem` on `id`'s card (or `error` above all when it is not about a
/// field), and nothing decided.
async fn refuse(
    dashboard: &Dashboard,
    posted: Posted,
    status: StatusCode,
    id: &RequestId,
    error: Option<String>,
    problem: Problem,
) -> Result<Response, PageError> {
    let requests = dashboard
        .with_owner(move |v| v.access_requests(unix_now()))
        .await?;
    let error = error.or_else(|| Some(texts(posted.owner.lang).not_saved.to_owned()));
    render(
        posted.owner,
        status,
        requests,
        Vec::new(),
        error,
        Some((id.to_string(), problem)),
    )
}

/// A refusal by the store, in its words: the request was decided meanwhile, lapsed, or the
/// input was not right after all.
fn store_refusal(err: StoreError) -> Result<(StatusCode, String), PageError> {
    match err {
        StoreError::Invalid(e) => Ok((StatusCode::BAD_REQUEST, e.to_string())),
        StoreError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        other => Err(other.into()),
    }
}

#[tracing::instrument(skip_all, fields(request.id = %id))]
pub async fn approve(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    let t = texts(posted.owner.lang);
    let ticked: Vec<String> = posted
        .form
        .all("field")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let chosen = posted.form.text("expires").map(str::to_owned);
    let mut problem = Problem {
        ticked: Some(ticked.clone()),
        chosen: chosen.clone(),
        ..Problem::default()
    };
    let fields: Result<Vec<Pointer>, _> = ticked.iter().map(|f| Pointer::parse(f)).collect();
    let fields = match fields {
        Ok(fields) if fields.is_empty() => {
            problem.fields = Some(t.no_fields.to_owned());
            None
        }
        Ok(fields) => Some(fields),
        Err(e) => {
            problem.fields = Some(e.to_string());
            None
        }
    };
    let lifetime = match chosen.as_deref().map(parse_expiry) {
        None => None,
        Some(Ok(secs)) => Some(secs),
        Some(Err(e)) => {
            problem.expires = Some(e);
            None
        }
    };
    let Some(fields) = fields.filter(|_| problem.expires.is_none()) else {
        return refuse(
            &dashboard,
            posted,
            StatusCode::BAD_REQUEST,
            &id,
            None,
            problem,
        )
        .await;
    };
    let decided = {
        let id = id.clone();
        dashboard
            .with_owner(move |v| {
                let asked = v.stored_request(id.as_str(), unix_now())?;
                // All the fields asked: approve "as asked", as the CLI does without --fields.
                let subset = (normalize(fields.clone()) != asked.request.fields).then_some(fields);
                Ok(v.owner(Via::Dashboard)
                    .approve_request(&id, subset, lifetime))
            })
            .await?
    };
    let approval = match decided {
        Ok(approval) => approval,
        Err(err) => {
            let (status, message) = store_refusal(err)?;
            let on_card = status == StatusCode::BAD_REQUEST;
            if on_card {
                problem.fields = Some(message);
                return refuse(&dashboard, posted, status, &id, None, problem).await;
            }
            return refuse(
                &dashboard,
                posted,
                status,
                &id,
                Some(message),
                Problem::default(),
            )
            .await;
        }
    };
    let told = tell(&dashboard, &approval.asked, approval.status).await;
    Ok(see_other(&format!(
        "/dashboard/requests?approved={id}{}#{id}",
        told_param(told)
    )))
}

#[tracing::instrument(skip_all, fields(request.id = %id))]
pub async fn deny(
    State(dashboard): State<Dashboard>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    let t = texts(posted.owner.lang);
    let reason = posted.form.text("reason").map(str::to_owned);
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        let problem = Problem {
            reason: Some(t.reason_too_long.to_owned()),
            reason_text: reason,
            ..Problem::default()
        };
        return refuse(
            &dashboard,
            posted,
            StatusCode::BAD_REQUEST,
            &id,
            None,
            problem,
        )
        .await;
    }
    let decided = {
        let (id, reason) = (id.clone(), reason.clone());
        dashboard
            .with_owner(move |v| Ok(v.owner(Via::Dashboard).deny_request(&id, reason)))
            .await?
    };
    let denial = match decided {
        Ok(denial) => denial,
        Err(err) => {
            let (status, message) = store_refusal(err)?;
            let problem = Problem {
                reason: (status == StatusCode::BAD_REQUEST).then(|| message.clone()),
                reason_text: reason,
                ..Problem::default()
            };
            let error = (status != StatusCode::BAD_REQUEST).then_some(message);
            return refuse(&dashboard, posted, status, &id, error, problem).await;
        }
    };
    let told = tell(&dashboard, &denial.asked, denial.status).await;
    Ok(see_other(&format!(
        "/dashboard/requests?denied={id}{}#{id}",
        told_param(told)
    )))
}
