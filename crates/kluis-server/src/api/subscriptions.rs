//! Subscriptions to change notifications: a business subscribes with its grant token (Bearer,
//! or DPoP for a key-bound grant, as for `GET /v1/data`), lists, deletes and rotates the
//! secret of its own subscriptions. A subscription lives and dies with its grant.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::notify::{self, MAX_SUBSCRIPTIONS_PER_GRANT, NewSubscription};
use kluis_core::webhook::public_key_text;
use kluis_store::{Deliveries, Subscription, unix_now, unix_now_ms};
use serde::Serialize;

use crate::api::ApiError;
use crate::api::routes::{authorization, check_binding_for, read_body, refusal, refuse};
use crate::ledger::{Access, Liveness};
use crate::notify::ssrf;
use crate::state::AppState;
use crate::state::Verified;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/subscriptions", post(create).get(list))
        .route("/v1/subscriptions/{id}", delete(remove))
        .route("/v1/subscriptions/{id}/rotate-secret", post(rotate))
}

/// A new subscription: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Created {
    /// `sub_` and 26 base32 characters.
    id: String,
    url: String,
    /// `thin` or `full`.
    payload: String,
    /// The `whsec_` secret of the `v1` (HMAC-SHA256) signatures. Shown only here.
    secret: String,
    /// The vault's `whpk_` Ed25519 key of the `v1a` signatures.
    public_key: String,
}

/// A subscription as listed (no secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Listed {
    id: String,
    url: String,
    payload: String,
    created_at: i64,
    /// `active`, `paused` (an event failed every attempt; the owner can send it again) or
    /// `ended` (the receiver answered 410).
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// A rotated secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Rotated {
    id: String,
    /// The new `whsec_` secret. Shown only here.
    secret: String,
    /// Until when (Unix seconds) the previous secret also signs.
    previous_valid_until: i64,
}

