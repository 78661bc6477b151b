//! Errors of the OCI front and the one table that maps domain errors to them.
//!
//! Every error response has the distribution-spec body
//! `{"errors":[{"code","message","detail"}]}` (`detail` only when there is one), except
//! for HEAD requests, whose body `dispatch` drops. Server failures are logged at error
//! level with their detail and the request id; client errors at debug level. Nothing else
//! in the crate logs a failed request.

use berth_service::{Error, RequestId};
use http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::endpoint::Endpoint;
use crate::headers::DOCKER_UPLOAD_UUID;

/// The error codes of the distribution spec, plus `TAG_INVALID` (which ECR sends for an
/// immutable tag) and `UNKNOWN` for server failures, as in distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    Unknown,
}

impl Code {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::Unknown => "UNKNOWN",
        }
    }
}

/// A failed request: a domain error not yet mapped, or an error the front raised itself.
#[derive(Debug)]
pub(crate) enum OciError {
    Service(Error),
    Api(Box<ApiError>),
}

impl From<Error> for OciError {
    fn from(error: Error) -> Self {
        OciError::Service(error)
    }
}

impl From<ApiError> for OciError {
    fn from(error: ApiError) -> Self {
        OciError::Api(Box::new(error))
    }
}

impl OciError {
    /// Marks a failed authentication, which is logged at info level as a security event.
    pub(crate) fn auth_failure(self) -> Self {
        match self {
            OciError::Api(mut error) => {
                error.auth_failure = true;
                OciError::Api(error)
            }
            other => other,
        }
    }

    /// Maps the error to its response. `endpoint` is the endpoint that failed, when the
    /// request got that far; it picks the code of `InvalidParameter`.
    pub(crate) fn into_api_error(self, endpoint: Option<&Endpoint>) -> ApiError {
        match self {
            OciError::Api(error) => *error,
            OciError::Service(error) => from_service(error, endpoint),
        }
    }
}

/// An error response: status, code, message, optional detail and extra headers.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: Code,
    message: String,
    detail: Option<Value>,
    headers: HeaderMap,
    /// The cause of a server failure, for the log only.
    internal: Option<String>,
    /// True when credentials were presented and failed, a security event.
    auth_failure: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: HeaderMap::new(),
            internal: None,
            auth_failure: false,
        }
    }

    pub(crate) fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Adds a response header. Values come from validated names, digests and numbers; one
    /// that is not a valid header value is left out.
    pub(crate) fn with_header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.insert(name, value);
        }
        self
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> Code {
        self.code
    }

    /// Logs the failure once: server failures at error level with their cause, failed
    /// authentication at info level within the log budget, other client errors at debug
    /// level.
    pub(crate) fn log(&self, request_id: Option<&RequestId>) {
        let request_id = request_id.map_or("", |id| id.0.as_str());
        let status = self.status.as_u16();
        let code = self.code.as_str();
        if self.auth_failure {
            berth_service::log_auth_failure(|| {
                tracing::info!(request_id, status, code, error = %self.message, "oci request failed authentication");
            });
        } else if self.status.is_server_error() {
            let detail = self.internal.as_deref().unwrap_or("");
            tracing::error!(request_id, status, code, error = %self.message, detail, "oci request failed");
        } else {
            tracing::debug!(request_id, status, code, error = %self.message, "oci request rejected");
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a Value>,
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let body = ErrorBody {
            errors: [ErrorEntry {
                code: self.code.as_str(),
                message: &self.message,
                detail: self.detail.as_ref(),
            }],
        };
        let bytes = serde_json::to_vec(&body).expect("an error body serializes");
        let mut response = (self.status, bytes).into_response();
        response.headers_mut().extend(self.headers);
        let json = HeaderValue::from_static("application/json");
        response.headers_mut().insert(CONTENT_TYPE, json);
        response
    }
}

