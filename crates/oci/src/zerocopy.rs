//! Blob downloads that the kernel sends from the blob file with `sendfile(2)`, so the
//! bytes never pass through berth's memory.
//!
//! hyper cannot hand a file to its socket: it writes every body chunk it is given. So a
//! zero-copy download body ([`FileBody`]) yields placeholder chunks instead of data:
//! slices of one static zeroed region, which cost nothing to make. Before it yields a
//! chunk, the body queues the file range that the chunk stands for on its connection.
//! The connection's socket, a [`ZeroCopyStream`], recognises a placeholder by its address
//! when hyper writes it and sends the queued file range in its place. hyper still counts
//! every byte, so `Content-Length`, keep-alive and pipelined requests work as for any
//! other body.
//!
//! The socket never sends placeholder bytes. Each body writes its chunks at its own
//! offset in the region (its lane). A placeholder write must match the lane, the progress
//! and the length of the first queued range, or the connection fails with an error.
//! Placeholder bodies are made only for HTTP/1 requests that arrived on a
//! `ZeroCopyStream` ([`FileSender`] in the request's extensions), on Linux.
//!
//! `sendfile(2)` reads the file on the calling thread, so a range that is not in the page
//! cache blocks the runtime's worker for the time of one disk read of at most
//! [`CHUNK`] bytes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use axum::body::Body;
use berth_types::Digest;
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The largest range one placeholder chunk stands for, and so the most one
/// `sendfile(2)` call sends.
const CHUNK: usize = 1024 * 1024;

/// Number of distinct offsets at which a body may place its chunks in the region.
const LANES: usize = 4096;

/// The placeholder region. Its bytes are never written to a socket; only the addresses
/// of its slices are used, to recognise them.
static PLACEHOLDER: [u8; CHUNK + LANES] = [0; CHUNK + LANES];

/// The handle through which a response body queues file ranges on its connection. The
/// server inserts the connection's sender, from [`ZeroCopyStream::sender`], into the
/// extensions of every request that arrives on it.
#[derive(Clone)]
pub struct FileSender {
    queue: Arc<Mutex<Queue>>,
}

/// The file ranges that placeholder chunks stand for, in the order hyper writes them.
#[derive(Default)]
struct Queue {
    ranges: VecDeque<QueuedRange>,
    next_lane: usize,
}

struct QueuedRange {
    file: Arc<std::fs::File>,
    /// The blob's digest and the request's span, for the log.
    digest: Arc<str>,
    span: tracing::Span,
    lane: usize,
    /// Position in the file of the next byte to send.
    position: u64,
    /// Bytes of the chunk already sent.
    sent: usize,
    /// Bytes of the chunk still to send.
    remaining: usize,
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // The queue is plain data that every step leaves consistent, so a panic in
    // another holder does not make it unusable.
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returns the connection's sender when the request allows a zero-copy body: an HTTP/1
/// request on a [`ZeroCopyStream`], on Linux.
pub(crate) fn sender<B>(request: &Request<B>) -> Option<FileSender> {
    let http1 = matches!(
        request.version(),
        http::Version::HTTP_10 | http::Version::HTTP_11
    );
    let sender = request.extensions().get::<FileSender>()?;
    (http1 && cfg!(target_os = "linux")).then(|| sender.clone())
}

impl FileSender {
    /// Returns a body that sends `length` bytes of `file`, the blob `digest`, from
    /// `start` with `sendfile(2)`. Failures are logged in the current span.
    pub(crate) fn body(
        &self,
        file: std::fs::File,
        digest: &Digest,
        start: u64,
        length: u64,
    ) -> Body {
        let lane = {
            let mut queue = lock(&self.queue);
            let lane = queue.next_lane;
            queue.next_lane = (lane + 1) % LANES;
            lane
        };
        Body::new(FileBody {
            queue: self.queue.clone(),
            file: Arc::new(file),
            digest: Arc::from(digest.as_str()),
            span: tracing::Span::current(),
            lane,
            position: start,
            remaining: length,
        })
    }
}

/// A response body of placeholder chunks, each standing for a range of `file` that it
/// queues on the connection before yielding it.
struct FileBody {
    queue: Arc<Mutex<Queue>>,
    file: Arc<std::fs::File>,
    digest: Arc<str>,
    span: tracing::Span,
    lane: usize,
    position: u64,
    remaining: u64,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let length = this.remaining.min(CHUNK as u64) as usize;
        lock(&this.queue).ranges.push_back(QueuedRange {
            file: this.file.clone(),
            digest: this.digest.clone(),
            span: this.span.clone(),
            lane: this.lane,
            position: this.position,
            sent: 0,
            remaining: length,
        });
        this.position += length as u64;
        this.remaining -= length as u64;
        let placeholder = &PLACEHOLDER[this.lane..this.lane + length];
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(placeholder)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A TCP connection that writes placeholder chunks as `sendfile(2)` calls from the file
/// ranges queued for them, and everything else as it is.
pub struct ZeroCopyStream {
    inner: TcpStream,
    queue: Arc<Mutex<Queue>>,
}

impl ZeroCopyStream {
    pub fn new(inner: TcpStream) -> ZeroCopyStream {
        ZeroCopyStream {
            inner,
            queue: Arc::default(),
        }
    }

