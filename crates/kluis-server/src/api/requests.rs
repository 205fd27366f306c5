//! Access requests: a business asks for fields (or a contact right, or the right to add to its
//! relationship record), then polls for the owner's decision.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kluis_core::wire::{AccessRequestBody, AccessRequestStatus, Problem};
use kluis_store::unix_now;

use crate::api::ApiError;
use crate::api::routes::read_body;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/requests", post(create_request))
        .route("/v1/requests/{id}", get(request_status))
}

/// Ask the owner for access, for a purpose, with the business's public key.
///
/// Access is fields to read, a contact right, the right to add to the business's relationship
/// record (`append_record`), or several of these.
#[utoipa::path(
    post, path = "/v1/requests", tag = "access requests",
    request_body(content = AccessRequestBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Recorded; poll the `Location` until the owner decides", body = AccessRequestStatus,
            headers(("Location" = String, description = "Where to poll"))),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 8 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests are waiting for the owner", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(body, &headers, "application/json")?;
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not JSON: {e}")))?;
    if raw.pointer("/jwk/d").is_some() {
        return Err(ApiError::BadRequest(
            "the jwk holds a private key (`d`): send only the public key, and replace this key"
                .into(),
        ));
    }
    // Read from the bytes again, not from `raw`: serde then names the line and column of
    // what is wrong, as for every other body.
    let request: AccessRequestBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request body is not a valid access request: {e}"
        ))
    })?;
    let status = state
        .with_vault(move |v| v.create_access_request(&request, unix_now()))
        .await?;
    let location = HeaderValue::from_str(&status.poll_url).map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(status),
    )
        .into_response())
}

/// Where a request stands; once approved, the DPoP-bound token and the consent receipt.
#[utoipa::path(
    get, path = "/v1/requests/{id}", tag = "access requests",
    params(("id" = String, Path, description = "The request id, `r_…`")),
    responses(
        (status = 200, description = "The request's status", body = AccessRequestStatus),
        (status = 400, description = "Not a request id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let status = state
        .with_vault(move |v| v.access_request(&id, unix_now()))
        .await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(status),
    )
        .into_response())
}