/// Maps a domain error to its status and code; this match is the one mapping table.
/// ECR-only errors never occur on OCI paths, but they get a row so that the match stays
/// exhaustive and a new variant cannot be forgotten.
fn status_and_code(error: &Error, endpoint: Option<&Endpoint>) -> (StatusCode, Code) {
    use StatusCode as S;
    match error {
        Error::InvalidParameter(_) => (S::BAD_REQUEST, invalid_parameter_code(endpoint)),
        Error::RepositoryNotFound { .. } => (S::NOT_FOUND, Code::NameUnknown),
        Error::RepositoryAlreadyExists { .. } => (S::CONFLICT, Code::Denied),
        Error::RepositoryNotEmpty { .. } => (S::CONFLICT, Code::Denied),
        Error::ImageReferencedByManifestList { .. } => (S::CONFLICT, Code::Denied),
        Error::ImageNotFound { .. } => (S::NOT_FOUND, Code::ManifestUnknown),
        Error::ManifestUnknown => (S::NOT_FOUND, Code::ManifestUnknown),
        Error::ImageAlreadyExists { .. } => (S::BAD_REQUEST, Code::TagInvalid),
        Error::ImageTagAlreadyExists { .. } => (S::BAD_REQUEST, Code::TagInvalid),
        Error::ImageDigestDoesNotMatch { .. } => (S::BAD_REQUEST, Code::DigestInvalid),
        Error::LayersNotFound { .. } => (S::BAD_REQUEST, Code::ManifestBlobUnknown),
        Error::ReferencedImagesNotFound { .. } => (S::BAD_REQUEST, Code::ManifestBlobUnknown),
        Error::ManifestInvalid(_) => (S::BAD_REQUEST, Code::ManifestInvalid),
        Error::BlobUnknown { .. } => (S::NOT_FOUND, Code::BlobUnknown),
        Error::LayerInaccessible { .. } => (S::NOT_FOUND, Code::BlobUnknown),
        // The spec allows 202, 404 and 405 for a blob DELETE. 405 means that this blob
        // cannot be deleted now, and the message names the images to delete first.
        Error::BlobReferenced { .. } => (S::METHOD_NOT_ALLOWED, Code::Unsupported),
        Error::UploadNotFound { .. } => (S::NOT_FOUND, Code::BlobUploadUnknown),
        Error::InvalidLayerPart { .. } => (S::RANGE_NOT_SATISFIABLE, Code::BlobUploadInvalid),
        Error::EmptyUpload { .. } => (S::BAD_REQUEST, Code::BlobUploadInvalid),
        Error::LayerPartTooSmall { .. } => (S::BAD_REQUEST, Code::BlobUploadInvalid),
        Error::DigestMismatch { .. } => (S::BAD_REQUEST, Code::DigestInvalid),
        Error::LayerAlreadyExists { .. } => (S::BAD_REQUEST, Code::BlobUploadInvalid),
        // The spec has no code for a download range; the range names sizes.
        Error::RangeNotSatisfiable { .. } => (S::RANGE_NOT_SATISFIABLE, Code::SizeInvalid),
        Error::InvalidTagParameter(_) => (S::BAD_REQUEST, Code::Unsupported),
        Error::TooManyTags { .. } => (S::BAD_REQUEST, Code::Unsupported),
        // ECR's LimitExceededException reports an exhausted quota; clients back off.
        Error::LimitExceeded(_) => (S::TOO_MANY_REQUESTS, Code::TooManyRequests),
        Error::LifecyclePolicyNotFound { .. } => (S::NOT_FOUND, Code::Unsupported),
        Error::LifecyclePolicyPreviewInProgress { .. } => (S::CONFLICT, Code::Unsupported),
        Error::LifecyclePolicyPreviewNotFound { .. } => (S::NOT_FOUND, Code::Unsupported),
        Error::Unsupported(_) => (S::BAD_REQUEST, Code::Unsupported),
        Error::Internal { .. } => (S::INTERNAL_SERVER_ERROR, Code::Unknown),
    }
}

/// `InvalidParameter` means a bad manifest on a manifest push and a body that could not
/// be read on an upload.
fn invalid_parameter_code(endpoint: Option<&Endpoint>) -> Code {
    match endpoint {
        Some(Endpoint::PutManifest { .. }) => Code::ManifestInvalid,
        Some(
            Endpoint::StartUpload { .. }
            | Endpoint::PatchUpload { .. }
            | Endpoint::FinishUpload { .. },
        ) => Code::BlobUploadInvalid,
        _ => Code::Unsupported,
    }
}

fn from_service(error: Error, endpoint: Option<&Endpoint>) -> ApiError {
    let (status, code) = status_and_code(&error, endpoint);
    let mut api = ApiError::new(status, code, error.to_string());
    api.detail = detail_of(&error);
    match error {
        Error::InvalidLayerPart {
            upload_id,
            name,
            last_valid_byte,
            ..
        } => {
            // The upload's Range as the spec writes it; an empty upload reports `0-0`, as
            // distribution does.
            let location = format!("/v2/{name}/blobs/uploads/{upload_id}");
            api = api
                .with_header(RANGE, format!("0-{last_valid_byte}"))
                .with_header(LOCATION, location)
                .with_header(DOCKER_UPLOAD_UUID, upload_id);
        }
        Error::RangeNotSatisfiable { size, .. } => {
            api = api.with_header(CONTENT_RANGE, format!("bytes */{size}"));
        }
        Error::BlobReferenced { .. } => api = api.with_header(ALLOW, "GET, HEAD"),
        Error::Internal { context, detail } => api.internal = Some(format!("{context}: {detail}")),
        _ => {}
    }
    api
}