    /// Returns the sender that request extensions carry for this connection.
    pub fn sender(&self) -> FileSender {
        FileSender {
            queue: self.queue.clone(),
        }
    }

    /// Sends some of the file range that the placeholder slice `placeholder` stands for.
    /// A failure is logged here, with the blob's digest and the request's span, because
    /// the connection's own error carries neither.
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        placeholder: &[u8],
    ) -> Poll<io::Result<usize>> {
        let offset = placeholder.as_ptr() as usize - PLACEHOLDER.as_ptr() as usize;
        loop {
            let mut queue = lock(&self.queue);
            let Some(range) = queue.ranges.front_mut() else {
                let message =
                    "a zero-copy chunk reached the socket with no file range queued for it";
                tracing::error!(
                    length = placeholder.len(),
                    offset,
                    "{message}; closing the connection"
                );
                return Poll::Ready(Err(io::Error::other(message)));
            };
            if range.lane + range.sent != offset || range.remaining != placeholder.len() {
                let message = format!(
                    "a zero-copy chunk of {} bytes at offset {offset} does not match the queued file range (lane {}, {} bytes sent, {} remaining)",
                    placeholder.len(),
                    range.lane,
                    range.sent,
                    range.remaining
                );
                range.span.in_scope(|| {
                    tracing::error!(digest = %range.digest, "{message}; closing the connection");
                });
                return Poll::Ready(Err(io::Error::other(message)));
            }
            let result = self.inner.try_io(tokio::io::Interest::WRITABLE, || {
                send_file(&self.inner, range)
            });
            match result {
                Ok(0) => {
                    range.span.in_scope(|| {
                        tracing::warn!(
                            digest = %range.digest,
                            position = range.position,
                            remaining = range.remaining,
                            "the blob file ended before the range being sent; closing the connection"
                        );
                    });
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the blob file ended before the range that was being sent",
                    )));
                }
                Ok(sent) => {
                    range.position += sent as u64;
                    range.sent += sent;
                    range.remaining -= sent;
                    if range.remaining == 0 {
                        queue.ranges.pop_front();
                    }
                    return Poll::Ready(Ok(sent));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    drop(queue);
                    ready!(self.inner.poll_write_ready(cx))?;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    range.span.in_scope(|| log_send_error(&error, range));
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

/// Logs a failed `sendfile(2)`: at debug level when the client went away, which is
/// routine, and as a warning otherwise.
fn log_send_error(error: &io::Error, range: &QueuedRange) {
    let client_left = matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    );
    if client_left {
        tracing::debug!(digest = %range.digest, error = %error, "the client left during a blob download");
    } else {
        tracing::warn!(
            digest = %range.digest,
            position = range.position,
            remaining = range.remaining,
            error = %error,
            "sendfile failed during a blob download; closing the connection"
        );
    }
}

/// Sends the start of `range` from its file to `socket`, without moving the file's
/// offset, and returns the number of bytes sent.
#[cfg(target_os = "linux")]
fn send_file(socket: &TcpStream, range: &QueuedRange) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut position = libc::off_t::try_from(range.position)
        .map_err(|_| io::Error::other("a blob position does not fit in off_t"))?;
    // SAFETY: both descriptors are open for the duration of the call (the socket and the
    // file are borrowed), and `position` is a valid off_t that the kernel updates.
    let sent = unsafe {
        libc::sendfile(
            socket.as_raw_fd(),
            range.file.as_raw_fd(),
            &mut position,
            range.remaining,
        )
    };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(not(target_os = "linux"))]
fn send_file(_socket: &TcpStream, _range: &QueuedRange) -> io::Result<usize> {
    // `sender` gives no sender on other systems, so no placeholder body exists there.
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "sendfile is used on Linux only",
    ))
}

fn is_placeholder(slice: &[u8]) -> bool {
    let region = PLACEHOLDER.as_ptr_range();
    !slice.is_empty() && region.contains(&slice.as_ptr())
}

impl AsyncRead for ZeroCopyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if is_placeholder(buf) {
            this.poll_send_file(cx, buf)
        } else {
            Pin::new(&mut this.inner).poll_write(cx, buf)
        }
    }

    /// Writes the ordinary slices before the first placeholder with one `writev(2)`, or,
    /// when the first slice is a placeholder, sends its file range.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let ordinary = bufs.iter().take_while(|buf| !is_placeholder(buf)).count();
        match bufs.get(ordinary) {
            Some(placeholder) if ordinary == 0 => this.poll_send_file(cx, placeholder),
            _ => Pin::new(&mut this.inner).poll_write_vectored(cx, &bufs[..ordinary]),
        }
    }

    /// True, so that hyper queues body chunks as they are instead of copying them into
    /// its own buffer, which would lose the placeholders' addresses.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
