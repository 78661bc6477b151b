//! Blob endpoints: download (GET/HEAD, with byte ranges) and delete.

use axum::body::Body;
use axum::response::Response;
use berth_store::{BlobContent, BlobReader};
use berth_types::{Digest, RepositoryName};
use http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use http::{HeaderMap, StatusCode};

use crate::error::{ApiError, Code, OciError};
use crate::headers::{empty, finish, DOCKER_CONTENT_DIGEST};
use crate::{FileSender, OciState};

/// Serves a blob, or the byte range that `Range` requests: with `sendfile(2)` when the
/// store keeps the blob in a local file and the connection allows it, streamed from the
/// store otherwise. HEAD ignores `Range`, as RFC 9110 defines ranges for GET only.
pub(crate) async fn get(
    state: &OciState,
    name: &RepositoryName,
    digest: &Digest,
    headers: &HeaderMap,
    sender: Option<FileSender>,
    head: bool,
) -> Result<Response, OciError> {
    let blob = state.registry.blob(name, digest).await?;
    let builder = Response::builder()
        .header(DOCKER_CONTENT_DIGEST, digest.as_str())
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(ACCEPT_RANGES, "bytes");
    if head {
        let builder = builder
            .status(StatusCode::OK)
            .header(CONTENT_LENGTH, blob.size);
        return finish(builder, Body::empty());
    }

    let requested = headers.get(RANGE).and_then(|value| value.to_str().ok());
    let Some((text, range)) = requested.and_then(|text| Some((text, ByteRange::parse(text)?)))
    else {
        let reader = state.registry.open_linked_blob(name, &blob, None).await?;
        let builder = builder
            .status(StatusCode::OK)
            .header(CONTENT_LENGTH, reader.length);
        return finish(builder, download_body(name, digest, sender, reader));
    };
    let (start, end) = range
        .resolve(blob.size)
        .ok_or_else(|| unsatisfiable(text, blob.size))?;
    let reader = state
        .registry
        .open_linked_blob(name, &blob, Some((start, end)))
        .await?;
    let builder = builder
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            CONTENT_RANGE,
            format!("bytes {start}-{end}/{}", reader.size),
        )
        .header(CONTENT_LENGTH, reader.length);
    finish(builder, download_body(name, digest, sender, reader))
}

/// Returns the body that sends the reader's range: zero-copy when possible.
fn download_body(
    name: &RepositoryName,
    digest: &Digest,
    sender: Option<FileSender>,
    reader: BlobReader,
) -> Body {
    let BlobReader {
        size,
        start,
        length,
        content,
    } = reader;
    let zero_copy = matches!(content, BlobContent::File(_)) && sender.is_some();
    tracing::debug!(repository = %name, digest = %digest, start, length, zero_copy, "sending a blob");
    let content = match (content, sender) {
        (BlobContent::File(file), Some(sender)) => return sender.body(file, digest, start, length),
        (content, _) => content,
    };
    let reader = BlobReader {
        size,
        start,
        length,
        content,
    };
    Body::from_stream(reader.into_stream())
}

fn unsatisfiable(range: &str, size: u64) -> OciError {
    let message = format!("the range '{range}' is not satisfiable for a blob of {size} bytes");
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        Code::SizeInvalid,
        message,
    )
    .with_detail(serde_json::json!({ "size": size }))
    .with_header(CONTENT_RANGE, format!("bytes */{size}"))
    .into()
}

/// Removes a blob from the repository; the bytes stay while other repositories link it.
pub(crate) async fn delete(
    state: &OciState,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Response, OciError> {
    state.registry.unlink_blob(name, digest).await?;
    finish(empty(StatusCode::ACCEPTED), Body::empty())
}

/// One byte range of a `Range: bytes=…` header (RFC 9110 section 14.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByteRange {
    /// `first-last`, inclusive.
    Bounded(u64, u64),
    /// `first-`: from `first` to the end.
    From(u64),
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a single range. Other units, several ranges and unparsable text give `None`,
    /// and the whole blob is served, which RFC 9110 allows.
    fn parse(text: &str) -> Option<ByteRange> {
        let (unit, spec) = text.trim().split_once('=')?;
        if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
            return None;
        }
        let (first, last) = spec.trim().split_once('-')?;
        let number = |text: &str| text.trim().parse::<u64>().ok();
        match (first.trim(), last.trim()) {
            ("", length) => Some(ByteRange::Suffix(number(length)?)),
            (first, "") => Some(ByteRange::From(number(first)?)),
            (first, last) => Some(ByteRange::Bounded(number(first)?, number(last)?)),
        }
    }

    /// Returns the inclusive byte positions within a blob of `size` bytes, or `None` when
    /// the range is unsatisfiable (416). A last position past the end is cut to the end.
    fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let last = size.checked_sub(1)?;
        match self {
            ByteRange::Bounded(first, end) if first <= end && first <= last => {
                Some((first, end.min(last)))
            }
            ByteRange::From(first) if first <= last => Some((first, last)),
            ByteRange::Suffix(length) if length > 0 => Some((size - length.min(size), last)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing() {
        let cases = [
            ("bytes=0-0", Some(ByteRange::Bounded(0, 0))),
            ("bytes=5-", Some(ByteRange::From(5))),
            ("bytes=-3", Some(ByteRange::Suffix(3))),
            ("Bytes = 1-2", Some(ByteRange::Bounded(1, 2))),
            ("bytes=0-1,4-5", None),
            ("items=0-1", None),
            ("bytes=a-b", None),
            ("bytes=-", None),
        ];
        for (text, expected) in cases {
            assert_eq!(ByteRange::parse(text), expected, "{text}");
        }
    }

    #[test]
    fn range_arithmetic() {
        let cases = [
            (ByteRange::Bounded(0, 0), 10, Some((0, 0))),
            (ByteRange::Bounded(9, 9), 10, Some((9, 9))),
            (ByteRange::Bounded(2, 100), 10, Some((2, 9))),
            (ByteRange::Bounded(5, 4), 10, None),
            (ByteRange::Bounded(10, 12), 10, None),
            (ByteRange::From(9), 10, Some((9, 9))),
            (ByteRange::From(10), 10, None),
            (ByteRange::Suffix(3), 10, Some((7, 9))),
            (ByteRange::Suffix(30), 10, Some((0, 9))),
            (ByteRange::Suffix(0), 10, None),
            (ByteRange::From(0), 0, None),
        ];
        for (range, size, expected) in cases {
            assert_eq!(range.resolve(size), expected, "{range:?} of {size}");
        }
    }
}
