//! The dashboard's own static files, compiled in: its stylesheet (no framework, no CDN) and its
//! icon (served, not a `data:` URL, which the pages' `img-src 'self'` would refuse).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Dashboard;

const CSS: &str = include_str!("../../assets/kluis.css");
const ICON: &str = include_str!("../../assets/kluis.svg");

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/static/kluis.css", get(css))
        .route("/dashboard/static/kluis.svg", get(icon))
}

async fn css() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        CSS,
    )
}

async fn icon() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        ICON,
    )
}
