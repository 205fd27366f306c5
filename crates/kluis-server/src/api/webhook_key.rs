//! The vault's webhook public key (`whpk_…`), which every delivery's `v1a` signature verifies
//! with. A business that gave a `callback_url` with its access request holds no `whsec_`
//! secret, so it checks the signed `request.decided` with this key alone.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kluis_core::webhook::public_key_text;
use serde::Serialize;

use crate::api::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/webhook-key", get(webhook_key))
}

/// The vault's webhook public key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookKey {
    /// `whpk_` and the Ed25519 public key's 32 bytes in base64.
    public_key: String,
}

/// The Ed25519 key the `v1a` signatures of change notifications and decisions verify with.
#[utoipa::path(get, path = "/.well-known/webhook-key", tag = "keys",
    responses(
        (status = 200, description = "The vault's `whpk_` key", body = WebhookKey),
        (status = 404, description = "The vault has no webhook key yet: it is made with the first subscription, or the first access request with a `callback_url`",
            body = kluis_core::wire::Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Only the public half leaves the blocking thread.
    let public_key = state
        .with_vault(|v| Ok(public_key_text(&v.webhook_key()?.verifying_key())))
        .await?;
    Ok((
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        )],
        Json(WebhookKey { public_key }),
    )
        .into_response())
}
