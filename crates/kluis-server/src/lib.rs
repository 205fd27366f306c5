//! The Kluis grant API over HTTP (axum). A library: [`serve`] runs it on any listener, so tests
//! bind `127.0.0.1:0`; the `kluis serve` command is a thin entry on top.

pub mod callback;
mod error;
mod ledger;
pub mod openapi;
mod replay;
mod requests;
mod routes;
mod state;

use std::future::Future;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::{BoxError, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

pub use error::ApiError;
pub use ledger::batch_stats;
pub use state::{AppState, LogDurability};

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 8 * 1024;
/// A request that takes longer than this is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole application.
pub fn app(state: AppState) -> Router {
    routes::router()
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|err: BoxError| async move {
                    if err.is::<tower::timeout::error::Elapsed>() {
                        ApiError::Timeout
                    } else {
                        ApiError::internal(err)
                    }
                }))
                .timeout(REQUEST_TIMEOUT),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ledger = state.ledger().clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    // The log's head covers the last calls before the process goes (a crash leaves the last
    // 100 ms of entries past it: still read and verified, but not protected against a cut).
    if ledger.settle().await.is_err() {
        tracing::warn!("could not rewrite the access log's head at shutdown");
    }
    Ok(())
}
