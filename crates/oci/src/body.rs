//! Request bodies: streamed into the blob store, or read whole for manifests.

use axum::body::{Body, HttpBody};
use berth_store::{BlobError, ByteStream};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::StatusCode;

use crate::error::{ApiError, Code, OciError};

/// Turns a request body into the store's byte stream without buffering it. A failed read
/// (the client went away) becomes `BlobError::Client`, which cuts the upload back to
/// where the chunk started.
pub(crate) fn byte_stream(body: Body) -> ByteStream {
    Box::pin(
        body.into_data_stream()
            .map_err(|error| BlobError::Client(error.to_string())),
    )
}

/// Returns true when the body is known to be empty: `Content-Length: 0`, or no body.
pub(crate) fn is_empty(body: &Body) -> bool {
    body.size_hint().exact() == Some(0)
}

/// Fails a stream that yields more or fewer than `expected` bytes, for a chunk whose
/// `Content-Range` gives its length but whose `Content-Length` is absent.
pub(crate) fn exact_length(stream: ByteStream, expected: u64) -> ByteStream {
    // The state is the stream and the bytes seen so far; `None` after an error ends it.
    let checked = futures_util::stream::unfold(Some((stream, 0)), move |state| async move {
        let (mut stream, seen) = state?;
        match stream.next().await {
            Some(Ok(chunk)) => {
                let seen = seen + chunk.len() as u64;
                if seen > expected {
                    Some((Err(length_error(seen, expected)), None))
                } else {
                    Some((Ok(chunk), Some((stream, seen))))
                }
            }
            Some(Err(error)) => Some((Err(error), None)),
            None if seen < expected => Some((Err(length_error(seen, expected)), None)),
            None => None,
        }
    });
    Box::pin(checked)
}

fn length_error(seen: u64, expected: u64) -> BlobError {
    let relation = if seen > expected { "more than" } else { "only" };
    BlobError::Client(format!(
        "the chunk has {relation} {seen} bytes, but its Content-Range declares {expected}"
    ))
}

/// Reads a whole body of at most `max` bytes. A larger one is rejected with 413 as soon
/// as its declared or received length passes the limit.
pub(crate) async fn read_limited(body: Body, max: usize) -> Result<Bytes, OciError> {
    if body.size_hint().lower() > max as u64 {
        return Err(too_large(body.size_hint().lower(), max));
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            let message = format!("the request body could not be read: {error}");
            ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, message)
        })?;
        if bytes.len() + chunk.len() > max {
            return Err(too_large((bytes.len() + chunk.len()) as u64, max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// Builds the 413 that the spec recommends for a manifest over the registry's limit. The
/// code is MANIFEST_INVALID because SIZE_INVALID means a length that disagrees with the
/// content.
fn too_large(length: u64, max: usize) -> OciError {
    let message = format!("the manifest is at least {length} bytes; the maximum is {max} bytes");
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::ManifestInvalid,
        message,
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(expected: u64, chunks: &[&'static [u8]]) -> Result<Vec<u8>, String> {
        let items: Vec<Result<Bytes, BlobError>> = chunks
            .iter()
            .map(|chunk| Ok(Bytes::from_static(chunk)))
            .collect();
        let mut stream = exact_length(Box::pin(futures_util::stream::iter(items)), expected);
        let mut bytes = Vec::new();
        while let Some(item) = stream.next().await {
            bytes.extend_from_slice(&item.map_err(|error| error.to_string())?);
        }
        Ok(bytes)
    }

    #[tokio::test]
    async fn exact_length_checks_both_ends() {
        assert_eq!(collect(5, &[b"ab", b"cde"]).await, Ok(b"abcde".to_vec()));
        let long = collect(4, &[b"ab", b"cde"]).await.unwrap_err();
        assert!(long.contains("more than 5 bytes"), "{long}");
        let short = collect(6, &[b"ab", b"cde"]).await.unwrap_err();
        assert!(short.contains("only 5 bytes"), "{short}");
    }
}
