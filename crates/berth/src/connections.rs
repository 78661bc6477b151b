//! The accept loop: one HTTP/1 connection task per client, each connection's socket
//! wrapped for zero-copy blob downloads, and a bounded graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use berth_oci::ZeroCopyStream;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::server::shutdown_signal;

/// How long a client may take to send a request's head before the connection closes.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the loop pauses after an accept failure that is not the client's, such as
/// running out of file descriptors, before it tries again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until a shutdown signal, then lets open requests finish
/// for at most `drain`. A second signal, or the end of the drain period, stops at once.
pub(crate) async fn serve_until_stopped(
    listener: TcpListener,
    app: Router,
    drain: Duration,
) -> anyhow::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // A client may shut down its sending side once the request is out, and the
        // response must still reach it.
        .half_close(true);
    let graceful = GracefulShutdown::new();

    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => serve_connection(&http, &graceful, &app, stream, peer),
                Err(error) if is_client_error(&error) => {
                    tracing::debug!(error = %error, "a connection failed while it was accepted");
                }
                Err(error) => {
                    tracing::error!(error = %error, retry_secs = ACCEPT_RETRY_DELAY.as_secs(), "failed to accept a connection; retrying");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            },
            _ = &mut stop => break,
        }
    }
    drop(listener);

    tokio::select! {
        _ = graceful.shutdown() => Ok(()),
        _ = tokio::time::sleep(drain) => {
            tracing::warn!(drain_secs = drain.as_secs(), "open requests did not finish in time; closing them");
            Ok(())
        }
        _ = shutdown_signal() => {
            tracing::warn!("second shutdown signal received; closing open requests");
            Ok(())
        }
    }
}

/// Spawns the task that serves one connection. Every request on it carries the
/// connection's `FileSender`, through which blob downloads leave with sendfile(2).
fn serve_connection(
    http: &http1::Builder,
    graceful: &GracefulShutdown,
    app: &Router,
    stream: TcpStream,
    peer: SocketAddr,
) {
    // Without TCP_NODELAY a small response written as headers and then a body waits for
    // the client's delayed ACK, about 40 ms on Linux.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(error = %error, peer = %peer, "failed to set TCP_NODELAY on a connection");
    }
    let stream = ZeroCopyStream::new(stream);
    let sender = stream.sender();
    let app = app.clone();
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(sender.clone());
        app.clone().oneshot(request)
    });
    let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            // Clients that leave mid-request or send malformed heads end here, so this is
            // routine and logged at debug level.
            tracing::debug!(peer = %peer, error = %error, "connection closed with an error");
        }
    });
}

/// Returns true for accept failures that concern one connection only, after which the
/// loop goes on at once.
fn is_client_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
