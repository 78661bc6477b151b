//! berth's ECR front: the Amazon ECR API (version 2015-09-21, AWS JSON 1.1).
//!
//! Every call is `POST /` with an `X-Amz-Target` header naming the operation and a
//! SigV4-signed JSON body. This crate checks the signature, parses the input shape,
//! checks the model's constraints that clients leave to the server, calls the service
//! layer and writes the output shape. It holds no registry rule of its own.

mod error;
mod ops;
mod target;
mod wire;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use berth_auth::{AccessKey, Credentials, Identity, SignedRequest, TokenSigner, VerifyMode};
use berth_service::{Registry, RequestId};
use http::{HeaderMap, Method, Uri};
use tracing::Instrument;

pub use error::EcrError;
pub use target::{Operation, TARGET_PREFIX};

/// Error codes that mean the caller could not be authenticated.
const AUTHENTICATION_ERRORS: &[&str] = &[
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "RequestExpired",
];

/// The largest request body: an `UploadLayerPart` of 20 MiB grows to about 28 MB as
/// base64, plus the JSON around it.
const MAX_REQUEST_BYTES: usize = 30 * 1024 * 1024;

/// How the ECR front checks signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Only configured access keys with valid signatures are accepted.
    Strict,
    /// Any well-formed signature is accepted, for local testing.
    AcceptAnyKey,
}

/// What the ECR front needs besides the registry.
pub struct EcrState {
    pub registry: Arc<Registry>,
    pub credentials: Arc<Credentials>,
    pub tokens: Arc<TokenSigner>,
    pub signature_check: SignatureCheck,
    /// The key that signs the download URLs of GetDownloadUrlForLayer, which the OCI
    /// front verifies.
    pub url_signing_key: AccessKey,
    /// `scheme://host[:port]` at which clients reach this server.
    pub public_url: String,
}

/// Builds the router for `POST /`.
pub fn router(state: Arc<EcrState>) -> Router {
    Router::new()
        .route("/", post(handle))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// One ECR call as the operations see it.
pub(crate) struct Call<'a> {
    pub state: &'a EcrState,
    pub registry: &'a Registry,
    pub identity: &'a Identity,
    pub body: &'a [u8],
}

async fn handle(
    State(state): State<Arc<EcrState>>,
    request_id: Option<Extension<RequestId>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = request_id.map(|Extension(id)| id.0).unwrap_or_default();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let error = body_rejected(&rejection);
            log_error(&error, &request_id, "");
            return error.into_response();
        }
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let operation = Operation::from_target(&target);
    let newer = operation.is_none() && newer_operation(&target).is_some();
    let action = operation.map_or("unknown", Operation::name);
    let span = tracing::info_span!("ecr", action);
    let result = async {
        let identity = authenticate(&state, &method, &uri, &headers, &body)?;
        if newer {
            return Err(ops::not_implemented(&target[TARGET_PREFIX.len()..]));
        }
        let operation = operation.ok_or_else(|| unknown_operation(&target))?;
        let call = Call {
            state: &state,
            registry: &state.registry,
            identity: &identity,
            body: &body,
        };
        ops::dispatch(operation, &call).await
    }
    .instrument(span)
    .await;
    match result {
        Ok(response) => response,
        Err(error) => {
            log_error(&error, &request_id, &target);
            error.into_response()
        }
    }
}

fn authenticate(
    state: &EcrState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Identity, EcrError> {
    let request = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    // UNSIGNED-PAYLOAD is an Amazon S3 feature; on a JSON API the signature must cover
    // the body, or a captured request could be replayed with another body.
    let declared = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    if declared.is_some_and(|value| value.eq_ignore_ascii_case("UNSIGNED-PAYLOAD")) {
        return Err(EcrError::new(
            "IncompleteSignature",
            "X-Amz-Content-Sha256 is UNSIGNED-PAYLOAD, which the ECR API does not accept; sign the SHA-256 of the request body",
        ));
    }
    let settings = state.registry.settings();
    let mode = match state.signature_check {
        SignatureCheck::Strict => VerifyMode::Strict,
        SignatureCheck::AcceptAnyKey => VerifyMode::AcceptAnyKey {
            account_id: &settings.registry_id,
        },
    };
    let now = state.registry.clock().now();
    Ok(berth_auth::verify_sigv4(
        &request,
        &state.credentials,
        "ecr",
        now,
        mode,
    )?)
}

/// Operations that later versions of the ECR model added to API version 2015-09-21;
/// berth implements the 41 operations of the late-2022 model.
const NEWER_OPERATIONS: &[&str] = &[
    "CreateRepositoryCreationTemplate",
    "DeleteRepositoryCreationTemplate",
    "DeleteSigningConfiguration",
    "DeregisterPullTimeUpdateExclusion",
    "DescribeImageSigningStatus",
    "DescribeRepositoryCreationTemplates",
    "GetAccountSetting",
    "GetSigningConfiguration",
    "ListImageReferrers",
    "ListPullTimeUpdateExclusions",
    "PutAccountSetting",
    "PutSigningConfiguration",
    "RegisterPullTimeUpdateExclusion",
    "UpdateImageStorageClass",
    "UpdatePullThroughCacheRule",
    "UpdateRepositoryCreationTemplate",
    "ValidatePullThroughCacheRule",
];

fn newer_operation(target: &str) -> Option<&'static str> {
    let name = target.strip_prefix(TARGET_PREFIX)?;
    NEWER_OPERATIONS
        .iter()
        .copied()
        .find(|newer| *newer == name)
}

fn body_rejected(rejection: &BytesRejection) -> EcrError {
    let message = format!(
        "The request body could not be read: {rejection}. The largest accepted body is {MAX_REQUEST_BYTES} bytes, enough for a 20 MiB layer part"
    );
    EcrError::serialization(message).with_status(rejection.status())
}

fn unknown_operation(target: &str) -> EcrError {
    let message = if target.is_empty() {
        "The request has no X-Amz-Target header; set it to 'AmazonEC2ContainerRegistry_V20150921.<Operation>'".to_owned()
    } else {
        format!("The operation '{target}' is not an operation of the ECR API version 2015-09-21")
    };
    EcrError::new("UnknownOperationException", message)
}

/// Logs a failed call once: server faults at error level with their detail, failed
/// authentication at info level, other client errors at debug level.
fn log_error(error: &EcrError, request_id: &str, target: &str) {
    if AUTHENTICATION_ERRORS.contains(&error.code) {
        tracing::info!(request_id, target, code = error.code, message = %error.message, "ECR call failed authentication");
    } else if error.status.is_server_error() {
        tracing::error!(
            request_id,
            target,
            code = error.code,
            detail = error.detail.as_deref().unwrap_or(""),
            "ECR call failed"
        );
    } else {
        tracing::debug!(request_id, target, code = error.code, message = %error.message, "ECR call rejected");
    }
}
