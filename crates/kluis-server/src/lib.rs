//! The Kluis server (axum): the grant API businesses call ([`api`]) and the owner's dashboard
//! ([`dashboard`]), over one shared state and ledger. A library: [`serve`] runs it on any
//! listener, so tests bind `127.0.0.1:0`; the `kluis serve` command is a thin entry on top.

pub mod api;
pub mod dashboard;
mod ledger;
mod listen;
pub mod notify;
mod replay;
mod state;

use std::future::Future;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::{BoxError, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

pub use api::{ApiError, openapi};
pub use dashboard::Dashboard;
pub use ledger::batch_stats;
pub use listen::{ConnectionLimits, HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use state::{AppState, LogDurability};

/// Request bodies larger than this are refused with 413 by the grant API (the dashboard's
/// forms have their own limit).
pub const BODY_LIMIT: usize = 8 * 1024;
/// A request that takes longer than this once its head has arrived is answered with 408 (the
/// head itself has [`ConnectionLimits::header_timeout`]).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The grant API alone.
pub fn app(state: AppState) -> Router {
    app_with(state, None)
}

/// The grant API, and the owner's dashboard under `/dashboard/` when given.
pub fn app_with(state: AppState, dashboard: Option<Dashboard>) -> Router {
    let api = api::router()
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    let routes = match dashboard {
        Some(dashboard) => api.merge(dashboard::router(dashboard)),
        None => api,
    };
    routes
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
}

/// Serves the grant API until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// Like [`serve`], with the owner's dashboard too when given. Clients' addresses reach the
/// handlers (the dashboard's sign-in throttle counts failures per address).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    dashboard: Option<Dashboard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(
        listener,
        state,
        dashboard,
        ConnectionLimits::default(),
        shutdown,
    )
    .await
}

/// Like [`serve_with`], holding connections to `limits`.
pub async fn serve_with_limits(
    listener: TcpListener,
    state: AppState,
    dashboard: Option<Dashboard>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ledger = state.ledger().clone();
    listen::run(listener, app_with(state, dashboard), limits, shutdown).await;
    // The log's head covers the last calls before the process goes (a crash leaves the last
    // 100 ms of entries past it: still read and verified, but not protected against a cut).
    if ledger.settle().await.is_err() {
        tracing::warn!("could not rewrite the access log's head at shutdown");
    }
    Ok(())
}
