//! `POST /v1/inbox`: a business leaves a message in the owner's inbox, with its grant token (as
//! for reads) and within the owner's contact policy, decided and counted as a contact check
//! with `reserve` is. An allowed message is stored (sealed, in `inbox.db`) before the answer,
//! which carries a delivery receipt signed by the vault: the business's proof of what it
//! delivered, and when.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kluis_core::access::Action;
use kluis_core::inbox::{
    DeliveryReceipt, InboxDelivered, InboxPost, MessageId, message_sha256, sign_receipt,
};
use kluis_store::{NewMessage, unix_now_ms};

use crate::api::ApiError;
use crate::api::contact::authorize;
use crate::api::routes::{read_body, refusal};
use crate::ledger::{ContactAsk, ContactVerdict};
use crate::state::AppState;

/// The largest body: a 16 KiB message, written as JSON (escapes can double its size).
const BODY_LIMIT: usize = 40 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/inbox", post(deliver))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Leave a message in the owner's inbox.
#[utoipa::path(
    post, path = "/v1/inbox", tag = "contact",
    request_body(content = InboxPost, content_type = "application/json"),
    security(("grant" = [])),
    responses(
        (status = 201, description = "Delivered; keep the receipt as proof", body = InboxDelivered),
        (status = 400, description = "A bad body; the detail names the rule", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`in_reply_to` names no message the owner sent you", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The owner's contact policy or the grant's contact right refuses it; `reason` says which", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 40 KiB", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quiet hours or a cap: try again at `retry_after` (Unix seconds)", body = kluis_core::wire::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the message can be delivered"))),
        (status = 503, description = "The vault is overloaded, shutting down, or could not store the message", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const ACTION: Action = Action::InboxDeliver;
    let (verified, proof) = authorize(&state, &headers, &uri, ACTION).await?;
    let access = &verified.access;
    let post = read_body(body, &headers, "application/json").and_then(|body| {
        let post: InboxPost = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not an inbox message: {e}")))?;
        post.check()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(post)
    });
    let post = match post {
        Ok(post) => post,
        Err(err) => {
            state.ledger().record(refusal(access, ACTION, &err)).await?;
            return Err(err);
        }
    };
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|_| ApiError::internal("no randomness"))?;
    let message = NewMessage {
        id: MessageId::from_random(random),
        at_ms: unix_now_ms(),
        grant: access.grant.clone(),
        business: access.business.clone(),
        sha256: message_sha256(&post),
        post,
    };
    let receipt = DeliveryReceipt::new(
        state.issuer(),
        &verified.claims.sub,
        &message.business,
        &message.id,
        message.at_ms.div_euclid(1000),
        &message.post,
    );
    let signer = state.signer().await?;
    let id = message.id.clone();
    let verdict = state
        .ledger()
        .contact(access.clone(), proof, ContactAsk::message(message), ACTION)
        .await?;
    match verdict {
        ContactVerdict::Allowed => {
            let receipt = sign_receipt(&receipt, &signer.key, &signer.kid);
            Ok((StatusCode::CREATED, Json(InboxDelivered { id, receipt })).into_response())
        }
        ContactVerdict::Inactive(reason) => Err(ApiError::unauthorized(reason)),
        // The body is well formed; the inbox holds no such reply (409, not 400: a client
        // generated from the description cannot know which ids the owner sent).
        ContactVerdict::BadReply => Err(ApiError::Conflict(
            "in_reply_to names no message the owner sent you".into(),
        )),
        ContactVerdict::Failed => Err(state.ledger().unavailable()),
        ContactVerdict::Refused {
            reason,
            retry_after,
        } => Err(ApiError::ContactRefused {
            reason,
            retry_after,
        }),
    }
}
