//! Manifest endpoints: pull (GET/HEAD), push (PUT) and delete, by tag or digest.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use berth_service::manifest::MAX_MANIFEST_BYTES;
use berth_service::{Error, PutImage, PutMode};
use berth_types::{Reference, RepositoryName};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, StatusCode};

use crate::body::read_limited;
use crate::error::{ApiError, Code, OciError};
use crate::headers::{empty, finish, DOCKER_CONTENT_DIGEST, OCI_SUBJECT};
use crate::repository::ensure_repository;
use crate::OciState;

/// Serves the stored manifest bytes with their media type and digest. The body is left
/// out for HEAD.
pub(crate) async fn get(
    state: &OciState,
    name: &RepositoryName,
    reference: &Reference,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    let manifest = state.registry.manifest(name, reference).await?;
    if !accepts(headers, &manifest.media_type) {
        let message = format!(
            "the manifest '{reference}' is stored as '{}', which the Accept header does not \
             list; add that media type to Accept",
            manifest.media_type
        );
        return Err(ApiError::new(StatusCode::NOT_FOUND, Code::ManifestUnknown, message).into());
    }
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, &manifest.media_type)
        .header(DOCKER_CONTENT_DIGEST, manifest.digest.as_str())
        .header(CONTENT_LENGTH, manifest.manifest.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(manifest.manifest)
    };
    finish(builder, body)
}

/// Returns true when the request has no `Accept` header, or when one of its media ranges
/// covers `stored` with a non-zero quality.
fn accepts(headers: &HeaderMap, stored: &str) -> bool {
    let mut ranges = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|range| !range.is_empty())
        .peekable();
    if ranges.peek().is_none() {
        return true;
    }
    ranges.any(|range| range_covers(range, stored))
}

fn range_covers(range: &str, stored: &str) -> bool {
    let mut parts = range.split(';');
    let media_range = parts.next().unwrap_or_default().trim();
    let rejected = parts.any(|parameter| {
        let quality = parameter.trim().strip_prefix("q=");
        quality.and_then(|q| q.parse::<f32>().ok()) == Some(0.0)
    });
    if rejected {
        return false;
    }
    let stored_type = stored.split('/').next().unwrap_or_default();
    let wildcard = media_range
        .strip_suffix("/*")
        .is_some_and(|kind| kind == "*" || kind.eq_ignore_ascii_case(stored_type));
    wildcard || media_range.eq_ignore_ascii_case(stored)
}

/// Stores a manifest under a tag, or checks it against the digest it is pushed by.
pub(crate) async fn put(
    state: &OciState,
    name: &RepositoryName,
    reference: &Reference,
    request: Request,
) -> Result<Response, OciError> {
    let (parts, body) = request.into_parts();
    let media_type = declared_media_type(&parts.headers);
    let manifest = read_limited(body, MAX_MANIFEST_BYTES).await?;
    ensure_repository(state, name).await?;

    let (tag, expected_digest) = match reference {
        Reference::Tag(tag) => (Some(tag.clone()), None),
        Reference::Digest(digest) => (None, Some(digest.to_string())),
    };
    let request = PutImage {
        repository: name.clone(),
        manifest: manifest.to_vec(),
        media_type,
        tag,
        expected_digest,
        mode: PutMode::Oci,
    };
    let stored = state.registry.put_image(request).await?;

    let location = format!("/v2/{name}/manifests/{}", stored.digest);
    let mut builder = empty(StatusCode::CREATED)
        .header(LOCATION, location)
        .header(DOCKER_CONTENT_DIGEST, stored.digest.as_str());
    if let Some(subject) = &stored.subject {
        builder = builder.header(OCI_SUBJECT, subject.as_str());
    }
    finish(builder, Body::empty())
}

/// Returns the media type from `Content-Type` without its parameters, which the spec tells
/// registries to ignore.
fn declared_media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    (!media_type.is_empty()).then(|| media_type.to_owned())
}

/// Deletes the image a digest names, or removes a tag.
pub(crate) async fn delete(
    state: &OciState,
    name: &RepositoryName,
    reference: &Reference,
) -> Result<Response, OciError> {
    let found = match reference {
        Reference::Digest(digest) => state.registry.delete_image(name, digest).await?.is_some(),
        Reference::Tag(tag) => state.registry.untag_image(name, tag).await?.is_some(),
    };
    if !found {
        return Err(Error::ManifestUnknown.into());
    }
    finish(empty(StatusCode::ACCEPTED), Body::empty())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

    fn with_accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn accept_negotiation() {
        let cases: [(&[&str], bool); 8] = [
            (&[], true),
            (&[OCI], true),
            (
                &["application/vnd.docker.distribution.manifest.v2+json"],
                false,
            ),
            (
                &["application/json, application/vnd.oci.image.manifest.v1+json; q=0.5"],
                true,
            ),
            (
                &["application/vnd.docker.distribution.manifest.v2+json", OCI],
                true,
            ),
            (&["*/*"], true),
            (&["application/*"], true),
            (&["application/vnd.oci.image.manifest.v1+json;q=0"], false),
        ];
        for (values, expected) in cases {
            assert_eq!(accepts(&with_accept(values), OCI), expected, "{values:?}");
        }
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
        );
        assert_eq!(declared_media_type(&headers).as_deref(), Some(OCI));
        assert_eq!(declared_media_type(&HeaderMap::new()), None);
    }
}
