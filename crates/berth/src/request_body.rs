//! Request bodies as both fronts receive them: a deadline for each byte, a small body
//! read ahead, and a connection that stays in a known state when a response leaves the
//! body unread.
//!
//! hyper discards only the body bytes it has already received. When more are on their
//! way, it closes the connection after the response without saying so. A client that
//! sends its next request on that connection then finds it closed; Go's HTTP client does
//! this when it retries with credentials after a 401 challenge. So a small body, one that
//! declares at most [`READ_AHEAD_MAX`] bytes, is read before the handler runs, and a
//! response that leaves a larger or chunked body unread carries `Connection: close`, so
//! the client knows to open a new connection.
//!
//! A body that goes `idle_timeout` without a byte fails with a timeout error, which the
//! handler reports as a body it could not read. Without it, a client that declares a
//! body and never sends it would hold its connection, and an ECR upload slot, forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The largest declared body that is read before the handler runs.
const READ_AHEAD_MAX: u64 = 64 * 1024;

/// Puts the body deadline on every request body, reads a small body ahead of the
/// handler, and marks a response that leaves a body unread with `Connection: close`.
pub(crate) async fn guard_request_body(
    State(idle_timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let chunked = headers.contains_key(TRANSFER_ENCODING);
    let declared = declared_length(headers);
    if !chunked && declared.unwrap_or(0) == 0 {
        return next.run(request).await;
    }
    // A client that sent `Expect: 100-continue` waits for the handler's verdict before
    // it sends the body, so reading ahead would defeat the point of asking.
    let expects_continue = headers
        .get(EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let read_ahead =
        !chunked && !expects_continue && declared.is_some_and(|length| length <= READ_AHEAD_MAX);

    let finished = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Guarded {
        inner: body,
        finished: finished.clone(),
        idle_timeout,
        deadline: None,
    });
    let body = if read_ahead {
        match axum::body::to_bytes(body, READ_AHEAD_MAX as usize).await {
            Ok(bytes) => Body::from(bytes),
            // The handler reports the failure in its API's error format.
            Err(error) => Body::new(Failed { error: Some(error) }),
        }
    } else {
        body
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    if finished.load(Ordering::Acquire) {
        response
    } else {
        closing(response)
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once it goes `idle_timeout` without a frame, and records
/// when it has been read to its end.
struct Guarded {
    inner: Body,
    finished: Arc<AtomicBool>,
    idle_timeout: Duration,
    /// Started at the first poll that finds no data, and moved on by every frame, so
    /// the time a handler spends before it reads does not count.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.finished.store(true, Ordering::Release);
                }
                if let Some(deadline) = this.deadline.as_mut() {
                    deadline.as_mut().reset(Instant::now() + this.idle_timeout);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finished.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Pending => {
                let timeout = this.idle_timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let message = format!(
                    "no byte of the request body arrived for {} s; send the body without pauses",
                    timeout.as_secs()
                );
                let error = std::io::Error::new(std::io::ErrorKind::TimedOut, message);
                Poll::Ready(Some(Err(axum::Error::new(error))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body whose read ahead failed: it yields that error once.
struct Failed {
    error: Option<axum::Error>,
}

impl HttpBody for Failed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Poll::Ready(self.error.take().map(Err))
    }

    fn is_end_stream(&self) -> bool {
        self.error.is_none()
    }
}
