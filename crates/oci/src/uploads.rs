//! Blob upload endpoints: start (POST, with monolithic and mount variants), chunks
//! (PATCH), status (GET), completion (PUT) and cancellation (DELETE).
//!
//! Bodies stream into the store without buffering. A chunk that fails midway is cut back
//! by the store, so the client can resume at the offset that GET reports.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use berth_store::ByteStream;
use berth_types::{Digest, RepositoryName};
use http::header::{CONTENT_RANGE, LOCATION, RANGE};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::body::{byte_stream, exact_length, is_empty};
use crate::endpoint::{digest_of, name_of};
use crate::error::{ApiError, Code, OciError};
use crate::headers::{content_length, empty, finish, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID};
use crate::repository::ensure_repository;
use crate::{query, OciState};

#[derive(Deserialize)]
struct StartQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize)]
struct FinishQuery {
    digest: Option<String>,
}

/// Starts an upload session, or with `?digest=` stores the body as a whole blob, or with
/// `?mount=&from=` links a blob of another repository.
pub(crate) async fn start(
    state: &OciState,
    name: &RepositoryName,
    request: Request,
) -> Result<Response, OciError> {
    let params: StartQuery = query::parse(request.uri())?;
    ensure_repository(state, name).await?;
    if let Some(mount) = &params.mount {
        let digest = digest_of(mount)?;
        let from = params.from.as_deref().map(name_of).transpose()?;
        let mounted = match &from {
            Some(from) => state.registry.mount_blob(name, &digest, from).await?,
            None => false,
        };
        if mounted {
            return blob_created(name, &digest);
        }
        // The spec's fallback when the blob cannot be mounted: a new session.
        return new_session(state, name).await;
    }
    match &params.digest {
        Some(digest) => monolithic(state, name, &digest_of(digest)?, request.into_body()).await,
        None => new_session(state, name).await,
    }
}

async fn new_session(state: &OciState, name: &RepositoryName) -> Result<Response, OciError> {
    let id = state.registry.start_upload(name).await?;
    upload_response(StatusCode::ACCEPTED, name, &id, 0)
}

/// Stores a blob sent in one POST. On failure the session is cancelled, because the
/// client never learned its id.
async fn monolithic(
    state: &OciState,
    name: &RepositoryName,
    digest: &Digest,
    body: Body,
) -> Result<Response, OciError> {
    let id = state.registry.start_upload(name).await?;
    let chunk = (!is_empty(&body)).then(|| byte_stream(body));
    let finished = state
        .registry
        .finish_blob_upload(name, &id, digest, chunk)
        .await;
    if let Err(error) = finished {
        if let Err(cancel) = state.registry.cancel_upload(name, &id).await {
            tracing::warn!(repository = %name, upload_id = %id, error = %cancel, "failed to cancel a failed monolithic upload");
        }
        return Err(error.into());
    }
    blob_created(name, digest)
}

/// Appends a chunk. With `Content-Range`, the chunk must start where the upload ends
/// (416 otherwise) and its length must match the range.
pub(crate) async fn patch(
    state: &OciState,
    name: &RepositoryName,
    id: &str,
    request: Request,
) -> Result<Response, OciError> {
    let (parts, body) = request.into_parts();
    let range = content_range(&parts.headers)?;
    let chunk = checked_chunk(&parts.headers, range, body)?;
    let start = range.map(|(start, _)| start);
    let size = state.registry.append_chunk(name, id, start, chunk).await?;
    upload_response(StatusCode::ACCEPTED, name, id, size)
}

/// Reports how many bytes an upload holds, for a client resuming after a cut.
pub(crate) async fn status(
    state: &OciState,
    name: &RepositoryName,
    id: &str,
) -> Result<Response, OciError> {
    let size = state.registry.upload_size(name, id).await?;
    upload_response(StatusCode::NO_CONTENT, name, id, size)
}

/// Completes an upload with `?digest=`, first appending the final chunk when the PUT
/// carries one. The blob becomes visible only when its bytes hash to the digest.
pub(crate) async fn complete(
    state: &OciState,
    name: &RepositoryName,
    id: &str,
    request: Request,
) -> Result<Response, OciError> {
    let (parts, body) = request.into_parts();
    let params: FinishQuery = query::parse(&parts.uri)?;
    let digest = params.digest.as_deref().ok_or_else(missing_digest)?;
    let digest = digest_of(digest)?;
    let range = content_range(&parts.headers)?;
    if range.is_some() || !is_empty(&body) {
        let chunk = checked_chunk(&parts.headers, range, body)?;
        let start = range.map(|(start, _)| start);
        state.registry.append_chunk(name, id, start, chunk).await?;
    }
    state
        .registry
        .finish_blob_upload(name, id, &digest, None)
        .await?;
    blob_created(name, &digest)
}

