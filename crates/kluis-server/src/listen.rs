//! The accept loop: HTTP/1.1 connections served by hyper, each with a deadline for a request's
//! head and for every write of an answer, all under a cap on how many are open, so clients that
//! connect and stall (half a request line, then nothing; or requests sent and answers never
//! read) are closed instead of piling up. See docs/architecture.md, "Connections and timeouts".

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// A connection must deliver each request's head (request line and headers) within this long
/// of the server starting to wait for it, unless configured otherwise.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many connections are open at once, unless configured otherwise.
pub const MAX_CONNECTIONS: usize = 1024;
/// A write of an answer that makes no progress for this long (the client reads nothing) ends
/// the connection, unless configured otherwise.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// At shutdown, connections still open this long after the listener closed are dropped: a
/// client that never reads its answer must not keep the server from stopping.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How the server treats connections (`kluis serve --header-timeout`, `--max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a connection has to send a request's head, counted from when the server starts
    /// waiting for it: from the accept for the first request, from the end of the previous
    /// response for the next ones, so it is also how long an idle keep-alive connection stays.
    pub header_timeout: Duration,
    /// How many connections may be open at once; one accepted beyond it is closed at once.
    pub max_connections: usize,
    /// How long a write of an answer may wait for the client to read before the connection
    /// is closed. The clock runs only while a write waits: a client that reads slowly but
    /// steadily keeps its connection.
    pub write_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: HEADER_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in flight finish and closes idle connections, dropping what is still open after
/// [`SHUTDOWN_GRACE`].
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = http1::Builder::new();
    // Keep-alive is hyper's default. Without a timer hyper keeps no header deadline at all,
    // which is what left half-sent requests open for good.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // At the cap the connection is accepted and dropped at once rather than left in the
        // kernel's queue: the caller learns straight away, and the queue does not fill with
        // connections that would each hold a slot for a whole header timeout once accepted.
        let Ok(slot) = open.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: at the cap of open connections");
            drop(stream);
            continue;
        };
        // The client's address reaches the handlers as `ConnectInfo`, as axum::serve gives it
        // (the dashboard's sign-in throttle counts per address).
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        // Only writes get a deadline here: reads wait for a request's head, which hyper's own
        // timer bounds, or for a body, which the request timeout bounds.
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let stream = TokioIo::new(Box::pin(stream));
        let connection =
            graceful.watch(http.serve_connection(stream, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, "connection ended: {err}");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {SHUTDOWN_GRACE:?} after the shutdown began are dropped"
        );
    }
}

/// After a failed accept: errors of the one connection are skipped; others (out of file
/// descriptors, most likely) are logged and waited out a little rather than spun on.
async fn accept_failed(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!("cannot accept a connection: {err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
