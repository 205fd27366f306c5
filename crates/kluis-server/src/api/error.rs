//! The server's one error type: every variant maps to a status and an RFC 9457 problem. The
//! client sees a fixed message; causes go to the log only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kluis_core::contact::Reason;
use kluis_core::relationship::QuotaRefusal;
use kluis_core::wire::{PROBLEM_JSON, Problem};
use kluis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Any failed credential: missing, malformed, forged, expired, revoked. `cause` is for the log.
    #[error("unauthorized: {cause}")]
    Unauthorized { cause: String },
    /// A valid grant that does not cover what was asked.
    #[error("forbidden: {detail}")]
    Forbidden { detail: String, fields: Vec<String> },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    /// The request conflicts with the state of things (a limit reached, already done).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("too many requests: {0}")]
    TooMany(String),
    /// The grant's reads for today (its read budget) are used up; whole again in `retry_after`
    /// seconds, at the next UTC midnight.
    #[error("read budget of {budget} a day used up")]
    ReadBudget { budget: u32, retry_after: u64 },
    /// A contact attempt the owner's policy or the grant's right refuses; `retry_after` (Unix
    /// seconds) for quiet hours and caps, which answer 429 rather than 403.
    #[error("contact refused: {}", reason.as_str())]
    ContactRefused {
        reason: Reason,
        retry_after: Option<i64>,
    },
    /// An entry over one of the business's quotas for its relationship record: a day's
    /// entries (429, whole again in `retry_after` seconds, at the next UTC midnight) or the
    /// bytes it may use in all (413).
    #[error("relationship quota: {refusal}")]
    RecordQuota {
        refusal: QuotaRefusal,
        retry_after: u64,
    },
    /// A body part over its size limit; the detail names it.
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("request timed out")]
    Timeout,
    #[error("overloaded")]
    Unavailable,
    /// The disk holding the vault is full: what the call needed stored (its access-log
    /// record, a message, an entry, a subscription) could not be.
    #[error("the disk holding the vault is full")]
    DiskFull,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn unauthorized(cause: impl std::fmt::Display) -> Self {
        Self::Unauthorized {
            cause: cause.to_string(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str, Option<String>) {
        match self {
            Self::Unauthorized { .. } => (
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "Invalid token",
                Some("the access token is missing, invalid, expired or revoked".into()),
            ),
            Self::Forbidden { detail, .. } => (
                StatusCode::FORBIDDEN,
                "outside-grant",
                "Outside the grant",
                Some(detail.clone()),
            ),
            Self::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                Some(detail.clone()),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found", None),
            Self::Conflict(detail) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                Some(detail.clone()),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                None,
            ),
            Self::UnsupportedMediaType(detail) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                Some(detail.clone()),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                None,
            ),
            Self::TooMany(detail) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
                Some(detail.clone()),
            ),
            Self::ReadBudget { budget, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "read-budget",
                "Daily read budget used up",
                Some(format!(
                    "this grant's read budget of {budget} reads a day is used up; reads are served again from 00:00 UTC (Retry-After). \
                     To learn of changes without polling, subscribe to change notifications: POST /v1/subscriptions"
                )),
            ),
            Self::ContactRefused {
                reason,
                retry_after,
            } => (
                if retry_after.is_some() {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::FORBIDDEN
                },
                "contact-refused",
                "Contact refused",
                Some(format!(
                    "the customer's contact policy refuses this contact: {}",
                    reason.as_str()
                )),
            ),
            Self::RecordQuota { refusal, .. } => (
                match refusal {
                    QuotaRefusal::Day { .. } => StatusCode::TOO_MANY_REQUESTS,
                    QuotaRefusal::Bytes { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                },
                "record-quota",
                "Relationship record quota reached",
                Some(match refusal {
                    QuotaRefusal::Day { .. } => {
                        format!("{refusal}; entries are taken again from 00:00 UTC (Retry-After)")
                    }
                    QuotaRefusal::Bytes { .. } => {
                        format!("{refusal}; the owner's vault takes no more from this business")
                    }
                }),
            ),
            Self::TooLarge(detail) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                Some(detail.clone()),
            ),
            Self::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "Request timed out",
                None,
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                Some("the vault is busy or shutting down; try again".into()),
            ),
            Self::DiskFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-full",
                "Insufficient storage",
                Some(
                    "the vault cannot store anything now: the disk holding it is full; \
                     nothing was stored or sent; try again later"
                        .into(),
                ),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                None,
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_disk_full() {
            tracing::error!(error = %err, "the disk holding the vault is full");
            return Self::DiskFull;
        }
        match err {
            // Validation messages are written for the person who sent the input.
            StoreError::Invalid(e) => Self::BadRequest(e.to_string()),
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::TooMany(detail) => Self::TooMany(detail),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title, detail) = self.parts();
        let retry_after = match &self {
            Self::ReadBudget { retry_after, .. } | Self::RecordQuota { retry_after, .. } => {
                HeaderValue::from(*retry_after)
            }
            Self::ContactRefused {
                retry_after: Some(at),
                ..
            } => HeaderValue::from((at - kluis_store::unix_now()).max(1)),
            _ => HeaderValue::from_static("3600"),
        };
        match &self {
            Self::Unauthorized { cause } => tracing::info!(%cause, "refused a credential"),
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            other if status.is_server_error() => tracing::warn!(error = %other, "server error"),
            _ => {}
        }
        let (contact_reason, contact_retry) = match &self {
            Self::ContactRefused {
                reason,
                retry_after,
            } => (Some(*reason), *retry_after),
            _ => (None, None),
        };
        let disk_full = matches!(self, Self::DiskFull);
        let fields = match self {
            Self::Forbidden { fields, .. } => fields,
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("urn:kluis:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            fields,
            reason: contact_reason,
            retry_after: contact_retry,
        };
        let body = serde_json::to_vec(&problem).expect("a problem serializes");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, retry_after);
        }
        if disk_full {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            // RFC 9449 §7.1: key-bound grants use the DPoP scheme, with EdDSA proofs.
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"DPoP error="invalid_token", algs="EdDSA""#),
            );
        }
        response
    }
}