/// Structured facts a client can act on, for the `detail` field.
fn detail_of(error: &Error) -> Option<Value> {
    let detail = match error {
        Error::RepositoryNotFound { name, .. } => json!({ "name": name }),
        Error::BlobUnknown { digest, .. } | Error::LayerInaccessible { digest, .. } => {
            json!({ "digest": digest })
        }
        Error::LayersNotFound { digests, .. } | Error::ReferencedImagesNotFound { digests, .. } => {
            json!({ "digests": digests })
        }
        Error::DigestMismatch { expected, actual } => {
            json!({ "expected": expected, "actual": actual })
        }
        Error::ImageDigestDoesNotMatch { given, actual } => {
            json!({ "expected": given, "actual": actual })
        }
        Error::RangeNotSatisfiable { size, .. } => json!({ "size": size }),
        _ => return None,
    };
    Some(detail)
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use berth_types::Digest;

    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, HeaderMap, Value) {
        let (parts, body) = error.into_response().into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn every_code_has_the_spec_body() {
        let codes = [
            (Code::BlobUnknown, "BLOB_UNKNOWN"),
            (Code::BlobUploadInvalid, "BLOB_UPLOAD_INVALID"),
            (Code::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN"),
            (Code::DigestInvalid, "DIGEST_INVALID"),
            (Code::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN"),
            (Code::ManifestInvalid, "MANIFEST_INVALID"),
            (Code::ManifestUnknown, "MANIFEST_UNKNOWN"),
            (Code::NameInvalid, "NAME_INVALID"),
            (Code::NameUnknown, "NAME_UNKNOWN"),
            (Code::SizeInvalid, "SIZE_INVALID"),
            (Code::TagInvalid, "TAG_INVALID"),
            (Code::Unauthorized, "UNAUTHORIZED"),
            (Code::Denied, "DENIED"),
            (Code::Unsupported, "UNSUPPORTED"),
            (Code::TooManyRequests, "TOOMANYREQUESTS"),
            (Code::Unknown, "UNKNOWN"),
        ];
        for (code, text) in codes {
            let error = ApiError::new(StatusCode::BAD_REQUEST, code, "what failed");
            let (status, headers, body) = body_of(error).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(headers[CONTENT_TYPE], "application/json");
            assert_eq!(
                body,
                json!({"errors":[{"code": text, "message": "what failed"}]})
            );
        }
    }

    #[test]
    fn service_errors_map_through_the_table() {
        let digest = Digest::of_bytes(b"x");
        let cases: Vec<(Error, StatusCode, Code)> = vec![
            (
                Error::ManifestUnknown,
                StatusCode::NOT_FOUND,
                Code::ManifestUnknown,
            ),
            (
                Error::ImageTagAlreadyExists {
                    tag: "v1".into(),
                    name: "app".into(),
                },
                StatusCode::BAD_REQUEST,
                Code::TagInvalid,
            ),
            (
                Error::LayersNotFound {
                    digests: vec![digest.clone()],
                    name: "app".into(),
                },
                StatusCode::BAD_REQUEST,
                Code::ManifestBlobUnknown,
            ),
            (
                Error::LimitExceeded("quota".into()),
                StatusCode::TOO_MANY_REQUESTS,
                Code::TooManyRequests,
            ),
            (
                Error::ImageReferencedByManifestList {
                    digest,
                    name: "app".into(),
                },
                StatusCode::CONFLICT,
                Code::Denied,
            ),
            (
                Error::Unsupported("schema 1".into()),
                StatusCode::BAD_REQUEST,
                Code::Unsupported,
            ),
        ];
        for (error, status, code) in cases {
            let text = error.to_string();
            let api = OciError::from(error).into_api_error(None);
            assert_eq!((api.status(), api.code()), (status, code), "{text}");
        }
    }

    #[test]
    fn invalid_parameter_code_depends_on_the_endpoint() {
        let name = berth_types::RepositoryName::parse("app").unwrap();
        let put = Endpoint::PutManifest {
            name: name.clone(),
            reference: berth_types::Reference::parse("v1").unwrap(),
        };
        let patch = Endpoint::PatchUpload {
            name,
            id: "u".into(),
        };
        let error = || OciError::from(Error::InvalidParameter("bad".into()));
        assert_eq!(
            error().into_api_error(Some(&put)).code(),
            Code::ManifestInvalid
        );
        assert_eq!(
            error().into_api_error(Some(&patch)).code(),
            Code::BlobUploadInvalid
        );
        assert_eq!(error().into_api_error(None).code(), Code::Unsupported);
    }

    #[tokio::test]
    async fn internal_error_hides_its_cause() {
        let error = Error::internal("reading a blob", "disk on fire at /data/blobs");
        let api = OciError::from(error).into_api_error(None);
        assert_eq!(
            api.internal.as_deref(),
            Some("reading a blob: disk on fire at /data/blobs")
        );
        let (status, _, body) = body_of(api).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["errors"][0]["code"], "UNKNOWN");
        assert!(!body.to_string().contains("disk on fire"), "{body}");
    }
}
