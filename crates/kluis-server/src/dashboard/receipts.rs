//! The receipts page (being built).

use axum::Router;

use super::Dashboard;

pub fn router() -> Router<Dashboard> {
    Router::new()
}
