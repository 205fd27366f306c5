//! Deciding an access request from the dashboard: approve all or some of the fields asked, for
//! the chosen time, or deny with an optional reason. A decision on a request with a callback URL
//! is written to the outbox in the same transaction; the dispatcher of this server delivers it,
//! signed ([`crate::notify`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::Pointer;
use kluis_core::contact::ContactRight;
use kluis_core::grant::normalize;
use kluis_core::request::RequestId;
use kluis_store::{AppendChoice, ContactChoice, MAX_REASON_CHARS, StoreError, Via, unix_now};

use super::{Problem, render, texts};
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::grants::shared::parse_expiry;
use crate::dashboard::recordform;
use crate::dashboard::render::see_other;
use crate::dashboard::session::Posted;

fn request_id(text: &str) -> Result<RequestId, PageError> {
    RequestId::parse(text).map_err(|_| PageError::NotFound(format!("there is no request {text:?}")))
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

/// The contact right the owner left ticked (`channel:…` and `topic:…` values): refused, or only
/// these of it (the store keeps what was asked and ticked; nothing left means none).
fn contact_choice(ticked: &[String], refuse: bool) -> ContactChoice {
    if refuse {
        return ContactChoice::Refuse;
    }
    let pick = |prefix: &str| -> Vec<String> {
        ticked
            .iter()
            .filter_map(|v| v.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    };
    ContactChoice::Keep(ContactRight {
        channels: pick("channel:"),
        topics: pick("topic:"),
    })
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
    let contact_ticked: Vec<String> = posted
        .form
        .all("contact")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let no_contact = posted.form.text("no_contact").is_some();
    // Unticked (or not offered, as for a request that did not ask): not granted.
    let keep_append = recordform::ticked(&posted.form);
    let mut problem = Problem {
        ticked: Some(ticked.clone()),
        contact_ticked: Some(contact_ticked.clone()),
        no_contact,
        append_ticked: Some(keep_append),
        chosen: chosen.clone(),
        ..Problem::default()
    };
    let fields: Result<Vec<Pointer>, _> = ticked.iter().map(|f| Pointer::parse(f)).collect();
    let fields = match fields {
        // No field is fine when a contact right or the append right is kept; the store refuses
        // a grant of nothing.
        Ok(fields)
            if fields.is_empty() && (no_contact || contact_ticked.is_empty()) && !keep_append =>
        {
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
                let contact = contact_choice(&contact_ticked, no_contact);
                let append = if keep_append {
                    AppendChoice::AsAsked
                } else {
                    AppendChoice::Refuse
                };
                Ok(v.owner(Via::Dashboard)
                    .approve_request_with(&id, subset, contact, append, lifetime))
            })
            .await?
    };
    if let Err(err) = decided {
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
    Ok(see_other(&format!(
        "/dashboard/requests?approved={id}#{id}"
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
    if let Err(err) = decided {
        let (status, message) = store_refusal(err)?;
        let problem = Problem {
            reason: (status == StatusCode::BAD_REQUEST).then(|| message.clone()),
            reason_text: reason,
            ..Problem::default()
        };
        let error = (status != StatusCode::BAD_REQUEST).then_some(message);
        return refuse(&dashboard, posted, status, &id, error, problem).await;
    }
    Ok(see_other(&format!("/dashboard/requests?denied={id}#{id}")))
}
