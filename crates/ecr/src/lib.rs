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

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use berth_auth::{AccessKey, Credentials, Identity, SignedRequest, TokenSigner, VerifyMode};
use berth_service::{Registry, RequestId};
use futures_util::StreamExt;
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

/// The signature check of the ECR front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Only configured access keys with valid signatures are accepted.
    Strict,
    /// Any well-formed signature is accepted, for local testing.
    AcceptAnyKey,
}

/// The state of the ECR front: the registry, keys and URLs.
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_large_bodies,
        ))
        .with_state(state)
}

/// Bodies above this size, in practice `UploadLayerPart` calls, wait for one of
/// `LARGE_BODY_SLOTS` before they are read: each is buffered whole and decoded from
/// base64, which takes about two and a half times its size in memory.
const LARGE_BODY_BYTES: u64 = 1024 * 1024;
const LARGE_BODY_SLOTS: usize = 2;
static LARGE_BODIES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(LARGE_BODY_SLOTS);

/// Lets at most `LARGE_BODY_SLOTS` large requests be read and handled at once, so a
/// burst of layer parts cannot exhaust memory; others wait their turn. A caller whose
/// signature fails before the body matters (no signature, an unknown key, an expired
/// date) is rejected at once, so it can neither hold a slot nor make signed callers wait.
async fn limit_large_bodies(
    State(state): State<Arc<EcrState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let length = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if length.is_some_and(|length| length <= LARGE_BODY_BYTES) {
        return next.run(request).await;
    }
    if let Err(error) = precheck(&state, request.headers()) {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map_or("", |id| id.0.as_str());
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        log_error(&error, request_id, target);
        return error.into_response();
    }
    let _permit = LARGE_BODIES
        .acquire()
        .await
        .expect("the semaphore is never closed");
    next.run(request).await
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
    body: Body,
) -> Response {
    let request_id = request_id.map(|Extension(id)| id.0).unwrap_or_default();
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(error) => {
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
    // UNSIGNED-PAYLOAD is an Amazon S3 feature. On a JSON API the signature must cover
    // the body, because otherwise a captured request could be replayed with another body.
    let declared = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    if declared.is_some_and(|value| value.eq_ignore_ascii_case("UNSIGNED-PAYLOAD")) {
        return Err(EcrError::new(
            "IncompleteSignature",
            "X-Amz-Content-Sha256 is UNSIGNED-PAYLOAD, which the ECR API does not accept; sign the SHA-256 of the request body",
        ));
    }
    let now = state.registry.clock().now();
    Ok(berth_auth::verify_sigv4(
        &request,
        &state.credentials,
        "ecr",
        now,
        verify_mode(state),
    )?)
}

/// Runs the part of the signature check that does not need the body.
fn precheck(state: &EcrState, headers: &HeaderMap) -> Result<(), EcrError> {
    let now = state.registry.clock().now();
    let mode = verify_mode(state);
    Ok(berth_auth::precheck_sigv4(
        headers,
        &state.credentials,
        "ecr",
        now,
        mode,
    )?)
}

fn verify_mode(state: &EcrState) -> VerifyMode<'_> {
    match state.signature_check {
        SignatureCheck::Strict => VerifyMode::Strict,
        SignatureCheck::AcceptAnyKey => VerifyMode::AcceptAnyKey {
            account_id: &state.registry.settings().registry_id,
        },
    }
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

/// Reads the whole body into one buffer sized from `Content-Length`, so a large part
/// is held once rather than gathered in pieces and copied together.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, EcrError> {
    let too_large = || {
        EcrError::serialization(format!(
            "The request body is larger than {MAX_REQUEST_BYTES} bytes, the most berth reads; a layer part may hold at most 20 MiB"
        ))
        .with_status(http::StatusCode::PAYLOAD_TOO_LARGE)
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES) {
        return Err(too_large());
    }
    let mut buffer = Vec::with_capacity(declared.unwrap_or(0));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            EcrError::serialization(format!("The request body could not be read: {error}"))
        })?;
        if buffer.len() + chunk.len() > MAX_REQUEST_BYTES {
            return Err(too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
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
/// authentication at info level within the log budget, other client errors at debug
/// level.
fn log_error(error: &EcrError, request_id: &str, target: &str) {
    if AUTHENTICATION_ERRORS.contains(&error.code) {
        berth_service::log_auth_failure(|| {
            tracing::info!(request_id, target, code = error.code, message = %error.message, "ECR call failed authentication");
        });
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