/// Subscribe this grant to change notifications.
#[utoipa::path(
    post, path = "/v1/subscriptions", tag = "notifications",
    request_body(content = NewSubscription, content_type = "application/json"),
    security(("grant" = [])),
    responses(
        (status = 201, description = "Subscribed; the secret is shown only now", body = Created),
        (status = 400, description = "A bad body or URL; the detail names the rule", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant holds the most subscriptions it may", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let verified = authorize(&state, &headers, Action::SubscriptionCreate).await?;
    let access = &verified.access;
    // As for reads: the grant (and its DPoP proof) first, before anything of the body is used.
    live(
        &state,
        &verified,
        &headers,
        &uri,
        "POST",
        Action::Introspect,
    )
    .await?;
    let created = subscribe(&state, access, body, &headers).await;
    let what = match &created {
        Ok(c) => format!("subscription {}", c.id),
        Err(_) => "a new subscription".to_owned(),
    };
    let created = logged(&state, access, Action::SubscriptionCreate, what, created).await;
    Ok((StatusCode::CREATED, Json(created?)).into_response())
}

/// Validates the body and stores the subscription.
async fn subscribe(
    state: &AppState,
    access: &Access,
    body: Result<Bytes, BytesRejection>,
    headers: &HeaderMap,
) -> Result<Created, ApiError> {
    let body = read_body(body, headers, "application/json")?;
    let new: NewSubscription = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a subscription: {e}")))?;
    let allow_local = state.allow_local_webhooks();
    let new = new
        .validated(allow_local)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    check_destination(&new.url, allow_local).await?;
    let grant = access.grant.clone();
    let count = state
        .with_vault({
            let grant = grant.clone();
            move |v| v.subscriptions_of(&grant, unix_now())
        })
        .await?
        .len();
    if count >= MAX_SUBSCRIPTIONS_PER_GRANT {
        return Err(ApiError::Conflict(format!(
            "a grant may hold at most {MAX_SUBSCRIPTIONS_PER_GRANT} subscriptions; delete one first"
        )));
    }
    let (sub, public) = state
        .with_vault(move |v| {
            let sub = v.create_subscription(&grant, new, unix_now())?;
            Ok((sub, v.webhook_key()?.verifying_key()))
        })
        .await?;
    Ok(Created {
        id: sub.id.clone(),
        url: sub.url.clone(),
        payload: sub.payload.as_str().to_owned(),
        secret: sub.secrets[0].to_text().to_string(),
        public_key: public_key_text(&public),
    })
}

/// A business's subscription call as the owner's log keeps it.
fn business_record(
    access: &Access,
    action: Action,
    outcome: Outcome,
    reason: String,
) -> AccessRecord {
    AccessRecord {
        at_ms: unix_now_ms(),
        actor: Actor::Business,
        action,
        request: None,
        grant: Some(access.grant.clone()),
        business: Some(access.business.clone()),
        purpose: Some(access.purpose.clone()),
        fields: Vec::new(),
        outcome,
        reason: Some(reason),
        contact: None,
    }
}

/// This grant's subscriptions.
#[utoipa::path(
    get, path = "/v1/subscriptions", tag = "notifications",
    security(("grant" = [])),
    responses(
        (status = 200, description = "This grant's subscriptions", body = [Listed]),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Vec<Listed>>, ApiError> {
    let verified = authorize(&state, &headers, Action::Introspect).await?;
    let access = &verified.access;
    live(&state, &verified, &headers, &uri, "GET", Action::Introspect).await?;
    let grant = access.grant.clone();
    let listed = state
        .with_vault(move |v| {
            let subs = v.subscriptions_of(&grant, unix_now())?;
            let dir = v.path().parent().map(ToOwned::to_owned).unwrap_or_default();
            let streams = Deliveries::stopped_streams(&dir)?;
            Ok(subs
                .into_iter()
                .map(|s| {
                    let status = streams.get(&s.id);
                    listed(s, status)
                })
                .collect())
        })
        .await?;
    Ok(Json(listed))
}

fn listed(sub: Subscription, status: Option<&kluis_store::StreamStatus>) -> Listed {
    Listed {
        id: sub.id,
        url: sub.url,
        payload: sub.payload.as_str().to_owned(),
        created_at: sub.created_at,
        status: status.map_or("active", |s| s.state.as_str()).to_owned(),
        reason: status.map(|s| s.reason.clone()),
    }
}

/// End one of this grant's subscriptions.
#[utoipa::path(
    delete, path = "/v1/subscriptions/{id}", tag = "notifications",
    params(("id" = String, Path, pattern = "^sub_[a-z2-7]{26}$")),
    security(("grant" = [])),
    responses(
        (status = 204, description = "Deleted; nothing more is sent to it"),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "This grant has no such subscription", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<StatusCode, ApiError> {
    let action = Action::SubscriptionDelete;
    let verified = authorize_on(&state, &headers, &uri, "DELETE", action, &id).await?;
    let access = &verified.access;
    let (grant, what) = (access.grant.clone(), format!("subscription {id}"));
    let deleted = state
        .with_vault(move |v| v.delete_subscription(&grant, &id, unix_now()))
        .await;
    logged(&state, access, action, what, deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a subscription a new secret; the old one keeps signing for 24 hours.
#[utoipa::path(
    post, path = "/v1/subscriptions/{id}/rotate-secret", tag = "notifications",
    params(("id" = String, Path, pattern = "^sub_[a-z2-7]{26}$")),
    security(("grant" = [])),
    responses(
        (status = 200, description = "The new secret, shown only now", body = Rotated),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "This grant has no such subscription", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Rotated>, ApiError> {
    let action = Action::SubscriptionRotate;
    let verified = authorize_on(&state, &headers, &uri, "POST", action, &id).await?;
    let access = &verified.access;
    let (grant, what) = (access.grant.clone(), format!("subscription {id}"));
    let rotated = state
        .with_vault(move |v| v.rotate_subscription_secret(&grant, &id, unix_now()))
        .await;
    let sub = logged(&state, access, action, what, rotated).await?;
    Ok(Json(Rotated {
        id: sub.id.clone(),
        secret: sub.secrets[0].to_text().to_string(),
        previous_valid_until: unix_now() + kluis_store::ROTATION_OVERLAP_SECS,
    }))
}

/// The grant of a call on one of its subscriptions: the token as [`authorize`] takes it, an id
/// of the right shape (anything else is not looked up), and [`live`] for `method`.
async fn authorize_on(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    method: &str,
    action: Action,
    id: &str,
) -> Result<Arc<Verified>, ApiError> {
    let verified = authorize(state, headers, action).await?;
    if !notify::is_subscription_id(id) {
        return Err(ApiError::NotFound);
    }
    live(state, &verified, headers, uri, method, Action::Introspect).await?;
    Ok(verified)
}

/// Records a subscription call in the owner's log, allowed or refused with why, and passes its
/// result on.
async fn logged<T>(
    state: &AppState,
    access: &Access,
    action: Action,
    what: String,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (outcome, reason) = match &result {
        Ok(_) => (Outcome::Allowed, what),
        Err(err) => (Outcome::Refused, format!("{what}: {err}")),
    };
    state
        .ledger()
        .record(business_record(access, action, outcome, reason))
        .await?;
    result
}

/// The grant behind the call's token; refusals are logged as `action`.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    action: Action,
) -> Result<Arc<Verified>, ApiError> {
    let (_, token) = match authorization(headers) {
        Ok(found) => found,
        Err(cause) => return Err(refuse(state, action, cause).await),
    };
    match state.verify(token).await {
        Ok(verified) => Ok(verified),
        Err(cause) => Err(refuse(state, action, cause.to_string()).await),
    }
}

/// Checks the token's binding (DPoP for a key-bound grant, its proof made for `method` and this
/// URL) and, through the ledger, that the grant is live; the call is logged as `action`.
async fn live(
    state: &AppState,
    verified: &Verified,
    headers: &HeaderMap,
    uri: &Uri,
    method: &str,
    action: Action,
) -> Result<(), ApiError> {
    let (scheme, token) = authorization(headers).map_err(ApiError::unauthorized)?;
    let access = &verified.access;
    let proof =
        match check_binding_for(state, &verified.claims, scheme, token, headers, uri, method) {
            Ok(proof) => proof,
            Err(cause) => {
                let err = ApiError::unauthorized(cause);
                state.ledger().record(refusal(access, action, &err)).await?;
                return Err(err);
            }
        };
    match state.ledger().check(access.clone(), proof, action).await? {
        Liveness::Active(_) => Ok(()),
        Liveness::Inactive => Err(ApiError::unauthorized("the grant is not active")),
    }
}

/// Where the URL's host leads must be public (unless local webhooks are allowed): every
/// address it resolves to. The dispatcher checks again at each delivery and connects only to
/// addresses it checked.
async fn check_destination(url: &str, allow_local: bool) -> Result<(), ApiError> {
    if allow_local {
        return Ok(());
    }
    match ssrf::check_url(url).await {
        Ok(_) => Ok(()),
        Err(ssrf::Refusal::Unusable(why)) => Err(ApiError::BadRequest(format!("url: {why}"))),
        // The address itself is not said: the answer must not map the owner's network.
        Err(ssrf::Refusal::Private(_)) => Err(ApiError::BadRequest(
            "url: must lead to public addresses only; its host leads to an address on the vault's machine or a private network".into(),
        )),
    }
}
