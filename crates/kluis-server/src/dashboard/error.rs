//! The dashboard's errors, as HTML pages (the grant API answers problem+json instead). A client's
//! mistake is a 4xx with words for the owner; a fault is a generic 500 whose cause goes to the
//! server log only.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kluis_store::StoreError;

use super::render::{page_with, see_other};

#[derive(Debug)]
pub enum PageError {
    /// No live session: to the sign-in page.
    SignIn,
    /// A state-changing request without the session's CSRF token or from another origin.
    Forbidden,
    NotFound(String),
    BadRequest(String),
    Conflict(String),
    /// The disk holding the vault is full: nothing could be saved.
    DiskFull,
    Internal,
}

impl PageError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "dashboard fault");
        Self::Internal
    }
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        if err.is_disk_full() {
            tracing::error!(error = %err, "the disk holding the vault is full");
            return Self::DiskFull;
        }
        match err {
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::Invalid(e) => Self::BadRequest(e.to_string()),
            e @ (StoreError::Conflict(_)
            | StoreError::AlreadyExists(_)
            | StoreError::TooMany(_)) => Self::Conflict(e.to_string()),
            StoreError::WrongPassphrase => Self::BadRequest(err.to_string()),
            other => Self::internal(other),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage {
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::SignIn => return see_other(&format!("{}/sign-in", super::BASE)),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "This form did not come from your dashboard's own page (or its session ended); nothing was changed. Open the page again and retry. / Dit formulier kwam niet van uw eigen dashboardpagina; er is niets gewijzigd.".to_owned(),
            ),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            PageError::Conflict(m) => (StatusCode::CONFLICT, m),
            PageError::DiskFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The disk holding your vault is full: nothing was saved. Free some space and try again. / De schijf van uw kluis is vol: er is niets opgeslagen. Maak ruimte vrij en probeer het opnieuw.".to_owned(),
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The vault could not do this; nothing was changed. / De kluis kon dit niet uitvoeren; er is niets gewijzigd.".to_owned(),
            ),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            message,
        };
        page_with(status, &page).unwrap_or_else(|_| status.into_response())
    }
}
