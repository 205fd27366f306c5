//! `POST /v1/relationship/entries`: a business adds a document, a promise or an interaction to
//! its own record in the owner's vault, with a grant that carries the append right (Bearer, or
//! DPoP with a proof for this POST). It can only append: never read a record, change or
//! delete an entry, or reach another business's record (the record is the grant's business).
//!
//! The entry is stored with the SHA-256 of the request body as sent and, for a DPoP-bound
//! grant, the thumbprint of the key that signed the proof, before the answer, which carries an
//! entry receipt signed by the vault: the business's proof of what it recorded, and when.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kluis_core::access::Action;
use kluis_core::budget::DAY_SECS;
use kluis_core::relationship::entry::day_of_ms;
use kluis_core::relationship::post::{
    CheckedPost, MAX_REQUEST_BYTES, request_sha256, sign_entry_receipt,
};
use kluis_core::relationship::{
    Author, Entry, EntryId, EntryPost, EntryReceipt, EntryStored, PostError,
};
use kluis_store::{unix_now, unix_now_ms};

use crate::api::ApiError;
use crate::api::contact::authorize;
use crate::api::routes::{read_body, refusal};
use crate::ledger::{AppendAsk, AppendVerdict};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/relationship/entries", post(append))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
}

/// Add an entry to your record in the customer's vault.
#[utoipa::path(
    post, path = "/v1/relationship/entries", tag = "relationship",
    request_body(content = EntryPost, content_type = "application/json"),
    security(("grant" = [])),
    responses(
        (status = 201, description = "Stored; keep the receipt as proof", body = EntryStored),
        (status = 400, description = "Not an entry a business may add; the detail names the rule", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The grant does not carry the right to add to its record", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "A document's body over 64 KiB, an attachment over 1 MiB, a request over the limit, or the bytes this business may use in all are used up", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
        (status = 429, description = "This business's entries for today are used up", body = kluis_core::wire::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until 00:00 UTC, when entries are taken again"))),
        (status = 503, description = "The vault is overloaded, shutting down, or could not store the entry", body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn append(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const ACTION: Action = Action::RelationshipAppend;
    let (verified, proof) = authorize(&state, &headers, &uri, ACTION).await?;
    let access = &verified.access;
    let checked = if access.append_record {
        read_body(body, &headers, "application/json").and_then(|body| {
            let post: EntryPost = serde_json::from_slice(&body).map_err(|e| {
                ApiError::BadRequest(format!("the body is not a relationship entry: {e}"))
            })?;
            let checked = post.check().map_err(|e| match e {
                PostError::Invalid(detail) => ApiError::BadRequest(detail),
                PostError::TooLarge(detail) => ApiError::TooLarge(detail),
            })?;
            checked
                .item
                .check_business_dates(day_of_ms(unix_now_ms()))
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Ok((body, checked))
        })
    } else {
        Err(ApiError::Forbidden {
            detail: "this grant does not carry the right to add to its relationship record".into(),
            fields: Vec::new(),
        })
    };
    let (body, CheckedPost { item, attachment }) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            state.ledger().record(refusal(access, ACTION, &err)).await?;
            return Err(err);
        }
    };
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|_| ApiError::internal("no randomness"))?;
    let sha256 = request_sha256(&body);
    let jkt = verified.claims.cnf.as_ref().map(|c| c.jkt.clone());
    let entry = Entry {
        id: EntryId::from_random(random),
        at_ms: unix_now_ms(),
        author: Author::Business {
            grant: access.grant.clone(),
            request_sha256: sha256.clone(),
            jkt: jkt.clone(),
        },
        item,
    };
    let receipt = EntryReceipt {
        iss: state.issuer().to_owned(),
        sub: verified.claims.sub.clone(),
        aud: access.business.to_string(),
        jti: entry.id.clone(),
        iat: entry.at_ms.div_euclid(1000),
        kind: entry.item.kind().to_owned(),
        sha256,
        jkt,
    };
    let signer = state.signer().await?;
    let ask = AppendAsk {
        entry,
        attachment,
        bytes: body.len() as u64,
    };
    match state.ledger().append(access.clone(), proof, ask).await? {
        AppendVerdict::Stored => {
            let id = receipt.jti.clone();
            let receipt = sign_entry_receipt(&receipt, &signer.key, &signer.kid);
            Ok((StatusCode::CREATED, Json(EntryStored { id, receipt })).into_response())
        }
        AppendVerdict::Inactive(reason) => Err(ApiError::unauthorized(reason)),
        AppendVerdict::OverQuota(refusal) => Err(ApiError::RecordQuota {
            refusal,
            retry_after: until_utc_midnight(unix_now()),
        }),
        AppendVerdict::Pending | AppendVerdict::Failed => Err(state.ledger().unavailable()),
    }
}

/// Seconds from `now` to the next 00:00 UTC (at least 1).
fn until_utc_midnight(now: i64) -> u64 {
    let next = (now.div_euclid(DAY_SECS) + 1) * DAY_SECS;
    u64::try_from(next - now).unwrap_or(1).max(1)
}
