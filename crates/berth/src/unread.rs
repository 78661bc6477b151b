//! Keeps keep-alive connections in a known state when a response leaves the request body
//! unread, as a failed login or an unknown repository does.
//!
//! hyper discards only the body bytes it has already received. When more are on their
//! way, it closes the connection after the response without saying so, and a client that
//! sends its next request on that connection (Go's HTTP client retrying with credentials
//! after a 401 challenge, for one) then finds it closed. So a small body, one that
//! declares at most [`READ_AHEAD_MAX`] bytes, is read before the handler runs, and a
//! response that leaves a larger or chunked body unread carries `Connection: close`, so
//! the client knows to open a new connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};

/// The largest declared body that is read before the handler runs.
const READ_AHEAD_MAX: u64 = 64 * 1024;

/// Reads a small body ahead of the handler, and marks a response that leaves a larger
/// body unread with `Connection: close`.
pub(crate) async fn keep_connection_usable(request: Request, next: Next) -> Response {
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
    if let (false, false, Some(length)) = (chunked, expects_continue, declared) {
        if length <= READ_AHEAD_MAX {
            let (parts, body) = request.into_parts();
            return match axum::body::to_bytes(body, READ_AHEAD_MAX as usize).await {
                Ok(bytes) => {
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
                Err(error) => {
                    tracing::debug!(error = %error, "the request body could not be read");
                    let message = format!("the request body could not be read: {error}");
                    closing((StatusCode::BAD_REQUEST, message).into_response())
                }
            };
        }
    }

    let finished = Arc::new(AtomicBool::new(false));
    let tracked = finished.clone();
    let request = request.map(|inner| {
        Body::new(Tracked {
            inner,
            finished: tracked,
        })
    });
    let response = next.run(request).await;
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

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let at_end = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if at_end {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
