//! Contact on the owner's terms: `POST /v1/contact/check` asks whether a business may reach
//! the owner over a channel about a topic now (and with `reserve`, counts the contact against
//! the owner's caps), with the grant token as for reads (Bearer, or DPoP with a proof for this
//! method and URL). The answer never says more of the policy than the grant's own channels and
//! topics: anything outside them is `no_contact_right` before any rule is looked at.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use kluis_core::access::Action;
use kluis_core::contact::{ContactAnswer, ContactCheck};

use crate::api::ApiError;
use crate::api::routes::{authorization, check_binding_for, read_body, refusal, refuse};
use crate::ledger::{ContactAsk, ContactVerdict, PendingProof};
use crate::state::{AppState, Verified};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/contact/check", post(check))
}

/// May this business reach the owner now over `channel` about `topic`?
#[utoipa::path(
    post, path = "/v1/contact/check", tag = "contact",
    request_body(content = ContactCheck, content_type = "application/json"),
    security(("grant" = [])),
    responses(
        (status = 200, description = "Allowed, or refused with the reason (and when trying again can succeed)", body = ContactAnswer),
        (status = 400, description = "A bad body; the detail names the rule", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The vault is overloaded or shutting down", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ContactAnswer>, ApiError> {
    const ACTION: Action = Action::ContactCheck;
    let (verified, proof) = authorize(&state, &headers, &uri, ACTION).await?;
    let access = &verified.access;
    let asked = read_body(body, &headers, "application/json").and_then(|body| {
        serde_json::from_slice::<ContactCheck>(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a contact check: {e}")))?
            .validated()
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    });
    let asked = match asked {
        Ok(asked) => asked,
        Err(err) => {
            state.ledger().record(refusal(access, ACTION, &err)).await?;
            return Err(err);
        }
    };
    let ask = ContactAsk::check(asked.channel, asked.topic, asked.reserve);
    let verdict = state
        .ledger()
        .contact(access.clone(), proof, ask, ACTION)
        .await?;
    Ok(Json(match verdict {
        ContactVerdict::Inactive(reason) => return Err(ApiError::unauthorized(reason)),
        ContactVerdict::Allowed => ContactAnswer::allowed(),
        ContactVerdict::BadReply | ContactVerdict::Failed => {
            return Err(ApiError::internal("a check carries no message"));
        }
        ContactVerdict::Refused {
            reason,
            retry_after,
        } => ContactAnswer::refused(reason, retry_after),
    }))
}

/// The grant token, and its DPoP proof for a POST to this URL when the grant is key-bound;
/// a refusal is recorded as `action`.
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    action: Action,
) -> Result<(Arc<Verified>, Option<PendingProof>), ApiError> {
    let (scheme, token) = match authorization(headers) {
        Ok(found) => found,
        Err(cause) => return Err(refuse(state, action, cause).await),
    };
    let verified = match state.verify(token).await {
        Ok(verified) => verified,
        Err(cause) => return Err(refuse(state, action, cause.to_string()).await),
    };
    match check_binding_for(state, &verified.claims, scheme, token, headers, uri, "POST") {
        Ok(proof) => Ok((verified, proof)),
        Err(cause) => {
            let err = ApiError::unauthorized(cause);
            state
                .ledger()
                .record(refusal(&verified.access, action, &err))
                .await?;
            Err(err)
        }
    }
}