/// Cancels an upload and deletes what it holds.
pub(crate) async fn cancel(
    state: &OciState,
    name: &RepositoryName,
    id: &str,
) -> Result<Response, OciError> {
    state.registry.cancel_upload(name, id).await?;
    finish(empty(StatusCode::NO_CONTENT), Body::empty())
}

fn missing_digest() -> OciError {
    let message = "the digest query parameter is missing; complete the upload with \
                   PUT <location>?digest=<digest of the whole blob>";
    ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, message).into()
}

/// `201 Created` for a blob that is now visible.
fn blob_created(name: &RepositoryName, digest: &Digest) -> Result<Response, OciError> {
    let builder = empty(StatusCode::CREATED)
        .header(LOCATION, format!("/v2/{name}/blobs/{digest}"))
        .header(DOCKER_CONTENT_DIGEST, digest.as_str());
    finish(builder, Body::empty())
}

/// Builds a session response with its location and the range the upload contains. The
/// spec writes the range as `0-<last byte>`, and an empty upload reports `0-0`, as
/// distribution does.
fn upload_response(
    status: StatusCode,
    name: &RepositoryName,
    id: &str,
    size: u64,
) -> Result<Response, OciError> {
    let builder = empty(status)
        .header(LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
        .header(RANGE, format!("0-{}", size.saturating_sub(1)))
        .header(DOCKER_UPLOAD_UUID, id);
    finish(builder, Body::empty())
}

/// Parses `Content-Range: <start>-<end>` (inclusive). A `bytes ` prefix and a `/<total>`
/// suffix, which some clients add, are accepted too.
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, OciError> {
    let Some(value) = headers.get(CONTENT_RANGE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let range = text.strip_prefix("bytes").unwrap_or(text);
    let range = range.trim_start_matches([' ', '=']);
    let range = range.split_once('/').map_or(range, |(range, _total)| range);
    let parsed = range.split_once('-').and_then(|(start, end)| {
        let start = start.trim().parse::<u64>().ok()?;
        let end = end.trim().parse::<u64>().ok()?;
        (start <= end).then_some((start, end))
    });
    match parsed {
        Some(range) => Ok(Some(range)),
        None => {
            let message = format!(
                "invalid Content-Range '{text}': expected '<start>-<end>' with start <= end"
            );
            Err(ApiError::new(StatusCode::BAD_REQUEST, Code::BlobUploadInvalid, message).into())
        }
    }
}

/// Returns the chunk's byte stream. With a range, the chunk's length must match it. A
/// `Content-Length` that disagrees is SIZE_INVALID, and without one the stream itself is
/// checked.
fn checked_chunk(
    headers: &HeaderMap,
    range: Option<(u64, u64)>,
    body: Body,
) -> Result<ByteStream, OciError> {
    let Some((start, end)) = range else {
        return Ok(byte_stream(body));
    };
    let expected = end - start + 1;
    match content_length(headers) {
        Some(length) if length != expected => {
            let message = format!(
                "Content-Length is {length}, but Content-Range {start}-{end} covers {expected} bytes"
            );
            Err(ApiError::new(StatusCode::BAD_REQUEST, Code::SizeInvalid, message).into())
        }
        Some(_) => Ok(byte_stream(body)),
        None => Ok(exact_length(byte_stream(body), expected)),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn range_of(value: &str) -> Result<Option<(u64, u64)>, Code> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_RANGE, HeaderValue::from_str(value).unwrap());
        content_range(&headers).map_err(|error| error.into_api_error(None).code())
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(range_of("0-99"), Ok(Some((0, 99))));
        assert_eq!(range_of("bytes 100-199/*"), Ok(Some((100, 199))));
        assert_eq!(range_of("bytes=5-5"), Ok(Some((5, 5))));
        assert_eq!(range_of("9-3"), Err(Code::BlobUploadInvalid));
        assert_eq!(range_of("abc"), Err(Code::BlobUploadInvalid));
        assert_eq!(content_range(&HeaderMap::new()).ok(), Some(None));
    }
}
