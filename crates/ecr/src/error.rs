//! ECR error responses, and the one table that maps domain errors to them.
//!
//! Every modeled ECR exception is HTTP 400 (none declares a status in the model) except
//! `ServerException`, the model's only fault, which is 500. The body carries `__type`
//! and `message`, and the `x-amzn-ErrorType` header repeats the type for SDKs that read
//! it first.

use axum::response::{IntoResponse, Response};
use berth_service::Error;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use crate::wire::JSON_CONTENT_TYPE;

/// An error as ECR sends it.
#[derive(Debug)]
pub struct EcrError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
    /// Members some modeled errors carry besides the message.
    pub extra: Map<String, Value>,
    /// Detail for the log only, for internal errors.
    pub detail: Option<String>,
}

impl EcrError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        EcrError {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            extra: Map::new(),
            detail: None,
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        EcrError::new("InvalidParameterException", message)
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        EcrError::new("SerializationException", message)
    }
}

impl From<Error> for EcrError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        let code = match &error {
            Error::InvalidParameter(_)
            | Error::ManifestInvalid(_)
            | Error::ImageReferencedByManifestList { .. } => "InvalidParameterException",
            Error::RepositoryNotFound { .. } => "RepositoryNotFoundException",
            Error::RepositoryAlreadyExists { .. } => "RepositoryAlreadyExistsException",
            Error::RepositoryNotEmpty { .. } => "RepositoryNotEmptyException",
            Error::ImageNotFound { .. } | Error::ManifestUnknown => "ImageNotFoundException",
            Error::ImageAlreadyExists { .. } => "ImageAlreadyExistsException",
            Error::ImageTagAlreadyExists { .. } => "ImageTagAlreadyExistsException",
            Error::ImageDigestDoesNotMatch { .. } => "ImageDigestDoesNotMatchException",
            Error::LayersNotFound { .. } | Error::BlobUnknown { .. } => "LayersNotFoundException",
            Error::ReferencedImagesNotFound { .. } => "ReferencedImagesNotFoundException",
            Error::LayerInaccessible { .. } => "LayerInaccessibleException",
            Error::BlobReferenced { .. } => "InvalidParameterException",
            Error::UploadNotFound { .. } => "UploadNotFoundException",
            Error::InvalidLayerPart { .. } => "InvalidLayerPartException",
            Error::EmptyUpload { .. } => "EmptyUploadException",
            Error::LayerPartTooSmall { .. } => "LayerPartTooSmallException",
            Error::DigestMismatch { .. } => "InvalidLayerException",
            Error::LayerAlreadyExists { .. } => "LayerAlreadyExistsException",
            Error::RangeNotSatisfiable { .. } => "InvalidParameterException",
            Error::InvalidTagParameter(_) => "InvalidTagParameterException",
            Error::TooManyTags { .. } => "TooManyTagsException",
            Error::LimitExceeded(_) => "LimitExceededException",
            Error::LifecyclePolicyNotFound { .. } => "LifecyclePolicyNotFoundException",
            Error::LifecyclePolicyPreviewInProgress { .. } => {
                "LifecyclePolicyPreviewInProgressException"
            }
            Error::LifecyclePolicyPreviewNotFound { .. } => {
                "LifecyclePolicyPreviewNotFoundException"
            }
            Error::Unsupported(_) => "UnsupportedImageTypeException",
            Error::Internal { .. } => "ServerException",
        };
        let mut ecr = EcrError::new(code, message);
        match error {
            Error::ManifestInvalid(reason) => {
                ecr.message = format!(
                    "Invalid parameter at 'ImageManifest' failed to satisfy constraint: '{reason}'"
                );
            }
            Error::InvalidLayerPart {
                upload_id,
                name,
                last_valid_byte,
                ..
            } => {
                ecr.extra.insert("uploadId".into(), json!(upload_id));
                ecr.extra.insert("repositoryName".into(), json!(name));
                ecr.extra
                    .insert("lastValidByteReceived".into(), json!(last_valid_byte));
            }
            Error::Internal { detail, .. } => {
                ecr.status = StatusCode::INTERNAL_SERVER_ERROR;
                ecr.detail = Some(detail);
            }
            _ => {}
        }
        ecr
    }
}

impl From<berth_auth::AuthError> for EcrError {
    fn from(error: berth_auth::AuthError) -> Self {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        EcrError::new(error.aws_code(), error.to_string()).with_status(status)
    }
}

impl IntoResponse for EcrError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        body.insert("__type".into(), Value::String(self.code.to_owned()));
        body.insert("message".into(), Value::String(self.message));
        let mut response = (self.status, Value::Object(body).to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        response
    }
}
