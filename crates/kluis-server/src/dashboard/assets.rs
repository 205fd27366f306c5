//! The dashboard's own static files, compiled in: its stylesheet (no framework, no CDN).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Dashboard;

const CSS: &str = include_str!("../../assets/kluis.css");

pub fn router() -> Router<Dashboard> {
    Router::new().route("/dashboard/static/kluis.css", get(css))
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
