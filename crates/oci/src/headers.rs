//! Header names of the distribution API and helpers to build responses with them.

use axum::body::Body;
use axum::response::Response;
use berth_service::Error;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use crate::error::OciError;

/// Sent on every response, so that clients know this is a v2 registry.
pub(crate) const API_VERSION: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");
pub(crate) const DOCKER_CONTENT_DIGEST: HeaderName =
    HeaderName::from_static("docker-content-digest");
pub(crate) const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
pub(crate) const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// Adds `Docker-Distribution-Api-Version: registry/2.0` to a response.
pub(crate) async fn add_api_version(mut response: Response) -> Response {
    let value = HeaderValue::from_static("registry/2.0");
    response.headers_mut().insert(API_VERSION, value);
    response
}

/// Starts a response with no body: `Content-Length: 0`.
pub(crate) fn empty(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(CONTENT_LENGTH, "0")
}

/// Finishes a response. Header values come from validated names, digests and numbers, so
/// a failure here is a bug in berth.
pub(crate) fn finish(builder: http::response::Builder, body: Body) -> Result<Response, OciError> {
    builder
        .body(body)
        .map_err(|error| Error::internal("building a response", error).into())
}

/// Builds a JSON response.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let json = HeaderValue::from_static("application/json");
    response.headers_mut().insert(CONTENT_TYPE, json);
    response
}

/// Returns the request's `Content-Length`, or `None` when it is absent or not a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
